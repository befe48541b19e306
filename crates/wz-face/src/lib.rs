//! The wangzheng face engine: TFJS graph models from the `@vladmandic/human`
//! package, run with tract on CPU. [`engine::Engine`] is what the platform uses.

pub mod align;
pub mod engine;
mod error;
pub mod eval;
pub mod liveness;
pub mod onnx;
pub mod pad;
pub mod pipeline;
pub mod quality;
pub mod tfjs;

pub use engine::Engine;
pub use error::{CaptureFault, FaceEngineError, Result};

/// Where the face models live: `$WZ_MODELS_DIR/human-3.3.6`, else
/// `~/.cache/wangzheng/models/human-3.3.6` (what `scripts/setup.sh` fills).
#[must_use]
pub fn default_models_dir() -> std::path::PathBuf {
    let base = std::env::var_os("WZ_MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/wangzheng/models")
        });
    base.join("human-3.3.6")
}
