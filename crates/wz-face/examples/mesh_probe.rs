//! Eye and mouth openness from the face mesh over a face set's photos.
//! `cargo run --release -p wz-face --example mesh_probe -- FACES_DIR`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let m = wz_face::pipeline::FaceModels::load(&wz_face::default_models_dir()).unwrap();
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
        let mut line = Vec::new();
        for f in files {
            let img = wz_face::pipeline::decode(&std::fs::read(&f).unwrap()).unwrap();
            let Some(d) = m.detect(&img).unwrap().first().copied() else {
                continue;
            };
            let l = m.landmarks(&img, &d).unwrap().unwrap();
            let dist =
                |a: usize, b: usize| ((l[a][0] - l[b][0]).powi(2) + (l[a][1] - l[b][1]).powi(2)).sqrt();
            let eyes = (dist(159, 145) / dist(33, 133) + dist(386, 374) / dist(362, 263)) / 2.0;
            let mouth = dist(13, 14) / dist(78, 308);
            line.push(format!(
                "{}:eye{:.2}/mouth{:.2}",
                f.file_name().unwrap().to_string_lossy(),
                eyes,
                mouth
            ));
        }
        println!("{} {}", id.file_name().unwrap().to_string_lossy(), line.join(" "));
    }
}
