//! The HTTP API (axum). Handlers decode, call a [`Platform`] method and
//! encode; errors are RFC 7807 problems with the shared result code.
//! This module is the edge: it alone reads the clock.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Extension, MatchedPath, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use wz_crypto::Sm2PublicKey;
use wz_proto::api::{
    Attribute, Challenge, EnrolResponse, HistoryEntry, KeysResponse, LightEnrolRequest, Problem,
    ResumeRequest, RevokeCitizenRequest, RevokedCredentials, SyncResponse, UpgradedEnrolRequest,
    VerifyRequest, VerifyVerdict,
};
use wz_proto::{AuthMode, RequestAuth, RequestTarget, ResultCode};

use wz_store::RpRole;

use crate::{Platform, PlatformError, RpRegistration, SignedReply};

/// Seconds and milliseconds since the epoch: the one clock read.
#[allow(clippy::disallowed_methods)]
fn now() -> (u64, u64) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[allow(clippy::disallowed_methods)]
fn started() -> std::time::Instant {
    std::time::Instant::now()
}

/// An error as the client sees it.
#[derive(Debug)]
pub struct ApiError(PlatformError);

impl<E: Into<PlatformError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut problem = Problem::new(self.0.code, Some(self.0.reason));
        // Codes that are ordinary verdicts inside a signed verification
        // (face mismatch, expired QR, …) end other requests as 422.
        if problem.status == 200 {
            problem.status = 422;
        }
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response();
        // For the access log: the code, never the reason.
        resp.extensions_mut().insert(self.0.code);
        resp
    }
}

/// The client's address as the limits and the access log see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The peer, or, when the peer is a trusted proxy, the last address in
/// `X-Forwarded-For` that is not itself a trusted proxy (earlier entries
/// are the client's to write, so they are never believed).
#[must_use]
pub fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let Some(peer) = peer else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(a) if trusted.contains(&a) => {}
            Ok(a) => return a,
            // A hop we cannot read: stop at the proxy rather than guess.
            Err(_) => return peer,
        }
    }
    peer
}

/// One access-log line per request (method, route template, status, result
/// code, client address, request id, milliseconds: no path values, no
/// query, no body), and the client address for the handlers.
async fn access_log(
    State(p): State<Arc<Platform>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let t = started();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = client_address(peer, req.headers(), &p.config().trusted_proxies);
    req.extensions_mut().insert(ClientAddr(client));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().clone();
    let request_id = hex::encode(wz_crypto::random_array::<8>().unwrap_or_default());
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let code = resp.extensions().get::<ResultCode>().map_or("", |c| c.name());
    tracing::info!(
        target: "wz::access",
        method = %method,
        route,
        status = resp.status().as_u16(),
        code,
        client = %client,
        request_id,
        ms = t.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

type ApiResult<T> = Result<T, ApiError>;

fn body_or_problem(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            PlatformError::new(ResultCode::BodyTooLarge, "request body is larger than allowed").into()
        } else {
            PlatformError::new(ResultCode::RequestMalformed, "request body could not be read").into()
        }
    })
}

fn json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|_| {
        PlatformError::new(
            ResultCode::RequestMalformed,
            "body is not valid JSON for this request",
        )
        .into()
    })
}

fn signed(reply: SignedReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], reply.body).into_response();
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

fn request_auth(headers: &HeaderMap) -> ApiResult<RequestAuth> {
    Ok(RequestAuth::from_headers(|name| {
        headers.get(name).and_then(|v| v.to_str().ok())
    })?)
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |p| p.as_str())
}

/// What an SM2-signed request's signature covers.
fn signed_target<'a>(method: &'a Method, uri: &'a Uri, body: &'a [u8]) -> RequestTarget<'a> {
    RequestTarget {
        method: method.as_str(),
        path: path_and_query(uri),
        body,
    }
}

