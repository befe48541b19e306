//! Lists identities whose photos span frontal, left- and right-turned poses.
//! `cargo run --release -p wz-face --example yaw_probe -- MODELS_DIR FACES_DIR`
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
    let mut ids: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    ids.sort();
    for id in ids {
        let mut files: Vec<_> = std::fs::read_dir(&id)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut yaws = Vec::new();
        for f in &files {
            let img = wz_face::pipeline::decode(&std::fs::read(f).unwrap()).unwrap();
            if let Some(d) = m.detect(&img).unwrap().first() {
                yaws.push((
                    f.file_name().unwrap().to_string_lossy().into_owned(),
                    wz_face::quality::yaw(d),
                ));
            }
        }
        let lo = yaws.iter().map(|y| y.1).fold(f32::MAX, f32::min);
        let hi = yaws.iter().map(|y| y.1).fold(f32::MIN, f32::max);
        let frontal = yaws.iter().any(|y| y.1.abs() < 0.12);
        if lo < -0.25 && hi > 0.25 && frontal {
            println!("{}: {:?}", id.file_name().unwrap().to_string_lossy(), yaws);
        }
    }
}
