//! Presentation-attack detection measured in ISO/IEC 30107-3 terms: bona
//! fide frame sequences and attack sequences built from the stills of a
//! labelled face set go through the engine exactly as the platform's face
//! path does (live capture with the asked actions, then the copy-of-the-
//! stored-photo check against the registry template), and each decision is
//! counted. APCER per attack type: the share of attack presentations
//! accepted; BPCER: the share of bona fide presentations refused.
//!
//! Bona fide sequences need real head turns: an identity contributes one
//! when its photos include a frontal one and turned ones. The attacks are
//! what an attacker can make from stills: the registry photo replayed; one
//! photo moved across frames; two people's frames; the asked actions in the
//! wrong order; the frontal frame of another person; and a recaptured
//! sequence — each frame re-rendered as a photo of a screen (moiré, border,
//! blur, JPEG). The last is **synthetic**, and every report says so.

use std::path::Path;

use wz_proto::api::LivenessAction;

use crate::engine::Engine;
use crate::error::{FaceEngineError, Result};
use crate::eval::face_set;

/// An attack type, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attack {
    /// The registry photo itself as every frame.
    Replay,
    /// The registry photo shifted, scaled and rotated across frames (a
    /// print held up and moved).
    MovedPhoto,
    /// The frontal frame of one person, the turned frames of another.
    TwoPeople,
    /// The right person's turns, in the order not asked.
    WrongOrder,
    /// The claimed person's turns, with another person's frontal frame
    /// (the one compared with the registry).
    IdentitySwap,
    /// A bona fide sequence re-rendered as a photo of a screen (synthetic).
    Recapture,
}

impl Attack {
    /// Every attack type, in report order.
    pub const ALL: [Attack; 6] = [
        Attack::Replay,
        Attack::MovedPhoto,
        Attack::TwoPeople,
        Attack::WrongOrder,
        Attack::IdentitySwap,
        Attack::Recapture,
    ];

    /// The name reports use.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Attack::Replay => "replay of the registry photo",
            Attack::MovedPhoto => "one photo moved across frames",
            Attack::TwoPeople => "frames of two people",
            Attack::WrongOrder => "actions in the wrong order",
            Attack::IdentitySwap => "another person's frontal frame",
            Attack::Recapture => "recaptured screen (SYNTHETIC)",
        }
    }
}

/// One presentation's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Accepted as a live capture of a person.
    pub accepted: bool,
    /// The passive anti-spoofing score of the first frame, when measured.
    pub spoof_score: Option<f32>,
    /// The `liveness` model's score of the first frame, when measured.
    pub liveness_score: Option<f32>,
    /// Why it was refused (the engine's own words), when it was.
    pub refusal: Option<String>,
    /// Whether the first (frontal) frame matched the registry template at
    /// the engine's threshold, as the platform then checks; `None` when the
    /// capture was refused before an embedding or there is no template.
    pub matched: Option<bool>,
}

impl Decision {
    /// Accepted by liveness and matched to the registry template: what the
    /// platform would pass.
    fn passes(&self) -> bool {
        self.accepted && self.matched == Some(true)
    }
}

/// What `pad-eval` measured.
#[derive(Debug, Clone, Default)]
pub struct PadReport {
    /// Bona fide decisions.
    pub bona_fide: Vec<Decision>,
    /// Attack decisions by type.
    pub attacks: Vec<(Attack, Vec<Decision>)>,
    /// Identities with the frontal and turned photos a bona fide sequence needs.
    pub identities_with_turns: usize,
    pub identities: usize,
}

/// Share of `decisions` for which `bad` holds; `None` when there are none.
#[must_use]
pub fn rate(decisions: &[Decision], bad: impl Fn(&Decision) -> bool) -> Option<f64> {
    (!decisions.is_empty())
        .then(|| decisions.iter().filter(|d| bad(d)).count() as f64 / decisions.len() as f64)
}