/// Headers of an SM2-signed request (RP requests; wallet requests use the
/// credential id as `x-wz-rp-id` and the device key).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // documents headers read by `RequestAuth::from_headers`
struct SignedRequestHeaders {
    /// Relying party id (or credential id for wallet calls).
    #[param(rename = "x-wz-rp-id")]
    rp_id: String,
    /// Id of the signing key, 16 hex digits.
    #[param(rename = "x-wz-key-id")]
    key_id: String,
    /// Unix seconds.
    #[param(rename = "x-wz-timestamp")]
    timestamp: String,
    /// 16-64 lower-case hex digits, never reused.
    #[param(rename = "x-wz-nonce")]
    nonce: String,
    /// SM2 signature (r|s, 128 hex digits) over the canonical request text.
    #[param(rename = "x-wz-signature")]
    signature: String,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "wangzheng platform API", description = "Issuance and verification of the online ID credential (网证). Every RP call is SM2-signed; verdicts are signed by the platform."),
    paths(
        healthz, readyz, metrics, openapi_json, keys, challenge, enrol_light, enrol_upgraded, verify,
        wallet_status, wallet_history, wallet_suspend, wallet_resume, admin_revoke_citizen, admin_register_rp, admin_list_rps, admin_add_rp_key,
        admin_revoke_rp, admin_revoke_rp_key, admin_rotate_key, admin_audit_verify
    ),
    components(schemas(Problem, wz_proto::api::ReleasedAttributes, wz_proto::api::IdentityItems)),
    modifiers(&OperatorToken)
)]
struct ApiDoc;

struct OperatorToken;

impl utoipa::Modify for OperatorToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of this API.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

/// Every route the router serves, as (method, path): kept beside the router
/// and checked against the OpenAPI document by a test.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/openapi.json"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/keys"),
    ("post", "/v1/challenges"),
    ("post", "/v1/enrol/light"),
    ("post", "/v1/enrol/upgraded"),
    ("post", "/v1/verify"),
    ("post", "/v1/wallet/status"),
    ("post", "/v1/wallet/history"),
    ("post", "/v1/wallet/suspend"),
    ("post", "/v1/wallet/resume"),
    ("post", "/v1/admin/citizens/revoke"),
    ("post", "/v1/admin/rps"),
    ("get", "/v1/admin/rps"),
    ("post", "/v1/admin/rps/{rp_id}/keys"),
    ("post", "/v1/admin/rps/{rp_id}/revoke"),
    ("post", "/v1/admin/rp-keys/{key_id}/revoke"),
    ("post", "/v1/admin/platform-keys/{usage}/rotate"),
    ("get", "/v1/admin/audit/verify"),
];

/// Builds the router over a platform.
pub fn router(platform: Arc<Platform>) -> Router {
    let limit = platform.config().max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi_json))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/keys", get(keys))
        .route("/v1/challenges", post(challenge))
        .route("/v1/enrol/light", post(enrol_light))
        .route("/v1/enrol/upgraded", post(enrol_upgraded))
        .route("/v1/verify", post(verify))
        .route("/v1/wallet/status", post(wallet_status))
        .route("/v1/wallet/history", post(wallet_history))
        .route("/v1/wallet/suspend", post(wallet_suspend))
        .route("/v1/wallet/resume", post(wallet_resume))
        .route("/v1/admin/citizens/revoke", post(admin_revoke_citizen))
        .route("/v1/admin/rps", post(admin_register_rp).get(admin_list_rps))
        .route("/v1/admin/rps/{rp_id}/keys", post(admin_add_rp_key))
        .route("/v1/admin/rps/{rp_id}/revoke", post(admin_revoke_rp))
        .route("/v1/admin/rp-keys/{key_id}/revoke", post(admin_revoke_rp_key))
        .route("/v1/admin/platform-keys/{usage}/rotate", post(admin_rotate_key))
        .route("/v1/admin/audit/verify", get(admin_audit_verify))
        .route_layer(axum::middleware::from_fn_with_state(Arc::clone(&platform), access_log))
        .fallback(|method: Method| async move {
            tracing::info!(target: "wz::access", method = %method, route = "unmatched", status = 400, "request");
            ApiError(PlatformError::new(ResultCode::RequestMalformed, "no such route"))
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(platform)
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "process is up")))]
async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "this document")))]
async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi().to_pretty_json().unwrap_or_default(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "database reachable"), (status = 503, body = Problem)))]
async fn readyz(State(p): State<Arc<Platform>>) -> Response {
    match p.store().ping().await {
        Ok(()) => "ready".into_response(),
        Err(_) => ApiError(PlatformError::new(
            ResultCode::Unavailable,
            "database is not reachable",
        ))
        .into_response(),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format; labels are codes, modes and routes only")))]
async fn metrics(State(p): State<Arc<Platform>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        p.metrics.render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = KeysResponse)))]
async fn keys(State(p): State<Arc<Platform>>) -> Response {
    Json(p.keys_response(now().0)).into_response()
}

