/// Face engine faults. Messages never contain image bytes.
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