impl PadReport {
    /// The bona fide refusals counted by reason, most frequent first.
    #[must_use]
    pub fn bona_fide_refusals(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for r in self.bona_fide.iter().filter_map(|d| d.refusal.as_ref()) {
            match counts.iter_mut().find(|(k, _)| k == r) {
                Some((_, n)) => *n += 1,
                None => counts.push((r.clone(), 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts
    }

    /// BPCER: bona fide presentations refused.
    #[must_use]
    pub fn bpcer(&self) -> Option<f64> {
        rate(&self.bona_fide, |d| !d.accepted)
    }

    /// Bona fide presentations accepted *and* matched to the registry
    /// template at the operating threshold: what a genuine citizen sees end
    /// to end (liveness, then recognition).
    #[must_use]
    pub fn bona_fide_end_to_end(&self) -> Option<f64> {
        rate(&self.bona_fide, Decision::passes)
    }

    /// IAPMR (ISO/IEC 30107-3) of one attack type: attack presentations
    /// that pass liveness *and* whose frontal frame matches the claimed
    /// person's registry template — the attacks that would get a pass.
    #[must_use]
    pub fn iapmr(&self, attack: Attack) -> Option<f64> {
        self.attack_rate(attack, Decision::passes)
    }

    /// APCER of one attack type: attack presentations accepted.
    #[must_use]
    pub fn apcer(&self, attack: Attack) -> Option<f64> {
        self.attack_rate(attack, |d| d.accepted)
    }

    /// The share of one attack type's presentations for which `bad` holds.
    fn attack_rate(&self, attack: Attack, bad: impl Fn(&Decision) -> bool) -> Option<f64> {
        self.attacks
            .iter()
            .find(|(a, _)| *a == attack)
            .and_then(|(_, d)| rate(d, bad))
    }
}

impl PadReport {
    /// What gating on a passive score (`score` of each decision) would do: the
    /// threshold that refuses at most 5 % of the bona fide presentations
    /// that reached it, and the share of each attack type's presentations
    /// (that reached it) it would still accept. `None` without scores.
    #[must_use]
    pub fn passive_gate(&self, score: fn(&Decision) -> Option<f32>) -> Option<PassiveGate> {
        let mut bona: Vec<f32> = self.bona_fide.iter().filter_map(score).collect();
        if bona.is_empty() {
            return None;
        }
        bona.sort_by(f32::total_cmp);
        let t = *bona.get(bona.len() / 20)?;
        let per_attack = self
            .attacks
            .iter()
            .map(|(a, d)| {
                let scored: Vec<f32> = d.iter().filter_map(score).collect();
                let passed = (!scored.is_empty())
                    .then(|| scored.iter().filter(|s| **s >= t).count() as f64 / scored.len() as f64);
                (*a, passed)
            })
            .collect();
        Some(PassiveGate {
            threshold: t,
            passed: per_attack,
        })
    }
}

/// [`PadReport::passive_gate`]'s answer.
#[derive(Debug, Clone)]
pub struct PassiveGate {
    /// Anti-spoof score below which a gate would refuse.
    pub threshold: f32,
    /// Share of each attack type's scored presentations it would pass.
    pub passed: Vec<(Attack, Option<f64>)>,
}

/// A photo as the engine sees it, with its pose.
struct Still {
    bytes: Vec<u8>,
    yaw: f32,
}

/// The stills of one identity that show a usable face, with their pose.
fn stills(engine: &Engine, paths: &[std::path::PathBuf]) -> Result<Vec<Still>> {
    let mut out = Vec::new();
    for p in paths {
        let raw = std::fs::read(p)
            .map_err(|_| FaceEngineError::ModelFormat(format!("cannot read {}", p.display())))?;
        // Live frames are JPEG or PNG; an evaluation set in PGM/PPM is re-encoded.
        let Ok(img) = crate::pipeline::decode_still(&raw) else {
            continue;
        };
        let bytes = encode_jpeg(&img, 95)?;
        if let Some(o) = engine.observe_photo(&bytes)? {
            out.push(Still { bytes, yaw: o.yaw });
        }
    }
    Ok(out)
}

fn encode_jpeg(img: &crate::pipeline::Rgb, quality: u8) -> Result<Vec<u8>> {
    let buf = image::RgbImage::from_raw(
        u32::try_from(img.width).unwrap_or(0),
        u32::try_from(img.height).unwrap_or(0),
        img.data.clone(),
    )
    .ok_or_else(|| FaceEngineError::Inference("image buffer".into()))?;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&buf)
        .map_err(|e| FaceEngineError::Inference(e.to_string()))?;
    Ok(out)
}

/// Applies `f` to a frame's pixels and re-encodes it as JPEG.
fn transformed(bytes: &[u8], quality: u8, f: impl Fn(image::RgbImage) -> image::RgbImage) -> Result<Vec<u8>> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| FaceEngineError::Inference(e.to_string()))?
        .to_rgb8();
    let out = f(img);
    let rgb = crate::pipeline::Rgb {
        width: out.width() as usize,
        height: out.height() as usize,
        data: out.into_raw(),
    };
    encode_jpeg(&rgb, quality)
}

/// The photo on a bigger grey card, moved by (`dx`, `dy`), scaled by `k`
/// and turned by `deg` degrees: the same pose, moved.
fn moved(bytes: &[u8], dx: u32, dy: u32, k: f32, deg: f32) -> Result<Vec<u8>> {
    transformed(bytes, 92, |img| {
        let (w, h) = (img.width(), img.height());
        let mut canvas = image::RgbImage::from_pixel(w + 60, h + 60, image::Rgb([110, 110, 110]));
        let (c, s) = (deg.to_radians().cos(), deg.to_radians().sin());
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        for (x, y, px) in canvas.enumerate_pixels_mut() {
            // Canvas pixel → photo pixel: undo the shift, the scale and the turn.
            let (u, v) = ((x as f32 - dx as f32 - cx) / k, (y as f32 - dy as f32 - cy) / k);
            let (sx, sy) = (c * u + s * v + cx, -s * u + c * v + cy);
            if sx >= 0.0 && sy >= 0.0 && sx < w as f32 - 1.0 && sy < h as f32 - 1.0 {
                *px = *img.get_pixel(sx as u32, sy as u32);
            }
        }
        canvas
    })
}

/// A frame as a phone camera sees it shown on a screen: a dark bezel, the
/// screen's pixel grid beating against the camera's (moiré), a slight
/// defocus, a colour cast and heavier JPEG compression. Synthetic.
fn recaptured(bytes: &[u8]) -> Result<Vec<u8>> {
    transformed(bytes, 70, |img| {
        let (w, h) = (img.width(), img.height());
        let blurred = image::imageops::blur(&img, 0.8);
        let border = (w.min(h) / 12).max(4);
        let mut out = image::RgbImage::from_pixel(w + 2 * border, h + 2 * border, image::Rgb([18, 18, 22]));
        for (x, y, px) in blurred.enumerate_pixels() {
            let (fx, fy) = (x as f32, y as f32);
            // Two slightly rotated gratings: the beat pattern of a screen re-photographed.
            let moire = 1.0 + 0.10 * ((fx * 0.9 + fy * 0.12).sin() * (fy * 0.85 - fx * 0.1).sin());
            let cast = [0.95, 1.0, 1.08];
            let mut rgb = [0u8; 3];
            for (c, v) in rgb.iter_mut().enumerate() {
                let base = f32::from(px.0.get(c).copied().unwrap_or(0));
                *v = (base * moire * cast.get(c).copied().unwrap_or(1.0) + 6.0).clamp(0.0, 255.0) as u8;
            }
            out.put_pixel(x + border, y + border, image::Rgb(rgb));
        }
        out
    })
}

/// One presentation through the engine: live capture with the asked
/// actions, then the copy-of-the-stored-photo check against `template`.
fn decide(
    engine: &Engine,
    frames: &[Vec<u8>],
    actions: &[LivenessAction],
    template: Option<&[u8]>,
) -> Result<Decision> {
    let obs = match engine.observe_live(frames, actions)? {
        Ok(o) => o,
        Err(fault) => {
            return Ok(Decision {
                accepted: false,
                spoof_score: None,
                liveness_score: None,
                refusal: Some(fault.to_string()),
                matched: None,
            });
        }
    };
    let similarity = template.and_then(|t| engine.compare(&obs.embedding, t).ok());
    let copy = similarity.is_some_and(|s| s >= engine.near_identical());
    let refusal = match (obs.liveness, copy) {
        (Some(fault), _) => Some(fault.to_string()),
        (None, true) => Some("a copy of the stored photo".to_owned()),
        (None, false) => None,
    };
    Ok(Decision {
        accepted: refusal.is_none(),
        spoof_score: obs.spoof_score,
        liveness_score: obs.liveness_score,
        refusal,
        matched: similarity.map(|s| s >= engine.threshold()),
    })
}

/// An identity's frontal photo and, if it has them, photos turned left and right.
struct Poses {
    frontal: usize,
    left: Option<usize>,
    right: Option<usize>,
}

fn poses(stills: &[Still], engine: &Engine) -> Option<Poses> {
    let rules = engine.liveness_rules();
    let frontal = stills
        .iter()
        .enumerate()
        .filter(|(_, s)| s.yaw.abs() <= rules.frontal)
        .min_by(|a, b| a.1.yaw.abs().total_cmp(&b.1.yaw.abs()))?
        .0;
    let pick = |want: fn(f32, f32) -> bool| {
        stills
            .iter()
            .enumerate()
            .filter(|(_, s)| want(s.yaw, rules.turn))
            .max_by(|a, b| a.1.yaw.abs().total_cmp(&b.1.yaw.abs()))
            .map(|(i, _)| i)
    };
    Some(Poses {
        frontal,
        left: pick(|y, t| y >= t),
        right: pick(|y, t| y <= -t),
    })
}

impl Poses {
    /// A near-frontal photo that is none of the live frames: it stands in
    /// for the person's registry photo.
    fn registry_stand_in<'s>(&self, stills: &'s [Still]) -> Option<&'s Still> {
        stills
            .iter()
            .enumerate()
            .find(|(j, st)| {
                *j != self.frontal && self.left != Some(*j) && self.right != Some(*j) && st.yaw.abs() <= 0.45
            })
            .map(|(_, st)| st)
    }
}

