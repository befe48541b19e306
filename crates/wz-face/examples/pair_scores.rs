//! Prints the default engine's similarity for pairs of photos.
//! `cargo run --release -p wz-face --example pair_scores -- A B [A B …]`
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::indexing_slicing)]

fn main() {
    let m = wz_face::pipeline::FaceModels::load(&wz_face::default_models_dir()).unwrap();
    let a: Vec<String> = std::env::args().skip(1).collect();
    for pair in a.chunks(2) {
        let e = |p: &str| m.embed_single(&std::fs::read(p).unwrap()).unwrap().unwrap();
        println!(
            "{:.4}  {} ~ {}",
            wz_face::pipeline::cosine(&e(&pair[0]), &e(&pair[1])),
            pair[0],
            pair[1]
        );
    }
}
