//! The real face engine (`wz-face`) behind the platform's `FaceEngine` trait.

use std::path::PathBuf;

use wz_face::CaptureFault;
use wz_face::pipeline::FaceModel;
use wz_platform::PlatformConfig;
use wz_platform::face::{FaceEngine, FaceError, FaceMatch, LiveCapture};
use wz_proto::api::LivenessAction;

/// The models folder the config names, else the default cache.
pub fn models_dir(config: &PlatformConfig) -> PathBuf {
    config
        .models_dir
        .as_ref()
        .map_or_else(wz_face::default_models_dir, PathBuf::from)
}

/// The configured ONNX embedder (`[face_embedder]`), if any.
pub fn embedder_spec(config: &PlatformConfig) -> anyhow::Result<Option<wz_face::onnx::EmbedderSpec>> {
    config
        .face_embedder
        .as_ref()
        .map(|t| {
            toml::Value::Table(t.clone())
                .try_into()
                .map_err(|e| anyhow::anyhow!("[face_embedder] in the config: {e}"))
        })
        .transpose()
}

/// The packaged embedder the config names (`face_model`), else the default.
pub fn face_model(config: &PlatformConfig) -> anyhow::Result<FaceModel> {
    match config.face_model.as_deref() {
        None => Ok(FaceModel::default()),
        Some(name) => FaceModel::parse(name).ok_or_else(|| {
            let known: Vec<&str> = FaceModel::ALL.iter().map(|m| m.name()).collect();
            anyhow::anyhow!(
                "face_model = {name:?} in the config: use one of {}",
                known.join(", ")
            )
        }),
    }
}

/// The template model id and match threshold the config gives the engine.
pub fn describe(config: &PlatformConfig) -> anyhow::Result<(String, f32)> {
    let model = face_model(config)?;
    let id = match embedder_spec(config)? {
        Some(spec) => spec.model_id,
        None => model.id().to_owned(),
    };
    Ok((id, config.face_threshold.unwrap_or(model.default_threshold())))
}

/// Detector and embedder as configured (for evaluation and calibration).
pub fn models(
    config: &PlatformConfig,
    dir: Option<PathBuf>,
) -> anyhow::Result<wz_face::pipeline::FaceModels> {
    let dir = dir.unwrap_or_else(|| models_dir(config));
    Ok(wz_face::pipeline::FaceModels::load_with(
        &dir,
        face_model(config)?,
        embedder_spec(config)?.as_ref(),
    )?)
}

/// [`engine`] with the models from `dir` instead of the configured folder.
pub fn engine_in(config: &PlatformConfig, dir: &std::path::Path) -> anyhow::Result<wz_face::Engine> {
    Ok(wz_face::Engine::load_with(
        dir,
        config.face_threshold,
        face_model(config)?,
        embedder_spec(config)?.as_ref(),
    )?)
}

/// `wz face pad-eval`'s table.
pub fn print_pad_report(
    r: &wz_face::pad::PadReport,
    engine: &wz_face::Engine,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let pct = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{:.2}%", v * 100.0));
    writeln!(
        out,
        "face model {}; {} identities, {} with the frontal and turned photos a bona fide sequence needs",
        engine.model_id(),
        r.identities,
        r.identities_with_turns
    )?;
    writeln!(
        out,
        "BPCER {} ({} bona fide presentations){}",
        pct(r.bpcer()),
        r.bona_fide.len(),
        if r.bona_fide.is_empty() {
            ": no identity with turned heads, nothing to measure"
        } else {
            ""
        }
    )?;
    for (reason, n) in r.bona_fide_refusals() {
        writeln!(out, "  bona fide refused {n}x: {reason}")?;
    }
    writeln!(
        out,
        "bona fide accepted and matched to the registry at the threshold {:.4}: {}",
        engine.threshold(),
        pct(r.bona_fide_end_to_end())
    )?;
    for (attack, decisions) in &r.attacks {
        writeln!(
            out,
            "APCER {:>7}  IAPMR {:>7}  {:<32} ({} presentations)",
            pct(r.apcer(*attack)),
            pct(r.iapmr(*attack)),
            attack.name(),
            decisions.len()
        )?;
    }
    writeln!(
        out,
        "APCER: attacks that pass liveness; IAPMR: attacks that pass liveness and match the claimed person's registry template (a pass)"
    )?;
    writeln!(
        out,
        "recaptured screens are synthetic (moiré, bezel, blur, JPEG re-rendered from the stills), not captures of real screens"
    )?;
    type Score = fn(&wz_face::pad::Decision) -> Option<f32>;
    let scores: [(&str, Score); 2] = [
        ("antispoof", |d| d.spoof_score),
        ("liveness", |d| d.liveness_score),
    ];
    for (name, score) in scores {
        match r.passive_gate(score) {
            Some(gate) => {
                writeln!(
                    out,
                    "passive {name} score (advisory, gates nothing): at {:.3} (refusing 5% of bona fide) it would pass:",
                    gate.threshold
                )?;
                for (attack, passed) in gate.passed {
                    writeln!(out, "  {:>7}  {}", pct(passed), attack.name())?;
                }
            }
            None => writeln!(out, "passive {name} score: no bona fide scores to set a gate on")?,
        }
    }
    Ok(())
}

