//! The engine as enrolment and verification use it: a registry photo becomes
//! a versioned template; a live frame sequence is checked for liveness (the
//! asked actions, in order, by one person) and its first, frontal frame is
//! compared with the template at the calibrated threshold.

use std::path::Path;

use wz_proto::api::LivenessAction;

use crate::error::{CaptureFault, Result};
use crate::liveness::{self, LivenessFault, LivenessRules, Observation};
use crate::pipeline::{FaceModel, FaceModels, Rgb, cosine, decode, main_face};
use crate::quality::{self, QualityGates};

/// The id templates from the default engine carry; a template with another
/// id is never compared with this engine's embeddings.
pub const MODEL_ID: &str = crate::pipeline::DLIB_MODEL_ID;

/// Similarity at which a live face matches with the default model when the
/// operator has not calibrated one: the LFW development set's threshold
/// for FAR 1e-4 (`wz face calibrate`, docs/face-models.md).
#[must_use]
pub fn default_threshold() -> f32 {
    FaceModel::default().default_threshold()
}

/// Longest embedding any configured model may give.
const MAX_EMBEDDING_LEN: usize = 4096;

/// Most frames one liveness sequence may carry.
pub const MAX_FRAMES: usize = 12;

/// The result of a live check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveCheck {
    /// `None` when liveness was shown; otherwise why not.
    pub liveness: Option<LivenessFault>,
    /// Cosine similarity of the first frame to the template.
    pub score: f32,
    /// `score` at or above the threshold.
    pub matched: bool,
    /// The package's passive anti-spoofing score of the first frame (higher
    /// = more likely a real face), when the model is installed. Advisory:
    /// it gates nothing (docs/face-models.md says why).
    pub spoof_score: Option<f32>,
}

/// Detector + embedder + gates + liveness rules + threshold, cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    models: FaceModels,
    gates: QualityGates,
    rules: LivenessRules,
    threshold: f32,
}

impl Engine {
    /// Loads the default models from `dir`; `threshold` as calibrated (else
    /// the model's development-set threshold).
    pub fn load(dir: &Path, threshold: Option<f32>) -> Result<Self> {
        Ok(Self::new(FaceModels::load(dir)?, threshold))
    }

    /// Like [`Engine::load`], with `model` as the embedder or an operator's
    /// ONNX embedder in its place. An ONNX model's threshold must be
    /// calibrated: there is no default for it.
    pub fn load_with(
        dir: &Path,
        threshold: Option<f32>,
        model: FaceModel,
        embedder: Option<&crate::onnx::EmbedderSpec>,
    ) -> Result<Self> {
        if embedder.is_some() && threshold.is_none() {
            return Err(crate::FaceEngineError::ModelFormat(
                "an ONNX embedder needs face_threshold: run `wz face calibrate` first".to_owned(),
            ));
        }
        Ok(Self::new(FaceModels::load_with(dir, model, embedder)?, threshold))
    }

    /// The id this engine's templates carry.
    #[must_use]
    pub fn model_id(&self) -> &str {
        self.models.model_id()
    }

    /// An engine over already loaded models.
    #[must_use]
    pub fn new(models: FaceModels, threshold: Option<f32>) -> Self {
        let threshold = threshold
            .or_else(|| models.face_model().map(FaceModel::default_threshold))
            .unwrap_or_else(default_threshold);
        let rules = LivenessRules {
            same_person: models
                .face_model()
                .map_or(LivenessRules::default().same_person, FaceModel::same_person),
            ..LivenessRules::default()
        };
        Self {
            models,
            gates: QualityGates::default(),
            rules,
            threshold,
        }
    }

    /// The liveness thresholds in use.
    #[must_use]
    pub fn liveness_rules(&self) -> &LivenessRules {
        &self.rules
    }

    /// At or above this similarity a frame is a copy of the stored photo.
    #[must_use]
    pub fn near_identical(&self) -> f32 {
        self.models.face_model().map_or(0.995, FaceModel::near_identical)
    }

