#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 60) and prints how many
# inputs each executed. cargo-fuzz needs nightly-only compiler flags;
# RUSTC_BOOTSTRAP lets the one stable toolchain on our machines accept them.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
export RUSTC_BOOTSTRAP=1
# The fuzz crate has its own workspace and lock file; keep its build apart.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-../target}/fuzz"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    # Checked-in regression inputs first, then new exploration.
    seeds=()
    if [ -d "regressions/$target" ]; then seeds+=("regressions/$target"); fi
    if ! cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target FAILED"
        exit 1
    fi
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    echo "fuzz $target: ${secs}s, ${execs} inputs, no crash"
done