/// `POST /v1/challenges` body: `enrol-light`, `enrol-upgraded` or `verify` (before a face check).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ChallengeRequest {
    purpose: String,
}

#[utoipa::path(post, path = "/v1/challenges", tag = "enrolment", request_body = ChallengeRequest, responses((status = 200, body = Challenge), (status = 400, body = Problem)))]
async fn challenge(
    State(p): State<Arc<Platform>>,
    Extension(client): Extension<ClientAddr>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: ChallengeRequest = json(&body_or_problem(body)?)?;
    Ok(Json(p.new_challenge(&req.purpose, client.0, now().1).await?).into_response())
}

#[utoipa::path(post, path = "/v1/enrol/light", tag = "enrolment", request_body = LightEnrolRequest, responses((status = 200, body = EnrolResponse), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn enrol_light(
    State(p): State<Arc<Platform>>,
    Extension(client): Extension<ClientAddr>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let t = started();
    let req: LightEnrolRequest = json(&body_or_problem(body)?)?;
    let r = p.enrol_light(&req, client.0, now().1).await;
    p.metrics
        .latency("/v1/enrol/light", t.elapsed().as_secs_f64() * 1000.0);
    Ok(Json(r?).into_response())
}

#[utoipa::path(post, path = "/v1/enrol/upgraded", tag = "enrolment", request_body = UpgradedEnrolRequest, params(SignedRequestHeaders), responses((status = 200, body = EnrolResponse, description = "signed by the platform"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn enrol_upgraded(
    State(p): State<Arc<Platform>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let t = started();
    let body = body_or_problem(body)?;
    let auth = request_auth(&headers)?;
    let target = signed_target(&method, &uri, &body);
    let r = p.enrol_upgraded_signed(&auth, &target, now().0).await;
    p.metrics
        .latency("/v1/enrol/upgraded", t.elapsed().as_secs_f64() * 1000.0);
    Ok(signed(r?))
}

#[utoipa::path(post, path = "/v1/verify", tag = "verification", request_body = VerifyRequest, params(SignedRequestHeaders), responses((status = 200, body = VerifyVerdict, description = "signed verdict, pass or fail"), (status = 400, body = Problem), (status = 401, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 429, body = Problem)))]
async fn verify(
    State(p): State<Arc<Platform>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let t = started();
    let body = body_or_problem(body)?;
    let auth = request_auth(&headers)?;
    let target = signed_target(&method, &uri, &body);
    let (secs, ms) = now();
    let r = p.verify(&auth, &target, secs, ms).await;
    p.metrics
        .latency("/v1/verify", t.elapsed().as_secs_f64() * 1000.0);
    Ok(signed(r?))
}

