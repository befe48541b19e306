//! Finding the demo's citizen among the photos: a registry photo and live
//! frames the engine matches to it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use wz_face::liveness::Observation;
use wz_proto::api::LivenessAction;

use crate::citizen::LiveFrames;
use crate::demo_registry;

/// The citizen's photos: one for the registry, and live frames facing the
/// camera and turned to each side.
#[derive(Debug, Clone)]
pub(super) struct Citizen {
    pub(super) registry_photo: PathBuf,
    pub(super) frames: LiveFrames,
}

impl Citizen {
    pub(super) fn frames(&self, actions: &[LivenessAction]) -> anyhow::Result<Vec<Vec<u8>>> {
        self.frames.for_actions(actions)
    }
}

/// The demo's citizen, and whether their photos can answer a head-turn
/// challenge.
pub(super) struct Found {
    pub(super) citizen: Citizen,
    pub(super) photos: Vec<PathBuf>,
    pub(super) can_turn: bool,
}

/// The first identity in `faces` whose photos give a frontal registry photo
/// and three other live frames (frontal, turned left, turned right) that
/// the engine matches to it; failing that, the first whose photos give two
/// frontal photos that match (then no head-turn challenge can be answered).
/// Each photo is observed once.
pub(super) fn find_citizen(engine: &wz_face::Engine, faces: &Path) -> anyhow::Result<Found> {
    let rules = wz_face::liveness::LivenessRules::default();
    let same = |a: &Observation, b: &Observation| wz_face::pipeline::cosine(&a.embedding, &b.embedding);
    let mut fallback: Option<Found> = None;
    for imgs in demo_registry::identities(faces)? {
        let seen = observe_all(engine, &imgs)?;
        let frontal: Vec<_> = seen.iter().filter(|s| s.1.yaw.abs() <= rules.frontal).collect();
        let left = seen.iter().find(|s| s.1.yaw >= rules.turn);
        let right = seen.iter().find(|s| s.1.yaw <= -rules.turn);
        for reg in &frontal {
            for live in &frontal {
                if reg.0 == live.0 || same(&reg.1, &live.1) < engine.threshold() {
                    continue;
                }
                let mut photos = vec![reg.0.clone()];
                photos.extend(imgs.iter().filter(|p| **p != reg.0).cloned());
                let found = |left: &PathBuf, right: &PathBuf, can_turn| Found {
                    citizen: Citizen {
                        registry_photo: reg.0.clone(),
                        frames: LiveFrames {
                            frontal: live.0.clone(),
                            left: left.clone(),
                            right: right.clone(),
                            mouth_open: None,
                        },
                    },
                    photos: photos.clone(),
                    can_turn,
                };
                if let (Some(l), Some(r)) = (left, right)
                    && same(&live.1, &l.1) >= rules.same_person
                    && same(&live.1, &r.1) >= rules.same_person
                {
                    return Ok(found(&l.0, &r.0, true));
                }
                if fallback.is_none() {
                    fallback = Some(found(&live.0, &live.0, false));
                }
            }
        }
    }
    fallback.with_context(|| {
        format!(
            "no identity in {} has two frontal photos of the same person",
            faces.display()
        )
    })
}

pub(super) fn observe_all(
    engine: &wz_face::Engine,
    imgs: &[PathBuf],
) -> anyhow::Result<Vec<(PathBuf, Observation)>> {
    let mut seen = Vec::new();
    for p in imgs {
        if let Ok(Some(o)) = engine.observe_photo(&std::fs::read(p)?) {
            seen.push((p.clone(), o));
        }
    }
    Ok(seen)
}
