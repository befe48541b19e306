#!/usr/bin/env bash
# The newcomer's check: README command 1 (`cargo run --release -p wz -- demo`)
# in a fresh clone of this repository's HEAD, in a temporary folder with
# nothing beside it, with HOME pointed at an empty folder (only the Rust
# toolchain is kept), so the demo must fetch its face models and photos
# itself. Fails unless the demo exits 0.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/wz-fresh-XXXXXX)"
trap 'rm -rf "$work"' EXIT

export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
mkdir -p "$work/home"
git clone --quiet --no-local "$repo" "$work/clone"
[ -e "$work/shared" ] && { echo "fresh-demo: $work/shared exists"; exit 1; }

cd "$work/clone"
echo "== fresh clone at $work/clone (HOME=$work/home): cargo run --release -p wz -- demo"
start=$(date +%s)
env -u WZ_MODELS_DIR HOME="$work/home" cargo run --quiet --release --locked -p wz -- demo >"$work/demo.log" 2>&1 || {
    tail -40 "$work/demo.log"
    echo "fresh-demo: wz demo failed in a fresh clone"
    exit 1
}
tail -3 "$work/demo.log"
echo "fresh-demo: passed in $(($(date +%s) - start)) s (build included)"
