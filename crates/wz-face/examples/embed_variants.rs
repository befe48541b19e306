//! Development probe: embeds a labelled face set once per (embedder, crop,
//! normalisation) variant in one pass and prints each one's error rates,
//! so alignment choices are compared in the same run (docs/face-models.md).
//! `cargo run --release -p wz-face --example embed_variants -- MODELS_DIR FACES_DIR [NAME,NAME…]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use tract_tensorflow::prelude::*;
use wz_face::align;
use wz_face::pipeline::{FaceModels, decode_still, main_face};

/// How a variant cuts the face out.
#[derive(Clone, Copy)]
enum Crop {
    /// Eye-levelled square, this many detector boxes a side.
    Box(f32),
    /// Five points onto the ArcFace 112 reference.
    Arcface,
    /// Five points onto dlib's 150 chip reference.
    Dlib,
    /// The detector's four points (eyes, nose, mouth centre) onto dlib's
    /// chip reference: no face mesh.
    DlibDetector,
}

struct Variant {
    name: &'static str,
    model: Arc<TypedRunnableModel>,
    size: usize,
    crop: Crop,
    mirror: bool,
    norm: fn(f32, usize) -> f32,
}

fn run(model: &Arc<TypedRunnableModel>, x: tract_ndarray::Array4<f32>) -> Vec<f32> {
    model.run(tvec!(x.into_tensor().into())).unwrap()[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

fn main() {
    let models_dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let faces = std::path::PathBuf::from(std::env::args().nth(2).unwrap());
    let only: Option<String> = std::env::args().nth(3);
    let m = FaceModels::load(&models_dir).unwrap();
    let load = |name: &str, size: usize, out: &str| {
        let g = wz_face::tfjs::load_graph(&models_dir, name).unwrap();
        wz_face::tfjs::runnable(&g, &[1, size, size, 3], Some(&[out])).unwrap()
    };
    let faceres = load("faceres", 224, "global_pooling/Mean");
    let mobileface = load("mobileface", 112, "batchnorm0/add_1");
    let dlib = {
        let g = wz_face::tfjs::dlib::load_graph(&models_dir).unwrap();
        wz_face::tfjs::runnable(&g, &[1, 150, 150, 3], Some(&[wz_face::tfjs::dlib::OUTPUT])).unwrap()
    };
    let raw: fn(f32, usize) -> f32 = |v, _| v;
    let dlib_norm: fn(f32, usize) -> f32 = |v, c| (v - wz_face::tfjs::dlib::MEAN_RGB[c]) / 255.0;
    let mut variants = vec![
        Variant {
            name: "faceres-box1.35",
            model: faceres.clone(),
            size: 224,
            crop: Crop::Box(1.35),
            mirror: false,
            norm: raw,
        },
        Variant {
            name: "faceres-arcface",
            model: faceres,
            size: 224,
            crop: Crop::Arcface,
            mirror: false,
            norm: raw,
        },
        Variant {
            name: "mobileface-box1.2",
            model: mobileface.clone(),
            size: 112,
            crop: Crop::Box(1.2),
            mirror: false,
            norm: raw,
        },
        Variant {
            name: "mobileface-arcface",
            model: mobileface.clone(),
            size: 112,
            crop: Crop::Arcface,
            mirror: false,
            norm: raw,
        },
        Variant {
            name: "mobileface-arcface-mirror",
            model: mobileface,
            size: 112,
            crop: Crop::Arcface,
            mirror: true,
            norm: raw,
        },
        Variant {
            name: "dlib-box1.2",
            model: dlib.clone(),
            size: 150,
            crop: Crop::Box(1.2),
            mirror: false,
            norm: dlib_norm,
        },
        Variant {
            name: "dlib-chip",
            model: dlib.clone(),
            size: 150,
            crop: Crop::Dlib,
            mirror: false,
            norm: dlib_norm,
        },
        Variant {
            name: "dlib-chip-detector-mirror",
            model: dlib.clone(),
            size: 150,
            crop: Crop::DlibDetector,
            mirror: true,
            norm: dlib_norm,
        },
        Variant {
            name: "dlib-chip-mirror",
            model: dlib,
            size: 150,
            crop: Crop::Dlib,
            mirror: true,
            norm: dlib_norm,
        },
    ];
    if let Some(o) = &only {
        variants.retain(|v| o.split(',').any(|n| v.name == n));
    }
    let ids = wz_face::eval::face_set(&faces).unwrap();
    let mut embs: Vec<Vec<(usize, Vec<f32>)>> = variants.iter().map(|_| Vec::new()).collect();
    let (mut images, mut failed) = (0, 0);
    for (i, (_, imgs)) in ids.iter().enumerate() {
        for p in imgs {
            images += 1;
            let img = decode_still(&std::fs::read(p).unwrap()).unwrap();
            let dets = m.detect(&img).unwrap();
            let Ok(det) = main_face(&dets, img.width, img.height) else {
                failed += 1;
                continue;
            };
            let pts = m.alignment_points(&img, &det).unwrap();
            for (k, v) in variants.iter().enumerate() {
                let crop = match v.crop {
                    Crop::Box(scale) => FaceModels::upright_crop(&img, &det, v.size, scale),
                    Crop::Arcface => align::warp(
                        &img,
                        &align::to_reference(&pts, &align::ARCFACE_112, 112.0, v.size).unwrap(),
                        v.size,
                    ),
                    Crop::Dlib => align::warp(
                        &img,
                        &align::to_reference(&pts, &align::DLIB_150, 150.0, v.size).unwrap(),
                        v.size,
                    ),
                    Crop::DlibDetector => {
                        let k = det.keypoints;
                        align::warp(
                            &img,
                            &align::to_reference(&[k[0], k[1], k[2], k[3]], &align::DLIB_150, 150.0, v.size)
                                .unwrap(),
                            v.size,
                        )
                    }
                };
                let x = tract_ndarray::Array4::from_shape_fn(crop.dim(), |(b, y, x, c)| {
                    (v.norm)(crop[(b, y, x, c)], c)
                });
                let mut e = run(&v.model, x.clone());
                if v.mirror {
                    let w = x.dim().2;
                    let mirrored = tract_ndarray::Array4::from_shape_fn(x.dim(), |(b, y, xx, c)| {
                        x[(b, y, w - 1 - xx, c)]
                    });
                    for (a, b) in e.iter_mut().zip(run(&v.model, mirrored)) {
                        *a += b;
                    }
                }
                let n = e.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                embs[k].push((i, e.iter().map(|x| x / n).collect()));
            }
        }
    }
    for (k, v) in variants.iter().enumerate() {
        let r = wz_face::eval::report(ids.len(), images, failed, &embs[k], &[1e-2, 1e-3, 1e-4]);
        let tars: Vec<String> = r
            .tar_at_far
            .iter()
            .map(|(f, p)| {
                format!(
                    "{f:e}: {}",
                    p.map_or("-".into(), |(t, tar)| format!("{tar:.4} (t {t:.3})"))
                )
            })
            .collect();
        println!(
            "{:<26} FTE {:.3} EER {:.4} (t {:.3}) | {}",
            v.name,
            r.fte(),
            r.eer.0,
            r.eer.1,
            tars.join(" | ")
        );
    }
}
