//! The harness the HTTP tests share: a platform over a real store (SQLite
//! or PostgreSQL) served on loopback, a deterministic face double, a
//! miniature wallet and the request helpers.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

use std::sync::Arc;

use wz_crypto::{Sm2PrivateKey, Sm2PublicKey};
use wz_platform::face::{FaceEngine, FaceError, FaceMatch, LiveCapture};
use wz_platform::keys::MasterKey;
use wz_platform::registry::Person;
use wz_platform::{Platform, PlatformConfig};
use wz_proto::api::{
    Bytes, Challenge, EnrolResponse, IdentityItems, KeysResponse, LightEnrolRequest, LivenessAction,
    UpgradedEnrolRequest, VerifyRequest, VerifyVerdict, proof_of_possession_input,
};
use wz_proto::{
    AuthMode, CivilDate, CredentialCert, CredentialPin, IdNumber, QrBody, RequestAuth, RequestTarget,
    ResponseAuth, ResponseTarget,
};
use wz_store::Backend;
use wz_store::testing::TestStore;

/// Test double for the face engine (tests only).
pub struct TestFace;

impl FaceEngine for TestFace {
    fn model_id(&self) -> &str {
        "test-double-v1"
    }
    fn supported_actions(&self) -> &[LivenessAction] {
        &[LivenessAction::TurnLeft, LivenessAction::Blink]
    }
    fn template_from_photo(&self, image: &[u8]) -> Result<Vec<u8>, FaceError> {
        if image.starts_with(b"NOFACE") {
            return Err(FaceError::NoSingleFace);
        }
        Ok(wz_crypto::sm3(image).to_vec())
    }
    fn capture_live(&self, frames: &[Vec<u8>], actions: &[LivenessAction]) -> Result<LiveCapture, FaceError> {
        if frames.iter().any(|f| f.starts_with(b"TRUNC")) {
            return Err(FaceError::ImageInvalid);
        }
        let live = !frames.iter().any(|f| f.starts_with(b"SPOOF")) && frames.len() >= actions.len().max(1);
        // The probe: a marker for the stored photo sent back as the live
        // frame, else every frame's SM3 (each must match the template).
        let probe = if frames.first().is_some_and(|f| f.starts_with(b"REGCOPY")) {
            b"REGCOPY".to_vec()
        } else {
            frames.iter().flat_map(|f| wz_crypto::sm3(f)).collect()
        };
        Ok(LiveCapture { live, probe })
    }
    fn compare(&self, probe: &[u8], template: &[u8]) -> Result<FaceMatch, FaceError> {
        // What a real engine reports for the stored photo itself: a perfect score.
        if probe == b"REGCOPY" {
            return Ok(FaceMatch {
                matched: true,
                score: 1.0,
            });
        }
        let matched = !probe.is_empty() && probe.chunks(32).all(|h| h == template);
        Ok(FaceMatch {
            matched,
            score: if matched { 0.9 } else { 0.1 },
        })
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub struct Env {
    pub base: String,
    pub http: reqwest::Client,
    pub platform: Arc<Platform>,
    pub authority: Sm2PrivateKey,
    pub store: Option<TestStore>,
    pub server: tokio::task::JoinHandle<()>,
}

pub const ADMIN: &str = "test-operator-token";

pub fn person(id: &str, name: &str) -> Person {
    let id_number = IdNumber::parse(id).unwrap();
    Person {
        birth_date: id_number.birth_date(),
        sex: id_number.sex(),
        id_number,
        name: name.into(),
        ethnicity: "汉".into(),
        address: "测试市测试路1号".into(),
        card_valid_from: CivilDate::new(2020, 1, 1).unwrap(),
        card_valid_to: Some(CivilDate::new(2040, 1, 1).unwrap()),
    }
}

pub fn adult() -> Person {
    person("11010519491231002X", "测试甲")
}

pub fn minor() -> Person {
    // Born 2015: under 18 until 2033.
    let id = IdNumber::from_parts(310_104, CivilDate::new(2015, 6, 1).unwrap(), 11).unwrap();
    person(id.as_str(), "测试乙")
}

pub async fn env(backend: Backend) -> Env {
    env_with(backend, PlatformConfig::default()).await
}

pub async fn env_with(backend: Backend, config: PlatformConfig) -> Env {
    let t = TestStore::new(backend).await.unwrap();
    let authority = Sm2PrivateKey::generate().unwrap();
    let config = PlatformConfig {
        admin_token: Some(ADMIN.into()),
        max_body_bytes: 256 * 1024,
        ..config
    };
    let platform = Arc::new(
        Platform::open(
            t.store.clone(),
            config,
            MasterKey::from_hex("00112233445566778899aabbccddeeff").unwrap(),
            Arc::new(TestFace),
            vec![authority.public_key().clone()],
            now(),
        )
        .await
        .unwrap(),
    );
    let people = vec![
        (adult(), Some(b"photo-of-jia".to_vec())),
        (minor(), Some(b"photo-of-yi".to_vec())),
    ];
    assert_eq!(platform.import_people(&people, "test", now()).await.unwrap(), 2);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = wz_platform::http::router(Arc::clone(&platform));
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Env {
        base: format!("http://{addr}"),
        http: {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::new()
        },
        platform,
        authority,
        store: Some(t),
        server,
    }
}

impl Env {
    pub async fn finish(mut self) {
        self.server.abort();
        self.store.take().unwrap().cleanup().await.unwrap();
    }

    pub async fn keys(&self) -> KeysResponse {
        self.http
            .get(format!("{}/v1/keys", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn key(&self, usage: &str) -> Sm2PublicKey {
        let keys = self.keys().await;
        let k = keys
            .keys
            .iter()
            .find(|k| k.current && format!("{:?}", k.usage).to_lowercase() == usage)
            .unwrap();
        Sm2PublicKey::from_sec1_bytes(&hex::decode(&k.public_key).unwrap()).unwrap()
    }

    pub async fn register(&self, rp_id: &str, role: &str, modes: &[&str], attrs: &[&str]) -> Sm2PrivateKey {
        let key = Sm2PrivateKey::generate().unwrap();
        let body = serde_json::json!({
            "rp_id": rp_id, "name": format!("{rp_id} display"), "role": role,
            "public_key": hex::encode(key.public_key().to_sec1_bytes()),
            "modes": modes, "attributes": attrs, "rate_per_s": 1000,
        });
        let r = self
            .http
            .post(format!("{}/v1/admin/rps", self.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        key
    }

    /// Signs `signed` as `rp_id` but sends `sent` (a body changed after
    /// signing); returns status and body.
    pub async fn post_swapped_body(
        &self,
        path: &str,
        rp_id: &str,
        key: &Sm2PrivateKey,
        signed: &[u8],
        sent: &[u8],
    ) -> (u16, Vec<u8>) {
        let target = RequestTarget {
            method: "POST",
            path,
            body: signed,
        };
        let auth = RequestAuth::sign(
            key,
            rp_id,
            &target,
            now(),
            &wz_proto::signed_http::new_nonce().unwrap(),
        )
        .unwrap();
        let mut req = self.http.post(format!("{}{path}", self.base)).body(sent.to_vec());
        for (k, v) in auth.to_headers() {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }

    /// Sends a request signed as `rp_id` with `key`; returns status, headers, body.
    pub async fn signed_post(
        &self,
        path: &str,
        rp_id: &str,
        key: &Sm2PrivateKey,
        body: &[u8],
        nonce: Option<&str>,
        ts: u64,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>, String) {
        let nonce = nonce.map_or_else(|| wz_proto::signed_http::new_nonce().unwrap(), str::to_owned);
        let target = RequestTarget {
            method: "POST",
            path,
            body,
        };
        let auth = RequestAuth::sign(key, rp_id, &target, ts, &nonce).unwrap();
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_vec())
            .header("content-type", "application/json");
        for (k, v) in auth.to_headers() {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.bytes().await.unwrap().to_vec(), nonce)
    }

    /// A verification as a terminal SDK does it: sign, send, check the verdict signature.
    pub async fn verify(&self, rp_id: &str, key: &Sm2PrivateKey, req: &VerifyRequest) -> VerifyVerdict {
        let body = serde_json::to_vec(req).unwrap();
        let (status, headers, resp, nonce) = self
            .signed_post("/v1/verify", rp_id, key, &body, None, now())
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
        self.check_verdict_signature(&headers, rp_id, &nonce, &resp).await;
        serde_json::from_slice(&resp).unwrap()
    }

    pub async fn check_verdict_signature(
        &self,
        headers: &reqwest::header::HeaderMap,
        rp_id: &str,
        nonce: &str,
        body: &[u8],
    ) {
        let auth = ResponseAuth::from_headers(|n| headers.get(n).and_then(|v| v.to_str().ok())).unwrap();
        let signing = self.key("signing").await;
        auth.verify(
            &signing,
            &ResponseTarget {
                status: 200,
                rp_id,
                request_nonce: nonce,
                body,
            },
        )
        .unwrap();
    }

    /// `POST /v1/challenges`, the status only.
    pub async fn ask_challenge(&self, purpose: &str) -> u16 {
        self.http
            .post(format!("{}/v1/challenges", self.base))
            .json(&serde_json::json!({ "purpose": purpose }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn challenge(&self, purpose: &str) -> Challenge {
        let r = self
            .http
            .post(format!("{}/v1/challenges", self.base))
            .json(&serde_json::json!({ "purpose": purpose }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// `POST /v1/admin/citizens/revoke`: status and the count revoked.
    pub async fn revoke_citizen(&self, p: &Person, reason: &str) -> (u16, u64) {
        let r = self
            .http
            .post(format!("{}/v1/admin/citizens/revoke", self.base))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({ "id_number": p.id_number.as_str(), "reason": reason }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        (status, body["revoked"].as_u64().unwrap_or(0))
    }

    /// Light enrolment tries as a raw request: status and body.
    pub async fn try_enrol_light(
        &self,
        items: IdentityItems,
        frames: Vec<Bytes>,
        forwarded: Option<&str>,
    ) -> (u16, String) {
        let device = Sm2PrivateKey::generate().unwrap();
        let ch = self.challenge("enrol-light").await;
        let req = LightEnrolRequest {
            challenge_id: ch.challenge_id.clone(),
            items,
            face_frames: frames,
            device_public_key: hex::encode(device.public_key().to_sec1_bytes()),
            proof_of_possession: pop(&device, &ch),
        };
        let mut r = self.http.post(format!("{}/v1/enrol/light", self.base)).json(&req);
        if let Some(f) = forwarded {
            r = r.header("x-forwarded-for", f);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub fn card(&self, p: &Person) -> Vec<u8> {
        p.to_card(b"chip-photo".to_vec())
            .sign(&self.authority)
            .unwrap()
            .encode()
            .unwrap()
    }
}

pub fn items(p: &Person, four: bool) -> IdentityItems {
    IdentityItems {
        name: p.name.clone(),
        id_number: p.id_number.clone(),
        card_valid_from: four.then_some(p.card_valid_from),
        card_valid_to: if four { p.card_valid_to } else { None },
    }
}

pub fn pop(device: &Sm2PrivateKey, ch: &Challenge) -> String {
    let nonce = hex::decode(&ch.nonce).unwrap();
    let sig = device
        .sign(&proof_of_possession_input(
            &nonce,
            &device.public_key().to_sec1_bytes(),
        ))
        .unwrap();
    hex::encode(sig.to_bytes())
}

/// A wallet in miniature: its device key, credential and QR counter.
#[derive(Debug)]
pub struct Wallet {
    pub device: Sm2PrivateKey,
    pub cert: CredentialCert,
    pub counter: u32,
}

impl Wallet {
    pub fn qr(&mut self, platform_enc: &Sm2PublicKey, issued_at: u64) -> (String, QrBody) {
        self.counter += 1;
        let body = QrBody {
            cred_id: self.cert.body.cred_id,
            issued_at,
            counter: self.counter,
            nonce: wz_crypto::random_array().unwrap(),
        };
        (body.seal(&self.device, platform_enc).unwrap(), body)
    }

    /// A 0x0C request: a fresh QR and `pin` sealed to the platform for it.
    pub fn pin_request(&mut self, platform_enc: &Sm2PublicKey, pin: &str) -> VerifyRequest {
        let (qr, body) = self.qr(platform_enc, now());
        let block = CredentialPin::parse(pin)
            .unwrap()
            .seal(&wz_proto::pin::challenge_for_qr(&body), platform_enc)
            .unwrap();
        VerifyRequest {
            qr: Some(qr),
            pin_block: Some(Bytes(block)),
            ..vreq(0x0C)
        }
    }
}

pub async fn enrol_light(e: &Env, p: &Person, frame: &[u8]) -> Result<Wallet, (u16, String)> {
    let device = Sm2PrivateKey::generate().unwrap();
    let ch = e.challenge("enrol-light").await;
    let req = LightEnrolRequest {
        challenge_id: ch.challenge_id.clone(),
        items: items(p, true),
        face_frames: vec![Bytes(frame.to_vec()); ch.actions.len()],
        device_public_key: hex::encode(device.public_key().to_sec1_bytes()),
        proof_of_possession: pop(&device, &ch),
    };
    let r = e
        .http
        .post(format!("{}/v1/enrol/light", e.base))
        .json(&req)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status != 200 {
        return Err((status, r.text().await.unwrap()));
    }
    let resp: EnrolResponse = r.json().await.unwrap();
    let cert = e.platform.check_certificate(&resp.credential.0).unwrap();
    assert_eq!(cert.body.device_public_key, *device.public_key());
    Ok(Wallet {
        device,
        cert,
        counter: 0,
    })
}

pub async fn enrol_upgraded(
    e: &Env,
    terminal: &Sm2PrivateKey,
    p: &Person,
    pin: &str,
) -> Result<Wallet, (u16, String)> {
    let device = Sm2PrivateKey::generate().unwrap();
    let ch = e.challenge("enrol-upgraded").await;
    let enc = e.key("encryption").await;
    let challenge: [u8; 16] = hex::decode(&ch.nonce).unwrap().try_into().unwrap();
    let req = UpgradedEnrolRequest {
        challenge_id: ch.challenge_id.clone(),
        card_data: Bytes(e.card(p)),
        face_frames: vec![Bytes(b"photo-of-jia".to_vec()); ch.actions.len()],
        pin_block: Bytes(CredentialPin::parse(pin).unwrap().seal(&challenge, &enc).unwrap()),
        device_public_key: hex::encode(device.public_key().to_sec1_bytes()),
        proof_of_possession: pop(&device, &ch),
    };
    let body = serde_json::to_vec(&req).unwrap();
    let (status, _, resp, _) = e
        .signed_post("/v1/enrol/upgraded", "police-hall", terminal, &body, None, now())
        .await;
    if status != 200 {
        return Err((status, String::from_utf8_lossy(&resp).into_owned()));
    }
    let resp: EnrolResponse = serde_json::from_slice(&resp).unwrap();
    Ok(Wallet {
        device,
        cert: e.platform.check_certificate(&resp.credential.0).unwrap(),
        counter: 0,
    })
}

pub fn vreq(mode: u8) -> VerifyRequest {
    VerifyRequest {
        mode: AuthMode::from_bits(mode).unwrap(),
        qr: None,
        face_frames: vec![],
        challenge_id: None,
        pin_block: None,
        items: None,
        card_data: None,
    }
}

pub async fn wallet_call<T: serde::de::DeserializeOwned>(
    e: &Env,
    w: &Wallet,
    path: &str,
) -> Result<T, (u16, String)> {
    let (status, _, body, _) = e
        .signed_post(
            path,
            &w.cert.body.cred_id.to_string(),
            &w.device,
            b"",
            None,
            now(),
        )
        .await;
    if status == 200 {
        Ok(serde_json::from_slice(&body).unwrap())
    } else {
        Err((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// A device-signed wallet call with a JSON body.
pub async fn wallet_post<T: serde::de::DeserializeOwned>(
    e: &Env,
    w: &Wallet,
    path: &str,
    body: &impl serde::Serialize,
) -> Result<T, (u16, String)> {
    let body = serde_json::to_vec(body).unwrap();
    let (status, _, body, _) = e
        .signed_post(
            path,
            &w.cert.body.cred_id.to_string(),
            &w.device,
            &body,
            None,
            now(),
        )
        .await;
    if status == 200 {
        Ok(serde_json::from_slice(&body).unwrap())
    } else {
        Err((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// A config with the enrolment and challenge limits out of the way.
pub fn unlimited() -> PlatformConfig {
    PlatformConfig {
        enrol_tries_per_id_per_hour: 1000,
        enrol_tries_per_client_per_min: 1000,
        challenges_per_client_per_min: 10_000,
        ..PlatformConfig::default()
    }
}
