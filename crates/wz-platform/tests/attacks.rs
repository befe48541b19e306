//! The attack suite: distinct attacks against a running platform (real
//! HTTP on loopback, SQLite and PostgreSQL), each with the result code it
//! must get, and a personal-data leak check over everything the suite saw:
//! every log line (captured from the platform's own tracing), the metrics,
//! every response body and every QR text. The registry holds marker names
//! and ID numbers; any of them outside attributes released (encrypted) to
//! an entitled RP fails the suite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use wz_crypto::Sm2PrivateKey;
use wz_proto::api::{Bytes, HistoryEntry, ReleasedAttributes, ResumeRequest, SyncResponse, VerifyRequest};
use wz_proto::{CivilDate, CredentialPin, IdNumber, QrBody};
use wz_store::Backend;

/// Everything the platform logged while this test binary ran.
fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || LogSink(Arc::clone(&sink)))
            .try_init();
        buf
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The markers that must never leak.
fn markers() -> Vec<String> {
    let mut m = Vec::new();
    for p in [adult(), minor()] {
        m.push(p.name.clone());
        m.push(p.id_number.as_str().to_owned());
        m.push(p.address.clone());
    }
    m
}

/// One attack's outcome.
struct Outcome {
    attack: &'static str,
    expected: &'static str,
    got: String,
}

/// What the suite saw, for the leak check.
#[derive(Default)]
struct Seen {
    texts: Vec<String>,
}

impl Seen {
    fn add(&mut self, t: impl Into<String>) {
        self.texts.push(t.into());
    }
}

fn code_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("code")
                .or_else(|| v.get("result"))
                .and_then(|c| c.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("<{}>", String::from_utf8_lossy(body)))
}

