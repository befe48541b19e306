//! The operator's admin API, behind the admin token.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wz_crypto::Sm2PublicKey;
use wz_proto::ResultCode;
use wz_proto::api::Problem;

use wz_store::RpRole;

use super::*;
use crate::{Platform, PlatformError, RpRegistration};
use wz_proto::admin::{
    AddKeyBody, AuditLine, AuditPage, AuditStatus, CitizenCredentials, CredentialLookup, ImportFiles,
    ImportStart, ImportStatus, KeyRef, RegisterRpBody, RevokeCitizenRequest, RevokedCredentials, Rotated,
    RpSummary,
};

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
pub(super) async fn admin_revoke_citizen(
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
pub(super) async fn admin_register_rp(
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
        Json(KeyRef {
            rp_id: rp.rp_id,
            key_id: reg.public_key.key_id().to_string(),
        }),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/admin/rps", tag = "admin", security(("operator_token" = [])), responses((status = 200, body = Vec<RpSummary>), (status = 401, body = Problem)))]
pub(super) async fn admin_list_rps(
    State(p): State<Arc<Platform>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let list = p.relying_parties().await?;
    Ok(Json(list).into_response())
}

#[utoipa::path(post, path = "/v1/admin/rps/{rp_id}/keys", tag = "admin", request_body = AddKeyBody, params(("rp_id" = String, Path)), security(("operator_token" = [])), responses((status = 201, body = KeyRef), (status = 401, body = Problem)))]
pub(super) async fn admin_add_rp_key(
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
        Json(KeyRef {
            rp_id,
            key_id: key.key_id().to_string(),
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/v1/admin/rps/{rp_id}/revoke", tag = "admin", params(("rp_id" = String, Path)), security(("operator_token" = [])), responses((status = 204), (status = 401, body = Problem)))]
pub(super) async fn admin_revoke_rp(
    State(p): State<Arc<Platform>>,
    Path(rp_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    p.revoke_rp(&rp_id, "operator", now().0).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/v1/admin/rp-keys/{key_id}/revoke", tag = "admin", params(("key_id" = String, Path)), security(("operator_token" = [])), responses((status = 204), (status = 401, body = Problem)))]
pub(super) async fn admin_revoke_rp_key(
    State(p): State<Arc<Platform>>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    p.revoke_rp_key(&key_id, "operator", now().0).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/v1/admin/platform-keys/{usage}/rotate", tag = "admin", params(("usage" = String, Path, description = "signing or encryption")), security(("operator_token" = [])), responses((status = 200, body = Rotated), (status = 401, body = Problem)))]
pub(super) async fn admin_rotate_key(
    State(p): State<Arc<Platform>>,
    Path(usage): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let usage = wz_proto::api::KeyUsage::parse(&usage).ok_or_else(|| {
        PlatformError::new(
            ResultCode::RequestMalformed,
            "only signing and encryption keys rotate",
        )
    })?;
    let id = p.rotate_key(usage, "operator", now().0).await?;
    Ok(Json(Rotated { usage, key_id: id }).into_response())
}

#[utoipa::path(get, path = "/v1/admin/audit/verify", tag = "admin", security(("operator_token" = [])), responses((status = 200, body = AuditStatus), (status = 401, body = Problem)))]
pub(super) async fn admin_audit_verify(
    State(p): State<Arc<Platform>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    Ok(Json(p.audit_status().await?).into_response())
}

/// Query of `GET /v1/admin/audit`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Entries before this sequence number (newest when absent).
    before: Option<u64>,
    /// At most this many (default 50, at most 500).
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", params(AuditQuery), security(("operator_token" = [])), responses((status = 200, body = AuditPage), (status = 401, body = Problem)))]
pub(super) async fn admin_audit(
    State(p): State<Arc<Platform>>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let axum::extract::Query(q) = query
        .map_err(|_| PlatformError::new(ResultCode::RequestMalformed, "before and limit must be numbers"))?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let entries = p.store().audit_page(q.before, limit).await?;
    Ok(Json(AuditPage {
        entries: entries
            .into_iter()
            .map(|e| AuditLine {
                seq: e.seq,
                time: e.time,
                actor: e.actor,
                action: e.action,
                detail: e.detail,
                hash: hex::encode(e.hash),
            })
            .collect(),
    })
    .into_response())
}

#[utoipa::path(post, path = "/v1/admin/credentials/lookup", tag = "admin", request_body = CredentialLookup, security(("operator_token" = [])), responses((status = 200, body = CitizenCredentials), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub(super) async fn admin_credential_lookup(
    State(p): State<Arc<Platform>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let b: CredentialLookup = json(&body_or_problem(body)?)?;
    Ok(Json(p.citizen_credentials(&b.id_number).await?).into_response())
}

#[utoipa::path(get, path = "/v1/admin/registry/files", tag = "admin", security(("operator_token" = [])), responses((status = 200, body = ImportFiles), (status = 401, body = Problem)))]
pub(super) async fn admin_import_files(
    State(p): State<Arc<Platform>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let dir = p.config().import_dir.as_deref();
    Ok(Json(ImportFiles {
        configured: dir.is_some(),
        files: dir
            .map(|d| crate::import::importable_files(std::path::Path::new(d)))
            .unwrap_or_default(),
    })
    .into_response())
}

#[utoipa::path(post, path = "/v1/admin/registry/imports", tag = "admin", request_body = ImportStart, security(("operator_token" = [])), responses((status = 202, body = ImportStatus), (status = 400, body = Problem), (status = 401, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub(super) async fn admin_start_import(
    State(p): State<Arc<Platform>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let b: ImportStart = json(&body_or_problem(body)?)?;
    let status = crate::import::start_import(&p, &b.file, now().0)?;
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

#[utoipa::path(get, path = "/v1/admin/registry/imports/{job}", tag = "admin", params(("job" = u64, Path, description = "job number")), security(("operator_token" = [])), responses((status = 200, body = ImportStatus), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub(super) async fn admin_import_status(
    State(p): State<Arc<Platform>>,
    headers: HeaderMap,
    job: Result<Path<u64>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Response> {
    admin(&p, &headers)?;
    let Path(job) =
        job.map_err(|_| PlatformError::new(ResultCode::RequestMalformed, "job must be a number"))?;
    let status = p
        .imports
        .get(job)
        .ok_or_else(|| PlatformError::new(ResultCode::RequestMalformed, "no such import job"))?;
    Ok(Json(status).into_response())
}
