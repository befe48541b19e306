//! Decode → detect (blazeface) → align by the eyes → embed (faceres) → compare.

use std::path::Path;
use std::sync::Arc;

use tract_tensorflow::prelude::*;

use crate::error::{CaptureFault, FaceEngineError, Result};
use crate::tfjs;

/// Largest encoded image accepted.
pub const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;
/// Largest decoded image side accepted.
pub const MAX_SIDE: u32 = 4096;
const DET_SIZE: usize = 256;
const EMB_SIZE: usize = 224;
const SPOOF_SIZE: usize = 128;
const MESH_SIZE: usize = 192;
/// Face-mesh crop side as a multiple of the detector box side.
pub const MESH_CROP: f32 = 1.6;
/// Anti-spoofing crop side as a multiple of the detector box side.
pub const SPOOF_CROP: f32 = 1.0;
/// Detections below this score are ignored.
pub const MIN_SCORE: f32 = 0.6;
const NMS_IOU: f32 = 0.3;

/// An RGB image, row-major, 3 bytes a pixel.
#[derive(Debug, Clone)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Rgb {
    fn px(&self, x: usize, y: usize, c: usize) -> f32 {
        f32::from(self.data.get((y * self.width + x) * 3 + c).copied().unwrap_or(0))
    }

    /// Bilinear sample at (x, y), 0 outside the image.
    fn sample(&self, x: f32, y: f32, c: usize) -> f32 {
        if !(x >= 0.0 && y >= 0.0 && x <= (self.width - 1) as f32 && y <= (self.height - 1) as f32) {
            return 0.0;
        }
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let top = self.px(x0, y0, c) * (1.0 - fx) + self.px(x1, y0, c) * fx;
        let bottom = self.px(x0, y1, c) * (1.0 - fx) + self.px(x1, y1, c) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// Decodes JPEG or PNG with size limits; truncated or other input is refused.
pub fn decode(bytes: &[u8]) -> Result<Rgb, CaptureFault> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(CaptureFault::TooLarge);
    }
    let format = image::guess_format(bytes).map_err(|_| CaptureFault::Undecodable)?;
    if !matches!(format, image::ImageFormat::Jpeg | image::ImageFormat::Png) {
        return Err(CaptureFault::Undecodable);
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => CaptureFault::TooLarge,
        _ => CaptureFault::Undecodable,
    })?;
    let rgb = img.to_rgb8();
    Ok(Rgb {
        width: rgb.width() as usize,
        height: rgb.height() as usize,
        data: rgb.into_raw(),
    })
}

/// One detected face in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub score: f32,
    /// x0, y0, x1, y1.
    pub bbox: [f32; 4],
    /// Right eye, left eye, nose, mouth, right ear, left ear (subject's sides).
    pub keypoints: [[f32; 2]; 6],
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    inter / (area(a) + area(b) - inter).max(1e-6)
}

/// The network that turns an aligned face into an embedding.
#[derive(Clone)]
enum Embedder {
    /// The package's faceres (224 x 224 NHWC, raw 0..255).
    Faceres(Arc<TypedRunnableModel>),
    /// An operator's ONNX model.
    Onnx(crate::onnx::OnnxEmbedder),
}

/// Template id of the package's faceres embeddings.
pub const FACERES_MODEL_ID: &str = "human-3.3.6/blazeface+faceres/v1";

/// The loaded models, ready to run (cheap to share).
#[derive(Clone)]
pub struct FaceModels {
    detector: Arc<TypedRunnableModel>,
    embedder: Embedder,
    /// The package's face-mesh model (468 landmarks), if its files are present.
    mesh: Option<Arc<TypedRunnableModel>>,
    /// The package's passive anti-spoofing model, if its files are present.
    antispoof: Option<Arc<TypedRunnableModel>>,
    /// Anchor centres (x, y) in [0, 1] for the 512 + 384 detector outputs.
    anchors: Arc<Vec<(f32, f32)>>,
}

