//! Distributions over a face set's photos (all genuine captures: LFW has
//! no spoof attempts) of the antispoof score and of the face-mesh eye and
//! mouth openness the liveness rules use.
//! `cargo run --release -p wz-face --example antispoof_probe -- FACES_DIR`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

fn summary(name: &str, mut v: Vec<f32>, cut: f32) {
    v.sort_by(f32::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p) as usize];
    println!(
        "{name}: {} faces: min {:.3} p5 {:.3} median {:.3} p95 {:.3} max {:.3}; >= {cut}: {:.1} %",
        v.len(),
        q(0.0),
        q(0.05),
        q(0.5),
        q(0.95),
        q(1.0),
        100.0 * v.iter().filter(|s| **s >= cut).count() as f64 / v.len() as f64
    );
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let m = wz_face::pipeline::FaceModels::load(&wz_face::default_models_dir()).unwrap();
    let (mut spoof, mut eyes, mut mouths) = (Vec::new(), Vec::new(), Vec::new());
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
            let Some(d) = m.detect(&img).unwrap().first().copied() else {
                continue;
            };
            spoof.push(
                m.antispoof_score(&img, &d)
                    .unwrap()
                    .expect("antispoof model present"),
            );
            let l = m.landmarks(&img, &d).unwrap().expect("facemesh model present");
            let dist =
                |a: usize, b: usize| ((l[a][0] - l[b][0]).powi(2) + (l[a][1] - l[b][1]).powi(2)).sqrt();
            eyes.push((dist(159, 145) / dist(33, 133) + dist(386, 374) / dist(362, 263)) / 2.0);
            mouths.push(wz_face::liveness::mouth_openness(&l).unwrap_or(0.0));
        }
    }
    summary("antispoof score", spoof, 0.5);
    summary("eye openness", eyes, 0.15);
    summary("mouth openness", mouths, 0.45);
}