/// `wz_face::Engine` as the platform sees it.
#[derive(Debug, Clone)]
pub struct RealFace(wz_face::Engine);

/// The engine the config describes: its models folder, calibrated
/// threshold and, if configured, ONNX embedder.
pub fn engine(config: &PlatformConfig) -> anyhow::Result<wz_face::Engine> {
    Ok(wz_face::Engine::load_with(
        &models_dir(config),
        config.face_threshold,
        face_model(config)?,
        embedder_spec(config)?.as_ref(),
    )?)
}

impl RealFace {
    /// The platform's face engine over an already loaded one.
    #[must_use]
    pub fn new(engine: wz_face::Engine) -> Self {
        Self(engine)
    }
}

fn fault(f: CaptureFault) -> FaceError {
    match f {
        CaptureFault::Undecodable | CaptureFault::TooLarge | CaptureFault::TooManyFrames => {
            FaceError::ImageInvalid
        }
        CaptureFault::NoFace | CaptureFault::SeveralFaces => FaceError::NoSingleFace,
        CaptureFault::TemplateMismatch => FaceError::ModelMismatch,
        q => {
            debug_assert!(q.is_quality());
            FaceError::QualityLow
        }
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

    fn capture_live(&self, frames: &[Vec<u8>], actions: &[LivenessAction]) -> Result<LiveCapture, FaceError> {
        let seen = self
            .0
            .observe_live(frames, actions)
            .map_err(|e| engine_failed(&e))?
            .map_err(fault)?;
        if let Some(why) = seen.liveness {
            tracing::info!(reason = %why, "liveness not shown");
        }
        // Scores only (no identity): for operators calibrating a passive check later.
        tracing::debug!(antispoof = ?seen.spoof_score, "face capture");
        Ok(LiveCapture {
            live: seen.liveness.is_none(),
            probe: seen.embedding.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
    }

    fn compare(&self, probe: &[u8], template: &[u8]) -> Result<FaceMatch, FaceError> {
        let (chunks, rest) = probe.as_chunks::<4>();
        if !rest.is_empty() {
            return Err(FaceError::ModelMismatch);
        }
        let embedding: Vec<f32> = chunks.iter().map(|c| f32::from_le_bytes(*c)).collect();
        let score = self.0.compare(&embedding, template).map_err(fault)?;
        tracing::debug!(similarity = score, "face comparison");
        Ok(FaceMatch {
            matched: score >= self.0.threshold(),
            score,
        })
    }

    fn near_identical(&self) -> f32 {
        self.0.near_identical()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn face_embedder_table_is_read_and_checked() {
        let config = wz_platform::PlatformConfig::from_toml(
            "face_threshold = 0.41\n[face_embedder]\npath = \"/m/arcface.onnx\"\nmodel_id = \"arcface/v1\"\n\
             input_size = 112\nlayout = \"nchw\"\nmean = [127.5, 127.5, 127.5]\nstd = [128.0, 128.0, 128.0]\n",
        )
        .unwrap();
        let spec = super::embedder_spec(&config).unwrap().unwrap();
        assert_eq!((spec.model_id.as_str(), spec.input_size), ("arcface/v1", 112));
        assert_eq!(spec.layout, wz_face::onnx::Layout::Nchw);
        assert_eq!(spec.output, None);
        let bad = wz_platform::PlatformConfig::from_toml(
            "[face_embedder]\npath = \"x\"\nmodel_id = \"y\"\ninput_size = 112\nlayout = \"chwn\"\nmean = [0, 0, 0]\nstd = [1, 1, 1]\n",
        )
        .unwrap();
        assert!(super::embedder_spec(&bad).is_err());
        assert!(
            super::embedder_spec(&wz_platform::PlatformConfig::default())
                .unwrap()
                .is_none()
        );
    }
}
