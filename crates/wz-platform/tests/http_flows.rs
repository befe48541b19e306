//! Every platform flow over real HTTP on loopback, on SQLite and on the real
//! PostgreSQL: enrolment at both levels, verification in every mode,
//! replay, expiry, superseded and suspended credentials, wrong RP keys,
//! disallowed modes, PIN lockout, attribute release per RP, wallet sync,
//! history and audit. Faces go through a deterministic test double (the
//! real engine is issue 6's): a frame "matches" when its SM3 equals the
//! registry template, which is the SM3 of the registry photo.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod common;

use common::*;
use std::sync::Arc;

use wz_crypto::Sm2PrivateKey;
use wz_platform::PlatformConfig;
use wz_proto::api::{
    Bytes, Challenge, HistoryEntry, LivenessAction, ReleasedAttributes, SyncResponse, VerifyRequest,
    VerifyVerdict,
};
use wz_proto::{AuthMode, CardData, CivilDate, CredentialPin, IdNumber, ResultCode, Sex};
use wz_store::Backend;

wz_store::on_both!(
    one_qr_passes_once_under_concurrency,
    photo_reaches_an_entitled_rp_only,
    retry_of_an_unanswered_request_is_answered,
    enrolment_answers_one_code_for_items_and_face,
    enrolment_is_throttled_per_id_and_client,
    online_enrolment_never_replaces_upgraded,
    two_items_need_every_factor_first,
    challenges_are_throttled_and_capped,
    operator_revokes_and_citizen_resumes,
    configured_liveness_actions,
    whole_journey,
    request_level_faults,
    pin_lockout,
    modes_without_phone,
    key_rotation_drains,
    rate_limit,
    housekeeping_bounds_nonces_and_challenges,
    pin_lockout_holds_under_concurrency,
    pin_typed_on_a_kiosk_pad,
    pin_needs_an_upgraded_credential,
    stored_photo_as_live_frame_is_an_attack,
    security_events_are_counted,
    rp_names_are_screen_safe,
);

/// A request whose nonce was claimed but whose first attempt left no
/// verdict (the node or the database died in between) is evaluated again
/// when the RP resends it, and its resend after that gets the same
/// verdict; the same nonce with another body stays a replay.
async fn retry_of_an_unanswered_request_is_answered(b: Backend) {
    let e = env(b).await;
    let cafe = e.register("cafe", "verifier", &["0x04"], &[]).await;
    let mut w = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap();
    let enc = e.key("encryption").await;
    let (qr, _) = w.qr(&enc, now());
    let body = serde_json::to_vec(&VerifyRequest {
        qr: Some(qr),
        ..vreq(0x04)
    })
    .unwrap();
    let nonce = wz_proto::signed_http::new_nonce().unwrap();
    // The first attempt: claimed two seconds ago, then nothing.
    let hash = wz_crypto::sm3(&body);
    assert!(
        e.platform
            .store()
            .claim_request_nonce("cafe", &nonce, &hash, now() - 2)
            .await
            .unwrap()
    );
    let (status, _, reply, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, &body, Some(&nonce), now())
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let first: wz_proto::api::VerifyVerdict = serde_json::from_slice(&reply).unwrap();
    assert_eq!(first.result, ResultCode::Pass);
    let (status, _, reply, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, &body, Some(&nonce), now())
        .await;
    assert_eq!(status, 200);
    let again: wz_proto::api::VerifyVerdict = serde_json::from_slice(&reply).unwrap();
    assert_eq!(again.serial, first.serial, "the stored verdict, not a second one");
    // Another body under a nonce claimed for an unanswered request: replay.
    let other = wz_proto::signed_http::new_nonce().unwrap();
    assert!(
        e.platform
            .store()
            .claim_request_nonce("cafe", &other, &hash, now() - 2)
            .await
            .unwrap()
    );
    let (qr2, _) = w.qr(&enc, now());
    let body2 = serde_json::to_vec(&VerifyRequest {
        qr: Some(qr2),
        ..vreq(0x04)
    })
    .unwrap();
    let (status, _, reply, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, &body2, Some(&other), now())
        .await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&reply));
    assert!(String::from_utf8_lossy(&reply).contains("request_replayed"));
    e.finish().await;
}

/// The QR path reads the registry record without its sealed photo (it is
/// large and rarely needed); an RP entitled to the photo still gets the
/// registry photo, one that is not gets none.
async fn photo_reaches_an_entitled_rp_only(b: Backend) {
    let e = env(b).await;
    let border = e
        .register("border", "verifier", &["0x04"], &["name", "photo"])
        .await;
    let cafe = e.register("cafe", "verifier", &["0x04"], &["name"]).await;
    let mut w = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap();
    let enc = e.key("encryption").await;
    for (rp, key, photo) in [
        ("border", &border, Some(b"photo-of-jia".to_vec())),
        ("cafe", &cafe, None),
    ] {
        let (qr, _) = w.qr(&enc, now());
        let v = e
            .verify(
                rp,
                key,
                &VerifyRequest {
                    qr: Some(qr),
                    ..vreq(0x04)
                },
            )
            .await;
        assert_eq!(v.result, ResultCode::Pass, "{rp}");
        let attrs: ReleasedAttributes =
            serde_json::from_slice(&key.decrypt(&v.attributes.unwrap().0).unwrap()).unwrap();
        assert_eq!(attrs.name.as_deref(), Some(adult().name.as_str()), "{rp}");
        assert_eq!(attrs.photo.map(|p| p.0), photo, "{rp}");
    }
    e.finish().await;
}

