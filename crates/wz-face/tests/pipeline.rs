//! The face pipeline on real models (fetched by `scripts/setup.sh` into
//! `$WZ_MODELS_DIR` or `~/.cache/wangzheng/models`) and real faces (the LFW
//! development set beside the project, where it exists).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::OnceLock;

use wz_face::CaptureFault;
use wz_face::pipeline::{FaceModels, cosine, decode};

fn models() -> &'static FaceModels {
    static M: OnceLock<FaceModels> = OnceLock::new();
    M.get_or_init(|| {
        FaceModels::load(&wz_face::default_models_dir()).expect("face models missing: run scripts/setup.sh")
    })
}

fn lfw() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces/lfw-dev");
    p.is_dir().then_some(p)
}

/// The identity folders of a face set, sorted.
fn identities(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut ids: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    ids.sort();
    ids
}

fn png(width: u32, height: u32, fill: u8) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([fill, fill, fill]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn bad_images_are_refused_clearly() {
    assert_eq!(decode(b"").unwrap_err(), CaptureFault::Undecodable);
    assert_eq!(decode(b"GIF89a....").unwrap_err(), CaptureFault::Undecodable);
    let good = png(64, 64, 128);
    assert!(decode(&good).is_ok());
    assert_eq!(
        decode(&good[..good.len() / 2]).unwrap_err(),
        CaptureFault::Undecodable,
        "truncated PNG"
    );
    assert_eq!(decode(&png(5000, 2, 0)).unwrap_err(), CaptureFault::TooLarge);
    // A blank frame has no face.
    assert_eq!(
        models().embed_single(&png(320, 240, 200)).unwrap().unwrap_err(),
        CaptureFault::NoFace
    );
}

#[test]
fn same_person_scores_higher_than_different_people() {
    let Some(dir) = lfw() else {
        eprintln!("skipping: LFW development set not present");
        return;
    };
    let ids = identities(&dir);
    let mut embs = Vec::new();
    for (i, d) in ids.iter().take(6).enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.iter().take(3) {
            if let Ok(e) = models().embed_single(&std::fs::read(f).unwrap()).unwrap() {
                assert_eq!(e.len(), wz_face::pipeline::FaceModel::default().embedding_len());
                embs.push((i, e));
            }
        }
    }
    assert!(
        embs.len() >= 15,
        "most LFW photos have one detectable face: {}",
        embs.len()
    );
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for a in 0..embs.len() {
        for b in a + 1..embs.len() {
            let s = cosine(&embs[a].1, &embs[b].1);
            if embs[a].0 == embs[b].0 {
                same.push(s)
            } else {
                diff.push(s)
            }
        }
    }
    // Model-agnostic: nearly every same-person pair outscores nearly every
    // different-person pair (the area under the ROC curve). A model that
    // gives every face the same embedding scores 0.5.
    let ordered = same
        .iter()
        .map(|s| diff.iter().filter(|d| *d < s).count())
        .sum::<usize>() as f64
        / (same.len() * diff.len()) as f64;
    assert!(
        ordered > 0.97,
        "AUC {ordered}: same {same:?} diff {:?}",
        &diff[..10]
    );
    // Embeddings are unit length; a face compared with itself scores 1.
    let e = &embs[0].1;
    assert!((cosine(e, e) - 1.0).abs() < 1e-4);
}

#[test]
fn detection_finds_eyes_inside_the_face_box() {
    let Some(dir) = lfw() else { return };
    let bytes = std::fs::read(dir.join("Aaron_Peirsol/1.jpg")).unwrap();
    let img = decode(&bytes).unwrap();
    let dets = models().detect(&img).unwrap();
    let d = dets.first().expect("a face");
    assert!(d.score > 0.8, "{}", d.score);
    for kp in &d.keypoints[..2] {
        assert!(
            kp[0] > d.bbox[0] && kp[0] < d.bbox[2] && kp[1] > d.bbox[1] && kp[1] < d.bbox[3],
            "{d:?}"
        );
    }
    // The subject's right eye is on the image's left.
    assert!(d.keypoints[0][0] < d.keypoints[1][0]);
}

