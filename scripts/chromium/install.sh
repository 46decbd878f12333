#!/usr/bin/env bash
# Install a headless Chromium for the dashboard's browser test (tests/dashboard).
#
# Installs Debian's `chromium` package with apt-get (noninteractive, without the
# recommended extras) when `chromium` is not on PATH: directly as root, else through
# `sudo -n` (never a password prompt). Running it again installs nothing. Progress
# goes to stderr; the last line on stdout is the path of the chromium binary.
set -euo pipefail

PACKAGES=(chromium)

log() { echo "chromium: $*" >&2; }

# as_root COMMAND...: run COMMAND as root, or fail when that would need a password.
as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        log "installing ${PACKAGES[*]} needs root (or passwordless sudo)"
        return 1
    fi
}

install_packages() {
    command -v chromium >/dev/null && return
    log "installing ${PACKAGES[*]}"
    local install=(env DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends "${PACKAGES[@]}")
    as_root "${install[@]}" >&2 || { as_root apt-get update -q >&2 && as_root "${install[@]}" >&2; }
}

main() {
    install_packages
    local binary
    binary=$(command -v chromium) || { log "chromium is still not on PATH"; return 1; }
    log "$("$binary" --version 2>/dev/null || echo "version unknown")"
    echo "$binary"
}

main "$@"