/// One QR sent eight times at once (two RPs) passes exactly once: the
/// counter is accepted with the verdict in one transaction, and the
/// requests that lose the race are recorded as replays, counter unmoved.
async fn one_qr_passes_once_under_concurrency(b: Backend) {
    let e = Arc::new(env(b).await);
    let cafe = Arc::new(e.register("cafe", "verifier", &["0x04"], &[]).await);
    let cafe2 = Arc::new(e.register("cafe-2", "verifier", &["0x04"], &[]).await);
    let mut w = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap();
    let enc = e.key("encryption").await;
    let (qr, body) = w.qr(&enc, now());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (e, key, qr) = (
            Arc::clone(&e),
            Arc::clone(if i % 2 == 0 { &cafe } else { &cafe2 }),
            qr.clone(),
        );
        let rp = if i % 2 == 0 { "cafe" } else { "cafe-2" };
        tasks.push(tokio::spawn(async move {
            e.verify(
                rp,
                &key,
                &VerifyRequest {
                    qr: Some(qr),
                    ..vreq(0x04)
                },
            )
            .await
            .result
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(
        results.iter().filter(|r| **r == ResultCode::Pass).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, ResultCode::Pass | ResultCode::QrReplayed)),
        "{results:?}"
    );
    let cred = e
        .platform
        .store()
        .credential(&w.cert.body.cred_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cred.last_counter, i64::from(body.counter));
    Arc::try_unwrap(e).ok().unwrap().finish().await;
}

/// Defect 12.3 (oracle): junk, empty or spoofed frames, a wrong name, an
/// unknown number, a wrong card date and a wrong face all answer one code,
/// so no answer tells which of the four items is right.
async fn enrolment_answers_one_code_for_items_and_face(b: Backend) {
    let e = env_with(b, unlimited()).await;
    let right = || items(&adult(), true);
    let mut wrong_name = right();
    wrong_name.name = "别人".into();
    let mut wrong_date = right();
    wrong_date.card_valid_from = Some(CivilDate::new(2019, 1, 1).unwrap());
    let unknown = items(
        &person(
            IdNumber::from_parts(440_305, CivilDate::new(1990, 1, 1).unwrap(), 5)
                .unwrap()
                .as_str(),
            "测试甲",
        ),
        true,
    );
    let face = |f: &[u8]| vec![Bytes(f.to_vec()); 2];
    let cases = [
        (right(), vec![]),
        (wrong_name.clone(), vec![]),
        (right(), face(b"TRUNC junk")),
        (wrong_name.clone(), face(b"TRUNC junk")),
        (right(), face(b"SPOOF-photo")),
        (wrong_date.clone(), face(b"SPOOF-photo")),
        (right(), face(b"someone-else")),
        (wrong_name, face(b"photo-of-jia")),
        (wrong_date, face(b"photo-of-jia")),
        (unknown, face(b"photo-of-jia")),
        (right(), face(b"REGCOPY photo-of-jia")),
    ];
    for (i, (it, frames)) in cases.into_iter().enumerate() {
        let (status, body) = e.try_enrol_light(it, frames, None).await;
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some("identity_not_confirmed")),
            "case {i}: {body}"
        );
        assert!(!body.contains("测试") && !body.contains("别人"), "{body}");
    }
    // The right items and face still enrol.
    enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap();
    e.finish().await;
}

/// Defect 12.3 (throttle): tries are counted per ID number in the database
/// before anything is checked, whatever client they come from; and per
/// client address, where `X-Forwarded-For` counts only from a trusted proxy.
async fn enrolment_is_throttled_per_id_and_client(b: Backend) {
    let e = env_with(
        b,
        PlatformConfig {
            enrol_tries_per_client_per_min: 1000,
            ..PlatformConfig::default()
        },
    )
    .await;
    let mut wrong = items(&adult(), true);
    wrong.name = "别人".into();
    for i in 0..5 {
        let forwarded = format!("203.0.113.{i}");
        let (status, body) = e
            .try_enrol_light(
                wrong.clone(),
                vec![Bytes(b"photo-of-jia".to_vec()); 2],
                Some(&forwarded),
            )
            .await;
        assert!(body.contains("identity_not_confirmed"), "{status} {body}");
    }
    // The sixth, even with everything right, is refused before any check.
    let (status, body) = e
        .try_enrol_light(
            items(&adult(), true),
            vec![Bytes(b"photo-of-jia".to_vec()); 2],
            Some("198.51.100.7"),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("rate_limited"), "{body}");
    // Another citizen is not affected.
    enrol_light(&e, &minor(), b"photo-of-yi").await.unwrap();
    // A restarted platform still counts the tries (they are in the database).
    let stored = e
        .platform
        .store()
        .take_attempt(
            "enrol-light",
            &wz_platform::registry::blind_index(&e.platform.keys(), &adult().id_number),
            5,
            3600,
            now(),
        )
        .await
        .unwrap();
    assert!(!stored, "the budget is spent in the store");
    e.finish().await;

    // Per client: four tries for four different numbers from one address.
    let per_client = |trusted: Vec<std::net::IpAddr>| PlatformConfig {
        enrol_tries_per_client_per_min: 3,
        trusted_proxies: trusted,
        ..unlimited()
    };
    let e = env_with(b, per_client(vec![])).await;
    let mut codes = Vec::new();
    for i in 0..4 {
        let p = person(
            IdNumber::from_parts(440_305, CivilDate::new(1990, 1, 1 + i).unwrap(), 5)
                .unwrap()
                .as_str(),
            "x",
        );
        // A client cannot escape its limit by naming another address.
        let forwarded = format!("203.0.113.{i}");
        codes.push(
            e.try_enrol_light(items(&p, true), vec![Bytes(b"x".to_vec()); 2], Some(&forwarded))
                .await
                .0,
        );
    }
    assert_eq!(codes, [422, 422, 422, 429]);
    e.finish().await;
    // Behind a trusted proxy, the forwarded client is the one counted.
    let e = env_with(b, per_client(vec!["127.0.0.1".parse().unwrap()])).await;
    for i in 0..4 {
        let forwarded = format!("203.0.113.{i}");
        let (status, _) = e
            .try_enrol_light(
                items(&minor(), true),
                vec![Bytes(b"x".to_vec()); 2],
                Some(&forwarded),
            )
            .await;
        assert_eq!(status, 422);
    }
    e.finish().await;
}

/// Defect 12.3 (takeover): an online enrolment never replaces a live
/// upgraded credential, whatever it knows; the upgraded wallet keeps
/// working. Between lightweight credentials the newest still wins (the
/// lost-phone path), and the old wallet learns it at sync.
async fn online_enrolment_never_replaces_upgraded(b: Backend) {
    let e = env(b).await;
    let cafe = e.register("cafe", "verifier", &["0x04"], &[]).await;
    let terminal = e
        .register("police-hall", "trusted_terminal", &["0x03"], &[])
        .await;
    let enc = e.key("encryption").await;
    let mut upgraded = enrol_upgraded(&e, &terminal, &adult(), "20261126").await.unwrap();
    let err = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap_err();
    assert!(err.1.contains("upgraded_credential_held"), "{err:?}");
    let (qr, _) = upgraded.qr(&enc, now());
    let v = e
        .verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some(qr),
                ..vreq(0x04)
            },
        )
        .await;
    assert_eq!(v.result, ResultCode::Pass);
    // A suspended upgraded credential is still the citizen's.
    let _: SyncResponse = wallet_call(&e, &upgraded, "/v1/wallet/suspend").await.unwrap();
    let err = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap_err();
    assert!(err.1.contains("upgraded_credential_held"), "{err:?}");

    let mut first = enrol_light(&e, &minor(), b"photo-of-yi").await.unwrap();
    let _second = enrol_light(&e, &minor(), b"photo-of-yi").await.unwrap();
    let (qr, _) = first.qr(&enc, now());
    let v = e
        .verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some(qr),
                ..vreq(0x04)
            },
        )
        .await;
    assert_eq!(v.result, ResultCode::CredentialSuperseded);
    let st: SyncResponse = wallet_call(&e, &first, "/v1/wallet/status").await.unwrap();
    assert!(st.status.must_wipe());
    e.finish().await;
}

