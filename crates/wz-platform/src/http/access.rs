//! Client addresses and the access log.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use wz_proto::ResultCode;

use super::*;
use crate::Platform;

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
pub(super) async fn access_log(
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
