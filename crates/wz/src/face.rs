//! The real face engine (`wz-face`) behind the platform's `FaceEngine` trait.

use std::path::PathBuf;

use wz_face::engine::CaptureFault;
use wz_face::pipeline::ImageFault;
use wz_platform::PlatformConfig;
use wz_platform::face::{FaceEngine, FaceError, FaceVerdict};
use wz_proto::api::LivenessAction;

/// The models folder the config names, else the default cache.
pub fn models_dir(config: &PlatformConfig) -> PathBuf {
    config
        .models_dir
        .as_ref()
        .map_or_else(wz_face::default_models_dir, PathBuf::from)
}

/// `wz_face::Engine` as the platform sees it.
#[derive(Debug, Clone)]
pub struct RealFace(wz_face::Engine);

impl RealFace {
    /// Loads the models named by the config, with its calibrated threshold.
    pub fn load(config: &PlatformConfig) -> anyhow::Result<Self> {
        Ok(Self(wz_face::Engine::load(
            &models_dir(config),
            config.face_threshold,
        )?))
    }
}

fn fault(f: CaptureFault) -> FaceError {
    match f {
        CaptureFault::Image(ImageFault::Undecodable | ImageFault::TooLarge) | CaptureFault::TooManyFrames => {
            FaceError::ImageInvalid
        }
        CaptureFault::Image(ImageFault::NoFace | ImageFault::SeveralFaces) => FaceError::NoSingleFace,
        CaptureFault::Quality(_) => FaceError::QualityLow,
        CaptureFault::TemplateMismatch => FaceError::ModelMismatch,
    }
}

fn engine_failed(e: &wz_face::FaceEngineError) -> FaceError {
    // Model faults are the operator's problem, not the citizen's: log, answer unavailable.
    tracing::error!(error = %e, "face engine failed");
    FaceError::Unavailable
}

impl FaceEngine for RealFace {
    fn model_id(&self) -> &str {
        wz_face::engine::MODEL_ID
    }

    fn supported_actions(&self) -> &[LivenessAction] {
        self.0.supported_actions()
    }

    fn template_from_photo(&self, image: &[u8]) -> Result<Vec<u8>, FaceError> {
        self.0
            .template(image)
            .map_err(|e| engine_failed(&e))?
            .map_err(fault)
    }

    fn verify_live(
        &self,
        frames: &[Vec<u8>],
        actions: &[LivenessAction],
        template: &[u8],
    ) -> Result<FaceVerdict, FaceError> {
        let check = self
            .0
            .check_live(frames, actions, template)
            .map_err(|e| engine_failed(&e))?
            .map_err(fault)?;
        if let Some(why) = check.liveness {
            tracing::info!(reason = %why, "liveness not shown");
        }
        // Scores only (no identity): for operators calibrating a passive check later.
        tracing::debug!(similarity = check.score, antispoof = ?check.spoof_score, "face check");
        Ok(FaceVerdict {
            live: check.liveness.is_none(),
            matched: check.matched,
            score: check.score,
        })
    }
}
