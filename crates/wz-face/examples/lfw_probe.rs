//! Quick development probe: embeddings of the first N LFW identities,
//! mean same-person vs different-person cosine, TAR at FAR 1 %.
//! `cargo run --release -p wz-face --example lfw_probe -- MODELS_DIR LFW_DIR [N]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

fn main() {
    let models = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let lfw = std::path::PathBuf::from(std::env::args().nth(2).unwrap());
    let n: usize = std::env::args().nth(3).map_or(20, |s| s.parse().unwrap());
    let m = wz_face::pipeline::FaceModels::load(&models).unwrap();
    let mut ids: Vec<_> = std::fs::read_dir(&lfw)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    ids.sort();
    let mut embs: Vec<(usize, Vec<f32>)> = Vec::new();
    let mut fails = 0;
    let t = std::time::Instant::now();
    for (i, d) in ids.iter().take(n).enumerate() {
        let mut files: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            match m.embed_single(&std::fs::read(&f).unwrap()).unwrap() {
                Ok(e) => embs.push((i, e)),
                Err(_) => fails += 1,
            }
        }
    }
    let per = t.elapsed() / (embs.len() + fails) as u32;
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for a in 0..embs.len() {
        for b in a + 1..embs.len() {
            let s = wz_face::pipeline::cosine(&embs[a].1, &embs[b].1);
            if embs[a].0 == embs[b].0 {
                same.push(s)
            } else {
                diff.push(s)
            }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    diff.sort_by(f32::total_cmp);
    let thr = diff[(diff.len() as f32 * 0.99) as usize];
    let tar = same.iter().filter(|s| **s > thr).count() as f32 / same.len() as f32;
    println!(
        "{} faces, {fails} failed; {per:?} per image; same {:.3} diff {:.3}; TAR@FAR1% {:.3} (thr {:.3})",
        embs.len(),
        mean(&same),
        mean(&diff),
        tar,
        thr
    );
}