impl std::fmt::Debug for FaceModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaceModels(blazeface, {})", self.model_id())
    }
}

fn anchors() -> Vec<(f32, f32)> {
    let mut out = Vec::with_capacity(896);
    for (stride, per_cell) in [(16usize, 2usize), (32, 6)] {
        let n = DET_SIZE / stride;
        for y in 0..n {
            for x in 0..n {
                for _ in 0..per_cell {
                    out.push(((x as f32 + 0.5) / n as f32, (y as f32 + 0.5) / n as f32));
                }
            }
        }
    }
    out
}

fn inf(e: impl std::fmt::Display) -> FaceEngineError {
    FaceEngineError::Inference(e.to_string())
}

impl FaceModels {
    /// Loads blazeface and faceres from `dir` (the unpacked `models/` folder).
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with(dir, None)
    }

    /// Loads blazeface from `dir` and, with `embedder`, that ONNX model in
    /// place of faceres.
    pub fn load_with(dir: &Path, embedder: Option<&crate::onnx::EmbedderSpec>) -> Result<Self> {
        let det = tfjs::load_graph(dir, "blazeface")?;
        let embedder = match embedder {
            Some(spec) => Embedder::Onnx(crate::onnx::OnnxEmbedder::load(spec)?),
            None => {
                let emb = tfjs::load_graph(dir, "faceres")?;
                Embedder::Faceres(tfjs::runnable(
                    &emb,
                    &[1, EMB_SIZE, EMB_SIZE, 3],
                    Some(&["global_pooling/Mean"]),
                )?)
            }
        };
        Ok(Self {
            detector: tfjs::runnable(&det, &[1, DET_SIZE, DET_SIZE, 3], None)?,
            embedder,
            mesh: if dir.join("facemesh.json").is_file() {
                let g = tfjs::load_graph(dir, "facemesh")?;
                Some(tfjs::runnable(
                    &g,
                    &[1, MESH_SIZE, MESH_SIZE, 3],
                    Some(&["Identity_2"]),
                )?)
            } else {
                None
            },
            antispoof: if dir.join("antispoof.json").is_file() {
                let g = tfjs::load_graph(dir, "antispoof")?;
                Some(tfjs::runnable(&g, &[1, SPOOF_SIZE, SPOOF_SIZE, 3], None)?)
            } else {
                None
            },
            anchors: Arc::new(anchors()),
        })
    }

    /// All faces in `img` above [`MIN_SCORE`], best first, after NMS.
    pub fn detect(&self, img: &Rgb) -> Result<Vec<Detection>> {
        // Letterbox into a square, then scale to 256 x 256, values in [-1, 1].
        let side = img.width.max(img.height) as f32;
        let (ox, oy) = ((side - img.width as f32) / 2.0, (side - img.height as f32) / 2.0);
        let scale = side / DET_SIZE as f32;
        let input = tract_ndarray::Array4::from_shape_fn((1, DET_SIZE, DET_SIZE, 3), |(_, y, x, c)| {
            let sx = (x as f32 + 0.5) * scale - 0.5 - ox;
            let sy = (y as f32 + 0.5) * scale - 0.5 - oy;
            img.sample(sx, sy, c) / 127.5 - 1.0
        });
        let outputs = self
            .detector
            .run(tvec!(input.into_tensor().into()))
            .map_err(inf)?;
        let mut scores: Vec<f32> = Vec::new();
        let mut boxes: Vec<f32> = Vec::new();
        // Outputs come as (scores, boxes) pairs for 512 and 384 anchors; pick by shape.
        for n in [512usize, 384] {
            let mut s = None;
            let mut b = None;
            for o in outputs.iter() {
                let shape = o.shape();
                if shape.get(1) == Some(&n) {
                    let v: Vec<f32> = o
                        .to_plain_array_view::<f32>()
                        .map_err(inf)?
                        .iter()
                        .copied()
                        .collect();
                    if shape.get(2) == Some(&1) {
                        s = Some(v)
                    } else {
                        b = Some(v)
                    }
                }
            }
            scores.extend(s.ok_or_else(|| inf("detector scores missing"))?);
            boxes.extend(b.ok_or_else(|| inf("detector boxes missing"))?);
        }
        let mut found = Vec::new();
        for (i, raw) in scores.iter().enumerate() {
            let score = 1.0 / (1.0 + (-raw.clamp(-100.0, 100.0)).exp());
            if score < MIN_SCORE {
                continue;
            }
            let (ax, ay) = self.anchors.get(i).copied().unwrap_or((0.0, 0.0));
            let r: [f32; 16] = boxes
                .get(i * 16..i * 16 + 16)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| inf("detector box index"))?;
            let d = DET_SIZE as f32;
            let (cx, cy, w, h) = (ax * d + r[0], ay * d + r[1], r[2], r[3]);
            let to_img = |x: f32, y: f32| [x * scale - ox, y * scale - oy];
            let p0 = to_img(cx - w / 2.0, cy - h / 2.0);
            let p1 = to_img(cx + w / 2.0, cy + h / 2.0);
            let mut keypoints = [[0.0; 2]; 6];
            for (kp, xy) in keypoints.iter_mut().zip(r[4..].as_chunks::<2>().0) {
                *kp = to_img(ax * d + xy[0], ay * d + xy[1]);
            }
            found.push(Detection {
                score,
                bbox: [p0[0], p0[1], p1[0], p1[1]],
                keypoints,
            });
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Detection> = Vec::new();
        for d in found {
            if kept.iter().all(|k| iou(&k.bbox, &d.bbox) < NMS_IOU) {
                kept.push(d);
            }
        }
        Ok(kept)
    }

    /// The id templates from this embedder carry.
    #[must_use]
    pub fn model_id(&self) -> &str {
        match &self.embedder {
            Embedder::Faceres(_) => FACERES_MODEL_ID,
            Embedder::Onnx(o) => &o.spec.model_id,
        }
    }

    /// The face cropped upright (rotated so the eyes are level), centred on
    /// the detector's box, `crop_scale` times its side, scaled to a
    /// `size` x `size` NHWC crop with raw 0..255 RGB values.
    fn aligned(img: &Rgb, det: &Detection, size: usize, crop_scale: f32) -> tract_ndarray::Array4<f32> {
        let [re, le] = [det.keypoints[0], det.keypoints[1]];
        let (dx, dy) = (le[0] - re[0], le[1] - re[1]);
        let angle = dy.atan2(dx);
        let (cos, sin) = (angle.cos(), angle.sin());
        let box_side = (det.bbox[2] - det.bbox[0]).max(det.bbox[3] - det.bbox[1]);
        let side = box_side * crop_scale;
        let cx = (det.bbox[0] + det.bbox[2]) / 2.0;
        let cy = (det.bbox[1] + det.bbox[3]) / 2.0;
        let step = side / size as f32;
        tract_ndarray::Array4::from_shape_fn((1, size, size, 3), |(_, y, x, c)| {
            let u = (x as f32 + 0.5) * step - side / 2.0;
            let v = (y as f32 + 0.5) * step - side / 2.0;
            img.sample(cx + u * cos - v * sin, cy + u * sin + v * cos, c)
        })
    }

    /// The L2-normalised embedding of one detected face.
    pub fn embed(&self, img: &Rgb, det: &Detection) -> Result<Vec<f32>> {
        let v: Vec<f32> = match &self.embedder {
            Embedder::Faceres(model) => {
                let input = Self::aligned(img, det, EMB_SIZE, CROP_SCALE);
                let out = model.run(tvec!(input.into_tensor().into())).map_err(inf)?;
                out.first()
                    .ok_or_else(|| inf("no embedding"))?
                    .to_plain_array_view::<f32>()
                    .map_err(inf)?
                    .iter()
                    .copied()
                    .collect()
            }
            Embedder::Onnx(o) => {
                let crop = Self::aligned(
                    img,
                    det,
                    o.spec.input_size,
                    o.spec.crop_scale.unwrap_or(CROP_SCALE),
                );
                o.run(&crop)?
            }
        };
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        Ok(v.into_iter().map(|x| x / norm).collect())
    }

    /// Whether the face-mesh model is installed.
    #[must_use]
    pub fn has_mesh(&self) -> bool {
        self.mesh.is_some()
    }

    /// The 468 face-mesh landmarks (x, y in crop pixels of a 192 x 192
    /// upright crop, z relative depth), or `None` without the model.
    pub fn landmarks(&self, img: &Rgb, det: &Detection) -> Result<Option<Vec<[f32; 3]>>> {
        let Some(model) = &self.mesh else {
            return Ok(None);
        };
        let crop = Self::aligned(img, det, MESH_SIZE, MESH_CROP).mapv(|v| v / 255.0);
        let out = model.run(tvec!(crop.into_tensor().into())).map_err(inf)?;
        let flat: Vec<f32> = out
            .first()
            .ok_or_else(|| inf("no mesh output"))?
            .to_plain_array_view::<f32>()
            .map_err(inf)?
            .iter()
            .copied()
            .collect();
        Ok(Some(flat.as_chunks::<3>().0.to_vec()))
    }

    /// The passive anti-spoofing model's score for one face (sigmoid; in the
    /// package's own code higher means "real"), or `None` without the model.
    /// Input: the detector box, square, [`SPOOF_CROP`] times its side, at
    /// 128 x 128 with values in [0, 1]. Advisory only: see docs/face-models.md.
    pub fn antispoof_score(&self, img: &Rgb, det: &Detection) -> Result<Option<f32>> {
        let Some(model) = &self.antispoof else {
            return Ok(None);
        };
        let side = (det.bbox[2] - det.bbox[0]).max(det.bbox[3] - det.bbox[1]) * SPOOF_CROP;
        let (x0, y0) = (
            (det.bbox[0] + det.bbox[2]) / 2.0 - side / 2.0,
            (det.bbox[1] + det.bbox[3]) / 2.0 - side / 2.0,
        );
        let step = side / SPOOF_SIZE as f32;
        let input = tract_ndarray::Array4::from_shape_fn((1, SPOOF_SIZE, SPOOF_SIZE, 3), |(_, y, x, c)| {
            img.sample(x0 + (x as f32 + 0.5) * step, y0 + (y as f32 + 0.5) * step, c) / 255.0
        });
        let out = model.run(tvec!(input.into_tensor().into())).map_err(inf)?;
        let score = out
            .first()
            .and_then(|t| t.to_plain_array_view::<f32>().ok()?.iter().next().copied())
            .ok_or_else(|| inf("no antispoof output"))?;
        Ok(Some(score))
    }

    /// Decode, require exactly one face, embed.
    pub fn embed_single(&self, bytes: &[u8]) -> Result<Result<Vec<f32>, CaptureFault>> {
        let img = match decode(bytes) {
            Ok(i) => i,
            Err(f) => return Ok(Err(f)),
        };
        let dets = self.detect(&img)?;
        match dets.as_slice() {
            [] => Ok(Err(CaptureFault::NoFace)),
            [one] => Ok(Ok(self.embed(&img, one)?)),
            // A second face much weaker than the first is background, not a second person.
            [first, second, ..] if second.score < first.score * 0.8 => Ok(Ok(self.embed(&img, first)?)),
            _ => Ok(Err(CaptureFault::SeveralFaces)),
        }
    }
}

/// Crop side as a multiple of the detector's box side. Chosen on the LFW
/// development set (60 identities, 231 faces): 0.8 → TAR 0.47 at FAR 1 %,
/// 1.0 → 0.78, 1.2 → 0.84, 1.35 → 0.86, 1.5 → 0.85, 1.8 → 0.77.
pub const CROP_SCALE: f32 = 1.35;

/// Cosine similarity of two L2-normalised embeddings.
#[must_use]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