    /// The match threshold in use.
    #[must_use]
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The actions [`Engine::check_live`] can verify.
    #[must_use]
    pub fn supported_actions(&self) -> &'static [LivenessAction] {
        if self.models.has_mesh() {
            &liveness::WITH_MESH
        } else {
            &liveness::HEAD_TURNS
        }
    }

    /// Decode, require one face, measure; the face's yaw and embedding.
    fn observe(&self, bytes: &[u8], gates: &QualityGates) -> Result<Result<Observation, CaptureFault>> {
        Ok(self.observe_scored(bytes, gates, false, false)?.map(|(o, _)| o))
    }

    /// [`Self::observe`], with mouth openness when `mouth` is set (and the
    /// mesh model is installed) and the anti-spoofing score when `spoof` is.
    fn observe_scored(
        &self,
        bytes: &[u8],
        gates: &QualityGates,
        mouth: bool,
        spoof: bool,
    ) -> Result<Result<(Observation, Passive), CaptureFault>> {
        let img: Rgb = match decode(bytes) {
            Ok(i) => i,
            Err(f) => return Ok(Err(f)),
        };
        let dets = self.models.detect(&img)?;
        let det = match main_face(&dets, img.width, img.height) {
            Ok(d) => d,
            Err(f) => return Ok(Err(f)),
        };
        let q = quality::measure(&img, &det);
        if let Err(f) = gates.check(&q) {
            return Ok(Err(f));
        }
        let passive = if spoof {
            Passive {
                antispoof: self.models.antispoof_score(&img, &det)?,
                liveness: self.models.liveness_score(&img, &det)?,
            }
        } else {
            Passive::default()
        };
        // One face-mesh run serves both the mouth and the alignment, and
        // none runs when neither needs it.
        let landmarks = if mouth || self.models.wants_landmarks() {
            self.models.landmarks(&img, &det)?
        } else {
            None
        };
        let mouth = if mouth {
            landmarks.as_deref().and_then(liveness::mouth_openness)
        } else {
            None
        };
        Ok(Ok((
            Observation {
                yaw: q.yaw,
                mouth,
                embedding: self.models.embed_with(&img, &det, landmarks.as_deref())?,
            },
            passive,
        )))
    }

    /// Yaw and embedding of the one face in a photo, whatever its pose
    /// (`None` if it has no usable face); for tools that sort photos by pose.
    pub fn observe_photo(&self, photo: &[u8]) -> Result<Option<Observation>> {
        let any_pose = QualityGates {
            max_abs_yaw: f32::INFINITY,
            ..self.gates
        };
        Ok(self.observe(photo, &any_pose)?.ok())
    }

    /// A registry or card photo → template bytes (little-endian f32s).
    /// The photo must pass every quality gate.
    pub fn template(&self, photo: &[u8]) -> Result<Result<Vec<u8>, CaptureFault>> {
        Ok(self
            .observe(photo, &self.gates)?
            .map(|o| o.embedding.iter().flat_map(|x| x.to_le_bytes()).collect()))
    }

    /// Live frames showing `actions` in order, before any template is
    /// known: the first frame must pass every quality gate (it is the one
    /// compared later); the others are turned on purpose, so only
    /// size/sharpness/light apply. The platform runs this before it looks
    /// at the registry, so what it answers cannot depend on who is claimed.
    pub fn observe_live(
        &self,
        frames: &[Vec<u8>],
        actions: &[LivenessAction],
    ) -> Result<Result<LiveObservation, CaptureFault>> {
        if frames.len() > MAX_FRAMES {
            return Ok(Err(CaptureFault::TooManyFrames));
        }
        let turned = QualityGates {
            max_abs_yaw: f32::INFINITY,
            ..self.gates
        };
        let mut seen = Vec::with_capacity(frames.len());
        let mut passive = Passive::default();
        for (i, f) in frames.iter().enumerate() {
            let gates = if i == 0 { &self.gates } else { &turned };
            match self.observe_scored(f, gates, true, i == 0)? {
                Ok((o, p)) => {
                    seen.push(o);
                    if i == 0 {
                        passive = p;
                    }
                }
                Err(fault) => return Ok(Err(fault)),
            }
        }
        let liveness = if actions.is_empty() {
            // Liveness is required on every face path; without asked actions
            // this engine has nothing it trusts (see docs on antispoof).
            Some(LivenessFault::ActionMissing)
        } else {
            liveness::check(&seen, actions, &self.rules).err()
        };
        Ok(Ok(LiveObservation {
            liveness,
            embedding: seen.into_iter().next().map(|o| o.embedding).unwrap_or_default(),
            spoof_score: passive.antispoof,
            liveness_score: passive.liveness,
        }))
    }

    /// Cosine similarity of an observed probe to a stored template.
    pub fn compare(&self, probe: &[f32], template: &[u8]) -> Result<f32, CaptureFault> {
        let reference = parse_template(template).ok_or(CaptureFault::TemplateMismatch)?;
        if probe.len() != reference.len() {
            return Err(CaptureFault::TemplateMismatch);
        }
        Ok(cosine(probe, &reference))
    }

    /// [`Self::observe_live`] then [`Self::compare`], in one call.
    pub fn check_live(
        &self,
        frames: &[Vec<u8>],
        actions: &[LivenessAction],
        template: &[u8],
    ) -> Result<Result<LiveCheck, CaptureFault>> {
        if parse_template(template).is_none() {
            return Ok(Err(CaptureFault::TemplateMismatch));
        }
        let probe = match self.observe_live(frames, actions)? {
            Ok(p) => p,
            Err(fault) => return Ok(Err(fault)),
        };
        Ok(self.compare(&probe.embedding, template).map(|score| LiveCheck {
            liveness: probe.liveness,
            score,
            matched: score >= self.threshold,
            spoof_score: probe.spoof_score,
        }))
    }
}

/// What live frames showed, before any comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObservation {
    /// `None` when liveness was shown; otherwise why not.
    pub liveness: Option<LivenessFault>,
    /// Embedding of the first (frontal) frame.
    pub embedding: Vec<f32>,
    /// Passive anti-spoofing score of the first frame, when installed.
    pub spoof_score: Option<f32>,
    /// The `liveness` model's score of the first frame, when installed
    /// (measured by `wz face pad-eval`; gates nothing).
    pub liveness_score: Option<f32>,
}

/// The passive models' scores of one frame.
#[derive(Debug, Clone, Copy, Default)]
struct Passive {
    antispoof: Option<f32>,
    liveness: Option<f32>,
}

fn parse_template(bytes: &[u8]) -> Option<Vec<f32>> {
    let (chunks, rest) = bytes.as_chunks::<4>();
    (rest.is_empty() && !chunks.is_empty() && chunks.len() <= MAX_EMBEDDING_LEN)
        .then(|| chunks.iter().map(|c| f32::from_le_bytes(*c)).collect())
}
