//! Distribution of the antispoof model's score over a face set's photos
//! (all genuine captures: LFW has no spoof attempts).
//! `cargo run --release -p wz-face --example antispoof_probe -- FACES_DIR`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let m = wz_face::pipeline::FaceModels::load(&wz_face::default_models_dir()).unwrap();
    let mut scores = Vec::new();
    for id in std::fs::read_dir(&dir).unwrap() {
        let id = id.unwrap().path();
        if !id.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&id).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            let Ok(img) = wz_face::pipeline::decode(&bytes) else {
                continue;
            };
            if let Some(d) = m.detect(&img).unwrap().first() {
                scores.push(
                    m.antispoof_score(&img, d)
                        .unwrap()
                        .expect("antispoof model present"),
                );
            }
        }
    }
    scores.sort_by(f32::total_cmp);
    let q = |p: f64| scores[((scores.len() - 1) as f64 * p) as usize];
    println!(
        "{} faces: min {:.3} p5 {:.3} p25 {:.3} median {:.3} p75 {:.3} max {:.3}; >= 0.5: {:.1} %",
        scores.len(),
        q(0.0),
        q(0.05),
        q(0.25),
        q(0.5),
        q(0.75),
        q(1.0),
        100.0 * scores.iter().filter(|s| **s >= 0.5).count() as f64 / scores.len() as f64
    );
}
