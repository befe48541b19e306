//! Face engine speed: detection on a 640×480 frame, align + embed of one
//! face, and a full 1:1 verification of two encoded photos. Needs the models
//! (`scripts/setup.sh`) and, for real faces, the LFW development set beside
//! the project.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use wz_face::pipeline::{FaceModels, Rgb, cosine, decode};

fn models() -> FaceModels {
    FaceModels::load(&wz_face::default_models_dir()).expect("face models missing: run scripts/setup.sh")
}

fn photo(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/faces/lfw-dev")
        .join(name);
    std::fs::read(&p).expect("LFW development set beside the project")
}

/// A 640×480 frame with the photo pasted in the middle, as a camera frame.
fn frame(face: &Rgb) -> Rgb {
    let (w, h) = (640usize, 480usize);
    let mut data = vec![90u8; w * h * 3];
    let (ox, oy) = ((w - face.width) / 2, (h - face.height) / 2);
    for y in 0..face.height {
        for x in 0..face.width {
            for c in 0..3 {
                data[((y + oy) * w + x + ox) * 3 + c] = face.data[(y * face.width + x) * 3 + c];
            }
        }
    }
    Rgb {
        width: w,
        height: h,
        data,
    }
}

fn bench(c: &mut Criterion) {
    let m = models();
    let a = photo("Aaron_Peirsol/1.jpg");
    let b = photo("Aaron_Peirsol/2.jpg");
    let img = frame(&decode(&a).unwrap());
    let det = m.detect(&img).unwrap()[0];
    c.bench_function("detect_640x480", |bench| {
        bench.iter(|| m.detect(black_box(&img)).unwrap())
    });
    c.bench_function("align_and_embed", |bench| {
        bench.iter(|| m.embed(black_box(&img), &det).unwrap())
    });
    c.bench_function("detect_align_embed_640x480", |bench| {
        bench.iter(|| {
            let d = m.detect(black_box(&img)).unwrap()[0];
            m.embed(&img, &d).unwrap()
        });
    });
    c.bench_function("facemesh_landmarks", |bench| {
        bench.iter(|| m.landmarks(black_box(&img), &det).unwrap())
    });
    c.bench_function("antispoof_score", |bench| {
        bench.iter(|| m.antispoof_score(black_box(&img), &det).unwrap())
    });
    c.bench_function("verify_1to1_two_jpegs", |bench| {
        bench.iter(|| {
            let ea = m.embed_single(black_box(&a)).unwrap().unwrap();
            let eb = m.embed_single(black_box(&b)).unwrap().unwrap();
            cosine(&ea, &eb)
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