async fn wallet_cred(
    p: &Platform,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<(wz_store::CredentialRow, RequestAuth)> {
    let auth = request_auth(headers)?;
    let target = signed_target(method, uri, body);
    Ok((p.authenticate_wallet(&auth, &target, now().0).await?, auth))
}

/// A wallet reply signed by the platform and bound to the request nonce, so
/// that nobody in between can tell a wallet to wipe itself.
fn signed_wallet_reply(p: &Platform, auth: &RequestAuth, value: &impl Serialize) -> ApiResult<Response> {
    let body = serde_json::to_vec(value)
        .map_err(|_| PlatformError::new(ResultCode::InternalError, "reply encoding"))?;
    Ok(signed(p.sign_reply(
        200,
        body,
        &auth.rp_id,
        &auth.nonce,
        now().0,
    )?))
}

#[utoipa::path(post, path = "/v1/wallet/status", tag = "wallet", params(SignedRequestHeaders), responses((status = 200, body = SyncResponse, description = "signed by the platform"), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn wallet_status(
    State(p): State<Arc<Platform>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_or_problem(body)?;
    let (cred, auth) = wallet_cred(&p, &method, &uri, &headers, &body).await?;
    signed_wallet_reply(&p, &auth, &p.wallet_status(&cred, now().0))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct HistoryQuery {
    limit: Option<u32>,
}

#[utoipa::path(post, path = "/v1/wallet/history", tag = "wallet", params(SignedRequestHeaders, HistoryQuery), responses((status = 200, body = Vec<HistoryEntry>, description = "signed by the platform"), (status = 422, body = Problem)))]
async fn wallet_history(
    State(p): State<Arc<Platform>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_or_problem(body)?;
    let (cred, auth) = wallet_cred(&p, &method, &uri, &headers, &body).await?;
    signed_wallet_reply(&p, &auth, &p.wallet_history(&cred, q.limit.unwrap_or(100)).await?)
}

#[utoipa::path(post, path = "/v1/wallet/suspend", tag = "wallet", params(SignedRequestHeaders), responses((status = 200, body = SyncResponse, description = "signed by the platform"), (status = 422, body = Problem)))]
async fn wallet_suspend(
    State(p): State<Arc<Platform>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_or_problem(body)?;
    let (cred, auth) = wallet_cred(&p, &method, &uri, &headers, &body).await?;
    signed_wallet_reply(&p, &auth, &p.wallet_suspend(&cred, now().0).await?)
}

#[utoipa::path(post, path = "/v1/wallet/resume", tag = "wallet", params(SignedRequestHeaders), request_body = ResumeRequest, responses((status = 200, body = SyncResponse, description = "signed by the platform"), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn wallet_resume(
    State(p): State<Arc<Platform>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_or_problem(body)?;
    let (cred, auth) = wallet_cred(&p, &method, &uri, &headers, &body).await?;
    let req: ResumeRequest = json(&body)?;
    signed_wallet_reply(&p, &auth, &p.wallet_resume(&cred, &req, now().0).await?)
}

// ------------------------------------------------------------------- admin

/// A registered key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyRef {
    pub rp_id: Option<String>,
    pub key_id: String,
}

/// A rotated platform key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rotated {
    pub usage: String,
    pub key_id: String,
}

/// An RP as the admin API lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RpSummary {
    pub rp_id: String,
    pub name: String,
    pub role: String,
    pub modes: Vec<AuthMode>,
    pub attributes: Vec<Attribute>,
    pub rate_per_s: u32,
    pub active: bool,
}

/// The audit chain's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditStatus {
    pub entries: u64,
    pub intact: bool,
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    pub first_break_seq: Option<u64>,
    pub first_break: Option<String>,
}

fn admin(p: &Platform, headers: &HeaderMap) -> ApiResult<()> {
    let denied = || {
        ApiError(PlatformError::new(
            ResultCode::Unauthorized,
            "operator token missing or wrong",
        ))
    };
    let Some(token) = p.config().admin_token.as_ref() else {
        return Err(denied());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            p.security_event(ResultCode::Unauthorized, None);
            denied()
        })?;
    if token.matches(given) {
        Ok(())
    } else {
        p.security_event(ResultCode::Unauthorized, None);
        Err(denied())
    }
}

/// `POST /v1/admin/rps` body.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisterRpBody {
    pub rp_id: String,
    pub name: String,
    /// `verifier` or `trusted_terminal`.
    pub role: String,
    /// SEC1 public key, hex.
    pub public_key: String,
    pub modes: Vec<AuthMode>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    pub rate_per_s: u32,
}

fn parse_key(hex_key: &str) -> ApiResult<Sm2PublicKey> {
    hex::decode(hex_key)
        .ok()
        .and_then(|b| Sm2PublicKey::from_sec1_bytes(&b).ok())
        .ok_or_else(|| {
            ApiError(PlatformError::new(
                ResultCode::RequestMalformed,
                "public key must be a hex SM2 point",
            ))
        })
}

#[utoipa::path(post, path = "/v1/admin/citizens/revoke", tag = "admin", request_body = RevokeCitizenRequest, security(("operator_token" = [])), responses((status = 200, body = RevokedCredentials), (status = 400, body = Problem), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn admin_revoke_citizen(
    State(p): State<Arc<Platform>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let b: RevokeCitizenRequest = json(&body_or_problem(body)?)?;
    let revoked = p
        .revoke_citizen(&b.id_number, b.reason, "operator", now().0)
        .await?;
    Ok(Json(RevokedCredentials { revoked }).into_response())
}

