//! `wz wallet serve`: the citizen wallet page over the same `wz-wallet`
//! library the phone app uses, served on loopback (the page stands in for
//! the phone's screens). The wallet is unlocked into this process's memory
//! with the wallet PIN and locked again on request or when the service stops.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use wz_proto::api::{ChallengePurpose, CredentialStatus, IdentityItems};
use wz_proto::{CredentialPin, IdNumber};
use wz_wallet::{FileKeystore, TlsSuites, Trust, Wallet, WalletError};

use crate::web::{Captures, PoseAnswer, PoseGuide, WebError, WebResult};

/// Where `wz wallet init` would point a new wallet.
#[derive(Debug, Clone)]
pub struct NewWalletPlatform {
    pub url: String,
    pub trust: Trust,
    pub suites: TlsSuites,
}

/// The wallet service's state.
#[derive(Debug)]
pub struct WalletService {
    path: PathBuf,
    platform: Option<NewWalletPlatform>,
    wallet: tokio::sync::Mutex<Option<Wallet<FileKeystore>>>,
    guide: Option<PoseGuide>,
    captures: Captures,
    /// Why the credential was removed from this device, once a sync found out.
    wiped: Mutex<Option<CredentialStatus>>,
    /// Challenges handed to the page, kept whole (the wallet needs their nonce).
    pending: Mutex<Vec<wz_proto::api::Challenge>>,
}

impl WalletService {
    /// The wallet at `path`; `platform` lets the page create it when absent;
    /// `guide` (the face models) lets the page capture live frames.
    pub fn new(path: PathBuf, platform: Option<NewWalletPlatform>, guide: Option<PoseGuide>) -> Self {
        Self {
            path,
            platform,
            wallet: tokio::sync::Mutex::new(None),
            guide,
            captures: Captures::default(),
            wiped: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
        }
    }
}

/// The wallet page's routes.
pub fn router(service: Arc<WalletService>) -> axum::Router {
    crate::web::page_router("wallet.html")
        .route("/api/state", get(state))
        .route("/api/init", post(init))
        .route("/api/unlock", post(unlock))
        .route("/api/lock", post(lock))
        .route("/api/card", get(card))
        .route("/api/qr", post(qr))
        .route("/api/history", get(history))
        .route("/api/suspend", post(suspend))
        .route("/api/sync", post(sync))
        .route("/api/pin", post(change_pin))
        .route("/api/challenge", post(challenge))
        .route("/api/pose", post(pose))
        .route("/api/enrol", post(enrol))
        .route("/api/resume", post(resume))
        .layer(axum::extract::DefaultBodyLimit::max(6 * 1024 * 1024))
        .with_state(service)
}

fn wallet_error(e: WalletError) -> WebError {
    match e {
        WalletError::WrongPin { left } => WebError {
            tries_left: Some(left),
            ..WebError::new(
                StatusCode::UNAUTHORIZED,
                "wrong_pin",
                "钱包密码错误",
                "Wrong wallet PIN",
            )
        },
        WalletError::Locked(secs) => WebError {
            retry_after: Some(secs),
            ..WebError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "wallet_locked",
                "密码错误次数过多，钱包已锁定",
                "Too many wrong PINs: the wallet is locked",
            )
        },
        WalletError::WipedAfterFailures => WebError::new(
            StatusCode::GONE,
            "wallet_wiped",
            "密码错误次数过多，钱包已清除，请重新申领网证",
            "Too many wrong PINs: the wallet was wiped; enrol again",
        ),
        WalletError::WeakPin => WebError::bad_request(
            "钱包密码须为6到64个字符",
            "The wallet PIN must be 6 to 64 characters",
        ),
        WalletError::NoWallet => WebError::new(
            StatusCode::NOT_FOUND,
            "no_wallet",
            "本机尚无钱包",
            "No wallet on this device yet",
        ),
        WalletError::NotEnrolled => WebError::new(
            StatusCode::CONFLICT,
            "not_enrolled",
            "本机尚未申领网证",
            "No credential on this device: enrol first",
        ),
        WalletError::FaceCheckRequired => WebError::new(
            StatusCode::FORBIDDEN,
            "face_lock_on",
            "此钱包开启了本机人脸锁，请在手机应用中出示",
            "This wallet has the face lock on: show the QR from the phone app",
        ),
        WalletError::Client(c) => WebError::client(&c),
        WalletError::Proto(p) => WebError::code(p.code),
        _ => WebError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "wallet_error",
            "钱包出错",
            "The wallet failed",
        ),
    }
}

