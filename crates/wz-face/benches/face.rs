//! Face engine speed: detection on a 640×480 frame, align + embed of one
//! face with each packaged embedder (the default beside the previous one,
//! in the same run), and a full 1:1 verification of two encoded photos.
//! Needs the models and test photos (`scripts/setup.sh`); uses the LFW
//! development set beside the project when it is there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use wz_face::pipeline::{FaceModel, FaceModels, Rgb, cosine, decode};

fn models(model: FaceModel) -> FaceModels {
    FaceModels::load_with(&wz_face::default_models_dir(), model, None)
        .expect("face models missing: run scripts/setup.sh")
}

/// Two photos of one person: LFW's when present, else setup.sh's.
fn photos() -> (Vec<u8>, Vec<u8>) {
    let lfw =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces/lfw-dev/Aaron_Peirsol");
    let dir = if lfw.is_dir() {
        lfw
    } else {
        wz_face::default_models_dir().join("../../test-faces/face_recognition-1.3.0")
    };
    let read = |names: [&str; 2]| {
        names
            .iter()
            .map(|n| std::fs::read(dir.join(n)))
            .collect::<Result<Vec<_>, _>>()
            .ok()
    };
    let mut two = read(["1.jpg", "2.jpg"])
        .or_else(|| read(["obama.jpg", "obama2.jpg"]))
        .expect("test photos missing: run scripts/setup.sh");
    let b = two.pop().unwrap();
    (two.pop().unwrap(), b)
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
    let m = models(FaceModel::default());
    let (a, b) = photos();
    let img = frame(&decode(&a).unwrap());
    let det = m.detect(&img).unwrap()[0];
    c.bench_function("detect_640x480", |bench| {
        bench.iter(|| m.detect(black_box(&img)).unwrap())
    });
    // Every packaged embedder in the same run: the default first, then the
    // engine's previous one (faceres) as the baseline.
    for model in FaceModel::ALL {
        let mm = models(model);
        c.bench_function(&format!("align_and_embed/{}", model.name()), |bench| {
            bench.iter(|| mm.embed(black_box(&img), &det).unwrap())
        });
        c.bench_function(&format!("detect_align_embed_640x480/{}", model.name()), |bench| {
            bench.iter(|| {
                let d = mm.detect(black_box(&img)).unwrap()[0];
                mm.embed(&img, &d).unwrap()
            });
        });
    }
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