#[utoipa::path(post, path = "/v1/admin/rps", tag = "admin", request_body = RegisterRpBody, security(("operator_token" = [])), responses((status = 201, body = KeyRef), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn admin_register_rp(
    State(p): State<Arc<Platform>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let b: RegisterRpBody = json(&body_or_problem(body)?)?;
    let role = RpRole::parse(&b.role).map_err(|_| {
        PlatformError::new(
            ResultCode::RequestMalformed,
            "role must be verifier or trusted_terminal",
        )
    })?;
    let reg = RpRegistration {
        rp_id: b.rp_id,
        name: b.name,
        role,
        public_key: parse_key(&b.public_key)?,
        modes: b.modes,
        attributes: b.attributes,
        rate_per_s: b.rate_per_s,
    };
    let rp = p.register_rp(&reg, "operator", now().0).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "rp_id": rp.rp_id, "key_id": reg.public_key.key_id().to_string() })),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/admin/rps", tag = "admin", security(("operator_token" = [])), responses((status = 200, body = Vec<RpSummary>), (status = 401, body = Problem)))]
async fn admin_list_rps(State(p): State<Arc<Platform>>, headers: HeaderMap) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let rps = p.store().list_rps().await?;
    let list: Vec<RpSummary> = rps
        .into_iter()
        .map(|rp| RpSummary {
            role: rp.role.as_str().to_owned(),
            active: rp.status == wz_store::EntityStatus::Active,
            rp_id: rp.rp_id,
            name: rp.name,
            modes: rp.modes,
            attributes: rp.attributes,
            rate_per_s: rp.rate_per_s,
        })
        .collect();
    Ok(Json(list).into_response())
}

/// `POST /v1/admin/rps/{rp_id}/keys` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct AddKeyBody {
    public_key: String,
    #[serde(default)]
    replace: bool,
}

#[utoipa::path(post, path = "/v1/admin/rps/{rp_id}/keys", tag = "admin", request_body = AddKeyBody, params(("rp_id" = String, Path)), security(("operator_token" = [])), responses((status = 201, body = KeyRef), (status = 401, body = Problem)))]
async fn admin_add_rp_key(
    State(p): State<Arc<Platform>>,
    Path(rp_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let b: AddKeyBody = json(&body_or_problem(body)?)?;
    let key = parse_key(&b.public_key)?;
    p.add_rp_key(&rp_id, &key, b.replace, "operator", now().0).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "key_id": key.key_id().to_string() })),
    )
        .into_response())
}

#[utoipa::path(post, path = "/v1/admin/rps/{rp_id}/revoke", tag = "admin", params(("rp_id" = String, Path)), security(("operator_token" = [])), responses((status = 204), (status = 401, body = Problem)))]
async fn admin_revoke_rp(
    State(p): State<Arc<Platform>>,
    Path(rp_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    p.revoke_rp(&rp_id, "operator", now().0).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/v1/admin/rp-keys/{key_id}/revoke", tag = "admin", params(("key_id" = String, Path)), security(("operator_token" = [])), responses((status = 204), (status = 401, body = Problem)))]
async fn admin_revoke_rp_key(
    State(p): State<Arc<Platform>>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    p.revoke_rp_key(&key_id, "operator", now().0).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/v1/admin/platform-keys/{usage}/rotate", tag = "admin", params(("usage" = String, Path, description = "signing or encryption")), security(("operator_token" = [])), responses((status = 200, body = Rotated), (status = 401, body = Problem)))]
async fn admin_rotate_key(
    State(p): State<Arc<Platform>>,
    Path(usage): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let id = p.rotate_key(&usage, "operator", now().0).await?;
    Ok(Json(Rotated { usage, key_id: id }).into_response())
}

#[utoipa::path(get, path = "/v1/admin/audit/verify", tag = "admin", security(("operator_token" = [])), responses((status = 200, body = AuditStatus), (status = 401, body = Problem)))]
async fn admin_audit_verify(State(p): State<Arc<Platform>>, headers: HeaderMap) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let r = p.store().verify_audit().await?;
    Ok(Json(AuditStatus {
        entries: r.entries,
        intact: r.is_intact(),
        head_seq: r.head.map(|h| h.0),
        head_hash: r.head.map(|h| hex::encode(h.1)),
        first_break_seq: r.first_break.map(|b| b.0),
        first_break: r.first_break.map(|b| b.1.to_owned()),
    })
    .into_response())
}