fn locked() -> WebError {
    WebError::new(
        StatusCode::UNAUTHORIZED,
        "wallet_locked_out",
        "请先输入钱包密码解锁",
        "Unlock the wallet with its PIN first",
    )
}

#[derive(Debug, Serialize)]
struct StateView {
    exists: bool,
    unlocked: bool,
    enrolled: bool,
    can_create: bool,
    can_capture: bool,
    /// Why the credential left this device (`superseded`, `revoked`, `expired`).
    wiped: Option<&'static str>,
}

async fn state(State(s): State<Arc<WalletService>>) -> Json<StateView> {
    let w = s.wallet.lock().await;
    Json(StateView {
        exists: s.path.exists(),
        unlocked: w.is_some(),
        enrolled: w.as_ref().is_some_and(Wallet::is_enrolled),
        can_create: s.platform.is_some(),
        can_capture: s.guide.is_some(),
        wiped: s.wiped.lock().ok().and_then(|r| *r).map(CredentialStatus::name),
    })
}

#[derive(Debug, Deserialize)]
struct PinBody {
    pin: String,
}

async fn init(State(s): State<Arc<WalletService>>, Json(b): Json<PinBody>) -> WebResult<Json<StateView>> {
    let p = s
        .platform
        .clone()
        .ok_or_else(|| WebError::bad_request("未配置平台地址", "no platform URL given to create a wallet"))?;
    if s.path.exists() {
        return Err(wallet_error(WalletError::AlreadyExists));
    }
    if let Some(dir) = s.path.parent() {
        std::fs::create_dir_all(dir).map_err(|_| wallet_error(WalletError::Io(String::new())))?;
    }
    let w = Wallet::init_with_suites(FileKeystore::new(&s.path), &b.pin, &p.url, &p.trust, p.suites)
        .map_err(wallet_error)?;
    *s.wallet.lock().await = Some(w);
    Ok(state(State(s)).await)
}

async fn unlock(State(s): State<Arc<WalletService>>, Json(b): Json<PinBody>) -> WebResult<Json<StateView>> {
    let w = Wallet::unlock(FileKeystore::new(&s.path), &b.pin, crate::env::now()).map_err(wallet_error)?;
    *s.wallet.lock().await = Some(w);
    Ok(state(State(s)).await)
}

async fn lock(State(s): State<Arc<WalletService>>) -> Json<StateView> {
    *s.wallet.lock().await = None;
    state(State(s)).await
}

#[derive(Debug, Serialize)]
struct CardView {
    level: &'static str,
    masked_name: String,
    masked_id_number: String,
    not_before: u64,
    not_after: u64,
}

async fn card(State(s): State<Arc<WalletService>>) -> WebResult<Json<CardView>> {
    let guard = s.wallet.lock().await;
    let w = guard.as_ref().ok_or_else(locked)?;
    let sum = w.summary().map_err(wallet_error)?;
    let (masked_name, masked_id_number) = sum
        .holder
        .map(|h| (h.masked_name, h.masked_id_number))
        .unwrap_or_default();
    Ok(Json(CardView {
        level: sum.level.name(),
        masked_name,
        masked_id_number,
        not_before: sum.not_before,
        not_after: sum.not_after,
    }))
}

#[derive(Debug, Serialize)]
struct QrView {
    svg: String,
    /// Seconds the page shows it before asking for a new one.
    refresh_secs: u64,
}

