//! The wangzheng face engine (work in progress, issue 6): TFJS graph models
//! from the `@vladmandic/human` package, run with tract on CPU.

mod error;
pub mod eval;
pub mod liveness;
pub mod pipeline;
pub mod quality;
pub mod tfjs;

pub use error::{FaceEngineError, Result};
