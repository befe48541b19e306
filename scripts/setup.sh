#!/usr/bin/env bash
# Installs what the build and tests need on a fresh machine; a no-op when
# everything is already there. Only the registries (crates.io, Debian) are used.
set -euo pipefail

need_cargo_tool() { # name, crate
    if ! command -v "$1" >/dev/null 2>&1 && ! cargo "${1#cargo-}" --version >/dev/null 2>&1; then
        echo "== installing $2"
        cargo install --locked "$2"
    fi
}

rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
need_cargo_tool cargo-fuzz cargo-fuzz
