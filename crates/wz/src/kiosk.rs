//! `wz terminal serve`: the verifier kiosk. A local service on loopback
//! holds the RP key (it never reaches the browser) and serves the kiosk
//! page; the page shows the camera, sends frames here, and this service
//! reads the QR, guides the liveness capture and verifies exactly as
//! [`Terminal::verify`] does. It keeps no personal data: only today's count.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use wz_proto::api::{ChallengePurpose, ReleasedAttributes};
use wz_proto::{AuthMode, CredentialPin, Level};
use wz_terminal::presets::Preset;
use wz_terminal::{Extras, Terminal, TerminalError};

use crate::web::{Captures, PoseAnswer, PoseGuide, WebError, WebResult};

/// Today's checks (China Standard Time days).
#[derive(Debug, Default)]
struct Tally {
    day: u64,
    checks: u64,
    passed: u64,
}

/// The kiosk service's state.
#[derive(Debug)]
pub struct Kiosk {
    terminal: Terminal,
    preset: &'static Preset,
    mode: AuthMode,
    guide: Option<PoseGuide>,
    captures: Captures,
    tally: Mutex<Tally>,
}

impl Kiosk {
    /// A kiosk for `preset` verifying with `mode` (one of the preset's);
    /// face modes need the face models on this machine for the guided capture.
    pub fn new(terminal: Terminal, preset: &'static Preset, mode: AuthMode) -> anyhow::Result<Self> {
        let guide = if mode.contains(AuthMode::FACE) {
            Some(PoseGuide::load()?)
        } else {
            None
        };
        Ok(Self::with_guide(terminal, preset, mode, guide))
    }

    /// A kiosk with a face engine already loaded (needed for face modes).
    #[must_use]
    pub fn with_guide(
        terminal: Terminal,
        preset: &'static Preset,
        mode: AuthMode,
        guide: Option<PoseGuide>,
    ) -> Self {
        Self {
            terminal,
            preset,
            mode,
            guide: guide.filter(|_| mode.contains(AuthMode::FACE)),
            captures: Captures::default(),
            tally: Mutex::new(Tally::default()),
        }
    }

    fn count(&self, passed: bool) -> (u64, u64) {
        let day = (crate::env::now() + 8 * 3600) / 86_400;
        let Ok(mut t) = self.tally.lock() else {
            return (0, 0);
        };
        if t.day != day {
            *t = Tally {
                day,
                ..Tally::default()
            };
        }
        t.checks += 1;
        t.passed += u64::from(passed);
        (t.checks, t.passed)
    }

    fn today(&self) -> (u64, u64) {
        let day = (crate::env::now() + 8 * 3600) / 86_400;
        self.tally
            .lock()
            .map(|t| {
                if t.day == day {
                    (t.checks, t.passed)
                } else {
                    (0, 0)
                }
            })
            .unwrap_or((0, 0))
    }
}

/// The kiosk's routes (page, assets, API).
pub fn router(kiosk: Arc<Kiosk>) -> axum::Router {
    crate::web::page_router("kiosk.html")
        .route("/api/kiosk", get(info))
        .route("/api/scan", post(scan))
        .route("/api/challenge", post(challenge))
        .route("/api/pose", post(pose))
        .route("/api/verify", post(verify))
        .layer(axum::extract::DefaultBodyLimit::max(6 * 1024 * 1024))
        .with_state(kiosk)
}

#[derive(Debug, Serialize)]
struct KioskInfo {
    rp_id: String,
    preset: &'static str,
    description: &'static str,
    mode: String,
    needs_face: bool,
    needs_pin: bool,
    attributes: Vec<&'static str>,
    checks_today: u64,
    passed_today: u64,
}

async fn info(State(k): State<Arc<Kiosk>>) -> Json<KioskInfo> {
    let (checks_today, passed_today) = k.today();
    Json(KioskInfo {
        rp_id: k.terminal.rp_id().to_owned(),
        preset: k.preset.name,
        description: k.preset.description,
        mode: k.mode.to_string(),
        needs_face: k.mode.contains(AuthMode::FACE),
        needs_pin: k.mode.contains(AuthMode::PIN),
        attributes: k.preset.attributes.iter().map(|a| a.name()).collect(),
        checks_today,
        passed_today,
    })
}

#[derive(Debug, Serialize)]
struct Scanned {
    /// A wangzheng QR's text.
    qr: Option<String>,
    /// A QR was seen, but not a wangzheng one (the page says so).
    foreign: bool,
}

/// One camera frame → the QR text in it, if any.
async fn scan(body: Bytes) -> WebResult<Json<Scanned>> {
    if body.len() > 4 * 1024 * 1024 {
        return Err(WebError::bad_request("图像过大", "the frame is too large"));
    }
    let text = tokio::task::spawn_blocking(move || wz_terminal::scan::scan_image(&body).ok())
        .await
        .ok()
        .flatten();
    let foreign = text
        .as_ref()
        .is_some_and(|t| !t.starts_with(wz_proto::qr::QR_PREFIX));
    Ok(Json(Scanned {
        qr: text.filter(|_| !foreign),
        foreign,
    }))
}

