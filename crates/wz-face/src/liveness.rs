//! Action liveness ("我还活着") from a short frame sequence: the platform asks
//! for random actions in a random order; the frames must show one person
//! throughout (embedding check), start near frontal, really move (a photo
//! shifted or scaled across frames keeps its pose), and show the actions in
//! the asked order.
//!
//! Head turns are read from blazeface keypoints (yaw: the nose's offset
//! between the eyes, in eye distances; negative = the subject turned to
//! their right, which is the image's left). An open mouth is read from the
//! facemesh landmarks (inner-lip gap over mouth width) when that model is
//! installed. Blink is not checked: the development set holds no
//! closed-eye photo to test it on, so an engine never asks for it.

use wz_proto::api::LivenessAction;

use crate::pipeline::cosine;

/// What one frame showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub yaw: f32,
    /// Inner-lip gap over mouth width (facemesh), if measured.
    pub mouth: Option<f32>,
    /// L2-normalised embedding of the frame's face.
    pub embedding: Vec<f32>,
}

/// Why liveness was not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LivenessFault {
    #[error("too few frames for the asked actions")]
    TooFewFrames,
    #[error("the sequence must start facing the camera, mouth closed")]
    NotFrontalAtStart,
    #[error("the face changed identity during the sequence")]
    IdentityChanged,
    #[error("the head did not move (a still photo?)")]
    Static,
    #[error("an asked action is missing or out of order")]
    ActionMissing,
    #[error("an asked action cannot be checked by this engine")]
    Unsupported,
}

/// Thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LivenessRules {
    /// |yaw| at most this in the first frame.
    pub frontal: f32,
    /// |yaw| at least this for a turn.
    pub turn: f32,
    /// Every frame's similarity to the first at least this: near the
    /// default model's equal-error point on the LFW development set (each
    /// model has its own: [`crate::pipeline::FaceModel::same_person`], which
    /// the engine applies). Turned heads lower the score, so this guards
    /// against swapped faces, not against a look-alike: identity itself is
    /// settled by the registry comparison.
    pub same_person: f32,
    /// The yaw range across frames at least this (a photo moved, scaled or
    /// turned in the plane keeps its pose: 0 of 198 such sequences passed on
    /// the LFW development set; 0.2 refused 7 of 120 real single turns whose
    /// frontal frame already leant the same way) …
    pub min_motion: f32,
    /// … or the mouth-openness range at least this.
    pub min_mouth_motion: f32,
    /// Mouth openness at least this shows "open mouth" (normal photos:
    /// median 0.11, 95th percentile 0.37 on the LFW development set).
    pub mouth_open: f32,
    /// Mouth openness at most this in the first frame when an open mouth is asked.
    pub mouth_closed: f32,
}

impl Default for LivenessRules {
    fn default() -> Self {
        Self {
            frontal: 0.2,
            turn: 0.25,
            same_person: crate::pipeline::FaceModel::DlibResnet.same_person(),
            min_motion: 0.12,
            min_mouth_motion: 0.3,
            mouth_open: 0.45,
            mouth_closed: 0.2,
        }
    }
}

/// Actions checked from the detector's keypoints alone.
pub const HEAD_TURNS: [LivenessAction; 2] = [LivenessAction::TurnLeft, LivenessAction::TurnRight];
/// Actions checked when the face-mesh model is installed.
pub const WITH_MESH: [LivenessAction; 3] = [
    LivenessAction::TurnLeft,
    LivenessAction::TurnRight,
    LivenessAction::OpenMouth,
];

/// Whether one frame shows the capture step a guided camera is waiting
/// for: facing the camera (`None`) or an asked action. A kiosk or phone
/// keeps capturing until this holds, then sends the frame; the platform
/// judges the whole sequence again with [`check`].
#[must_use]
pub fn frame_shows(step: Option<LivenessAction>, f: &Observation, rules: &LivenessRules) -> bool {
    match step {
        None => f.yaw.abs() <= rules.frontal,
        Some(action) => shows(action, f, rules),
    }
}

fn shows(action: LivenessAction, f: &Observation, rules: &LivenessRules) -> bool {
    match action {
        LivenessAction::TurnLeft => f.yaw >= rules.turn,
        LivenessAction::TurnRight => f.yaw <= -rules.turn,
        LivenessAction::OpenMouth => f.mouth.is_some_and(|m| m >= rules.mouth_open),
        LivenessAction::Blink | LivenessAction::Nod => false,
    }
}

/// Inner-lip gap over mouth width from the 468 face-mesh landmarks
/// (13/14: inner lips, 78/308: mouth corners).
#[must_use]
pub fn mouth_openness(landmarks: &[[f32; 3]]) -> Option<f32> {
    let p = |i: usize| landmarks.get(i).map(|l| (l[0], l[1]));
    let dist = |a: (f32, f32), b: (f32, f32)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    let width = dist(p(78)?, p(308)?);
    let gap = dist(p(13)?, p(14)?);
    (width > 1.0).then_some(gap / width)
}

/// Checks a sequence against the asked actions.
pub fn check(
    frames: &[Observation],
    actions: &[LivenessAction],
    rules: &LivenessRules,
) -> Result<(), LivenessFault> {
    let mouth_measured = frames.iter().all(|f| f.mouth.is_some());
    let supported: &[LivenessAction] = if mouth_measured { &WITH_MESH } else { &HEAD_TURNS };
    if actions.iter().any(|a| !supported.contains(a)) {
        return Err(LivenessFault::Unsupported);
    }
    let first = frames.first().ok_or(LivenessFault::TooFewFrames)?;
    if frames.len() < actions.len() + 1 {
        return Err(LivenessFault::TooFewFrames);
    }
    let mouth_asked = actions.contains(&LivenessAction::OpenMouth);
    if first.yaw.abs() > rules.frontal || (mouth_asked && first.mouth.is_some_and(|m| m > rules.mouth_closed))
    {
        return Err(LivenessFault::NotFrontalAtStart);
    }
    if frames
        .iter()
        .any(|f| cosine(&f.embedding, &first.embedding) < rules.same_person)
    {
        return Err(LivenessFault::IdentityChanged);
    }
    let range = |v: &dyn Fn(&Observation) -> f32| {
        let (lo, hi) = frames
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), f| (lo.min(v(f)), hi.max(v(f))));
        hi - lo
    };
    if range(&|f| f.yaw) < rules.min_motion && range(&|f| f.mouth.unwrap_or(0.0)) < rules.min_mouth_motion {
        return Err(LivenessFault::Static);
    }
    // Each action must be shown by a frame after the previous action's frame.
    let mut next = 0;
    for f in frames.iter().skip(1) {
        if let Some(a) = actions.get(next)
            && shows(*a, f, rules)
        {
            next += 1;
        }
    }
    if next < actions.len() {
        return Err(LivenessFault::ActionMissing);
    }
    Ok(())
}
