//! The face engine as the platform sees it. `wz serve` plugs the real
//! engine (`wz-face`, adapter in the `wz` binary) in behind this trait;
//! [`NoFaceEngine`] serves tools that never look at a face, answering every
//! face request with `unavailable`, so no face check can pass without a
//! real comparison.

use wz_proto::ResultCode;
use wz_proto::api::LivenessAction;

/// Why the engine could not give a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FaceError {
    #[error("image is invalid, truncated or too large")]
    ImageInvalid,
    #[error("exactly one face must be visible")]
    NoSingleFace,
    #[error("face image quality is too low")]
    QualityLow,
    #[error("template was made by another model")]
    ModelMismatch,
    #[error("face engine is not available")]
    Unavailable,
}

impl FaceError {
    /// The shared result code.
    #[must_use]
    pub fn result_code(self) -> ResultCode {
        match self {
            Self::ImageInvalid => ResultCode::ImageInvalid,
            Self::NoSingleFace => ResultCode::FaceNotFound,
            Self::QualityLow => ResultCode::FaceQualityLow,
            Self::ModelMismatch => ResultCode::InternalError,
            Self::Unavailable => ResultCode::Unavailable,
        }
    }
}

/// What live frames showed, before any stored template is looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCapture {
    /// Liveness shown (the asked actions in order, and passive checks).
    pub live: bool,
    /// The engine's own encoding of the frontal frame (for [`FaceEngine::compare`]).
    pub probe: Vec<u8>,
}

/// A probe against a stored template.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceMatch {
    /// Similarity at or above the calibrated threshold.
    pub matched: bool,
    /// Similarity score, for metrics and calibration only.
    pub score: f32,
}

/// Detect, embed, compare and check liveness. Capture and comparison are
/// two steps so that the platform can judge the frames before it looks up
/// who they are claimed to show: nothing the capture step answers depends
/// on the registry.
pub trait FaceEngine: Send + Sync {
    /// The model id templates are tagged with.
    fn model_id(&self) -> &str;
    /// The liveness actions this engine can check; challenges ask only these.
    fn supported_actions(&self) -> &[LivenessAction];
    /// A template from a registry or card photo.
    fn template_from_photo(&self, image: &[u8]) -> Result<Vec<u8>, FaceError>;
    /// Live frames showing `actions` in order (empty = none asked, which
    /// never counts as live).
    fn capture_live(&self, frames: &[Vec<u8>], actions: &[LivenessAction]) -> Result<LiveCapture, FaceError>;
    /// A captured probe against a stored template.
    fn compare(&self, probe: &[u8], template: &[u8]) -> Result<FaceMatch, FaceError>;
    /// A score at or above this means the frame is a copy of the stored
    /// photo, not a capture: no two captures of a face are that close.
    fn near_identical(&self) -> f32 {
        crate::face_check::NEAR_IDENTICAL_SCORE
    }
}

/// Stands in while no engine is configured: every call is `Unavailable`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFaceEngine;

impl FaceEngine for NoFaceEngine {
    fn model_id(&self) -> &str {
        "none"
    }
    fn supported_actions(&self) -> &[LivenessAction] {
        &[LivenessAction::TurnLeft, LivenessAction::TurnRight]
    }
    fn template_from_photo(&self, _: &[u8]) -> Result<Vec<u8>, FaceError> {
        Err(FaceError::Unavailable)
    }
    fn capture_live(&self, _: &[Vec<u8>], _: &[LivenessAction]) -> Result<LiveCapture, FaceError> {
        Err(FaceError::Unavailable)
    }
    fn compare(&self, _: &[u8], _: &[u8]) -> Result<FaceMatch, FaceError> {
        Err(FaceError::Unavailable)
    }
}
