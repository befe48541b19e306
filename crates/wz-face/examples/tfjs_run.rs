//! Runs one TFJS graph model on a raw little-endian f32 NHWC input and
//! prints its first output as JSON: the Rust half of the reference check
//! against `@tensorflow/tfjs` (tests/tfjs_reference.rs does it in the suite).
//! `cargo run --release -p wz-face --example tfjs_run -- DIR NAME INPUT.f32 H W C [OUTPUT]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use tract_tensorflow::prelude::*;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&a[1]);
    let (h, w, c): (usize, usize, usize) = (
        a[4].parse().unwrap(),
        a[5].parse().unwrap(),
        a[6].parse().unwrap(),
    );
    let graph = wz_face::tfjs::load_graph(&dir, &a[2]).unwrap();
    let outputs: Option<Vec<&str>> = a.get(7).map(|o| vec![o.as_str()]);
    let model = wz_face::tfjs::runnable(&graph, &[1, h, w, c], outputs.as_deref()).unwrap();
    let raw = std::fs::read(&a[3]).unwrap();
    let data: Vec<f32> = raw
        .as_chunks::<4>()
        .0
        .iter()
        .map(|b| f32::from_le_bytes(*b))
        .collect();
    let input = tract_ndarray::Array4::from_shape_vec((1, h, w, c), data).unwrap();
    let out = model.run(tvec!(input.into_tensor().into())).unwrap();
    let v: Vec<f32> = out[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    println!("{}", serde_json::to_string(&v).unwrap());
}
