#!/usr/bin/env bash
# README's test command: installs what the tests need (face models, tools),
# then runs the whole test suite. PostgreSQL must be reachable at
# $WZ_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
export WZ_MODELS_DIR="${WZ_MODELS_DIR:-${HOME:-/root}/.cache/wangzheng/models}"
scripts/setup.sh
cargo test --workspace --locked
