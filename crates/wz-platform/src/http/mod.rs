//! The HTTP API (axum). Handlers decode, call a [`Platform`] method and
//! encode; errors are RFC 7807 problems with the shared result code.
//! This module is the edge: it alone reads the clock.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use wz_proto::api::Problem;
use wz_proto::routes;
use wz_proto::{RequestAuth, RequestTarget, ResultCode};

use crate::{Platform, PlatformError, SignedReply};

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

mod access;
mod admin;
mod public;
mod wallet;

use access::access_log;
pub use access::{ClientAddr, client_address};
use admin::*;
use public::*;
use wallet::*;

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
        admin_revoke_rp, admin_revoke_rp_key, admin_rotate_key, admin_audit_verify, admin_audit,
        admin_credential_lookup, admin_import_files, admin_start_import, admin_import_status
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
pub const ROUTES: &[(&str, &str)] = wz_proto::routes::ALL;

/// Builds the router over a platform.
pub fn router(platform: Arc<Platform>) -> Router {
    let limit = platform.config().max_body_bytes;
    Router::new()
        .route(routes::HEALTHZ, get(healthz))
        .route(routes::OPENAPI, get(openapi_json))
        .route(routes::READYZ, get(readyz))
        .route(routes::METRICS, get(metrics))
        .route(routes::KEYS, get(keys))
        .route(routes::CHALLENGES, post(challenge))
        .route(routes::ENROL_LIGHT, post(enrol_light))
        .route(routes::ENROL_UPGRADED, post(enrol_upgraded))
        .route(routes::VERIFY, post(verify))
        .route(routes::WALLET_STATUS, post(wallet_status))
        .route(routes::WALLET_HISTORY, post(wallet_history))
        .route(routes::WALLET_SUSPEND, post(wallet_suspend))
        .route(routes::WALLET_RESUME, post(wallet_resume))
        .route(routes::ADMIN_REVOKE_CITIZEN, post(admin_revoke_citizen))
        .route(routes::ADMIN_RPS, post(admin_register_rp).get(admin_list_rps))
        .route(routes::ADMIN_RP_KEYS, post(admin_add_rp_key))
        .route(routes::ADMIN_RP_REVOKE, post(admin_revoke_rp))
        .route(routes::ADMIN_RP_KEY_REVOKE, post(admin_revoke_rp_key))
        .route(routes::ADMIN_ROTATE_KEY, post(admin_rotate_key))
        .route(routes::ADMIN_AUDIT_VERIFY, get(admin_audit_verify))
        .route(routes::ADMIN_AUDIT, get(admin_audit))
        .route(routes::ADMIN_CREDENTIAL_LOOKUP, post(admin_credential_lookup))
        .route(routes::ADMIN_IMPORT_FILES, get(admin_import_files))
        .route(routes::ADMIN_IMPORTS, post(admin_start_import))
        .route(routes::ADMIN_IMPORT, get(admin_import_status))
        // The operator console: a static page; its calls carry the admin token.
        .route(routes::CONSOLE, get(|| async { wz_web::serve("console.html") }))
        .route("/assets/{name}", get(wz_web::serve_asset))
        .route_layer(axum::middleware::from_fn_with_state(Arc::clone(&platform), access_log))
        .fallback(|method: Method| async move {
            tracing::info!(target: "wz::access", method = %method, route = "unmatched", status = 400, "request");
            ApiError(PlatformError::new(ResultCode::RequestMalformed, "no such route"))
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(platform)
}
