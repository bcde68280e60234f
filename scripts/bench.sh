#!/usr/bin/env bash
# Runs every benchmark (see BENCHMARKS.md): the render comparison (criterion), pages and
# events over HTTP (wrk), uploads, downloads and static files (curl), cold start, and
# the incremental rebuild of an example, the mixed load (events and uploads at once), and
# idle WebSockets (memory per idle socket, how many are held).
# Needs curl and wrk (`apt-get install curl wrk`). Each bench is bounded in time; ws_idle
# takes longest (about 3.5 minutes on 2 cores: it holds 60,000 idle sockets past their
# idle timeout).
# Other work on the machine skews the figures: each bench prints the load average, and
# every comparison is against a limit measured in the same run.
#
#   scripts/bench.sh              all of them
#   scripts/bench.sh http upload  only those (render http upload tus download cold rebuild load ws_idle sessions)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s (load %s)\n' "$*" "$(cut -d' ' -f1 /proc/loadavg)"; }

for tool in curl wrk; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool is missing (apt-get install $tool)" >&2
        exit 1
    fi
done

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(render http upload tus download cold rebuild load ws_idle sessions)

for what in "${wanted[@]}"; do
    case "$what" in
    render)
        step "render: cargo bench --bench render"
        cargo bench --bench render -- --measurement-time 4 --warm-up-time 1
        ;;
    http)
        step "pages and events: cargo bench --bench http"
        cargo bench --bench http
        ;;
    sessions)
        step "sessions in Redis vs in memory: cargo bench --bench sessions --features redis"
        cargo bench --bench sessions --features redis
        ;;
    upload)
        step "uploads: cargo bench --bench upload_memory"
        cargo bench --bench upload_memory
        ;;
    tus)
        step "resumable uploads: cargo bench --bench tus_upload"
        cargo bench --bench tus_upload
        ;;
    download)
        step "downloads and static files: cargo bench --bench download_memory"
        cargo bench --bench download_memory
        ;;
    cold)
        step "cold start: cargo build --release --example files; cargo bench --bench cold_start"
        cargo build --release --example files
        cargo bench --bench cold_start
        ;;
    rebuild)
        step "incremental rebuild: touch examples/files.rs && cargo build --example files"
        cargo build --example files
        for i in 1 2 3; do
            touch examples/files.rs
            start=${EPOCHREALTIME/./}
            cargo build --example files --quiet
            end=${EPOCHREALTIME/./}
            us=$((end - start))
            printf '  rebuild %d: %d.%02d s (load %s)\n' "$i" $((us / 1000000)) \
                $((us % 1000000 / 10000)) "$(cut -d' ' -f1 /proc/loadavg)"
        done
        ;;
    load)
        step "mixed load: cargo bench --bench load"
        cargo bench --bench load
        ;;
    ws_idle)
        step "idle WebSockets: cargo bench --bench ws_idle"
        cargo bench --bench ws_idle
        ;;
    *)
        echo "error: unknown bench '$what' (render http upload tus download cold rebuild load ws_idle sessions)" >&2
        exit 1
        ;;
    esac
done
