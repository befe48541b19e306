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

/// The configured ONNX embedder, if any, as the face engine takes it.
pub fn embedder_spec(config: &PlatformConfig) -> anyhow::Result<Option<wz_face::onnx::EmbedderSpec>> {
    let Some(e) = &config.face_embedder else {
        return Ok(None);
    };
    let layout = match e.layout.as_str() {
        "nchw" => wz_face::onnx::Layout::Nchw,
        "nhwc" => wz_face::onnx::Layout::Nhwc,
        _ => anyhow::bail!("face_embedder.layout must be nchw or nhwc"),
    };
    Ok(Some(wz_face::onnx::EmbedderSpec {
        path: PathBuf::from(&e.path),
        model_id: e.model_id.clone(),
        input_size: e.input_size,
        layout,
        mean: e.mean,
        std: e.std,
        output: e.output.clone(),
        crop_scale: e.crop_scale,
    }))
}

/// Detector and embedder as configured (for evaluation and calibration).
pub fn models(
    config: &PlatformConfig,
    dir: Option<PathBuf>,
) -> anyhow::Result<wz_face::pipeline::FaceModels> {
    let dir = dir.unwrap_or_else(|| models_dir(config));
    Ok(wz_face::pipeline::FaceModels::load_with(
        &dir,
        embedder_spec(config)?.as_ref(),
    )?)
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
        self.0.model_id()
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
