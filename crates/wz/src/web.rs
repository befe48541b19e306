//! What the kiosk's and the wallet's local page services share: binding to
//! loopback only (they hold a key and answer without a login), the JSON
//! error every failed call gets, and the guided capture of live frames
//! (the page sends camera frames until one shows the asked step).

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{Context, bail};
use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use wz_proto::ResultCode;
use wz_proto::api::LivenessAction;

/// A failed call as the pages read it: a code and a message in both languages.
#[derive(Debug, Serialize)]
pub struct WebError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: String,
    pub zh: String,
    pub en: String,
    /// Seconds until a locked wallet may be tried again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Wrong wallet PINs left before the wallet wipes itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<u32>,
}

impl WebError {
    pub fn new(status: StatusCode, code: &str, zh: &str, en: &str) -> Self {
        Self {
            status,
            code: code.to_owned(),
            zh: zh.to_owned(),
            en: en.to_owned(),
            retry_after: None,
            tries_left: None,
        }
    }

    pub fn bad_request(zh: &str, en: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "request_malformed", zh, en)
    }

    /// A platform result code, with its own words.
    pub fn code(code: ResultCode) -> Self {
        let status = StatusCode::from_u16(code.http_status())
            .ok()
            .filter(|s| !s.is_success())
            .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        Self::new(status, code.name(), code.message_zh(), code.message_en())
    }

    /// A platform client fault: the platform's code if it gave one.
    pub fn client(e: &wz_client::ClientError) -> Self {
        match e.code() {
            Some(code) => Self::code(code),
            None => Self::new(
                StatusCode::BAD_GATEWAY,
                "unavailable",
                "平台暂时无法访问，请稍后再试",
                "The platform cannot be reached; try again shortly",
            ),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

pub type WebResult<T> = Result<T, WebError>;

/// Binds `listen`, which must be a loopback address.
pub async fn bind_loopback(listen: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen}: give an address such as 127.0.0.1:8690"))?;
    if !addr.ip().is_loopback() {
        bail!("--listen {listen}: this service holds keys and has no login, so it listens on loopback only");
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {listen}"))
}

/// `/` serves `page`; `/assets/{name}` the embedded files.
pub fn page_router<S: Clone + Send + Sync + 'static>(page: &'static str) -> Router<S> {
    Router::new()
        .route("/", get(move || async move { wz_web::serve(page) }))
        .route("/assets/{name}", get(wz_web::serve_asset))
}

/// How long a capture may take before it is dropped.
const CAPTURE_TTL_SECS: u64 = 300;

struct Capture {
    actions: Vec<LivenessAction>,
    frames: Vec<Option<Vec<u8>>>,
    started: u64,
}

/// Live captures in progress, by challenge id: the frame kept for each step
/// (0: facing the camera, then one per asked action).
#[derive(Default)]
pub struct Captures(Mutex<HashMap<String, Capture>>);

impl core::fmt::Debug for Captures {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Captures(<frames>)")
    }
}

/// Answer of a pose check.
#[derive(Debug, Serialize)]
pub struct PoseAnswer {
    /// The frame shows the step and was kept.
    pub ok: bool,
    /// The step the frame was checked for: `face_front` or the action's name.
    pub hint: &'static str,
}

impl Captures {
    /// Starts a capture for a challenge.
    pub fn start(&self, challenge_id: &str, actions: Vec<LivenessAction>) {
        if let Ok(mut m) = self.0.lock() {
            let now = crate::env::now();
            m.retain(|_, c| now.saturating_sub(c.started) < CAPTURE_TTL_SECS);
            let frames = vec![None; actions.len() + 1];
            m.insert(
                challenge_id.to_owned(),
                Capture {
                    actions,
                    frames,
                    started: now,
                },
            );
        }
    }

    /// The step `step` of a capture: `None` for facing the camera.
    pub fn step(&self, challenge_id: &str, step: usize) -> WebResult<Option<LivenessAction>> {
        let m = self.0.lock().map_err(|_| poisoned())?;
        let c = m.get(challenge_id).ok_or_else(unknown_capture)?;
        match step {
            0 => Ok(None),
            n => c
                .actions
                .get(n - 1)
                .copied()
                .map(Some)
                .ok_or_else(|| WebError::bad_request("步骤无效", "no such capture step")),
        }
    }

    /// Keeps `frame` for `step`.
    pub fn keep(&self, challenge_id: &str, step: usize, frame: Vec<u8>) -> WebResult<()> {
        let mut m = self.0.lock().map_err(|_| poisoned())?;
        let c = m.get_mut(challenge_id).ok_or_else(unknown_capture)?;
        let slot = c
            .frames
            .get_mut(step)
            .ok_or_else(|| WebError::bad_request("步骤无效", "no such capture step"))?;
        *slot = Some(frame);
        Ok(())
    }

    /// Every step's frame, in order, ending the capture; an error if a step has none.
    pub fn take(&self, challenge_id: &str) -> WebResult<Vec<Vec<u8>>> {
        let mut m = self.0.lock().map_err(|_| poisoned())?;
        let c = m.remove(challenge_id).ok_or_else(unknown_capture)?;
        c.frames
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| WebError::bad_request("人脸采集未完成", "the face capture is not complete"))
    }
}

fn poisoned() -> WebError {
    WebError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "内部错误",
        "internal error",
    )
}

fn unknown_capture() -> WebError {
    WebError::bad_request("采集已过期，请重新开始", "this capture expired; start again")
}

/// Checks camera frames against the step a capture waits for, with the
/// face engine on this machine (pose only: the platform judges identity).
#[derive(Debug, Clone)]
pub struct PoseGuide {
    engine: wz_face::Engine,
}

impl PoseGuide {
    /// With the face models on this machine.
    pub fn load() -> anyhow::Result<Self> {
        Ok(Self {
            engine: wz_face::Engine::load(&wz_face::default_models_dir(), None)
                .context("loading the face models (run `wz models fetch`)")?,
        })
    }

    /// With an engine already loaded.
    #[must_use]
    pub fn from_engine(engine: wz_face::Engine) -> Self {
        Self { engine }
    }

    /// Whether `frame` shows `step`; run off the async threads.
    pub async fn check(&self, frame: Vec<u8>, step: Option<LivenessAction>) -> WebResult<(bool, Vec<u8>)> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || {
            let seen = engine.observe_photo(&frame).ok().flatten();
            let ok = seen
                .as_ref()
                .is_some_and(|o| wz_face::liveness::frame_shows(step, o, engine.liveness_rules()));
            (ok, frame)
        })
        .await
        .map_err(|_| poisoned())
    }
}

/// Runs one pose check for a capture step and keeps the frame when it fits.
pub async fn pose_step(
    guide: &PoseGuide,
    captures: &Captures,
    challenge_id: &str,
    step: usize,
    frame: Vec<u8>,
) -> WebResult<PoseAnswer> {
    if frame.is_empty() || frame.len() > 4 * 1024 * 1024 {
        return Err(WebError::bad_request(
            "图像无效",
            "the frame is empty or too large",
        ));
    }
    let want = captures.step(challenge_id, step)?;
    let (ok, frame) = guide.check(frame, want).await?;
    let hint = want.map_or("face_front", LivenessAction::name);
    if ok {
        captures.keep(challenge_id, step, frame)?;
    }
    Ok(PoseAnswer { ok, hint })
}
