#!/usr/bin/env bash
# The project's test command (see README): installs Chromium + ChromeDriver
# when missing (the browser tests need them), then runs every test.
# Extra arguments go to the first `cargo test`, e.g. `./scripts/test.sh -- --nocapture`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '==> %s\n' "$*"; }

install_browser() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "error: chromedriver is missing and installing it needs root (or sudo)" >&2
            exit 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: chromedriver is missing and apt-get is not available; install Chromium and ChromeDriver yourself" >&2
        exit 1
    fi
    # Wait for a concurrent apt/dpkg instead of failing on its lock.
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    step "chromedriver not found: apt-get update"
    "${apt[@]}" update -q
    step "apt-get install chromium chromium-driver"
    if ! "${apt[@]}" install -y -q chromium chromium-driver; then
        step "install failed: apt-get -f install, then retrying once"
        "${apt[@]}" -f install -y -q
        "${apt[@]}" install -y -q chromium chromium-driver
    fi
    if ! command -v chromedriver >/dev/null 2>&1; then
        echo "error: chromedriver is still missing after installing chromium-driver" >&2
        exit 1
    fi
}

if command -v chromedriver >/dev/null 2>&1; then
    step "found $(chromedriver --version)"
else
    install_browser
    step "installed $(chromedriver --version)"
fi

step "cargo test --workspace --all-targets${*:+ $*}"
cargo test --workspace --all-targets "$@"

step "cargo test --workspace --doc"
cargo test --workspace --doc

step "all tests passed"
