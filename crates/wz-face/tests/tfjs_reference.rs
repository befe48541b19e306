//! Our TFJS → tract translation against the reference: every model the
//! engine runs gives, on the same input, the same output as
//! `@tensorflow/tfjs` (its pure-JavaScript CPU backend, under node) to
//! about 1e-4. The dlib ResNet, whose package ships weights but no graph,
//! is checked against face-api's forward pass transcribed into tfjs calls. `scripts/setup.sh` installs the models and the reference
//! package; without them the test says why it skips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use tract_tensorflow::prelude::*;

/// Where setup.sh installs `@tensorflow/tfjs`.
fn tfjs_modules() -> Option<PathBuf> {
    let dir = std::env::var_os("WZ_TFJS_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| wz_face::default_models_dir().join("../tfjs-reference/node_modules"));
    dir.join("@tensorflow/tfjs").is_dir().then_some(dir)
}

/// Deterministic input in `[lo, hi]` (xorshift), like a normalised image.
fn input(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f32 / (1u64 << 53) as f32)
        })
        .collect()
}

fn compare(name: &str, size: usize, output: &str, lo: f32, hi: f32) {
    let dir = wz_face::default_models_dir();
    if !dir.join(format!("{name}.json")).is_file()
        && !dir.join(format!("{name}-weights_manifest.json")).is_file()
    {
        eprintln!("skipped {name}: models not installed (scripts/setup.sh)");
        return;
    }
    let Some(modules) = tfjs_modules() else {
        // .ci/run sets this: there setup.sh installed the reference, so it must run.
        assert!(
            std::env::var_os("WZ_REQUIRE_TFJS_REFERENCE").is_none(),
            "WZ_REQUIRE_TFJS_REFERENCE is set but @tensorflow/tfjs is not installed"
        );
        eprintln!("skipped {name}: @tensorflow/tfjs not installed (scripts/setup.sh)");
        return;
    };
    let data = input(size * size * 3, lo, hi, 0x9e37_79b9_7f4a_7c15 ^ size as u64);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("input.f32");
    std::fs::write(
        &file,
        data.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
    )
    .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tfjs_reference.js");
    let s = size.to_string();
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(&dir)
        .arg(name)
        .arg(&file)
        .args([&s, &s, "3", output])
        .env("NODE_PATH", &modules)
        .output()
        .expect("node runs (setup.sh installs it)");
    assert!(
        out.status.success(),
        "tfjs failed on {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: Vec<f32> = serde_json::from_slice(&out.stdout).unwrap();

    let graph = if name == "face_recognition_model" {
        wz_face::tfjs::dlib::load_graph(&dir).unwrap()
    } else {
        wz_face::tfjs::load_graph(&dir, name).unwrap()
    };
    let model = wz_face::tfjs::runnable(&graph, &[1, size, size, 3], Some(&[output])).unwrap();
    let x = tract_ndarray::Array4::from_shape_vec((1, size, size, 3), data).unwrap();
    let ours: Vec<f32> = model.run(tvec!(x.into_tensor().into())).unwrap()[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    assert_eq!(ours.len(), reference.len(), "{name}: output length");
    let scale = reference.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let worst = ours
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0f32, f32::max);
    eprintln!(
        "{name}/{output}: {} values, largest difference {worst:.2e} of the largest value",
        ours.len()
    );
    assert!(worst <= 1e-4, "{name}/{output} differs from tfjs by {worst:e}");
}

#[test]
fn blazeface_matches_tfjs() {
    compare("blazeface", 256, "Identity", -1.0, 1.0);
    compare("blazeface", 256, "Identity_3", -1.0, 1.0);
}

#[test]
fn facemesh_matches_tfjs() {
    compare("facemesh", 192, "Identity_2", 0.0, 1.0);
}

#[test]
fn antispoof_matches_tfjs() {
    compare("antispoof", 128, "Identity", 0.0, 1.0);
}

#[test]
fn liveness_matches_tfjs() {
    compare("liveness", 32, "Identity", 0.0, 1.0);
}

#[test]
fn faceres_matches_tfjs() {
    compare("faceres", 224, "global_pooling/Mean", 0.0, 255.0);
}

#[test]
fn mobileface_matches_tfjs() {
    compare("mobileface", 112, "batchnorm0/add_1", 0.0, 255.0);
}

#[test]
fn dlib_resnet_matches_face_api() {
    compare("face_recognition_model", 150, "descriptor", -0.5, 0.5);
}
