//! Face alignment: a similarity transform (rotation, uniform scale,
//! translation) from detected landmarks onto a recognition model's own
//! reference points, fitted by least squares (Umeyama), then one bilinear
//! warp. ArcFace-family models were trained on crops made exactly this way
//! from five points; feeding them anything else costs accuracy.

use crate::pipeline::Rgb;

/// The ArcFace / InsightFace 112 × 112 five-point reference, in output
/// pixels: image-left eye, image-right eye, nose tip, image-left and
/// image-right mouth corners (a frontal face's right eye is on the image's
/// left).
pub const ARCFACE_112: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// dlib's face chip reference for a 150 × 150 chip with padding 0.25 (what
/// its ResNet face descriptor was trained on): the mean face shape's eye
/// centres, nose tip and mouth corners, `(mean + 0.25) / 1.5 · 150`, in the
/// same order as [`ARCFACE_112`].
pub const DLIB_150: [[f32; 2]; 5] = [
    [47.54, 46.60],
    [100.48, 46.60],
    [74.01, 76.56],
    [50.41, 103.02],
    [97.61, 103.02],
];

/// `z ↦ a·z + t` on points seen as complex numbers: a similarity without
/// reflection. `a = s·e^{iθ}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    a: [f32; 2],
    t: [f32; 2],
}

impl Similarity {
    /// Scale `s`, rotation `theta`, then translation `t`.
    #[must_use]
    pub fn new(scale: f32, theta: f32, t: [f32; 2]) -> Self {
        Self {
            a: [scale * theta.cos(), scale * theta.sin()],
            t,
        }
    }

    /// The least-squares similarity taking `src` onto `dst` (same length,
    /// at least two distinct points); `None` when the points are degenerate.
    #[must_use]
    pub fn fit(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Self> {
        if src.len() != dst.len() || src.len() < 2 {
            return None;
        }
        let n = src.len() as f32;
        let mean = |p: &[[f32; 2]]| {
            let s = p
                .iter()
                .fold([0.0f32; 2], |acc, q| [acc[0] + q[0], acc[1] + q[1]]);
            [s[0] / n, s[1] / n]
        };
        let (ms, md) = (mean(src), mean(dst));
        // a = Σ (q − q̄)·conj(p − p̄) / Σ |p − p̄|²
        let (mut re, mut im, mut norm) = (0.0f32, 0.0f32, 0.0f32);
        for (p, q) in src.iter().zip(dst) {
            let (px, py) = (p[0] - ms[0], p[1] - ms[1]);
            let (qx, qy) = (q[0] - md[0], q[1] - md[1]);
            re += qx * px + qy * py;
            im += qy * px - qx * py;
            norm += px * px + py * py;
        }
        if !norm.is_finite() || norm <= 1e-6 || !re.is_finite() || !im.is_finite() {
            return None;
        }
        let a = [re / norm, im / norm];
        let t = [
            md[0] - (a[0] * ms[0] - a[1] * ms[1]),
            md[1] - (a[1] * ms[0] + a[0] * ms[1]),
        ];
        Some(Self { a, t })
    }

    /// The image of `p`.
    #[must_use]
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a[0] * p[0] - self.a[1] * p[1] + self.t[0],
            self.a[1] * p[0] + self.a[0] * p[1] + self.t[1],
        ]
    }

    /// The inverse transform; `None` for a zero scale.
    #[must_use]
    pub fn inverse(&self) -> Option<Self> {
        let d = self.a[0] * self.a[0] + self.a[1] * self.a[1];
        if !d.is_finite() || d <= 1e-12 {
            return None;
        }
        let inv = [self.a[0] / d, -self.a[1] / d];
        let t = [
            -(inv[0] * self.t[0] - inv[1] * self.t[1]),
            -(inv[1] * self.t[0] + inv[0] * self.t[1]),
        ];
        Some(Self { a: inv, t })
    }

    /// The uniform scale factor.
    #[must_use]
    pub fn scale(&self) -> f32 {
        self.a[0].hypot(self.a[1])
    }
}