/// Revokes an RP key through the admin API.
async fn revoke_rp_key(e: &Env, key: &Sm2PrivateKey) {
    let r = e
        .http
        .post(format!("{}/v1/admin/rp-keys/{}/revoke", e.base, key.key_id()))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

/// Base45 re-encoding of a QR envelope changed by `f`.
fn tamper_envelope(qr: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut env = base45::decode(&qr[4..]).unwrap();
    f(&mut env);
    format!("WZ1:{}", base45::encode(&env))
}

wz_store::on_both!(attack_suite);

#[allow(clippy::too_many_lines)]
async fn attack_suite(b: Backend) {
    let logs = log_buffer();
    let e = env(b).await;
    let mut seen = Seen::default();
    let mut out: Vec<Outcome> = Vec::new();
    let mut record = |attack: &'static str, expected: &'static str, got: String| {
        out.push(Outcome {
            attack,
            expected,
            got,
        });
    };

    let hotel = e
        .register("hotel", "verifier", &["0x06", "0x04"], &["name", "id_number"])
        .await;
    let cafe = e.register("cafe", "verifier", &["0x04"], &["age_over_18"]).await;
    let cafe2 = e.register("cafe-2", "verifier", &["0x04"], &[]).await;
    let gov = e.register("gov-hall", "verifier", &["0x0C"], &[]).await;
    let courier = e.register("courier", "verifier", &["0x42"], &[]).await;
    let terminal = e
        .register("police-hall", "trusted_terminal", &["0x03"], &[])
        .await;
    let enc = e.key("encryption").await;
    let mut up = enrol_upgraded(&e, &terminal, &adult(), "20261126").await.unwrap();
    let mut light = enrol_light(&e, &minor(), b"photo-of-yi").await.unwrap();

    // Sends a verification and returns the verdict's code (or the problem's).
    let verify_code = async |e: &Env, rp: &str, key: &Sm2PrivateKey, req: &VerifyRequest, seen: &mut Seen| {
        let body = serde_json::to_vec(req).unwrap();
        if let Some(q) = &req.qr {
            seen.add(q.clone());
        }
        let (_, _, resp, _) = e.signed_post("/v1/verify", rp, key, &body, None, now()).await;
        seen.add(String::from_utf8_lossy(&resp));
        code_of(&resp)
    };
    let qr_only = |qr: String| VerifyRequest {
        qr: Some(qr),
        ..vreq(0x04)
    };

    // ---- QR codes
    let (qr, _) = light.qr(&enc, now());
    let first = verify_code(&e, "cafe", &cafe, &qr_only(qr.clone()), &mut seen).await;
    record("fresh QR (baseline)", "pass", first);
    record(
        "QR replayed at the same RP",
        "qr_replayed",
        verify_code(&e, "cafe", &cafe, &qr_only(qr.clone()), &mut seen).await,
    );
    record(
        "QR replayed at another RP",
        "qr_replayed",
        verify_code(&e, "cafe-2", &cafe2, &qr_only(qr.clone()), &mut seen).await,
    );
    let (stale, _) = light.qr(&enc, now() - 120);
    record(
        "stale QR (two minutes old)",
        "qr_expired",
        verify_code(&e, "cafe", &cafe, &qr_only(stale), &mut seen).await,
    );
    let (future, _) = light.qr(&enc, now() + 120);
    record(
        "QR from the future",
        "qr_expired",
        verify_code(&e, "cafe", &cafe, &qr_only(future), &mut seen).await,
    );
    let (fresh, _) = light.qr(&enc, now());
    let flipped = tamper_envelope(&fresh, |env| env[120] ^= 0x01);
    record(
        "bit-flipped QR ciphertext",
        "qr_malformed",
        verify_code(&e, "cafe", &cafe, &qr_only(flipped), &mut seen).await,
    );
    record(
        "truncated QR",
        "qr_malformed",
        verify_code(&e, "cafe", &cafe, &qr_only(fresh[..200].to_owned()), &mut seen).await,
    );
    record(
        "QR with a wrong prefix",
        "qr_malformed",
        verify_code(
            &e,
            "cafe",
            &cafe,
            &qr_only(fresh.replacen("WZ1:", "WZ9:", 1)),
            &mut seen,
        )
        .await,
    );
    let (fresh, _) = light.qr(&enc, now());
    let version = tamper_envelope(&fresh, |env| env[0] = 0x7f);
    record(
        "QR with an unknown envelope version",
        "qr_version_unsupported",
        verify_code(&e, "cafe", &cafe, &qr_only(version), &mut seen).await,
    );
    let hint = tamper_envelope(&fresh, |env| {
        env[1] ^= 0xff;
        env[2] ^= 0xff;
    });
    record(
        "QR with a wrong key hint",
        "qr_unknown_key",
        verify_code(&e, "cafe", &cafe, &qr_only(hint), &mut seen).await,
    );
    // Counter rollback: a code made with a counter below one already used.
    let rollback = QrBody {
        cred_id: light.cert.body.cred_id,
        issued_at: now(),
        counter: 1,
        nonce: wz_crypto::random_array().unwrap(),
    }
    .seal(&light.device, &enc)
    .unwrap();
    record(
        "QR counter rolled back",
        "qr_replayed",
        verify_code(&e, "cafe", &cafe, &qr_only(rollback), &mut seen).await,
    );
    let forger = Sm2PrivateKey::generate().unwrap();
    let forged = QrBody {
        cred_id: light.cert.body.cred_id,
        issued_at: now(),
        counter: 1000,
        nonce: wz_crypto::random_array().unwrap(),
    }
    .seal(&forger, &enc)
    .unwrap();
    record(
        "QR signed by another device",
        "qr_signature_invalid",
        verify_code(&e, "cafe", &cafe, &qr_only(forged), &mut seen).await,
    );
    let unknown = QrBody {
        cred_id: wz_proto::CredentialId([7; 16]),
        issued_at: now(),
        counter: 1,
        nonce: [1; 8],
    }
    .seal(&forger, &enc)
    .unwrap();
    record(
        "QR of a credential that does not exist",
        "credential_not_found",
        verify_code(&e, "cafe", &cafe, &qr_only(unknown), &mut seen).await,
    );

    // ---- RP authentication and registration
    let (qr, _) = light.qr(&enc, now());
    let body = serde_json::to_vec(&qr_only(qr)).unwrap();
    let other = Sm2PrivateKey::generate().unwrap();
    let (_, _, r, _) = e
        .signed_post("/v1/verify", "cafe", &other, &body, None, now())
        .await;
    record(
        "RP request signed with a key not its own",
        "rp_key_invalid",
        code_of(&r),
    );
    let (_, _, r, _) = e
        .signed_post("/v1/verify", "no-such-rp", &cafe, &body, None, now())
        .await;
    record("unknown RP", "rp_unknown", code_of(&r));
    let (_, _, r, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, &body, None, now() + 3600)
        .await;
    record("request timestamp an hour ahead", "request_expired", code_of(&r));
    let (_, r) = e
        .post_swapped_body("/v1/verify", "cafe", &cafe, &body, br#"{"mode":"0x04"}"#)
        .await;
    record("body changed after signing", "rp_signature_invalid", code_of(&r));
    let nonce = wz_proto::signed_http::new_nonce().unwrap();
    let _ = e
        .signed_post("/v1/verify", "cafe", &cafe, &body, Some(&nonce), now())
        .await;
    let (_, _, r, _) = e
        .signed_post(
            "/v1/verify",
            "cafe",
            &cafe,
            br#"{"mode":"0x04"}"#,
            Some(&nonce),
            now(),
        )
        .await;
    record("nonce reused with another body", "request_replayed", code_of(&r));
    let (qr, _) = light.qr(&enc, now());
    let escalate = VerifyRequest {
        qr: Some(qr),
        face_frames: vec![Bytes(b"photo-of-yi".to_vec()); 2],
        challenge_id: Some(e.challenge("verify").await.challenge_id),
        ..vreq(0x06)
    };
    record(
        "mode the RP is not registered for",
        "mode_not_allowed",
        verify_code(&e, "cafe", &cafe, &escalate, &mut seen).await,
    );
    // Attribute escalation: the café is entitled to the adult flag only.
    let (qr, _) = light.qr(&enc, now());
    let v = e.verify("cafe", &cafe, &qr_only(qr)).await;
    let attrs: ReleasedAttributes =
        serde_json::from_slice(&cafe.decrypt(&v.attributes.clone().unwrap().0).unwrap()).unwrap();
    record(
        "attributes beyond the RP's registration",
        "none released",
        if attrs.name.is_none() && attrs.id_number.is_none() {
            "none released".to_owned()
        } else {
            "name or number released".to_owned()
        },
    );
    // A revoked key, never used, and one revoked after it was in use:
    // nothing the node learned from earlier requests may let it through.
    let dead = e.register("short-lived", "verifier", &["0x04"], &[]).await;
    revoke_rp_key(&e, &dead).await;
    let qr = light.qr(&enc, now()).0;
    record(
        "revoked RP key",
        "rp_key_invalid",
        verify_code(&e, "short-lived", &dead, &qr_only(qr), &mut seen).await,
    );
    let used = e.register("used-then-revoked", "verifier", &["0x04"], &[]).await;
    let qr = light.qr(&enc, now()).0;
    assert_eq!(
        verify_code(&e, "used-then-revoked", &used, &qr_only(qr), &mut seen).await,
        "pass"
    );
    revoke_rp_key(&e, &used).await;
    let qr = light.qr(&enc, now()).0;
    record(
        "RP key revoked after use",
        "rp_key_invalid",
        verify_code(&e, "used-then-revoked", &used, &qr_only(qr), &mut seen).await,
    );

    // ---- bodies
    let big = vec![b'x'; 300 * 1024];
    let (_, _, r, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, &big, None, now())
        .await;
    record("oversized body", "body_too_large", code_of(&r));
    let (_, _, r, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, b"{not json", None, now())
        .await;
    record("malformed verify body", "request_malformed", code_of(&r));
    let r = e
        .http
        .post(format!("{}/v1/challenges", e.base))
        .body("{\"purpose\":\"anything\"}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    record(
        "challenge of an unknown purpose",
        "request_malformed",
        code_of(&r),
    );
    let r = e
        .http
        .get(format!(
            "{}/v1/no/such/route/{}",
            e.base,
            adult().id_number.as_str()
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    seen.add(String::from_utf8_lossy(&r));
    record(
        "unknown route (with an ID number in the path)",
        "request_malformed",
        code_of(&r),
    );

    // ---- admin
    let r = e
        .http
        .get(format!("{}/v1/admin/rps", e.base))
        .send()
        .await
        .unwrap();
    record(
        "admin API without a token",
        "unauthorized",
        code_of(&r.bytes().await.unwrap()),
    );
    let r = e
        .http
        .get(format!("{}/v1/admin/rps", e.base))
        .bearer_auth("not-the-operator-token")
        .send()
        .await
        .unwrap();
    record(
        "admin API with a wrong token",
        "unauthorized",
        code_of(&r.bytes().await.unwrap()),
    );

    // ---- faces
    let (qr, _) = up.qr(&enc, now());
    let other_face = VerifyRequest {
        qr: Some(qr),
        face_frames: vec![Bytes(b"photo-of-yi".to_vec()); 2],
        challenge_id: Some(e.challenge("verify").await.challenge_id),
        ..vreq(0x06)
    };
    record(
        "another person's face",
        "face_mismatch",
        verify_code(&e, "hotel", &hotel, &other_face, &mut seen).await,
    );
    let (qr, _) = up.qr(&enc, now());
    let replayed_photo = VerifyRequest {
        qr: Some(qr),
        face_frames: vec![Bytes(b"REGCOPY photo-of-jia".to_vec()); 2],
        challenge_id: Some(e.challenge("verify").await.challenge_id),
        ..vreq(0x06)
    };
    record(
        "registry photo sent as the live frame",
        "presentation_attack",
        verify_code(&e, "hotel", &hotel, &replayed_photo, &mut seen).await,
    );
    let ch = e.challenge("verify").await;
    let (qr, _) = up.qr(&enc, now());
    let once = VerifyRequest {
        qr: Some(qr),
        face_frames: vec![Bytes(b"photo-of-jia".to_vec()); 2],
        challenge_id: Some(ch.challenge_id.clone()),
        ..vreq(0x06)
    };
    let _ = verify_code(&e, "hotel", &hotel, &once, &mut seen).await;
    let (qr, _) = up.qr(&enc, now());
    let reuse = VerifyRequest {
        qr: Some(qr),
        ..once.clone()
    };
    record(
        "liveness challenge used twice",
        "request_expired",
        verify_code(&e, "hotel", &hotel, &reuse, &mut seen).await,
    );
    let (qr, _) = up.qr(&enc, now());
    let wrong_purpose = VerifyRequest {
        qr: Some(qr),
        challenge_id: Some(e.challenge("enrol-light").await.challenge_id),
        ..once.clone()
    };
    record(
        "liveness challenge of another purpose",
        "request_expired",
        verify_code(&e, "hotel", &hotel, &wrong_purpose, &mut seen).await,
    );
    // 0x42 without a face: no name/number lookup.
    let no_face = VerifyRequest {
        items: Some(items(&adult(), false)),
        ..vreq(0x42)
    };
    record(
        "two items without the face (lookup attempt)",
        "mode_data_missing",
        verify_code(&e, "courier", &courier, &no_face, &mut seen).await,
    );

    // ---- PIN
    let (qr, body) = up.qr(&enc, now());
    let block = CredentialPin::parse("20261126")
        .unwrap()
        .seal(&wz_proto::pin::challenge_for_qr(&body), &enc)
        .unwrap();
    let _ = verify_code(
        &e,
        "gov-hall",
        &gov,
        &VerifyRequest {
            qr: Some(qr),
            pin_block: Some(Bytes(block.clone())),
            ..vreq(0x0C)
        },
        &mut seen,
    )
    .await;
    let (qr, _) = up.qr(&enc, now());
    record(
        "PIN block replayed with another QR",
        "request_malformed",
        verify_code(
            &e,
            "gov-hall",
            &gov,
            &VerifyRequest {
                qr: Some(qr),
                pin_block: Some(Bytes(block)),
                ..vreq(0x0C)
            },
            &mut seen,
        )
        .await,
    );
    record(
        "PIN mode with a lightweight credential",
        "credential_level_insufficient",
        verify_code(
            &e,
            "gov-hall",
            &gov,
            &light.pin_request(&enc, "20261126"),
            &mut seen,
        )
        .await,
    );
    let mut brute = Vec::new();
    for i in 0..6 {
        let req = up.pin_request(&enc, &format!("1111{:04}", 2222 + i));
        brute.push(verify_code(&e, "gov-hall", &gov, &req, &mut seen).await);
    }
    record(
        "PIN brute force: the first wrong guess",
        "pin_wrong",
        brute[0].clone(),
    );
    record("PIN brute force: the sixth guess", "pin_locked", brute[5].clone());
    record(
        "right PIN while locked",
        "pin_locked",
        verify_code(&e, "gov-hall", &gov, &up.pin_request(&enc, "20261126"), &mut seen).await,
    );

    // ---- enrolment
    let mut wrong_name = items(&adult(), true);
    wrong_name.name = "别人".into();
    let unknown_number = items(
        &person(
            IdNumber::from_parts(440_305, CivilDate::new(1990, 1, 1).unwrap(), 5)
                .unwrap()
                .as_str(),
            "某人",
        ),
        true,
    );
    let mut enrol_codes = Vec::new();
    for (it, frame) in [
        (wrong_name, &b"photo-of-jia"[..]),
        (unknown_number, b"photo-of-jia"),
        (items(&adult(), true), b"TRUNC junk"),
    ] {
        let (_, body) = e.try_enrol_light(it, vec![Bytes(frame.to_vec()); 2], None).await;
        seen.add(body.clone());
        enrol_codes.push(code_of(body.as_bytes()));
    }
    record(
        "enrolment: wrong name",
        "identity_not_confirmed",
        enrol_codes[0].clone(),
    );
    record(
        "enrolment: unknown ID number",
        "identity_not_confirmed",
        enrol_codes[1].clone(),
    );
    record(
        "enrolment: right items, junk frames",
        "identity_not_confirmed",
        enrol_codes[2].clone(),
    );
    let (_, body) = e
        .try_enrol_light(
            items(&adult(), true),
            vec![Bytes(b"photo-of-jia".to_vec()); 2],
            None,
        )
        .await;
    record(
        "online takeover of an upgraded credential",
        "upgraded_credential_held",
        code_of(body.as_bytes()),
    );

    // ---- wallet endpoints
    let (status, _, r, _) = e
        .signed_post(
            "/v1/wallet/history",
            &up.cert.body.cred_id.to_string(),
            &light.device,
            b"",
            None,
            now(),
        )
        .await;
    record(
        "wallet history with another device's key",
        "qr_signature_invalid",
        format!("{}{}", code_of(&r), if status == 200 { " (served!)" } else { "" }),
    );
    let nonce = wz_proto::signed_http::new_nonce().unwrap();
    let cred = light.cert.body.cred_id.to_string();
    let _ = e
        .signed_post(
            "/v1/wallet/status",
            &cred,
            &light.device,
            b"",
            Some(&nonce),
            now(),
        )
        .await;
    let (_, _, r, _) = e
        .signed_post(
            "/v1/wallet/status",
            &cred,
            &light.device,
            b"",
            Some(&nonce),
            now(),
        )
        .await;
    record("wallet request replayed", "request_replayed", code_of(&r));
    let _: SyncResponse = wallet_call(&e, &light, "/v1/wallet/suspend").await.unwrap();
    let (qr, _) = light.qr(&enc, now());
    record(
        "suspended credential",
        "credential_suspended",
        verify_code(&e, "cafe", &cafe, &qr_only(qr), &mut seen).await,
    );
    let ch = e.challenge("resume").await;
    let stolen = ResumeRequest {
        challenge_id: ch.challenge_id,
        face_frames: vec![Bytes(b"someone-else".to_vec()); ch.actions.len()],
        pin_block: None,
    };
    record(
        "thief resumes a suspended credential",
        "face_mismatch",
        wallet_post::<SyncResponse>(&e, &light, "/v1/wallet/resume", &stolen)
            .await
            .map_or_else(|(_, b)| code_of(b.as_bytes()), |_| "resumed".into()),
    );
    let mut old = light;
    let new_phone = enrol_light(&e, &minor(), b"photo-of-yi").await.unwrap();
    let (qr, _) = old.qr(&enc, now());
    record(
        "superseded credential (lost phone)",
        "credential_superseded",
        verify_code(&e, "cafe", &cafe, &qr_only(qr), &mut seen).await,
    );
    assert_eq!(e.revoke_citizen(&adult(), "fraud").await.0, 200);
    let (qr, _) = up.qr(&enc, now());
    record(
        "revoked credential",
        "credential_revoked",
        verify_code(&e, "cafe", &cafe, &qr_only(qr), &mut seen).await,
    );

    // ---- the verdicts
    let failed: Vec<String> = out
        .iter()
        .filter(|o| o.got != o.expected)
        .map(|o| format!("{}: expected {}, got {}", o.attack, o.expected, o.got))
        .collect();
    for o in &out {
        eprintln!("{:<48} {:<28} {}", o.attack, o.expected, o.got);
    }
    assert!(
        failed.is_empty(),
        "attacks not refused as expected:\n{}",
        failed.join("\n")
    );
    let attacks = out.iter().filter(|o| o.expected != "pass").count();
    assert!(attacks >= 30, "only {attacks} attacks");

    // ---- the leak check
    let history: Vec<HistoryEntry> = wallet_call(&e, &new_phone, "/v1/wallet/history").await.unwrap();
    seen.add(serde_json::to_string(&history).unwrap());
    let metrics = e
        .http
        .get(format!("{}/metrics", e.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    seen.add(metrics);
    let log = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(log.contains("wz::access"), "the platform's log was captured");
    seen.add(log);
    for marker in markers() {
        for (i, t) in seen.texts.iter().enumerate() {
            assert!(!t.contains(&marker), "personal data leaked (text {i}): {t}");
        }
    }
    e.finish().await;
}