/// The turned frames and the actions they show, right first.
fn turns(p: &Poses, s: &[Still]) -> Option<(Vec<Vec<u8>>, Vec<LivenessAction>)> {
    let mut frames = Vec::new();
    let mut actions = Vec::new();
    if let Some(r) = p.right.and_then(|i| s.get(i)) {
        frames.push(r.bytes.clone());
        actions.push(LivenessAction::TurnRight);
    }
    if let Some(l) = p.left.and_then(|i| s.get(i)) {
        frames.push(l.bytes.clone());
        actions.push(LivenessAction::TurnLeft);
    }
    (!actions.is_empty()).then_some((frames, actions))
}

/// Runs every bona fide and attack presentation the face set allows.
pub fn evaluate(engine: &Engine, dir: &Path) -> Result<PadReport> {
    let ids = face_set(dir)?;
    let mut people: Vec<(Vec<Still>, Poses)> = Vec::new();
    for (_, paths) in &ids {
        let s = stills(engine, paths)?;
        if let Some(p) = poses(&s, engine) {
            people.push((s, p));
        }
    }
    if people.is_empty() {
        return Err(FaceEngineError::ModelFormat(format!(
            "{} holds no identity with a usable frontal photo",
            dir.display()
        )));
    }
    let mut report = PadReport {
        identities: ids.len(),
        ..PadReport::default()
    };
    let mut by_attack: Vec<(Attack, Vec<Decision>)> = Attack::ALL.iter().map(|a| (*a, Vec::new())).collect();
    let mut push = |a: Attack, d: Decision| {
        if let Some((_, v)) = by_attack.iter_mut().find(|(x, _)| *x == a) {
            v.push(d);
        }
    };
    let both = [LivenessAction::TurnRight, LivenessAction::TurnLeft];
    let n = people.len();
    for (i, (s, p)) in people.iter().enumerate() {
        let Some(front) = s.get(p.frontal) else { continue };
        let template = engine.template(&front.bytes)?.ok();
        // The next person in the set plays "the other person".
        let (os, op) = match people.get((i + 1) % n) {
            Some(o) if n > 1 => (&o.0, &o.1),
            _ => (s, p),
        };
        let other_front = os.get(op.frontal).map(|o| o.bytes.clone());
        // A registry photo that another photo of the person stands in for live.
        let registry = p
            .registry_stand_in(s)
            .and_then(|st| engine.template(&st.bytes).ok()?.ok());

        // Attacks that need only the registry photo.
        let photo = front.bytes.clone();
        push(
            Attack::Replay,
            decide(
                engine,
                &[photo.clone(), photo.clone(), photo.clone()],
                &both,
                template.as_deref(),
            )?,
        );
        let moved_frames = vec![
            photo.clone(),
            moved(&photo, 40, 10, 1.15, -8.0)?,
            moved(&photo, 0, 50, 0.9, 10.0)?,
        ];
        push(
            Attack::MovedPhoto,
            decide(engine, &moved_frames, &both, template.as_deref())?,
        );

        let Some((turned, actions)) = turns(p, s) else {
            continue;
        };
        report.identities_with_turns += 1;
        let mut bona = vec![photo.clone()];
        bona.extend(turned.iter().cloned());
        report
            .bona_fide
            .push(decide(engine, &bona, &actions, registry.as_deref())?);

        if actions.len() == 2 {
            let mut reversed = actions.clone();
            reversed.reverse();
            push(
                Attack::WrongOrder,
                decide(engine, &bona, &reversed, registry.as_deref())?,
            );
        }
        if let Some(of) = other_front.as_ref().filter(|_| !std::ptr::eq(os, s)) {
            let mut swap = vec![of.clone()];
            swap.extend(turned.iter().cloned());
            push(
                Attack::IdentitySwap,
                decide(engine, &swap, &actions, registry.as_deref())?,
            );
        }
        if let Some((other_turned, other_actions)) = turns(op, os).filter(|_| !std::ptr::eq(os, s)) {
            let mut two = vec![photo.clone()];
            two.extend(other_turned);
            push(
                Attack::TwoPeople,
                decide(engine, &two, &other_actions, registry.as_deref())?,
            );
        }
        let recaptured_frames = bona.iter().map(|f| recaptured(f)).collect::<Result<Vec<_>>>()?;
        push(
            Attack::Recapture,
            decide(engine, &recaptured_frames, &actions, registry.as_deref())?,
        );
    }
    report.attacks = by_attack;
    Ok(report)
}

