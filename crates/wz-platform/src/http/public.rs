//! Operations, published keys, challenges, enrolment and verification.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use wz_proto::ResultCode;
use wz_proto::api::{
    Challenge, EnrolResponse, KeysResponse, LightEnrolRequest, Problem, UpgradedEnrolRequest, VerifyRequest,
    VerifyVerdict,
};

use super::*;
use crate::{Platform, PlatformError};
use wz_proto::api::ChallengeRequest;

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "process is up")))]
pub(super) async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "this document")))]
pub(super) async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi().to_pretty_json().unwrap_or_default(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "database reachable"), (status = 503, body = Problem)))]
pub(super) async fn readyz(State(p): State<Arc<Platform>>) -> Response {
    match p.ready().await {
        Ok(()) => "ready".into_response(),
        Err(_) => ApiError(PlatformError::new(
            ResultCode::Unavailable,
            "database is not reachable",
        ))
        .into_response(),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format; labels are codes, modes and routes only")))]
pub(super) async fn metrics(State(p): State<Arc<Platform>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        p.metrics.render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = KeysResponse)))]
pub(super) async fn keys(State(p): State<Arc<Platform>>) -> Response {
    Json(p.keys_response(now().0)).into_response()
}

#[utoipa::path(post, path = "/v1/challenges", tag = "enrolment", request_body = ChallengeRequest, responses((status = 200, body = Challenge), (status = 400, body = Problem)))]
pub(super) async fn challenge(
    State(p): State<Arc<Platform>>,
    Extension(client): Extension<ClientAddr>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: ChallengeRequest = json(&body_or_problem(body)?)?;
    Ok(Json(p.new_challenge(req.purpose, client.0, now().1).await?).into_response())
}

#[utoipa::path(post, path = "/v1/enrol/light", tag = "enrolment", request_body = LightEnrolRequest, responses((status = 200, body = EnrolResponse), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub(super) async fn enrol_light(
    State(p): State<Arc<Platform>>,
    Extension(client): Extension<ClientAddr>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let t = started();
    let req: LightEnrolRequest = json(&body_or_problem(body)?)?;
    let r = p.enrol_light(&req, client.0, now().1).await;
    p.metrics
        .latency(wz_proto::routes::ENROL_LIGHT, t.elapsed().as_secs_f64() * 1000.0);
    Ok(Json(r?).into_response())
}

#[utoipa::path(post, path = "/v1/enrol/upgraded", tag = "enrolment", request_body = UpgradedEnrolRequest, params(SignedRequestHeaders), responses((status = 200, body = EnrolResponse, description = "signed by the platform"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(super) async fn enrol_upgraded(
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
    p.metrics.latency(
        wz_proto::routes::ENROL_UPGRADED,
        t.elapsed().as_secs_f64() * 1000.0,
    );
    Ok(signed(r?))
}

#[utoipa::path(post, path = "/v1/verify", tag = "verification", request_body = VerifyRequest, params(SignedRequestHeaders), responses((status = 200, body = VerifyVerdict, description = "signed verdict, pass or fail"), (status = 400, body = Problem), (status = 401, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 429, body = Problem)))]
pub(super) async fn verify(
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
        .latency(wz_proto::routes::VERIFY, t.elapsed().as_secs_f64() * 1000.0);
    Ok(signed(r?))
}