/// Defect 12.4: a 0x42 RP sending name + ID number without a face learns
/// nothing (`mode_data_missing` whether they match or not) and nothing
/// lands in the citizen's history; with a face, a wrong name and a wrong
/// face answer the same.
async fn two_items_need_every_factor_first(b: Backend) {
    let e = env(b).await;
    let courier = e.register("courier", "verifier", &["0x42"], &[]).await;
    let w = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap();
    let mut wrong = items(&adult(), false);
    wrong.name = "别人".into();
    for it in [items(&adult(), false), wrong.clone()] {
        // No frames; frames without a challenge; a challenge without frames.
        for (frames, challenge) in [
            (vec![], None),
            (vec![Bytes(b"photo-of-jia".to_vec()); 2], None),
            (vec![], Some(e.challenge("verify").await.challenge_id)),
        ] {
            let req = VerifyRequest {
                items: Some(it.clone()),
                face_frames: frames,
                challenge_id: challenge,
                ..vreq(0x42)
            };
            assert_eq!(
                e.verify("courier", &courier, &req).await.result,
                ResultCode::ModeDataMissing
            );
        }
        // Junk frames are judged before the items.
        let req = VerifyRequest {
            items: Some(it.clone()),
            face_frames: vec![Bytes(b"TRUNC".to_vec()); 2],
            challenge_id: Some(e.challenge("verify").await.challenge_id),
            ..vreq(0x42)
        };
        assert_eq!(
            e.verify("courier", &courier, &req).await.result,
            ResultCode::ImageInvalid
        );
    }
    let history: Vec<HistoryEntry> = wallet_call(&e, &w, "/v1/wallet/history").await.unwrap();
    assert!(history.is_empty(), "probes reached the history: {history:?}");
    for (it, frame) in [
        (wrong, &b"photo-of-jia"[..]),
        (items(&adult(), false), b"someone-else"),
    ] {
        let req = VerifyRequest {
            items: Some(it),
            face_frames: vec![Bytes(frame.to_vec()); 2],
            challenge_id: Some(e.challenge("verify").await.challenge_id),
            ..vreq(0x42)
        };
        assert_eq!(
            e.verify("courier", &courier, &req).await.result,
            ResultCode::IdentityNotConfirmed
        );
    }
    e.finish().await;
}

