//! The OpenAPI document: a snapshot, every route documented, and every
//! documented route actually served.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

use std::sync::Arc;

use wz_platform::http::{ROUTES, openapi};
use wz_platform::keys::MasterKey;
use wz_platform::{Platform, PlatformConfig};
use wz_store::Backend;
use wz_store::testing::TestStore;

fn documented() -> Vec<(String, String)> {
    let doc = serde_json::to_value(openapi()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.push((method.clone(), path.clone()));
        }
    }
    out.sort();
    out
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let mut routes: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    routes.sort();
    assert_eq!(routes, documented());
}

#[test]
fn openapi_snapshot() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/openapi.json");
    let now = openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("WZ_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &now).unwrap();
    }
    let stored =
        std::fs::read_to_string(path).expect("run with WZ_UPDATE_SNAPSHOTS=1 to create the snapshot");
    assert!(
        stored == now,
        "openapi.json changed: review it and run with WZ_UPDATE_SNAPSHOTS=1"
    );
}

#[tokio::test]
async fn router_serves_every_documented_route() {
    let t = TestStore::new(Backend::Sqlite).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let platform = Platform::open(
        t.store.clone(),
        PlatformConfig::default(),
        MasterKey::from_hex("000102030405060708090a0b0c0d0e0f").unwrap(),
        Arc::new(wz_platform::face::NoFaceEngine),
        vec![],
        now,
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, wz_platform::http::router(Arc::new(platform)))
            .await
            .unwrap();
    });
    let http = {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    };
    for (method, path) in ROUTES {
        let url = format!("http://{addr}{}", path.replace(['{', '}'], ""));
        let req = if *method == "get" {
            http.get(&url)
        } else {
            http.post(&url).body("{}")
        };
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert!(
            !body.contains("no such route") && status != 405,
            "{method} {path}: {status} {body}"
        );
    }
    // The served document is the generated one.
    let served: serde_json::Value = http
        .get(format!("http://{addr}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, serde_json::to_value(openapi()).unwrap());
    server.abort();
    t.cleanup().await.unwrap();
}
