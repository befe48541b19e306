//! Error rates on a labelled face set: `DIR/<identity>/<images>`, all
//! same-person and different-person pairs.

use std::path::{Path, PathBuf};

use crate::error::{FaceEngineError, Result};
use crate::pipeline::{FaceModels, cosine};

/// An identity index and its embedding (`None`: no single face).
type Embedded = (usize, Option<Vec<f32>>);

/// What an evaluation measured.
#[derive(Debug, Clone)]
pub struct EvalReport {
    pub identities: usize,
    pub images: usize,
    /// Images where exactly one face could not be found (failure to enrol).
    pub failed: usize,
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
    /// (FAR target, threshold, TAR at it); `None` where there are too few impostor pairs.
    pub tar_at_far: Vec<(f64, Option<(f32, f64)>)>,
    /// Equal error rate and the threshold where it occurs.
    pub eer: (f64, f32),
    /// ROC points (threshold, FAR, TAR), ascending threshold: every 0.01 of
    /// similarity and at log-spaced FARs.
    pub roc: Vec<(f32, f64, f64)>,
}

impl EvalReport {
    /// Failure-to-enrol rate.
    #[must_use]
    pub fn fte(&self) -> f64 {
        self.failed as f64 / self.images.max(1) as f64
    }
}

/// A labelled face set `DIR/<identity>/<images>`: each identity folder's
/// name and its image files (JPEG, PNG, or PGM/PPM as in the ORL / AT&T
/// set), both sorted.
pub fn face_set(dir: &Path) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let io = |_| FaceEngineError::ModelFormat(format!("cannot read {}", dir.display()));
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let p = e.map_err(io)?.path();
        if !p.is_dir() {
            continue;
        }
        let mut imgs: Vec<PathBuf> = std::fs::read_dir(&p)
            .map_err(io)?
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .filter(|f| {
                matches!(
                    f.extension()
                        .and_then(|x| x.to_str())
                        .map(str::to_ascii_lowercase)
                        .as_deref(),
                    Some("jpg" | "jpeg" | "png" | "pgm" | "ppm" | "pnm")
                )
            })
            .collect();
        imgs.sort();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        ids.push((name, imgs));
    }
    ids.sort();
    Ok(ids)
}

/// Embeds every image (on `threads` threads) and scores every pair.
pub fn evaluate(models: &FaceModels, dir: &Path, threads: usize, far_targets: &[f64]) -> Result<EvalReport> {
    let ids = face_set(dir)?;
    let jobs: Vec<(usize, &PathBuf)> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, (_, imgs))| imgs.iter().map(move |p| (i, p)))
        .collect();
    let threads = threads.max(1);
    let chunk = jobs.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Embedded>>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(i, p)| {
                            let bytes = std::fs::read(p).map_err(|_| {
                                FaceEngineError::ModelFormat(format!("cannot read {}", p.display()))
                            })?;
                            Ok((*i, models.embed_still(&bytes)?.ok()))
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(FaceEngineError::Inference("worker panicked".into())))
            })
            .collect()
    });
    let mut embs = Vec::new();
    let mut failed = 0;
    for r in results {
        for (i, e) in r? {
            match e {
                Some(e) => embs.push((i, e)),
                None => failed += 1,
            }
        }
    }
    if jobs.is_empty() {
        return Err(FaceEngineError::ModelFormat(format!(
            "{} holds no readable face image (identity folders of JPEG, PNG or PGM/PPM files)",
            dir.display()
        )));
    }
    let r = report(ids.len(), jobs.len(), failed, &embs, far_targets);
    if r.genuine_pairs == 0 || r.impostor_pairs == 0 {
        return Err(FaceEngineError::ModelFormat(format!(
            "{}: {} of {} images gave a face, {} same-person and {} different-person pairs: nothing to measure",
            dir.display(),
            embs.len(),
            jobs.len(),
            r.genuine_pairs,
            r.impostor_pairs
        )));
    }
    Ok(r)
}

/// Error rates from labelled embeddings `(identity index, embedding)` of
/// `images` images, `failed` of which gave no embedding.
#[must_use]
pub fn report(
    identities: usize,
    images: usize,
    failed: usize,
    embs: &[(usize, Vec<f32>)],
    far_targets: &[f64],
) -> EvalReport {
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (a, (ia, ea)) in embs.iter().enumerate() {
        for (ib, eb) in embs.iter().skip(a + 1) {
            let s = cosine(ea, eb);
            if ia == ib {
                genuine.push(s)
            } else {
                impostor.push(s)
            }
        }
    }
    impostor.sort_by(|a, b| b.total_cmp(a));
    genuine.sort_by(|a, b| b.total_cmp(a));
    let tar_above = |t: f32| genuine.iter().filter(|g| **g > t).count() as f64 / genuine.len().max(1) as f64;
    let far_above =
        |t: f32| impostor.iter().filter(|g| **g > t).count() as f64 / impostor.len().max(1) as f64;
    let tar_at_far = far_targets
        .iter()
        .map(|far| {
            let k = (far * impostor.len() as f64).floor() as usize;
            // Need at least ~10 impostor pairs above the threshold for a meaningful point.
            let point = (far * impostor.len() as f64 >= 1.0).then(|| {
                let t = impostor.get(k.saturating_sub(1)).copied().unwrap_or(1.0);
                (t, tar_above(t))
            });
            (*far, point)
        })
        .collect();
    // EER: try every genuine score as the threshold (impostors counted by
    // binary search in the descending list).
    let mut eer = (1.0, 0.0);
    let mut best_gap = f64::MAX;
    for (i, t) in genuine.iter().enumerate() {
        let tar = i as f64 / genuine.len().max(1) as f64;
        let far = impostor.partition_point(|x| x > t) as f64 / impostor.len().max(1) as f64;
        let frr = 1.0 - tar;
        if (far - frr).abs() < best_gap {
            best_gap = (far - frr).abs();
            eer = ((far + frr) / 2.0, *t);
        }
    }
    // Every 0.01 of similarity, plus thresholds at log-spaced FARs (ten a
    // decade down to one impostor pair) so the low-FAR end is drawn finely.
    let mut thresholds: Vec<f32> = (-100..=100).map(|step| step as f32 / 100.0).collect();
    let min_far = 1.0 / impostor.len().max(1) as f64;
    let mut far = 1.0f64;
    while far >= min_far {
        let k = (far * impostor.len() as f64).floor() as usize;
        if let Some(t) = impostor.get(k.saturating_sub(1)) {
            thresholds.push(*t);
        }
        far /= 10f64.powf(0.1);
    }
    thresholds.sort_by(f32::total_cmp);
    thresholds.dedup();
    let roc = thresholds
        .into_iter()
        .map(|t| (t, far_above(t), tar_above(t)))
        .collect();
    EvalReport {
        identities,
        images,
        failed,
        genuine_pairs: genuine.len(),
        impostor_pairs: impostor.len(),
        tar_at_far,
        eer,
        roc,
    }
}