async fn qr(State(s): State<Arc<WalletService>>) -> WebResult<Json<QrView>> {
    let mut guard = s.wallet.lock().await;
    let w = guard.as_mut().ok_or_else(locked)?;
    let text = w.qr().await.map_err(wallet_error)?;
    let symbol = wz_wallet::render::symbol(&text).map_err(wallet_error)?;
    Ok(Json(QrView {
        svg: wz_wallet::render::to_svg(&symbol),
        refresh_secs: wz_wallet::QR_REFRESH_SECS,
    }))
}

#[derive(Debug, Serialize)]
struct HistoryLine {
    time: u64,
    rp_name: String,
    mode: String,
    code: &'static str,
    zh: &'static str,
    en: &'static str,
}

async fn history(State(s): State<Arc<WalletService>>) -> WebResult<Json<Vec<HistoryLine>>> {
    let guard = s.wallet.lock().await;
    let w = guard.as_ref().ok_or_else(locked)?;
    let entries = w.history(50).await.map_err(wallet_error)?;
    Ok(Json(
        entries
            .into_iter()
            .map(|h| HistoryLine {
                time: h.time,
                rp_name: h.rp_name,
                mode: h.mode.to_string(),
                code: h.result.name(),
                zh: h.result.message_zh(),
                en: h.result.message_en(),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize)]
struct StatusView {
    status: &'static str,
    wiped: bool,
}

async fn suspend(State(s): State<Arc<WalletService>>) -> WebResult<Json<StatusView>> {
    let mut guard = s.wallet.lock().await;
    let w = guard.as_mut().ok_or_else(locked)?;
    let st = w.suspend().await.map_err(wallet_error)?;
    Ok(Json(StatusView {
        status: st.name(),
        wiped: false,
    }))
}

async fn sync(State(s): State<Arc<WalletService>>) -> WebResult<Json<StatusView>> {
    let mut guard = s.wallet.lock().await;
    let w = guard.as_mut().ok_or_else(locked)?;
    let out = w.sync().await.map_err(wallet_error)?;
    if out.wiped
        && let Ok(mut r) = s.wiped.lock()
    {
        *r = Some(out.status);
    }
    Ok(Json(StatusView {
        status: out.status.name(),
        wiped: out.wiped,
    }))
}

#[derive(Debug, Deserialize)]
struct NewPinBody {
    new_pin: String,
}

async fn change_pin(
    State(s): State<Arc<WalletService>>,
    Json(b): Json<NewPinBody>,
) -> WebResult<Json<StateView>> {
    {
        let mut guard = s.wallet.lock().await;
        let w = guard.as_mut().ok_or_else(locked)?;
        w.change_pin(&b.new_pin).map_err(wallet_error)?;
    }
    Ok(state(State(s)).await)
}

#[derive(Debug, Deserialize)]
struct ChallengeBody {
    /// `enrol_light` or `resume`.
    purpose: String,
}

#[derive(Debug, Serialize)]
struct ChallengeView {
    challenge_id: String,
    actions: Vec<&'static str>,
}

async fn challenge(
    State(s): State<Arc<WalletService>>,
    Json(b): Json<ChallengeBody>,
) -> WebResult<Json<ChallengeView>> {
    if s.guide.is_none() {
        return Err(WebError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_camera_check",
            "本机未安装人脸模型",
            "The face models are not installed here (run `wz models fetch`)",
        ));
    }
    let purpose = match b.purpose.as_str() {
        "enrol_light" => ChallengePurpose::EnrolLight,
        "resume" => ChallengePurpose::Resume,
        _ => {
            return Err(WebError::bad_request(
                "用途无效",
                "purpose must be enrol_light or resume",
            ));
        }
    };
    let guard = s.wallet.lock().await;
    let w = guard.as_ref().ok_or_else(locked)?;
    let ch = w.challenge(purpose).await.map_err(wallet_error)?;
    s.captures.start(&ch.challenge_id, ch.actions.clone());
    let view = ChallengeView {
        challenge_id: ch.challenge_id.clone(),
        actions: ch
            .actions
            .iter()
            .copied()
            .map(wz_proto::api::LivenessAction::name)
            .collect(),
    };
    if let Ok(mut pending) = s.pending.lock() {
        pending.retain(|c| c.expires_at > crate::env::now());
        pending.push(ch);
    }
    Ok(Json(view))
}

fn take_challenge(s: &WalletService, id: &str) -> WebResult<wz_proto::api::Challenge> {
    let mut pending = s
        .pending
        .lock()
        .map_err(|_| WebError::bad_request("内部错误", "internal error"))?;
    let i = pending.iter().position(|c| c.challenge_id == id).ok_or_else(|| {
        WebError::bad_request("采集已过期，请重新开始", "this capture expired; start again")
    })?;
    Ok(pending.swap_remove(i))
}

#[derive(Debug, Deserialize)]
struct PoseQuery {
    challenge: String,
    step: usize,
}

async fn pose(
    State(s): State<Arc<WalletService>>,
    Query(q): Query<PoseQuery>,
    body: Bytes,
) -> WebResult<Json<PoseAnswer>> {
    let guide = s.guide.as_ref().ok_or_else(|| {
        WebError::bad_request("本机未安装人脸模型", "the face models are not installed here")
    })?;
    Ok(Json(
        crate::web::pose_step(guide, &s.captures, &q.challenge, q.step, body.to_vec()).await?,
    ))
}

#[derive(Debug, Deserialize)]
struct EnrolBody {
    name: String,
    id_number: String,
    valid_from: String,
    /// YYYY-MM-DD, or empty / 长期 for a long-term card.
    valid_to: String,
    challenge_id: String,
}

#[derive(Debug, Serialize)]
struct Enrolled {
    level: &'static str,
}

async fn enrol(State(s): State<Arc<WalletService>>, Json(b): Json<EnrolBody>) -> WebResult<Json<Enrolled>> {
    let bad_date = || WebError::bad_request("日期格式应为 YYYY-MM-DD", "dates are YYYY-MM-DD");
    let items = IdentityItems {
        name: b.name.trim().to_owned(),
        id_number: IdNumber::parse(b.id_number.trim())
            .map_err(|_| WebError::bad_request("身份证号码格式不正确", "the ID number is not valid"))?,
        card_valid_from: Some(b.valid_from.trim().parse().map_err(|_| bad_date())?),
        card_valid_to: match b.valid_to.trim() {
            "" | "长期" => None,
            d => Some(d.parse().map_err(|_| bad_date())?),
        },
    };
    let ch = take_challenge(&s, &b.challenge_id)?;
    let frames = s.captures.take(&b.challenge_id)?;
    let mut guard = s.wallet.lock().await;
    let w = guard.as_mut().ok_or_else(locked)?;
    let level = w.enrol_light(&ch, &items, frames).await.map_err(wallet_error)?;
    if let Ok(mut r) = s.wiped.lock() {
        *r = None;
    }
    Ok(Json(Enrolled { level: level.name() }))
}

#[derive(Debug, Deserialize)]
struct ResumeBody {
    challenge_id: String,
    /// The 8-digit credential PIN, for an upgraded credential.
    pin: Option<String>,
}

async fn resume(
    State(s): State<Arc<WalletService>>,
    Json(b): Json<ResumeBody>,
) -> WebResult<Json<StatusView>> {
    let pin = b
        .pin
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(CredentialPin::parse)
        .transpose()
        .map_err(|_| WebError::bad_request("网证口令须为8位数字", "the credential PIN must be 8 digits"))?;
    let ch = take_challenge(&s, &b.challenge_id)?;
    let frames = s.captures.take(&b.challenge_id)?;
    let mut guard = s.wallet.lock().await;
    let w = guard.as_mut().ok_or_else(locked)?;
    let st = w.resume(&ch, frames, pin.as_ref()).await.map_err(wallet_error)?;
    Ok(Json(StatusView {
        status: st.name(),
        wiped: false,
    }))
}

/// Serves the wallet page on `listener`.
pub async fn serve(service: Arc<WalletService>, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    axum::serve(listener, router(service)).await?;
    Ok(())
}