#[derive(Debug, Serialize)]
struct ChallengeView {
    challenge_id: String,
    actions: Vec<&'static str>,
}

async fn challenge(State(k): State<Arc<Kiosk>>) -> WebResult<Json<ChallengeView>> {
    if k.guide.is_none() {
        return Err(WebError::bad_request("此模式无需人脸", "this mode takes no face"));
    }
    let ch = k
        .terminal
        .challenge(ChallengePurpose::Verify)
        .await
        .map_err(|e| terminal_error(&e))?;
    k.captures.start(&ch.challenge_id, ch.actions.clone());
    Ok(Json(ChallengeView {
        challenge_id: ch.challenge_id,
        actions: ch
            .actions
            .into_iter()
            .map(wz_proto::api::LivenessAction::name)
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
struct PoseQuery {
    challenge: String,
    step: usize,
}

async fn pose(
    State(k): State<Arc<Kiosk>>,
    Query(q): Query<PoseQuery>,
    body: Bytes,
) -> WebResult<Json<PoseAnswer>> {
    let guide = k
        .guide
        .as_ref()
        .ok_or_else(|| WebError::bad_request("此模式无需人脸", "this mode takes no face"))?;
    Ok(Json(
        crate::web::pose_step(guide, &k.captures, &q.challenge, q.step, body.to_vec()).await?,
    ))
}

#[derive(Debug, Deserialize)]
struct VerifyBody {
    qr: String,
    challenge_id: Option<String>,
    pin: Option<String>,
}

/// What the verdict screen shows: only what this RP is entitled to.
#[derive(Debug, Serialize)]
struct VerdictView {
    passed: bool,
    code: &'static str,
    zh: &'static str,
    en: &'static str,
    level: Option<&'static str>,
    pseudonym: Option<String>,
    attributes: Vec<(&'static str, String)>,
    serial: String,
    checks_today: u64,
    passed_today: u64,
}

fn terminal_error(e: &TerminalError) -> WebError {
    match e {
        TerminalError::Client(c) => WebError::client(c),
        TerminalError::Proto(p) => WebError::code(p.code),
        _ => WebError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "unavailable",
            "核验未能完成，请重试",
            "The check could not be completed; try again",
        ),
    }
}

/// Released attributes as label keys and display values.
fn shown(a: &ReleasedAttributes) -> Vec<(&'static str, String)> {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let mut out = Vec::new();
    if let Some(v) = &a.name {
        out.push(("name", v.clone()));
    }
    if let Some(v) = &a.id_number {
        out.push(("id_number", v.as_str().to_owned()));
    }
    if let Some(v) = &a.sex {
        out.push(("sex", format!("{v:?}").to_lowercase()));
    }
    if let Some(v) = &a.birth_date {
        out.push(("birth_date", v.to_string()));
    }
    if let Some(v) = a.age_over_18 {
        out.push(("age_over_18", yes_no(v)));
    }
    if let Some(v) = a.age_over_60 {
        out.push(("age_over_60", yes_no(v)));
    }
    if let Some(v) = &a.address {
        out.push(("address", v.clone()));
    }
    out
}

async fn verify(State(k): State<Arc<Kiosk>>, Json(b): Json<VerifyBody>) -> WebResult<Json<VerdictView>> {
    let qr = b.qr.trim().to_owned();
    let mut extras = Extras::default();
    if k.mode.contains(AuthMode::FACE) {
        let id = b
            .challenge_id
            .ok_or_else(|| WebError::bad_request("缺少人脸采集", "the face capture is missing"))?;
        extras.face_frames = k.captures.take(&id)?;
        extras.challenge_id = Some(id);
    }
    if k.mode.contains(AuthMode::PIN) {
        let pin = b
            .pin
            .as_deref()
            .ok_or_else(|| WebError::bad_request("请输入8位网证口令", "enter the 8-digit credential PIN"))
            .and_then(|p| {
                CredentialPin::parse(p)
                    .map_err(|_| WebError::bad_request("网证口令须为8位数字", "the PIN must be 8 digits"))
            })?;
        extras.pin_block = Some(
            k.terminal
                .seal_pin_for_qr(&qr, &pin)
                .await
                .map_err(|e| terminal_error(&e))?,
        );
    }
    let v = match k.terminal.verify(k.mode, Some(&qr), extras).await {
        Ok(v) => v,
        Err(e) => {
            k.count(false);
            return Err(terminal_error(&e));
        }
    };
    let passed = v.passed();
    let (checks_today, passed_today) = k.count(passed);
    let code = v.verdict.result;
    Ok(Json(VerdictView {
        passed,
        code: code.name(),
        zh: code.message_zh(),
        en: code.message_en(),
        level: v.verdict.level.map(Level::name),
        pseudonym: v.verdict.pseudonym.clone(),
        attributes: v.attributes.as_ref().map(shown).unwrap_or_default(),
        serial: v.verdict.serial.clone(),
        checks_today,
        passed_today,
    }))
}

/// Serves the kiosk on `listener` until Ctrl-C (or forever inside the demo).
pub async fn serve(kiosk: Arc<Kiosk>, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    axum::serve(listener, router(kiosk)).await?;
    Ok(())
}