/// Defect 12.6: challenges are limited per client and purpose, and capped
/// in all; expired ones are purged (see housekeeping_bounds_nonces_and_challenges).
async fn challenges_are_throttled_and_capped(b: Backend) {
    let e = env(b).await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(e.ask_challenge("verify").await);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 30, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 10, "{statuses:?}");
    // Another purpose has its own budget.
    assert_eq!(e.ask_challenge("enrol-light").await, 200);
    assert_eq!(e.platform.store().challenge_count().await.unwrap(), 31);
    let m = e
        .http
        .get(format!("{}/metrics", e.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("wz_security_events_total{kind=\"rate_limited\"} 10"),
        "{m}"
    );
    e.finish().await;

    let e = env_with(
        b,
        PlatformConfig {
            max_outstanding_challenges: 5,
            ..unlimited()
        },
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(e.ask_challenge("verify").await);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    // Once they expire and are purged, there is room again.
    let later = now() + PlatformConfig::default().challenge_ttl_secs + 1;
    assert_eq!(e.platform.housekeep(later).await.unwrap().challenges, 5);
    assert_eq!(e.ask_challenge("verify").await, 200);
    e.finish().await;
}

/// Defect 12.8: the operator revokes a citizen's credentials (RPs see
/// `credential_revoked`, the wallet wipes itself); the citizen lifts their
/// own suspension only with a live face and, for an upgraded credential,
/// the credential PIN. Both are audited.
async fn operator_revokes_and_citizen_resumes(b: Backend) {
    let e = env(b).await;
    let cafe = e.register("cafe", "verifier", &["0x04"], &[]).await;
    let terminal = e
        .register("police-hall", "trusted_terminal", &["0x03"], &[])
        .await;
    let enc = e.key("encryption").await;
    let mut w = enrol_upgraded(&e, &terminal, &adult(), "20261126").await.unwrap();
    let qr_only = |w: &mut Wallet| VerifyRequest {
        qr: Some(w.qr(&enc, now()).0),
        ..vreq(0x04)
    };
    let resume = |frame: &[u8], pin: Option<&str>, ch: &Challenge| {
        let nonce: [u8; 16] = hex::decode(&ch.nonce).unwrap().try_into().unwrap();
        wz_proto::api::ResumeRequest {
            challenge_id: ch.challenge_id.clone(),
            face_frames: vec![Bytes(frame.to_vec()); ch.actions.len()],
            pin_block: pin.map(|p| Bytes(CredentialPin::parse(p).unwrap().seal(&nonce, &enc).unwrap())),
        }
    };
    // Resuming an active credential is refused.
    let ch = e.challenge("resume").await;
    let r = wallet_post::<SyncResponse>(
        &e,
        &w,
        "/v1/wallet/resume",
        &resume(b"photo-of-jia", Some("20261126"), &ch),
    )
    .await;
    assert!(r.unwrap_err().1.contains("request_malformed"));

    let _: SyncResponse = wallet_call(&e, &w, "/v1/wallet/suspend").await.unwrap();
    assert_eq!(
        e.verify("cafe", &cafe, &qr_only(&mut w)).await.result,
        ResultCode::CredentialSuspended
    );
    // The device key alone is not enough: no PIN, a wrong face, a wrong
    // PIN, another purpose's challenge.
    for (frame, pin, purpose, code) in [
        (&b"photo-of-jia"[..], None, "resume", "mode_data_missing"),
        (b"someone-else", Some("20261126"), "resume", "face_mismatch"),
        (b"photo-of-jia", Some("20261127"), "resume", "pin_wrong"),
        (b"photo-of-jia", Some("20261126"), "verify", "request_expired"),
    ] {
        let ch = e.challenge(purpose).await;
        let err = wallet_post::<SyncResponse>(&e, &w, "/v1/wallet/resume", &resume(frame, pin, &ch))
            .await
            .unwrap_err();
        assert!(err.1.contains(code), "{code}: {err:?}");
    }
    assert_eq!(
        e.verify("cafe", &cafe, &qr_only(&mut w)).await.result,
        ResultCode::CredentialSuspended
    );
    let ch = e.challenge("resume").await;
    let st: SyncResponse = wallet_post(
        &e,
        &w,
        "/v1/wallet/resume",
        &resume(b"photo-of-jia", Some("20261126"), &ch),
    )
    .await
    .unwrap();
    assert_eq!(st.status, wz_proto::api::CredentialStatus::Active);
    assert_eq!(
        e.verify("cafe", &cafe, &qr_only(&mut w)).await.result,
        ResultCode::Pass
    );

    // Revocation: operator token required, reasons are a fixed list,
    // unknown citizens are said so (to the operator only).
    let r = e
        .http
        .post(format!("{}/v1/admin/citizens/revoke", e.base))
        .json(&serde_json::json!({ "id_number": adult().id_number.as_str(), "reason": "fraud" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(e.revoke_citizen(&adult(), "because").await.0, 400);
    let nobody = person(
        IdNumber::from_parts(440_305, CivilDate::new(1990, 1, 1).unwrap(), 5)
            .unwrap()
            .as_str(),
        "x",
    );
    assert_eq!(e.revoke_citizen(&nobody, "fraud").await, (422, 0));
    assert_eq!(e.revoke_citizen(&adult(), "court_order").await, (200, 1));
    assert_eq!(
        e.revoke_citizen(&adult(), "court_order").await,
        (200, 0),
        "nothing left to revoke"
    );
    assert_eq!(
        e.verify("cafe", &cafe, &qr_only(&mut w)).await.result,
        ResultCode::CredentialRevoked
    );
    let st: SyncResponse = wallet_call(&e, &w, "/v1/wallet/status").await.unwrap();
    assert!(st.status.must_wipe());
    let ch = e.challenge("resume").await;
    let err = wallet_post::<SyncResponse>(
        &e,
        &w,
        "/v1/wallet/resume",
        &resume(b"photo-of-jia", Some("20261126"), &ch),
    )
    .await
    .unwrap_err();
    assert!(err.1.contains("credential_revoked"), "{err:?}");
    let entries = e.platform.store().audit_entries().await.unwrap();
    assert!(entries.iter().any(|a| a.action == "credential.resume"));
    assert!(
        entries.iter().any(|a| a.action == "citizen.revoke"
            && a.detail.contains("reason=court_order")
            && a.detail.ends_with("revoked=1")),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|a| a.detail.contains("11010519491231002X")),
        "no ID number in the audit log"
    );
    e.finish().await;
}

/// Defect 12.7: an RP name reaches citizens' screens, so control and
/// bidi characters and over-long names are refused; NFC is applied.
async fn rp_names_are_screen_safe(b: Backend) {
    let e = env(b).await;
    let key = Sm2PrivateKey::generate().unwrap();
    let register = |id: &str, name: &str| {
        serde_json::json!({
            "rp_id": id, "name": name, "role": "verifier",
            "public_key": hex::encode(key.public_key().to_sec1_bytes()),
            "modes": ["0x04"], "attributes": [], "rate_per_s": 10,
        })
    };
    for (i, bad) in [
        "Hotel\u{0}",
        "Hotel\u{1b}[31m",
        "Ho\ntel",
        "\u{202E}letoH",
        &"旅".repeat(101),
    ]
    .iter()
    .enumerate()
    {
        let r = e
            .http
            .post(format!("{}/v1/admin/rps", e.base))
            .bearer_auth(ADMIN)
            .json(&register(&format!("bad-{i}"), bad))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad:?}");
    }
    let r = e
        .http
        .post(format!("{}/v1/admin/rps", e.base))
        .bearer_auth(ADMIN)
        .json(&register("cafe-e", "Cafe\u{301} 网吧"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let rp = e.platform.store().rp("cafe-e").await.unwrap().unwrap();
    assert_eq!(rp.name, "Caf\u{e9} 网吧", "stored in NFC");
    e.finish().await;
}

/// Defect 12.9 (part): refusals an operator alerts on are counted by kind
/// in `/metrics` (and logged as `event=…` lines with the RP id only).
async fn security_events_are_counted(b: Backend) {
    let e = env(b).await;
    let key = e.register("cafe", "verifier", &["0x04"], &[]).await;
    let stranger = Sm2PrivateKey::generate().unwrap();
    let body = b"{\"mode\":\"0x04\"}";
    // Unknown RP, wrong key (signature), a replayed nonce, a bad admin token.
    let (s, ..) = e
        .signed_post("/v1/verify", "nobody", &key, body, None, now())
        .await;
    assert_eq!(s, 401);
    let (s, ..) = e
        .signed_post("/v1/verify", "cafe", &stranger, body, None, now())
        .await;
    assert_eq!(s, 401);
    let (_, _, _, nonce) = e.signed_post("/v1/verify", "cafe", &key, body, None, now()).await;
    let other = b"{\"mode\":\"0x04\",\"qr\":\"WZ1:X\"}";
    let (s, ..) = e
        .signed_post("/v1/verify", "cafe", &key, other, Some(&nonce), now())
        .await;
    assert_eq!(s, 409);
    let r = e
        .http
        .get(format!("{}/v1/admin/rps", e.base))
        .bearer_auth("not-the-operator-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let metrics = e
        .http
        .get(format!("{}/metrics", e.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for kind in ["rp_unknown", "request_replayed", "unauthorized"] {
        assert!(
            metrics.contains(&format!("wz_security_events_total{{kind=\"{kind}\"}} 1")),
            "{kind}: {metrics}"
        );
    }
    assert!(
        metrics.contains("wz_security_events_total{kind=\"rp_key_invalid\"}")
            || metrics.contains("wz_security_events_total{kind=\"rp_signature_invalid\"}"),
        "{metrics}"
    );
    e.finish().await;
}

/// Defect 12.5: the stored photo sent back as the live frame (the engine
/// scores it a perfect match) is refused as a presentation attack, and
/// counted for the operator.
async fn stored_photo_as_live_frame_is_an_attack(b: Backend) {
    let e = env(b).await;
    let hotel = e.register("hotel", "verifier", &["0x06"], &[]).await;
    let mut w = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap();
    let enc = e.key("encryption").await;
    let (qr, _) = w.qr(&enc, now());
    let req = VerifyRequest {
        qr: Some(qr),
        face_frames: vec![Bytes(b"REGCOPY photo-of-jia".to_vec()); 2],
        challenge_id: Some(e.challenge("verify").await.challenge_id),
        ..vreq(0x06)
    };
    assert_eq!(
        e.verify("hotel", &hotel, &req).await.result,
        ResultCode::PresentationAttack
    );
    let metrics = e
        .http
        .get(format!("{}/metrics", e.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("wz_security_events_total{kind=\"presentation_attack\"} 1"),
        "{metrics}"
    );
    e.finish().await;
}

/// Defect 12.2: after an online (lightweight) re-enrolment, the upgraded
/// credential's PIN authenticates nothing: PIN modes need an upgraded
/// credential.
async fn pin_needs_an_upgraded_credential(b: Backend) {
    let e = env(b).await;
    let gov = e.register("gov-hall", "verifier", &["0x0C", "0x04"], &[]).await;
    let terminal = e
        .register("police-hall", "trusted_terminal", &["0x03"], &[])
        .await;
    let enc = e.key("encryption").await;
    let mut upgraded = enrol_upgraded(&e, &terminal, &adult(), "20261126").await.unwrap();
    let req = upgraded.pin_request(&enc, "20261126");
    assert_eq!(e.verify("gov-hall", &gov, &req).await.result, ResultCode::Pass);
    // Online enrolment cannot replace the upgraded credential (12.3); once
    // the operator revokes it, a lightweight one can be had online, and the
    // stored PIN must not serve it.
    assert_eq!(e.revoke_citizen(&adult(), "citizen_request").await, (200, 1));
    let mut light = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap();
    let req = light.pin_request(&enc, "20261126");
    let v = e.verify("gov-hall", &gov, &req).await;
    assert_eq!(v.result, ResultCode::CredentialLevelInsufficient);
    // QR-only still works for the lightweight credential.
    let (qr, _) = light.qr(&enc, now());
    let req = VerifyRequest {
        qr: Some(qr),
        ..vreq(0x04)
    };
    assert_eq!(e.verify("gov-hall", &gov, &req).await.result, ResultCode::Pass);
    e.finish().await;
}

/// A kiosk cannot open the QR, so a PIN typed on its own pad is bound to
/// the QR text it scanned: the right PIN passes, a wrong one is a PIN
/// failure, and a block bound to another QR's text does not open.
async fn pin_typed_on_a_kiosk_pad(b: Backend) {
    let e = env(b).await;
    let gov = e.register("gov-hall", "verifier", &["0x0C"], &[]).await;
    let terminal = e
        .register("police-hall", "trusted_terminal", &["0x03"], &[])
        .await;
    let mut w = enrol_upgraded(&e, &terminal, &adult(), "20261126").await.unwrap();
    let enc = e.key("encryption").await;
    let mut typed = |pin: &str, bind_to_other: bool| {
        let (qr, _) = w.qr(&enc, now());
        let (other, _) = w.qr(&enc, now());
        let bound = if bind_to_other { &other } else { &qr };
        let block = CredentialPin::parse(pin)
            .unwrap()
            .seal(&wz_proto::pin::challenge_for_qr_text(bound), &enc)
            .unwrap();
        VerifyRequest {
            qr: Some(qr),
            pin_block: Some(Bytes(block)),
            ..vreq(0x0C)
        }
    };
    let right = typed("20261126", false);
    let wrong = typed("20261127", false);
    let elsewhere = typed("20261126", true);
    assert_eq!(e.verify("gov-hall", &gov, &right).await.result, ResultCode::Pass);
    assert_ne!(e.verify("gov-hall", &gov, &wrong).await.result, ResultCode::Pass);
    assert_ne!(
        e.verify("gov-hall", &gov, &elsewhere).await.result,
        ResultCode::Pass
    );
    e.finish().await;
}

/// Defect 12.1: twelve 0x0C verifications with wrong PINs (and the right
/// one last) sent at once check at most `pin_lock_after` PINs; the rest
/// are refused as locked (or as stale QR codes) without a PIN check.
async fn pin_lockout_holds_under_concurrency(b: Backend) {
    let e = env(b).await;
    let gov = e.register("gov-hall", "verifier", &["0x0C"], &[]).await;
    let terminal = e
        .register("police-hall", "trusted_terminal", &["0x03"], &[])
        .await;
    let mut w = enrol_upgraded(&e, &terminal, &adult(), "20261126").await.unwrap();
    let enc = e.key("encryption").await;
    let mut requests = Vec::new();
    for i in 0..12 {
        let pin = if i == 11 {
            "20261126".to_owned()
        } else {
            format!("1111{:04}", 2222 + i)
        };
        requests.push(w.pin_request(&enc, &pin));
    }
    let e = Arc::new(e);
    let gov = Arc::new(gov);
    let mut tasks = Vec::new();
    for req in requests {
        let (e, gov) = (Arc::clone(&e), Arc::clone(&gov));
        tasks.push(tokio::spawn(async move {
            e.verify("gov-hall", &gov, &req).await.result
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    use ResultCode::{Pass, PinLocked, PinWrong, QrReplayed};
    let checked = results.iter().filter(|r| matches!(r, PinWrong | Pass)).count();
    assert!(checked <= 5, "{checked} PINs checked: {results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, PinWrong | Pass | PinLocked | QrReplayed)),
        "{results:?}"
    );
    let citizen = e
        .platform
        .store()
        .registry_by_index(&wz_platform::registry::blind_index(
            &e.platform.keys(),
            &adult().id_number,
        ))
        .await
        .unwrap()
        .unwrap()
        .citizen_id;
    let pin = e.platform.store().pin_state(citizen).await.unwrap().unwrap();
    assert!(
        pin.failed_count <= 5,
        "failure count {} past the limit",
        pin.failed_count
    );
    Arc::try_unwrap(e).ok().unwrap().finish().await;
}

/// Used RP nonces and expired challenges are purged by housekeeping, and
/// a nonce still inside its replay window is kept (so a replay still fails).
async fn housekeeping_bounds_nonces_and_challenges(b: Backend) {
    let e = env(b).await;
    for _ in 0..3 {
        e.challenge("verify").await;
    }
    let t = now();
    let store = e.platform.store();
    assert!(
        store
            .remember_rp_nonce("hotel", "old-nonce", t - 7200)
            .await
            .unwrap()
    );
    assert!(store.remember_rp_nonce("hotel", "fresh-nonce", t).await.unwrap());
    assert_eq!(store.challenge_count().await.unwrap(), 3);
    // Nothing has expired yet.
    let done = e.platform.housekeep(t).await.unwrap();
    assert_eq!((done.challenges, done.rp_nonces), (0, 1));
    // Past the challenge lifetime and the nonce window.
    let later = t + PlatformConfig::default().challenge_ttl_secs + 1;
    let done = e.platform.housekeep(later).await.unwrap();
    assert_eq!(done.challenges, 3);
    assert_eq!(store.challenge_count().await.unwrap(), 0);
    assert_eq!(store.rp_nonce_count().await.unwrap(), 1, "fresh nonce kept");
    assert!(!store.remember_rp_nonce("hotel", "fresh-nonce", t).await.unwrap());
    e.finish().await;
}

/// Challenges ask only actions that are both configured and checkable.
async fn configured_liveness_actions(b: Backend) {
    let e = env_with(
        b,
        PlatformConfig {
            liveness_actions: Some(vec![LivenessAction::Blink, LivenessAction::OpenMouth]),
            ..PlatformConfig::default()
        },
    )
    .await;
    for purpose in ["enrol-light", "verify"] {
        assert_eq!(e.challenge(purpose).await.actions, vec![LivenessAction::Blink]);
    }
    e.finish().await;
    // Nothing checkable left: challenges are refused, not made unpassable.
    let e = env_with(
        b,
        PlatformConfig {
            liveness_actions: Some(vec![LivenessAction::OpenMouth]),
            ..PlatformConfig::default()
        },
    )
    .await;
    let r = e
        .http
        .post(format!("{}/v1/challenges", e.base))
        .json(&serde_json::json!({ "purpose": "verify" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    e.finish().await;
}

async fn whole_journey(b: Backend) {
    let e = env(b).await;
    let hotel = e
        .register("hotel", "verifier", &["0x06", "0x04"], &["name", "id_number"])
        .await;
    let cafe = e.register("cafe", "verifier", &["0x04"], &["age_over_18"]).await;
    let gov = e.register("gov-hall", "verifier", &["0x0C"], &[]).await;
    let terminal = e
        .register("police-hall", "trusted_terminal", &["0x03"], &[])
        .await;
    let enc = e.key("encryption").await;

    // Lightweight enrolment: wrong face, wrong items (one answer for
    // both), then right.
    assert!(
        enrol_light(&e, &adult(), b"someone-else")
            .await
            .unwrap_err()
            .1
            .contains("identity_not_confirmed")
    );
    let mut wrong = adult();
    wrong.name = "别人".into();
    let err = enrol_light(&e, &wrong, b"photo-of-jia").await.unwrap_err();
    assert!(
        err.1.contains("identity_not_confirmed") && !err.1.contains("别人"),
        "{err:?}"
    );
    let mut light = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap();
    assert_eq!(light.cert.body.level, wz_proto::Level::Lightweight);

    // Internet café: QR only, gets "adult" and a pseudonym, no name.
    let (qr, _) = light.qr(&enc, now());
    assert!(!qr.contains("测试") && qr.len() == 304);
    let v = e
        .verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some(qr.clone()),
                ..vreq(0x04)
            },
        )
        .await;
    assert_eq!(
        (v.result, v.level),
        (ResultCode::Pass, Some(wz_proto::Level::Lightweight))
    );
    let attrs: ReleasedAttributes =
        serde_json::from_slice(&cafe.decrypt(&v.attributes.unwrap().0).unwrap()).unwrap();
    assert_eq!(
        (attrs.age_over_18, attrs.name.as_ref(), attrs.id_number.as_ref()),
        (Some(true), None, None)
    );
    let cafe_pseudonym = v.pseudonym.unwrap();

    // The same QR again: replayed.
    let v = e
        .verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some(qr),
                ..vreq(0x04)
            },
        )
        .await;
    assert_eq!(v.result, ResultCode::QrReplayed);

    // Hotel: QR + face, gets name and ID number, and another pseudonym.
    let (qr, _) = light.qr(&enc, now());
    let v = e
        .verify(
            "hotel",
            &hotel,
            &VerifyRequest {
                qr: Some(qr),
                face_frames: vec![Bytes(b"photo-of-jia".to_vec()); 2],
                challenge_id: Some(e.challenge("verify").await.challenge_id),
                ..vreq(0x06)
            },
        )
        .await;
    assert_eq!(v.result, ResultCode::Pass);
    let attrs: ReleasedAttributes =
        serde_json::from_slice(&hotel.decrypt(&v.attributes.unwrap().0).unwrap()).unwrap();
    assert_eq!(attrs.name.as_deref(), Some("测试甲"));
    assert_eq!(attrs.id_number.unwrap().as_str(), "11010519491231002X");
    assert_eq!(attrs.age_over_18, None);
    assert_ne!(v.pseudonym.unwrap(), cafe_pseudonym, "pseudonyms are per RP");

    // Next visit to the café: same pseudonym.
    let (qr, _) = light.qr(&enc, now());
    let v = e
        .verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some(qr),
                ..vreq(0x04)
            },
        )
        .await;
    assert_eq!(v.pseudonym.unwrap(), cafe_pseudonym);

    // Hotel, wrong face; spoof; truncated image.
    for (frame, code) in [
        (&b"other-face"[..], ResultCode::FaceMismatch),
        (b"SPOOF-photo", ResultCode::LivenessFailed),
        (b"TRUNC", ResultCode::ImageInvalid),
    ] {
        let (qr, _) = light.qr(&enc, now());
        let v = e
            .verify(
                "hotel",
                &hotel,
                &VerifyRequest {
                    qr: Some(qr),
                    face_frames: vec![Bytes(frame.to_vec()); 2],
                    challenge_id: Some(e.challenge("verify").await.challenge_id),
                    ..vreq(0x06)
                },
            )
            .await;
        assert_eq!(v.result, code);
    }
    // Face mode without frames.
    let (qr, _) = light.qr(&enc, now());
    assert_eq!(
        e.verify(
            "hotel",
            &hotel,
            &VerifyRequest {
                qr: Some(qr),
                ..vreq(0x06)
            }
        )
        .await
        .result,
        ResultCode::ModeDataMissing
    );

    // Expired QR, and one from the future.
    for at in [now() - 120, now() + 120] {
        let (qr, _) = light.qr(&enc, at);
        assert_eq!(
            e.verify(
                "cafe",
                &cafe,
                &VerifyRequest {
                    qr: Some(qr),
                    ..vreq(0x04)
                }
            )
            .await
            .result,
            ResultCode::QrExpired
        );
    }
    // Malformed QR text.
    assert_eq!(
        e.verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some("WZ1:ZZ".into()),
                ..vreq(0x04)
            }
        )
        .await
        .result,
        ResultCode::QrMalformed
    );

    // A face check without a liveness challenge, or with one already used.
    let (qr, _) = light.qr(&enc, now());
    let no_challenge = VerifyRequest {
        qr: Some(qr),
        face_frames: vec![Bytes(b"photo-of-jia".to_vec()); 2],
        ..vreq(0x06)
    };
    assert_eq!(
        e.verify("hotel", &hotel, &no_challenge).await.result,
        ResultCode::ModeDataMissing
    );
    let ch = e.challenge("verify").await;
    // Challenges ask only what the engine can check.
    assert!(
        ch.actions
            .iter()
            .all(|a| [LivenessAction::TurnLeft, LivenessAction::Blink].contains(a))
    );
    for expected in [ResultCode::Pass, ResultCode::RequestExpired] {
        let (qr, _) = light.qr(&enc, now());
        let req = VerifyRequest {
            qr: Some(qr),
            challenge_id: Some(ch.challenge_id.clone()),
            ..no_challenge.clone()
        };
        assert_eq!(e.verify("hotel", &hotel, &req).await.result, expected);
    }

    // Mode the café is not registered for.
    let (qr, _) = light.qr(&enc, now());
    let v = e
        .verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some(qr),
                face_frames: vec![Bytes(b"photo-of-jia".to_vec()); 2],
                challenge_id: Some(e.challenge("verify").await.challenge_id),
                ..vreq(0x06)
            },
        )
        .await;
    assert_eq!(v.result, ResultCode::ModeNotAllowed);

    // A lightweight credential has no PIN: PIN modes need an upgraded one.
    let v = e
        .verify("gov-hall", &gov, &light.pin_request(&enc, "20261126"))
        .await;
    assert_eq!(v.result, ResultCode::CredentialLevelInsufficient);

    // Upgraded enrolment at the police hall supersedes the light credential.
    assert!(
        enrol_upgraded(&e, &hotel, &adult(), "20261126")
            .await
            .unwrap_err()
            .0
            >= 400,
        "hotel is not a terminal"
    );
    assert!(
        enrol_upgraded(&e, &terminal, &adult(), "12345678")
            .await
            .unwrap_err()
            .1
            .contains("too easy")
    );
    let mut upgraded = enrol_upgraded(&e, &terminal, &adult(), "20261126").await.unwrap();
    assert_eq!(upgraded.cert.body.level, wz_proto::Level::Upgraded);
    let (qr, _) = light.qr(&enc, now());
    assert_eq!(
        e.verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some(qr),
                ..vreq(0x04)
            }
        )
        .await
        .result,
        ResultCode::CredentialSuperseded
    );
    let st: SyncResponse = wallet_call(&e, &light, "/v1/wallet/status").await.unwrap();
    assert!(st.status.must_wipe());
    assert!(
        wallet_call::<Vec<HistoryEntry>>(&e, &light, "/v1/wallet/history")
            .await
            .is_err(),
        "old device reads no history"
    );

    // Government hall: QR + PIN.
    let (qr, body) = upgraded.qr(&enc, now());
    let block = CredentialPin::parse("20261126")
        .unwrap()
        .seal(&wz_proto::pin::challenge_for_qr(&body), &enc)
        .unwrap();
    let v = e
        .verify(
            "gov-hall",
            &gov,
            &VerifyRequest {
                qr: Some(qr),
                pin_block: Some(Bytes(block.clone())),
                ..vreq(0x0C)
            },
        )
        .await;
    assert_eq!(
        (v.result, v.level),
        (ResultCode::Pass, Some(wz_proto::Level::Upgraded))
    );
    assert!(
        v.attributes.is_none() && v.released.is_empty(),
        "gov hall has no attribute entitlement"
    );
    // The PIN block is bound to its QR: reusing it with a new QR fails.
    let (qr, _) = upgraded.qr(&enc, now());
    let v = e
        .verify(
            "gov-hall",
            &gov,
            &VerifyRequest {
                qr: Some(qr),
                pin_block: Some(Bytes(block)),
                ..vreq(0x0C)
            },
        )
        .await;
    assert_eq!(v.result, ResultCode::RequestMalformed);

    // "Who verified me".
    let history: Vec<HistoryEntry> = wallet_call(&e, &upgraded, "/v1/wallet/history").await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.rp_name == "cafe display" && h.result == ResultCode::Pass)
    );
    assert!(
        history
            .iter()
            .any(|h| h.rp_name == "hotel display" && h.result == ResultCode::FaceMismatch)
    );
    assert!(
        history
            .iter()
            .any(|h| h.rp_name == "gov-hall display" && h.mode == AuthMode::from_bits(0x0C).unwrap())
    );

    // Self-suspension.
    let st: SyncResponse = wallet_call(&e, &upgraded, "/v1/wallet/suspend").await.unwrap();
    assert_eq!(st.status, wz_proto::api::CredentialStatus::Suspended);
    let (qr, _) = upgraded.qr(&enc, now());
    assert_eq!(
        e.verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some(qr),
                ..vreq(0x04)
            }
        )
        .await
        .result,
        ResultCode::CredentialSuspended
    );

    // The operator's audit chain is intact and names what happened.
    let audit: serde_json::Value = e
        .http
        .get(format!("{}/v1/admin/audit/verify", e.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["intact"], true);
    let entries = e.platform.store().audit_entries().await.unwrap();
    for action in [
        "registry.import",
        "rp.register",
        "credential.issue",
        "credential.suspend",
    ] {
        assert!(entries.iter().any(|a| a.action == action), "{action}");
    }
    assert!(
        !entries
            .iter()
            .any(|a| a.detail.contains("测试") || a.detail.contains("11010519491231002X")),
        "no PII in audit"
    );

    // Metrics carry codes and modes, nothing personal.
    let m = e
        .http
        .get(format!("{}/metrics", e.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("wz_verifications_total{result=\"qr_replayed\",mode=\"0x04\"} 1"),
        "{m}"
    );
    assert!(m.contains("wz_request_duration_seconds_count{route=\"/v1/verify\"}"));
    e.finish().await;
}

async fn request_level_faults(b: Backend) {
    let e = env(b).await;
    let cafe = e.register("cafe", "verifier", &["0x04"], &[]).await;
    let mut w = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap();
    let enc = e.key("encryption").await;
    let (qr, _) = w.qr(&enc, now());
    let body = serde_json::to_vec(&VerifyRequest {
        qr: Some(qr),
        ..vreq(0x04)
    })
    .unwrap();
    let problem = |b: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(b).unwrap()["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // Unknown RP.
    let (s, _, r, _) = e
        .signed_post("/v1/verify", "nobody", &cafe, &body, None, now())
        .await;
    assert_eq!((s, problem(&r).as_str()), (401, "rp_unknown"));
    // A key that is not the café's.
    let other = Sm2PrivateKey::generate().unwrap();
    let (s, _, r, _) = e
        .signed_post("/v1/verify", "cafe", &other, &body, None, now())
        .await;
    assert_eq!((s, problem(&r).as_str()), (401, "rp_key_invalid"));
    // Old timestamp.
    let (s, _, r, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, &body, None, now() - 3600)
        .await;
    assert_eq!((s, problem(&r).as_str()), (401, "request_expired"));
    // Missing signature headers.
    let r = e
        .http
        .post(format!("{}/v1/verify", e.base))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Bad signature: body changed after signing.
    let (s, r) = e
        .post_swapped_body("/v1/verify", "cafe", &cafe, &body, b"{\"mode\":\"0x04\"}")
        .await;
    assert_eq!((s, problem(&r).as_str()), (401, "rp_signature_invalid"));

    // A retry of the same signed request gets the same verdict (same serial).
    let nonce = wz_proto::signed_http::new_nonce().unwrap();
    let ts = now();
    let (s1, _, r1, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, &body, Some(&nonce), ts)
        .await;
    let (s2, h2, r2, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, &body, Some(&nonce), ts)
        .await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(r1, r2);
    e.check_verdict_signature(&h2, "cafe", &nonce, &r2).await;
    // The same nonce for another body is a replay.
    let (s, _, r, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, b"{}", Some(&nonce), ts)
        .await;
    assert_eq!((s, problem(&r).as_str()), (409, "request_replayed"));

    // Malformed body: a signed verdict that says so.
    let (s, _, r, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, b"{not json", None, now())
        .await;
    let v: VerifyVerdict = serde_json::from_slice(&r).unwrap();
    assert_eq!((s, v.result), (200, ResultCode::RequestMalformed));
    // Wrong ID check digit inside the items is malformed too.
    let bad = br#"{"mode":"0x42","items":{"name":"x","id_number":"110105194912310029"}}"#;
    let (_, _, r, _) = e.signed_post("/v1/verify", "cafe", &cafe, bad, None, now()).await;
    assert_eq!(
        serde_json::from_slice::<VerifyVerdict>(&r).unwrap().result,
        ResultCode::RequestMalformed
    );
    // Oversize body.
    let big = vec![b'x'; 300 * 1024];
    let (s, _, r, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, &big, None, now())
        .await;
    assert_eq!((s, problem(&r).as_str()), (413, "body_too_large"));
    // Admin API without the token.
    let r = e
        .http
        .get(format!("{}/v1/admin/rps", e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Health.
    assert_eq!(
        e.http
            .get(format!("{}/readyz", e.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Revoked RP key, then revoked RP.
    let key_id = cafe.key_id().to_string();
    let r = e
        .http
        .post(format!("{}/v1/admin/rp-keys/{key_id}/revoke", e.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _, r, _) = e
        .signed_post("/v1/verify", "cafe", &cafe, &body, None, now())
        .await;
    assert_eq!((s, problem(&r).as_str()), (401, "rp_key_invalid"));
    e.finish().await;
}

async fn pin_lockout(b: Backend) {
    let e = env(b).await;
    let gov = e.register("gov-hall", "verifier", &["0x0C"], &[]).await;
    let terminal = e
        .register("police-hall", "trusted_terminal", &["0x03"], &[])
        .await;
    let mut w = enrol_upgraded(&e, &terminal, &adult(), "20261126").await.unwrap();
    let enc = e.key("encryption").await;
    let mut results = Vec::new();
    for pin in [
        "11112222", "11112223", "11112224", "11112225", "11112226", "20261126",
    ] {
        results.push(e.verify("gov-hall", &gov, &w.pin_request(&enc, pin)).await.result);
    }
    use ResultCode::{PinLocked, PinWrong};
    assert_eq!(
        results,
        vec![PinWrong, PinWrong, PinWrong, PinWrong, PinLocked, PinLocked],
        "locked after 5, even for the right PIN"
    );
    e.finish().await;
}

async fn modes_without_phone(b: Backend) {
    let e = env(b).await;
    let counter = e
        .register(
            "courier",
            "verifier",
            &["0x42", "0x03", "0x50"],
            &["name", "age_over_18"],
        )
        .await;
    // Two items + face.
    let req = VerifyRequest {
        items: Some(items(&adult(), false)),
        face_frames: vec![Bytes(b"photo-of-jia".to_vec()); 2],
        challenge_id: Some(e.challenge("verify").await.challenge_id),
        ..vreq(0x42)
    };
    let v = e.verify("courier", &counter, &req).await;
    assert_eq!(v.result, ResultCode::Pass);
    let attrs: ReleasedAttributes =
        serde_json::from_slice(&counter.decrypt(&v.attributes.unwrap().0).unwrap()).unwrap();
    assert_eq!(attrs.age_over_18, Some(true));
    // Wrong name and unknown ID number answer the same, and the same as a
    // wrong face (defect 12.4).
    let mut wrong = items(&adult(), false);
    wrong.name = "别人".into();
    let unknown = items(
        &person(
            IdNumber::from_parts(440_305, CivilDate::new(1990, 1, 1).unwrap(), 5)
                .unwrap()
                .as_str(),
            "x",
        ),
        false,
    );
    for it in [wrong, unknown] {
        let req = VerifyRequest {
            items: Some(it),
            face_frames: vec![Bytes(b"photo-of-jia".to_vec()); 2],
            challenge_id: Some(e.challenge("verify").await.challenge_id),
            ..vreq(0x42)
        };
        assert_eq!(
            e.verify("courier", &counter, &req).await.result,
            ResultCode::IdentityNotConfirmed
        );
    }
    // Card + face, for the minor: passes, and "adult" is false.
    let req = VerifyRequest {
        card_data: Some(Bytes(e.card(&minor()))),
        face_frames: vec![Bytes(b"photo-of-yi".to_vec()); 2],
        challenge_id: Some(e.challenge("verify").await.challenge_id),
        ..vreq(0x03)
    };
    let v = e.verify("courier", &counter, &req).await;
    assert_eq!(v.result, ResultCode::Pass);
    let attrs: ReleasedAttributes =
        serde_json::from_slice(&counter.decrypt(&v.attributes.unwrap().0).unwrap()).unwrap();
    assert_eq!(attrs.age_over_18, Some(false));
    // A card signed by someone else.
    let forger = Sm2PrivateKey::generate().unwrap();
    let p = minor();
    let forged = CardData {
        id_number: p.id_number.clone(),
        name: p.name.clone(),
        sex: p.sex,
        ethnicity: p.ethnicity.clone(),
        birth_date: p.birth_date,
        address: p.address.clone(),
        valid_from: p.card_valid_from,
        valid_to: p.card_valid_to,
        photo: vec![],
    }
    .sign(&forger)
    .unwrap()
    .encode()
    .unwrap();
    let req = VerifyRequest {
        card_data: Some(Bytes(forged)),
        face_frames: vec![Bytes(b"photo-of-yi".to_vec()); 2],
        challenge_id: Some(e.challenge("verify").await.challenge_id),
        ..vreq(0x03)
    };
    assert_eq!(
        e.verify("courier", &counter, &req).await.result,
        ResultCode::CardDataInvalid
    );
    // Four items without face.
    let v = e
        .verify(
            "courier",
            &counter,
            &VerifyRequest {
                items: Some(items(&adult(), true)),
                ..vreq(0x50)
            },
        )
        .await;
    assert_eq!(v.result, ResultCode::Pass);
    assert_eq!(Sex::Female, adult().sex);
    e.finish().await;
}

async fn key_rotation_drains(b: Backend) {
    let e = env(b).await;
    let cafe = e.register("cafe", "verifier", &["0x04"], &[]).await;
    let mut w = enrol_light(&e, &adult(), b"photo-of-jia").await.unwrap();
    let old_enc = e.key("encryption").await;
    let r = e
        .http
        .post(format!("{}/v1/admin/platform-keys/encryption/rotate", e.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let new_enc = e.key("encryption").await;
    assert_ne!(old_enc, new_enc);
    assert_eq!(
        e.keys().await.keys.len(),
        3,
        "old encryption key still published while draining"
    );
    // QR codes made for the old key still open during the drain window.
    let (qr, _) = w.qr(&old_enc, now());
    assert_eq!(
        e.verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some(qr),
                ..vreq(0x04)
            }
        )
        .await
        .result,
        ResultCode::Pass
    );
    let (qr, _) = w.qr(&new_enc, now());
    assert_eq!(
        e.verify(
            "cafe",
            &cafe,
            &VerifyRequest {
                qr: Some(qr),
                ..vreq(0x04)
            }
        )
        .await
        .result,
        ResultCode::Pass
    );
    // The wallet's certificate still checks: signing keys did not change.
    e.platform.check_certificate(&w.cert.encode()).unwrap();
    e.finish().await;
}

async fn rate_limit(b: Backend) {
    let e = env(b).await;
    let key = Sm2PrivateKey::generate().unwrap();
    let body = serde_json::json!({
        "rp_id": "slow", "name": "Slow RP", "role": "verifier",
        "public_key": hex::encode(key.public_key().to_sec1_bytes()),
        "modes": ["0x04"], "attributes": [], "rate_per_s": 2,
    });
    let r = e
        .http
        .post(format!("{}/v1/admin/rps", e.base))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (s, _, _, _) = e
            .signed_post("/v1/verify", "slow", &key, b"{\"mode\":\"0x04\"}", None, now())
            .await;
        statuses.push(s);
    }
    // A burst of one second's worth passes the limiter; the rest are 429.
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 4, "{statuses:?}");
    // Defect 12.10: a request refused for its rate keeps its nonce unused,
    // so the same signed request, retried once the rate allows, is served.
    let ts = now();
    let (s, _, _, nonce) = e
        .signed_post("/v1/verify", "slow", &key, b"{\"mode\":\"0x04\"}", None, ts)
        .await;
    assert_eq!(s, 429);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, _, body, _) = e
        .signed_post(
            "/v1/verify",
            "slow",
            &key,
            b"{\"mode\":\"0x04\"}",
            Some(&nonce),
            ts,
        )
        .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    e.finish().await;
}
