//! Distribution of the quality measurements over a face set.
//! `cargo run --release -p wz-face --example quality_probe -- MODELS_DIR FACES_DIR`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

fn main() {
    let models = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let dir = std::path::PathBuf::from(std::env::args().nth(2).unwrap());
    let m = wz_face::pipeline::FaceModels::load(&models).unwrap();
    let mut qs = Vec::new();
    for id in std::fs::read_dir(&dir).unwrap() {
        let id = id.unwrap().path();
        if !id.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(id).unwrap() {
            let img = wz_face::pipeline::decode(&std::fs::read(f.unwrap().path()).unwrap()).unwrap();
            if let Some(d) = m.detect(&img).unwrap().first() {
                qs.push(wz_face::quality::measure(&img, d));
            }
        }
    }
    let pct = |mut v: Vec<f32>, p: f32| {
        v.sort_by(f32::total_cmp);
        v[((v.len() - 1) as f32 * p) as usize]
    };
    for (name, v) in [
        ("face_px", qs.iter().map(|q| q.face_px).collect::<Vec<_>>()),
        ("sharpness", qs.iter().map(|q| q.sharpness).collect()),
        ("brightness", qs.iter().map(|q| q.brightness).collect()),
        ("yaw", qs.iter().map(|q| q.yaw).collect()),
    ] {
        println!(
            "{name}: p1 {:.2} p5 {:.2} p50 {:.2} p95 {:.2} p99 {:.2}",
            pct(v.clone(), 0.01),
            pct(v.clone(), 0.05),
            pct(v.clone(), 0.5),
            pct(v.clone(), 0.95),
            pct(v, 0.99)
        );
    }
    let gates = wz_face::quality::QualityGates::default();
    let fails = qs.iter().filter(|q| gates.check(q).is_err()).count();
    println!("{} faces, {fails} fail the default gates", qs.len());
}