/// A `size` × `size` NHWC crop (raw 0..255 RGB) whose pixel `(x, y)` is
/// the image at `to_image(x, y)`, bilinear, black outside the image.
#[must_use]
pub fn warp(
    img: &Rgb,
    to_image: &Similarity,
    size: usize,
) -> tract_tensorflow::prelude::tract_ndarray::Array4<f32> {
    img.resample(size, size, |x, y| to_image.apply([x as f32, y as f32]), 1.0, 0.0)
}

/// The transform that maps `size`-pixel crop coordinates onto the image
/// so that `points` (image pixels) land on `reference` (given for a
/// `reference_size` crop). Four points (eyes, nose, mouth centre) are
/// matched to the reference with its two mouth corners averaged.
#[must_use]
pub fn to_reference(
    points: &[[f32; 2]],
    reference: &[[f32; 2]; 5],
    reference_size: f32,
    size: usize,
) -> Option<Similarity> {
    let k = size as f32 / reference_size;
    let scaled: Vec<[f32; 2]> = reference.iter().map(|p| [p[0] * k, p[1] * k]).collect();
    let dst: Vec<[f32; 2]> = match points.len() {
        5 => scaled,
        4 => {
            let (l, r) = (scaled.get(3)?, scaled.get(4)?);
            let mouth = [(l[0] + r[0]) / 2.0, (l[1] + r[1]) / 2.0];
            vec![*scaled.first()?, *scaled.get(1)?, *scaled.get(2)?, mouth]
        }
        _ => return None,
    };
    Similarity::fit(&dst, points)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_similarity() {
        let truth = Similarity::new(1.7, 0.3, [12.0, -4.0]);
        let src = ARCFACE_112.to_vec();
        let dst: Vec<_> = src.iter().map(|p| truth.apply(*p)).collect();
        let fitted = Similarity::fit(&src, &dst).unwrap();
        for p in &src {
            let (a, b) = (fitted.apply(*p), truth.apply(*p));
            assert!((a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3);
        }
        assert!((fitted.scale() - 1.7).abs() < 1e-4);
        let back = fitted.inverse().unwrap().apply(fitted.apply([3.0, 5.0]));
        assert!((back[0] - 3.0).abs() < 1e-3 && (back[1] - 5.0).abs() < 1e-3);
    }

    #[test]
    fn degenerate_points_do_not_fit() {
        assert!(Similarity::fit(&[[1.0, 1.0], [1.0, 1.0]], &[[0.0, 0.0], [2.0, 2.0]]).is_none());
        assert!(Similarity::fit(&[[1.0, 1.0]], &[[0.0, 0.0]]).is_none());
        assert!(Similarity::fit(&[[f32::NAN, 1.0], [2.0, 2.0]], &[[0.0, 0.0], [2.0, 2.0]]).is_none());
    }

    #[test]
    fn warp_puts_landmarks_on_the_reference() {
        // A synthetic image with a bright dot where the "left eye" is.
        let (w, h) = (200usize, 160usize);
        let mut data = vec![0u8; w * h * 3];
        let eye = [70usize, 60usize];
        for c in 0..3 {
            data[(eye[1] * w + eye[0]) * 3 + c] = 255;
        }
        let img = Rgb {
            width: w,
            height: h,
            data,
        };
        let truth = Similarity::new(0.9, -0.2, [30.0, 10.0]);
        let points: Vec<[f32; 2]> = ARCFACE_112.iter().map(|p| truth.apply(*p)).collect();
        // Place the eye exactly where the transform puts the first point.
        let p0 = points[0];
        let shift = [eye[0] as f32 - p0[0], eye[1] as f32 - p0[1]];
        let points: Vec<[f32; 2]> = points
            .iter()
            .map(|p| [p[0] + shift[0], p[1] + shift[1]])
            .collect();
        let m = to_reference(&points, &ARCFACE_112, 112.0, 112).unwrap();
        let crop = warp(&img, &m, 112);
        let (rx, ry) = (
            ARCFACE_112[0][0].round() as usize,
            ARCFACE_112[0][1].round() as usize,
        );
        let mut best = (0.0f32, 0usize, 0usize);
        for y in 0..112 {
            for x in 0..112 {
                let v = crop[(0, y, x, 0)];
                if v > best.0 {
                    best = (v, x, y);
                }
            }
        }
        assert!(best.0 > 50.0);
        assert!(best.1.abs_diff(rx) <= 1 && best.2.abs_diff(ry) <= 1, "{best:?}");
    }
}
