//! `wz serve` with `tls_suites = "shangmi"` on the embedded default: it
//! makes a self-signed SM2 certificate, and a client offering only RFC 8998
//! `TLS_SM4_GCM_SM3` completes the handshake, registers an RP over the admin
//! API and gets a platform-signed verdict from `POST /v1/verify`; a client
//! with only the standard suites is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::BufRead as _;
use std::time::Duration;

use wz_client::{PlatformClient, TlsSuites, Trust};
use wz_crypto::Sm2PrivateKey;
use wz_proto::{AuthMode, ResultCode};
use wz_terminal::{Extras, Terminal};

const ADMIN: &str = "shangmi-test-admin-token";

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shangmi_handshake_and_verification_against_wz_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("wz.toml"),
        format!(
            "database_url = \"sqlite://{}/data/platform.db\"\nlisten = \"127.0.0.1:0\"\n\
             admin_token = \"{ADMIN}\"\ntls_suites = \"shangmi\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_wz"))
            .arg("--config")
            .arg(dir.join("wz.toml"))
            .arg("serve")
            .current_dir(dir)
            .env_remove("WZ_MASTER_KEY")
            .env_remove("WZ_DATABASE_URL")
            .env_remove("WZ_LISTEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut reader = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("wz serve: ")
        .expect("serve prints its URL")
        .to_owned();
    assert!(base.starts_with("https://"), "{base}");
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let fingerprint = line
        .trim()
        .strip_prefix("TLS certificate SHA-256: ")
        .unwrap()
        .to_owned();
    assert!(dir.join("data/tls-sm2-cert.pem").is_file());
    let trust = Trust::pin_from_hex(&fingerprint).unwrap();
    let timeout = Duration::from_secs(20);

    // Standard suites only: no common suite, no answer.
    let standard = trust.http_client(&base, timeout).unwrap();
    assert!(
        standard.get(format!("{base}/healthz")).send().await.is_err(),
        "a standard-suite client reached a ShangMi-only server"
    );

    // ShangMi: health, then an RP registered over the admin API.
    let http = trust
        .http_client_with(&base, timeout, TlsSuites::ShangMi)
        .unwrap();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let key = Sm2PrivateKey::generate().unwrap();
    let body = serde_json::json!({
        "rp_id": "gate-sm", "name": "ShangMi gate", "role": "verifier",
        "public_key": hex::encode(key.public_key().to_sec1_bytes()),
        "modes": ["0x04"], "attributes": [], "rate_per_s": 10,
    });
    let r = http
        .post(format!("{base}/v1/admin/rps"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // A verification: the RP's signed request, the platform's signed
    // verdict (checked by the SDK), all over TLS_SM4_GCM_SM3.
    let client = PlatformClient::with_suites(&base, &trust, TlsSuites::ShangMi, timeout, 1).unwrap();
    let terminal = Terminal::from_client("gate-sm", key, client).unwrap();
    let qr_only = AuthMode::from_bits(0x04).unwrap();
    let v = terminal
        .verify(qr_only, Some("WZ1:NOT-A-REAL-CODE"), Extras::default())
        .await
        .unwrap();
    assert_eq!(v.verdict.result, ResultCode::QrMalformed, "{:?}", v.verdict);
    assert!(v.attributes.is_none());
}
