//! An operator's own face embedder as an ONNX model (e.g. an ArcFace-class
//! network), run with tract-onnx in place of the package's faceres. The
//! aligned face crop is resized to `input_size`, normalised per channel as
//! `(value - mean) / std` (values start at 0..255 RGB), laid out NCHW or
//! NHWC, and the named output (or the first) is the embedding. Templates
//! carry the configured `model_id`, so a registry enrolled with one model
//! is never compared with another's embeddings; calibrate a new model with
//! `wz face calibrate` before serving.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use crate::error::{FaceEngineError, Result};

/// Tensor layout of the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Batch, channels, height, width (PyTorch exports).
    Nchw,
    /// Batch, height, width, channels (TensorFlow exports).
    Nhwc,
}

/// How the face is cut out for the embedder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Alignment {
    /// An eye-levelled square around the detector box, `crop_scale` times its side.
    #[default]
    Box,
    /// A similarity transform of five landmarks onto the ArcFace 112 × 112
    /// reference (scaled to `input_size`): what ArcFace-family models expect.
    Arcface,
}

/// How to run an ONNX embedder (the `[face_embedder]` table of the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderSpec {
    /// The `.onnx` file.
    pub path: PathBuf,
    /// Id stored with every template it makes, e.g. `arcface-r100-glint360k/v1`.
    pub model_id: String,
    /// Square input side in pixels (112 for ArcFace).
    pub input_size: usize,
    pub layout: Layout,
    /// Per-channel (R, G, B) mean subtracted from 0..255 values.
    pub mean: [f32; 3],
    /// Per-channel divisor after the mean.
    pub std: [f32; 3],
    /// Output node name; the model's first output if absent.
    #[serde(default)]
    pub output: Option<String>,
    /// Crop side as a multiple of the detector box (default 1.35, as
    /// faceres); `box` alignment only.
    #[serde(default)]
    pub crop_scale: Option<f32>,
    /// `box` (default) or `arcface` (five-point template).
    #[serde(default)]
    pub align: Alignment,
}

/// A loaded ONNX embedder.
#[derive(Clone)]
pub struct OnnxEmbedder {
    pub(crate) spec: EmbedderSpec,
    pub(crate) model: Arc<TypedRunnableModel>,
}

impl std::fmt::Debug for OnnxEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OnnxEmbedder({})", self.spec.model_id)
    }
}

impl OnnxEmbedder {
    /// Loads and optimises the model for a batch of one.
    pub fn load(spec: &EmbedderSpec) -> Result<Self> {
        let inf = |e: TractError| FaceEngineError::Inference(format!("{e:#}"));
        if !spec.path.is_file() {
            return Err(FaceEngineError::ModelsMissing(spec.path.display().to_string()));
        }
        if !(16..=1024).contains(&spec.input_size) || spec.std.contains(&0.0) {
            return Err(FaceEngineError::ModelFormat(
                "face_embedder: input_size must be 16..1024 and std non-zero".to_owned(),
            ));
        }
        let n = spec.input_size;
        let shape = match spec.layout {
            Layout::Nchw => [1, 3, n, n],
            Layout::Nhwc => [1, n, n, 3],
        };
        let mut model = tract_onnx::onnx().model_for_path(&spec.path).map_err(inf)?;
        if let Some(out) = &spec.output {
            model.select_outputs_by_name([out.as_str()]).map_err(inf)?;
        }
        let model = model
            .with_input_fact(0, f32::fact(shape).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(inf)?;
        Ok(Self {
            spec: spec.clone(),
            model,
        })
    }

    /// The embedding of an aligned NHWC crop with 0..255 values.
    pub(crate) fn run(&self, crop: &tract_ndarray::Array4<f32>) -> Result<Vec<f32>> {
        let (m, s) = (self.spec.mean, self.spec.std);
        let norm =
            |v: f32, c: usize| (v - m.get(c).copied().unwrap_or(0.0)) / s.get(c).copied().unwrap_or(1.0);
        let n = self.spec.input_size;
        let input = match self.spec.layout {
            Layout::Nhwc => tract_ndarray::Array4::from_shape_fn((1, n, n, 3), |(_, y, x, c)| {
                crop.get((0, y, x, c)).map_or(0.0, |v| norm(*v, c))
            }),
            Layout::Nchw => tract_ndarray::Array4::from_shape_fn((1, 3, n, n), |(_, c, y, x)| {
                crop.get((0, y, x, c)).map_or(0.0, |v| norm(*v, c))
            }),
        };
        let out = self
            .model
            .run(tvec!(input.into_tensor().into()))
            .map_err(|e| FaceEngineError::Inference(format!("{e:#}")))?;
        Ok(out
            .first()
            .ok_or_else(|| FaceEngineError::Inference("embedder gave no output".to_owned()))?
            .to_plain_array_view::<f32>()
            .map_err(|e| FaceEngineError::Inference(format!("{e:#}")))?
            .iter()
            .copied()
            .collect())
    }
}
