/// The crate's one error: the engine itself could not run (models missing
/// or malformed, inference failed). Messages never contain image bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaceEngineError {
    #[error("model files not found in {0}: run `scripts/setup.sh` (or `wz models fetch`)")]
    ModelsMissing(String),
    #[error("model file is malformed: {0}")]
    ModelFormat(String),
    #[error("model could not be built or run: {0}")]
    Inference(String),
}

pub type Result<T, E = FaceEngineError> = core::result::Result<T, E>;

/// Why a photo or capture could not be judged: an answer about the input,
/// not a failure of the engine (so a `Result<Result<_, CaptureFault>>`
/// keeps the two apart). Each maps to one result code in the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CaptureFault {
    #[error("image is not a decodable JPEG or PNG, or is truncated")]
    Undecodable,
    #[error("image is larger than allowed")]
    TooLarge,
    #[error("no face found")]
    NoFace,
    #[error("more than one face found")]
    SeveralFaces,
    #[error("face is too small")]
    TooSmall,
    #[error("face is too blurred")]
    Blurred,
    #[error("face is too dark")]
    TooDark,
    #[error("face is too bright")]
    TooBright,
    #[error("face is turned too far from frontal")]
    NotFrontal,
    #[error("template is not one of this engine's")]
    TemplateMismatch,
    #[error("too many frames")]
    TooManyFrames,
}

impl CaptureFault {
    /// A quality gate refused the face (as opposed to there being none).
    #[must_use]
    pub fn is_quality(self) -> bool {
        matches!(
            self,
            Self::TooSmall | Self::Blurred | Self::TooDark | Self::TooBright | Self::NotFrontal
        )
    }
}
