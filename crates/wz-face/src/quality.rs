//! Quality gates for a detected face, with reasons: too small, too blurred
//! (variance of the Laplacian), too dark or bright, turned too far from
//! frontal (yaw from the nose's offset between the eyes).

use crate::error::CaptureFault;
use crate::pipeline::{Detection, Rgb};

/// Measurements of one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Side of the detector box, image pixels.
    pub face_px: f32,
    /// Variance of the 3x3 Laplacian over the face box (grey levels²).
    pub sharpness: f32,
    /// Mean grey level over the face box, 0..255.
    pub brightness: f32,
    /// Nose offset from the eye midpoint along the eye line, in eye distances
    /// (0 frontal; about ±0.5 at a strong head turn).
    pub yaw: f32,
}

/// Thresholds; the defaults pass all but the worst photos of the LFW development set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityGates {
    pub min_face_px: f32,
    pub min_sharpness: f32,
    pub min_brightness: f32,
    pub max_brightness: f32,
    pub max_abs_yaw: f32,
}

impl Default for QualityGates {
    fn default() -> Self {
        Self {
            min_face_px: 60.0,
            min_sharpness: 15.0,
            min_brightness: 35.0,
            max_brightness: 225.0,
            max_abs_yaw: 0.45,
        }
    }
}

impl QualityGates {
    /// The first gate `q` fails, if any.
    pub fn check(&self, q: &Quality) -> Result<(), CaptureFault> {
        if q.face_px < self.min_face_px {
            return Err(CaptureFault::TooSmall);
        }
        if q.brightness < self.min_brightness {
            return Err(CaptureFault::TooDark);
        }
        if q.brightness > self.max_brightness {
            return Err(CaptureFault::TooBright);
        }
        if q.sharpness < self.min_sharpness {
            return Err(CaptureFault::Blurred);
        }
        if q.yaw.abs() > self.max_abs_yaw {
            return Err(CaptureFault::NotFrontal);
        }
        Ok(())
    }
}

/// Signed yaw proxy from the keypoints.
#[must_use]
pub fn yaw(det: &Detection) -> f32 {
    let [re, le, nose] = [det.keypoints[0], det.keypoints[1], det.keypoints[2]];
    let (ex, ey) = (le[0] - re[0], le[1] - re[1]);
    let dist2 = (ex * ex + ey * ey).max(1e-6);
    let mid = [(re[0] + le[0]) / 2.0, (re[1] + le[1]) / 2.0];
    ((nose[0] - mid[0]) * ex + (nose[1] - mid[1]) * ey) / dist2
}

/// Measures the face `det` in `img`.
#[must_use]
pub fn measure(img: &Rgb, det: &Detection) -> Quality {
    let clamp = |v: f32, hi: usize| (v.max(0.0) as usize).min(hi.saturating_sub(1));
    let (x0, y0) = (clamp(det.bbox[0], img.width), clamp(det.bbox[1], img.height));
    let (x1, y1) = (clamp(det.bbox[2], img.width), clamp(det.bbox[3], img.height));
    let grey = |x: usize, y: usize| {
        let i = (y * img.width + x) * 3;
        let px = |o: usize| f32::from(img.data.get(i + o).copied().unwrap_or(0));
        0.299 * px(0) + 0.587 * px(1) + 0.114 * px(2)
    };
    let (mut sum, mut n) = (0.0f64, 0u64);
    let (mut lsum, mut lsq, mut ln) = (0.0f64, 0.0f64, 0u64);
    for y in y0..=y1 {
        for x in x0..=x1 {
            sum += f64::from(grey(x, y));
            n += 1;
            if x > x0 && x < x1 && y > y0 && y < y1 {
                let lap =
                    grey(x - 1, y) + grey(x + 1, y) + grey(x, y - 1) + grey(x, y + 1) - 4.0 * grey(x, y);
                lsum += f64::from(lap);
                lsq += f64::from(lap) * f64::from(lap);
                ln += 1;
            }
        }
    }
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    let lmean = if ln > 0 { lsum / ln as f64 } else { 0.0 };
    let var = if ln > 0 {
        lsq / ln as f64 - lmean * lmean
    } else {
        0.0
    };
    Quality {
        face_px: (det.bbox[2] - det.bbox[0]).max(det.bbox[3] - det.bbox[1]),
        sharpness: var as f32,
        brightness: mean as f32,
        yaw: yaw(det),
    }
}