#[test]
fn evaluation_on_a_slice_of_the_development_set() {
    let Some(dir) = lfw() else { return };
    // The first 12 identities, linked (never copied) into a scratch folder.
    let tmp = tempfile::tempdir().unwrap();
    let ids = identities(&dir);
    for p in ids.iter().take(12) {
        std::os::unix::fs::symlink(p, tmp.path().join(p.file_name().unwrap())).unwrap();
    }
    let r = wz_face::eval::evaluate(models(), tmp.path(), 2, &[1e-2, 1e-6]).unwrap();
    assert_eq!((r.identities, r.images), (12, 48));
    assert!(r.fte() < 0.2, "{r:?}");
    assert!(r.eer.0 < 0.2, "{:?}", r.eer);
    let (_, at_1pct) = r.tar_at_far[0];
    assert!(at_1pct.unwrap().1 > 0.5, "{:?}", r.tar_at_far);
    assert!(
        r.tar_at_far[1].1.is_none(),
        "1e-6 cannot be measured on ~1000 impostor pairs"
    );
    // Every 0.01 of similarity plus log-spaced FAR points, thresholds ascending.
    assert!(r.roc.len() > 201, "{}", r.roc.len());
    assert!(r.roc.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(r.roc.windows(2).all(|w| w[0].1 >= w[1].1 && w[0].2 >= w[1].2));
}

/// Re-encodes a transformed copy of an LFW photo (in memory only).
fn transformed(path: &std::path::Path, f: impl Fn(image::RgbImage) -> image::RgbImage) -> Vec<u8> {
    let img = image::load_from_memory(&std::fs::read(path).unwrap())
        .unwrap()
        .to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    f(img).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn quality_gates_give_reasons() {
    use wz_face::quality::{QualityGates, measure};
    let Some(dir) = lfw() else { return };
    let photo = dir.join("Aaron_Peirsol/1.jpg");
    let gates = QualityGates::default();
    let check = |bytes: &[u8]| {
        let img = decode(bytes).unwrap();
        let det = models().detect(&img).unwrap();
        det.first().map(|d| gates.check(&measure(&img, d)))
    };
    assert_eq!(check(&std::fs::read(&photo).unwrap()), Some(Ok(())));
    // Heavy blur: a 9x9 box filter, three times.
    let blurred = transformed(&photo, |mut img| {
        for _ in 0..3 {
            img = image::imageops::blur(&img, 4.0);
        }
        img
    });
    assert_eq!(check(&blurred), None, "so blurred that no face is found");
    let soft = transformed(&photo, |img| image::imageops::blur(&img, 2.5));
    assert_eq!(check(&soft), Some(Err(CaptureFault::Blurred)));
    let dark = transformed(&photo, |mut img| {
        img.pixels_mut().for_each(|p| p.0 = p.0.map(|c| c / 8));
        img
    });
    assert_eq!(check(&dark), Some(Err(CaptureFault::TooDark)));
    let small = transformed(&photo, |img| {
        image::imageops::resize(&img, 90, 90, image::imageops::FilterType::Triangle)
    });
    assert_eq!(check(&small), Some(Err(CaptureFault::TooSmall)));
}

fn observe(path: &std::path::Path) -> wz_face::liveness::Observation {
    observe_bytes(&std::fs::read(path).unwrap())
}

fn observe_bytes(bytes: &[u8]) -> wz_face::liveness::Observation {
    let img = decode(bytes).unwrap();
    let det = models().detect(&img).unwrap()[0];
    wz_face::liveness::Observation {
        yaw: wz_face::quality::yaw(&det),
        mouth: models()
            .landmarks(&img, &det)
            .unwrap()
            .and_then(|l| wz_face::liveness::mouth_openness(&l)),
        embedding: models().embed(&img, &det).unwrap(),
    }
}

#[test]
fn action_liveness_on_real_photos() {
    use wz_face::liveness::{LivenessFault, LivenessRules, check};
    use wz_proto::api::LivenessAction::{Blink, OpenMouth, TurnLeft, TurnRight};
    let Some(dir) = lfw() else { return };
    let rules = LivenessRules::default();
    // One person: facing the camera, turned to his right, turned to his left.
    let d = dir.join("Daniel_Radcliffe");
    let (front, right, left) = (
        observe(&d.join("3.jpg")),
        observe(&d.join("1.jpg")),
        observe(&d.join("2.jpg")),
    );
    assert!(right.yaw < -0.25 && left.yaw > 0.25, "{} {}", right.yaw, left.yaw);

    // The asked actions in the asked order pass.
    let seq = [front.clone(), right.clone(), front.clone(), left.clone()];
    assert_eq!(check(&seq, &[TurnRight, TurnLeft], &rules), Ok(()));
    // The same frames for the opposite order fail.
    assert_eq!(
        check(&seq, &[TurnLeft, TurnRight], &rules),
        Err(LivenessFault::ActionMissing)
    );
    // The same photo repeated (or shifted and scaled: same pose) fails.
    let still = [front.clone(), front.clone(), front.clone(), front.clone()];
    assert_eq!(
        check(&still, &[TurnRight, TurnLeft], &rules),
        Err(LivenessFault::Static)
    );
    // The photo itself shifted and scaled across frames (a photo moved in
    // front of the camera) keeps its pose: no motion.
    let shifted = observe_bytes(&transformed(&d.join("3.jpg"), |img| {
        let mut canvas =
            image::RgbImage::from_pixel(img.width() + 40, img.height() + 20, image::Rgb([90, 90, 90]));
        image::imageops::overlay(&mut canvas, &img, 40, 20);
        canvas
    }));
    let scaled = observe_bytes(&transformed(&d.join("3.jpg"), |img| {
        image::imageops::resize(
            &img,
            img.width() * 13 / 10,
            img.height() * 13 / 10,
            image::imageops::FilterType::Triangle,
        )
    }));
    assert_eq!(
        check(&[front.clone(), shifted, scaled], &[TurnRight, TurnLeft], &rules),
        Err(LivenessFault::Static)
    );
    // Someone else's turned head in the middle fails.
    let other = observe(&dir.join("Amanda_Bynes/1.jpg"));
    let swapped = [front.clone(), other, front.clone(), left.clone()];
    assert_eq!(
        check(&swapped, &[TurnRight, TurnLeft], &rules),
        Err(LivenessFault::IdentityChanged)
    );
    // Starting turned away, too few frames, or an action this engine cannot see.
    assert_eq!(
        check(&[right.clone(), front.clone(), left.clone()], &[TurnLeft], &rules),
        Err(LivenessFault::NotFrontalAtStart)
    );
    assert_eq!(
        check(std::slice::from_ref(&front), &[TurnLeft], &rules),
        Err(LivenessFault::TooFewFrames)
    );
    assert_eq!(check(&seq, &[Blink], &rules), Err(LivenessFault::Unsupported));

    // Open mouth (face-mesh landmarks): mouth closed, then wide open, one person.
    let b = dir.join("Brad_Garrett");
    let (closed, open) = (observe(&b.join("3.jpg")), observe(&b.join("4.jpg")));
    assert!(
        closed.mouth.unwrap() < 0.2 && open.mouth.unwrap() > 0.45,
        "{:?} {:?} yaw {} {}",
        closed.mouth,
        open.mouth,
        closed.yaw,
        open.yaw
    );
    assert_eq!(
        check(&[closed.clone(), open.clone()], &[OpenMouth], &rules),
        Ok(())
    );
    // Starting with the mouth open, never opening it, or the order mixed up fails.
    assert_eq!(
        check(&[open.clone(), closed.clone()], &[OpenMouth], &rules),
        Err(LivenessFault::NotFrontalAtStart)
    );
    assert_eq!(
        check(&[closed.clone(), closed.clone()], &[OpenMouth], &rules),
        Err(LivenessFault::Static)
    );
    // Without the mesh model (no mouth measured) the action is not checkable.
    let unmeasured = |o: &wz_face::liveness::Observation| wz_face::liveness::Observation {
        mouth: None,
        ..o.clone()
    };
    assert_eq!(
        check(&[unmeasured(&closed), unmeasured(&open)], &[OpenMouth], &rules),
        Err(LivenessFault::Unsupported)
    );
}

/// Photos of two people from the face_recognition 1.3.0 sdist, fetched by
/// `scripts/setup.sh`: these tests run on any machine, LFW or not.
fn package_faces() -> PathBuf {
    wz_face::default_models_dir().join("../../test-faces/face_recognition-1.3.0")
}

#[test]
fn package_photos_same_person_scores_higher() {
    let dir = package_faces();
    let emb = |name: &str| {
        let bytes = std::fs::read(dir.join(name)).expect("test photos missing: run scripts/setup.sh");
        models().embed_single(&bytes).unwrap().unwrap()
    };
    let (o1, o2, o3, b) = (
        emb("obama.jpg"),
        emb("obama2.jpg"),
        emb("obama3.jpg"),
        emb("biden.jpg"),
    );
    let same = [cosine(&o1, &o2), cosine(&o1, &o3), cosine(&o2, &o3)];
    let diff = [cosine(&o1, &b), cosine(&o2, &b), cosine(&o3, &b)];
    let worst_same = same.iter().copied().fold(f32::MAX, f32::min);
    let best_diff = diff.iter().copied().fold(f32::MIN, f32::max);
    assert!(worst_same > best_diff, "same {same:?} diff {diff:?}");
    // The stored photo against itself is (near) perfect; two captures of
    // one face are not: the platform's presentation-attack bound (0.995)
    // sits between them.
    assert!(cosine(&o1, &emb("obama.jpg")) > 0.999);
    assert!(same.iter().all(|s| *s < 0.995), "{same:?}");
    // A 32-bit (RGBA) PNG decodes too.
    assert!(decode(&std::fs::read(dir.join("32bit.png")).unwrap()).is_ok());
}

/// The engine as the platform uses it: versioned templates, live checks.
#[test]
fn engine_templates_and_live_checks() {
    use wz_face::engine::MAX_FRAMES;
    use wz_face::liveness::LivenessFault;
    use wz_proto::api::LivenessAction::{TurnLeft, TurnRight};
    // Near the default model's LFW equal-error threshold (its FAR 1e-4
    // threshold is stricter than some photos of one man pass).
    let engine = wz_face::Engine::new(models().clone(), Some(0.915));
    let pkg = package_faces();
    let read = |p: PathBuf| std::fs::read(p).unwrap();
    let template = engine.template(&read(pkg.join("obama.jpg"))).unwrap().unwrap();
    assert_eq!(
        template.len(),
        wz_face::pipeline::FaceModel::default().embedding_len() * 4
    );
    assert_eq!(
        engine.template(b"not an image").unwrap(),
        Err(CaptureFault::Undecodable)
    );
    // Without asked actions nothing is live; a stranger's template does not match.
    let frame = read(pkg.join("obama2.jpg"));
    let check = engine
        .check_live(std::slice::from_ref(&frame), &[], &template)
        .unwrap()
        .unwrap();
    assert_eq!(check.liveness, Some(LivenessFault::ActionMissing));
    assert!(check.matched, "score {}", check.score);
    let s = check.spoof_score.expect("antispoof model installed by setup");
    assert!((0.0..=1.0).contains(&s));
    let biden = engine.template(&read(pkg.join("biden.jpg"))).unwrap().unwrap();
    assert!(
        !engine
            .check_live(std::slice::from_ref(&frame), &[], &biden)
            .unwrap()
            .unwrap()
            .matched
    );
    // Another model's (or a damaged) template is refused; so are floods of frames.
    assert_eq!(
        engine
            .check_live(std::slice::from_ref(&frame), &[], &template[..100])
            .unwrap(),
        Err(CaptureFault::TemplateMismatch)
    );
    assert_eq!(
        engine
            .check_live(&vec![frame; MAX_FRAMES + 1], &[], &template)
            .unwrap(),
        Err(CaptureFault::TooManyFrames)
    );

    // Real head turns, where the development set is present.
    let Some(dir) = lfw() else { return };
    let engine = wz_face::Engine::new(models().clone(), None);
    let d = dir.join("Daniel_Radcliffe");
    let template = engine.template(&read(d.join("3.jpg"))).unwrap().unwrap();
    let (front, right, left) = (
        read(d.join("4.jpg")),
        read(d.join("1.jpg")),
        read(d.join("2.jpg")),
    );
    let ok = engine
        .check_live(
            &[front.clone(), right.clone(), left.clone()],
            &[TurnRight, TurnLeft],
            &template,
        )
        .unwrap()
        .unwrap();
    assert_eq!((ok.liveness, ok.matched), (None, true), "score {}", ok.score);
    let wrong = engine
        .check_live(&[front, right, left], &[TurnLeft, TurnRight], &template)
        .unwrap()
        .unwrap();
    assert_eq!(wrong.liveness, Some(LivenessFault::ActionMissing));
}
