//! The device-signed wallet endpoints.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use wz_proto::api::{HistoryEntry, Problem, ResumeRequest, SyncResponse};
use wz_proto::{RequestAuth, ResultCode};

use super::*;
use crate::{Platform, PlatformError};

pub(super) async fn wallet_cred(
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
pub(super) async fn wallet_status(
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
pub(super) struct HistoryQuery {
    limit: Option<u32>,
}

#[utoipa::path(post, path = "/v1/wallet/history", tag = "wallet", params(SignedRequestHeaders, HistoryQuery), responses((status = 200, body = Vec<HistoryEntry>, description = "signed by the platform"), (status = 422, body = Problem)))]
pub(super) async fn wallet_history(
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
pub(super) async fn wallet_suspend(
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
pub(super) async fn wallet_resume(
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