/// One person's photos for a live face check: a registry photo, and live
/// frames — frontal, turned left, turned right — that are other photos of
/// the same person. For load tests and demos that must answer a
/// platform's head-turn challenge with real photos.
#[derive(Clone)]
pub struct LiveSet {
    pub registry_photo: Vec<u8>,
    pub frontal: Vec<u8>,
    pub left: Vec<u8>,
    pub right: Vec<u8>,
}

impl core::fmt::Debug for LiveSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LiveSet(<photos>)")
    }
}

impl LiveSet {
    /// The frames that answer `actions` in order, frontal first; `None`
    /// when an action is not a head turn (these photos cannot show it).
    #[must_use]
    pub fn frames_for(&self, actions: &[LivenessAction]) -> Option<Vec<Vec<u8>>> {
        let mut frames = vec![self.frontal.clone()];
        for a in actions {
            frames.push(match a {
                LivenessAction::TurnLeft => self.left.clone(),
                LivenessAction::TurnRight => self.right.clone(),
                _ => return None,
            });
        }
        Some(frames)
    }
}

/// Up to `max` people of the labelled set in `dir` (`DIR/<person>/<photos>`)
/// with a frontal photo, a photo turned each way and one more near-frontal
/// photo to stand as their registry photo.
pub fn live_sets(engine: &Engine, dir: &Path, max: usize) -> Result<Vec<LiveSet>> {
    let mut out = Vec::new();
    for (_, paths) in face_set(dir)? {
        if out.len() >= max {
            break;
        }
        let s = stills(engine, &paths)?;
        let Some(p) = poses(&s, engine) else { continue };
        let (Some(l), Some(r)) = (p.left, p.right) else {
            continue;
        };
        let (Some(reg), Some(front), Some(left), Some(right)) =
            (p.registry_stand_in(&s), s.get(p.frontal), s.get(l), s.get(r))
        else {
            continue;
        };
        out.push(LiveSet {
            registry_photo: reg.bytes.clone(),
            frontal: front.bytes.clone(),
            left: left.bytes.clone(),
            right: right.bytes.clone(),
        });
    }
    Ok(out)
}
