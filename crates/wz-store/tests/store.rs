//! Every store operation, run against both back ends: a fresh SQLite file
//! and a fresh schema in the real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use wz_proto::api::{Attribute, CredentialStatus};
use wz_proto::{AuthMode, CredentialId, Level};
use wz_store::testing::TestStore;
use wz_store::{
    AuditNote, Backend, ChallengeRow, EntityStatus, NewCredential, NewRegistryRecord, PlatformKeyRow,
    RelyingParty, RpKey, RpRole, StoreError, VerificationRecord,
};

wz_store::on_both!(
    registry_import_is_idempotent,
    one_active_credential_per_citizen,
    qr_counter_accepts_each_value_once_under_races,
    pin_lockout_counts_atomically,
    relying_parties_and_keys,
    rp_nonces_detect_replay,
    verifications_and_history,
    challenges_are_single_use,
    platform_key_rotation,
    audit_chain_detects_change_and_deletion,
    verification_writes_go_on_beside_audited_transactions,
);

const NOW: u64 = 1_795_000_000;

fn note() -> AuditNote {
    AuditNote::new("test", "test.change", "x=1")
}

fn record(i: u8) -> NewRegistryRecord {
    NewRegistryRecord {
        id_index: [i; 32],
        pii: vec![i; 40],
        photo: Some(vec![i; 100]),
        face_template: Some(vec![i; 16]),
        template_model: Some("test-model".into()),
        data_key_id: "k1".into(),
    }
}

async fn with_citizen(t: &TestStore, i: u8) -> i64 {
    t.store
        .insert_registry_batch(&[record(i)], "test", NOW)
        .await
        .unwrap();
    t.store
        .registry_by_index(&[i; 32])
        .await
        .unwrap()
        .unwrap()
        .citizen_id
}

/// A fresh store with one citizen and the RP "hotel" (key "k1").
async fn citizen_and_hotel(b: Backend) -> (TestStore, i64) {
    let t = TestStore::new(b).await.unwrap();
    let c = with_citizen(&t, 1).await;
    t.store
        .insert_rp(&rp("hotel"), &rp_key("hotel", "k1"), &note())
        .await
        .unwrap();
    (t, c)
}

fn credential(citizen_id: i64, id: u8) -> NewCredential {
    NewCredential {
        cred_id: CredentialId([id; 16]),
        citizen_id,
        level: Level::Lightweight,
        device_public_key: vec![4; 65],
        certificate: vec![id; 174],
        not_before: NOW,
        not_after: NOW + 86_400,
    }
}

async fn registry_import_is_idempotent(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    let batch: Vec<_> = (1..=50).map(record).collect();
    assert_eq!(
        t.store.insert_registry_batch(&batch, "test", NOW).await.unwrap(),
        50
    );
    // Rerunning an interrupted import adds nothing twice.
    assert_eq!(
        t.store
            .insert_registry_batch(&batch[10..], "test", NOW)
            .await
            .unwrap(),
        0
    );
    assert_eq!(t.store.registry_count().await.unwrap(), 50);
    let r = t.store.registry_by_index(&[7; 32]).await.unwrap().unwrap();
    assert_eq!(r.record, record(7));
    assert_eq!(
        t.store
            .registry_by_id(r.citizen_id)
            .await
            .unwrap()
            .unwrap()
            .record,
        record(7)
    );
    assert!(t.store.registry_by_index(&[99; 32]).await.unwrap().is_none());
    assert!(!format!("{r:?}").contains("7, 7"), "Debug shows no sealed bytes");
    t.cleanup().await.unwrap();
}

async fn one_active_credential_per_citizen(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    let c = with_citizen(&t, 1).await;
    assert!(
        t.store
            .issue_credential(&credential(c, 1), None, &note(), NOW)
            .await
            .unwrap()
            .is_empty()
    );
    // A new device supersedes the old credential in the same transaction.
    let old = t
        .store
        .issue_credential(&credential(c, 2), Some("pin-hash"), &note(), NOW + 5)
        .await
        .unwrap();
    assert_eq!(old, vec![CredentialId([1; 16])]);
    let first = t.store.credential(&CredentialId([1; 16])).await.unwrap().unwrap();
    assert_eq!(first.status, CredentialStatus::Superseded);
    assert_eq!(first.status_changed_at, NOW + 5);
    let second = t.store.credential(&CredentialId([2; 16])).await.unwrap().unwrap();
    assert_eq!(
        t.store.pin_state(c).await.unwrap().unwrap().pin_hash,
        "pin-hash",
        "PIN set with the credential"
    );
    assert_eq!(
        (second.status, second.level, second.last_counter),
        (CredentialStatus::Active, Level::Lightweight, -1)
    );
    // Suspend and resume.
    assert!(
        t.store
            .transition_credential(
                &second.cred_id,
                CredentialStatus::Active,
                CredentialStatus::Suspended,
                &note(),
                NOW
            )
            .await
            .unwrap()
    );
    assert!(
        !t.store
            .transition_credential(
                &second.cred_id,
                CredentialStatus::Active,
                CredentialStatus::Suspended,
                &note(),
                NOW
            )
            .await
            .unwrap()
    );
    // A duplicate credential id is refused and changes nothing.
    let dup = t
        .store
        .issue_credential(&credential(c, 2), None, &note(), NOW)
        .await;
    assert!(dup.is_err());
    assert_eq!(
        t.store.credential(&second.cred_id).await.unwrap().unwrap().status,
        CredentialStatus::Suspended
    );
    // An unknown citizen violates the foreign key.
    assert!(
        t.store
            .issue_credential(&credential(999_999, 3), None, &note(), NOW)
            .await
            .is_err()
    );
    assert!(
        t.store
            .credential(&CredentialId([3; 16]))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        t.store.revoke_citizen_credentials(c, &note(), NOW).await.unwrap(),
        1
    );
    t.cleanup().await.unwrap();
}

async fn qr_counter_accepts_each_value_once_under_races(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    let c = with_citizen(&t, 1).await;
    t.store
        .issue_credential(&credential(c, 1), None, &note(), NOW)
        .await
        .unwrap();
    let id = CredentialId([1; 16]);
    // 16 concurrent presentations of one QR (counter 5): exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = t.store.clone();
        tasks.push(tokio::spawn(
            async move { s.accept_qr_counter(&id, 5).await.unwrap() },
        ));
    }
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert!(
        !t.store.accept_qr_counter(&id, 4).await.unwrap(),
        "older QR is stale"
    );
    assert!(t.store.accept_qr_counter(&id, 6).await.unwrap());
    t.store
        .transition_credential(
            &id,
            CredentialStatus::Active,
            CredentialStatus::Suspended,
            &note(),
            NOW,
        )
        .await
        .unwrap();
    assert!(
        !t.store.accept_qr_counter(&id, 7).await.unwrap(),
        "suspended credential accepts nothing"
    );
    t.cleanup().await.unwrap();
}

async fn pin_lockout_counts_atomically(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    let c = with_citizen(&t, 1).await;
    assert!(matches!(
        t.store.reserve_pin_attempt(c, NOW, 5, |_| 60).await,
        Err(StoreError::NotFound(_))
    ));
    t.store
        .set_pin(c, "$pbkdf2-sm3$i=10000$00$00", &note(), NOW)
        .await
        .unwrap();
    // Twelve racing tries: exactly five are reserved, the fifth sets the lock.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let s = t.store.clone();
        tasks.push(tokio::spawn(async move {
            s.reserve_pin_attempt(c, NOW, 5, |n| 60 << (n - 5)).await.unwrap()
        }));
    }
    let mut counts: Vec<u32> = Vec::new();
    for task in tasks {
        if let Some(st) = task.await.unwrap() {
            counts.push(st.failed_count);
        }
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        vec![1, 2, 3, 4, 5],
        "no lost updates, no try past the lock"
    );
    let st = t.store.pin_state(c).await.unwrap().unwrap();
    assert_eq!((st.failed_count, st.locked_until), (5, NOW + 60));
    // After the lock, the next wrong try doubles it.
    let st = t
        .store
        .reserve_pin_attempt(c, NOW + 60, 5, |n| 60 << (n - 5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((st.failed_count, st.locked_until), (6, NOW + 180));
    t.store.reset_pin_failures(c, NOW).await.unwrap();
    assert_eq!(t.store.pin_state(c).await.unwrap().unwrap().failed_count, 0);
    // Setting a new PIN replaces the hash and clears the count.
    t.store.reserve_pin_attempt(c, NOW, 5, |_| 60).await.unwrap();
    t.store.set_pin(c, "new", &note(), NOW).await.unwrap();
    let st = t.store.pin_state(c).await.unwrap().unwrap();
    assert_eq!((st.pin_hash.as_str(), st.failed_count), ("new", 0));
    t.cleanup().await.unwrap();
}

fn rp(id: &str) -> RelyingParty {
    RelyingParty {
        rp_id: id.into(),
        name: format!("{id} name"),
        role: RpRole::Verifier,
        modes: vec![
            AuthMode::from_bits(0x06).unwrap(),
            AuthMode::from_bits(0x0C).unwrap(),
        ],
        attributes: vec![Attribute::Name, Attribute::IdNumber],
        rate_per_s: 50,
        status: EntityStatus::Active,
        created_at: NOW,
    }
}

fn rp_key(rp_id: &str, key_id: &str) -> RpKey {
    RpKey {
        key_id: key_id.into(),
        rp_id: rp_id.into(),
        public_key: vec![4; 65],
        status: EntityStatus::Active,
        created_at: NOW,
        revoked_at: None,
    }
}

async fn relying_parties_and_keys(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    t.store
        .insert_rp(&rp("hotel"), &rp_key("hotel", "k1"), &note())
        .await
        .unwrap();
    assert!(matches!(
        t.store
            .insert_rp(&rp("hotel"), &rp_key("hotel", "k9"), &note())
            .await,
        Err(StoreError::Conflict(_))
    ));
    // The failed registration left no key behind.
    assert!(t.store.rp_key("k9").await.unwrap().is_none());
    assert_eq!(t.store.rp("hotel").await.unwrap().unwrap(), rp("hotel"));
    t.store
        .insert_rp(
            &RelyingParty {
                attributes: vec![],
                ..rp("cafe")
            },
            &rp_key("cafe", "c1"),
            &note(),
        )
        .await
        .unwrap();
    assert_eq!(t.store.rp("cafe").await.unwrap().unwrap().attributes, vec![]);
    assert_eq!(t.store.list_rps().await.unwrap().len(), 2);

    // Rotation with overlap, then without.
    t.store
        .add_rp_key(&rp_key("hotel", "k2"), false, &note(), NOW)
        .await
        .unwrap();
    assert_eq!(
        t.store.rp_key("k1").await.unwrap().unwrap().status,
        EntityStatus::Active
    );
    t.store
        .add_rp_key(&rp_key("hotel", "k3"), true, &note(), NOW + 1)
        .await
        .unwrap();
    let k1 = t.store.rp_key("k1").await.unwrap().unwrap();
    assert_eq!((k1.status, k1.revoked_at), (EntityStatus::Revoked, Some(NOW + 1)));
    assert!(matches!(
        t.store
            .add_rp_key(&rp_key("nobody", "n1"), false, &note(), NOW)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(t.store.revoke_rp_key("k3", &note(), NOW).await.unwrap());
    assert!(!t.store.revoke_rp_key("k3", &note(), NOW).await.unwrap());
    assert!(
        t.store
            .update_rp_entitlements("hotel", &[AuthMode::QR], &[Attribute::AgeOver18], 5, &note(), NOW)
            .await
            .unwrap()
    );
    let h = t.store.rp("hotel").await.unwrap().unwrap();
    assert_eq!(
        (h.modes, h.attributes, h.rate_per_s),
        (vec![AuthMode::QR], vec![Attribute::AgeOver18], 5)
    );
    assert!(t.store.revoke_rp("cafe", &note(), NOW).await.unwrap());
    assert_eq!(
        t.store.rp_key("c1").await.unwrap().unwrap().status,
        EntityStatus::Revoked
    );
    t.cleanup().await.unwrap();
}

async fn rp_nonces_detect_replay(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    assert!(t.store.remember_rp_nonce("hotel", "aa", NOW).await.unwrap());
    assert!(!t.store.remember_rp_nonce("hotel", "aa", NOW + 1).await.unwrap());
    assert!(
        t.store.remember_rp_nonce("cafe", "aa", NOW).await.unwrap(),
        "nonces are per RP"
    );
    assert_eq!(t.store.purge_rp_nonces(NOW + 1).await.unwrap(), 2);
    // A nonce claimed for a request that got no verdict can be claimed
    // again by the same request, once a second, never by another one.
    let (h, other) = ([7u8; 32], [8u8; 32]);
    assert!(t.store.claim_request_nonce("hotel", "bb", &h, NOW).await.unwrap());
    assert!(!t.store.claim_request_nonce("hotel", "bb", &h, NOW).await.unwrap());
    assert!(
        !t.store
            .reclaim_unanswered_nonce("hotel", "bb", &h, NOW)
            .await
            .unwrap(),
        "not within the same second"
    );
    assert!(
        !t.store
            .reclaim_unanswered_nonce("hotel", "bb", &other, NOW + 2)
            .await
            .unwrap(),
        "not for another body"
    );
    assert!(
        t.store
            .reclaim_unanswered_nonce("hotel", "bb", &h, NOW + 2)
            .await
            .unwrap()
    );
    assert!(
        !t.store
            .reclaim_unanswered_nonce("hotel", "bb", &h, NOW + 2)
            .await
            .unwrap(),
        "one retry a second"
    );
    // Rows claimed without a hash are never reclaimed.
    assert!(t.store.remember_rp_nonce("cafe", "cc", NOW).await.unwrap());
    assert!(
        !t.store
            .reclaim_unanswered_nonce("cafe", "cc", &h, NOW + 9)
            .await
            .unwrap()
    );
    t.cleanup().await.unwrap();
}

async fn verifications_and_history(b: Backend) {
    let (t, c) = citizen_and_hotel(b).await;
    for i in 0..3u8 {
        t.store
            .insert_verification(&VerificationRecord {
                serial: format!("s{i}"),
                rp_id: "hotel".into(),
                request_nonce: format!("n{i}"),
                request_hash: [i; 32],
                citizen_id: Some(c),
                cred_id: Some(CredentialId([1; 16])),
                mode: 0x06,
                result: if i == 2 { 1003 } else { 0 },
                time: NOW + u64::from(i),
                response: vec![i; 10],
            })
            .await
            .unwrap();
    }
    let v = t
        .store
        .verification_for_request("hotel", "n1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((v.serial.as_str(), v.response.as_slice()), ("s1", &[1u8; 10][..]));
    let dup = VerificationRecord {
        serial: "s9".into(),
        ..v.clone()
    };
    assert!(matches!(
        t.store.insert_verification(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    let h = t.store.history(c, 10).await.unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(
        (h[0].rp_name.as_str(), h[0].time, h[0].result),
        ("hotel name", NOW + 2, 1003)
    );
    assert_eq!(t.store.history(c, 1).await.unwrap().len(), 1);
    t.store
        .issue_credential(&credential(c, 1), None, &note(), NOW)
        .await
        .unwrap();
    // A QR verdict and its counter commit together: a failed insert leaves
    // the counter where it was; a won race moves both; a lost one neither.
    let counter = |s: &wz_store::Store| {
        let s = s.clone();
        async move {
            s.credential(&CredentialId([1; 16]))
                .await
                .unwrap()
                .unwrap()
                .last_counter
        }
    };
    let before = counter(&t.store).await;
    let with_qr = |serial: &str, nonce: &str| VerificationRecord {
        serial: serial.into(),
        request_nonce: nonce.into(),
        ..v.clone()
    };
    assert!(
        t.store
            .record_verification(&with_qr("s1", "fresh"), Some((CredentialId([1; 16]), 40)))
            .await
            .is_err(),
        "duplicate serial"
    );
    assert_eq!(
        counter(&t.store).await,
        before,
        "counter not moved without its verdict"
    );
    assert!(
        t.store
            .record_verification(&with_qr("s10", "n10"), Some((CredentialId([1; 16]), 40)))
            .await
            .unwrap()
    );
    assert_eq!(counter(&t.store).await, 40);
    assert!(
        matches!(
            t.store
                .record_verification(&with_qr("s12", "n10"), Some((CredentialId([1; 16]), 41)))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a request nonce already answered"
    );
    assert_eq!(
        counter(&t.store).await,
        40,
        "a verdict refused for its request nonce leaves the counter"
    );
    assert!(
        !t.store
            .record_verification(&with_qr("s11", "n11"), Some((CredentialId([1; 16]), 40)))
            .await
            .unwrap(),
        "the same counter again loses"
    );
    assert!(
        t.store
            .verification_for_request("hotel", "n11")
            .await
            .unwrap()
            .is_none()
    );
    t.cleanup().await.unwrap();
}

async fn challenges_are_single_use(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    let ch = ChallengeRow {
        challenge_id: "c1".into(),
        nonce: vec![1; 16],
        purpose: "enrol".into(),
        actions: "turn_left,blink".into(),
        expires_at: NOW + 120,
    };
    assert!(t.store.insert_challenge_capped(&ch, 10, NOW).await.unwrap());
    assert!(
        t.store
            .insert_challenge_capped(
                &ChallengeRow {
                    challenge_id: "c2".into(),
                    ..ch.clone()
                },
                10,
                NOW
            )
            .await
            .unwrap()
    );
    assert!(
        t.store.take_challenge("c1", NOW + 200).await.unwrap().is_none(),
        "expired"
    );
    assert_eq!(
        t.store.take_challenge("c2", NOW).await.unwrap().unwrap().actions,
        "turn_left,blink"
    );
    assert!(t.store.take_challenge("c2", NOW).await.unwrap().is_none(), "used");
    assert!(t.store.take_challenge("nope", NOW).await.unwrap().is_none());
    t.cleanup().await.unwrap();
}

async fn platform_key_rotation(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    let key = |id: &str, status: &str| PlatformKeyRow {
        key_id: id.into(),
        usage: "encryption".into(),
        wrapped: vec![1; 60],
        public_key: Some(vec![4; 65]),
        status: status.into(),
        created_at: NOW,
        retire_at: None,
    };
    t.store
        .insert_platform_key(&key("e1", "current"), "test")
        .await
        .unwrap();
    assert!(matches!(
        t.store.insert_platform_key(&key("e1", "current"), "test").await,
        Err(StoreError::Conflict(_))
    ));
    t.store
        .rotate_platform_key(&key("e2", "pending"), NOW + 600, "test")
        .await
        .unwrap();
    let live = t.store.live_platform_keys().await.unwrap();
    let status = |id: &str| live.iter().find(|k| k.key_id == id).unwrap().status.clone();
    assert_eq!(
        (status("e1"), status("e2")),
        ("draining".to_owned(), "current".to_owned())
    );
    assert_eq!(t.store.retire_drained_platform_keys(NOW + 599).await.unwrap(), 0);
    assert_eq!(t.store.retire_drained_platform_keys(NOW + 600).await.unwrap(), 1);
    assert_eq!(t.store.live_platform_keys().await.unwrap().len(), 1);
    // A key id that exists already: nothing changes.
    assert!(
        t.store
            .rotate_platform_key(&key("e2", "pending"), NOW, "test")
            .await
            .is_err()
    );
    assert_eq!(t.store.live_platform_keys().await.unwrap().len(), 1);
    t.cleanup().await.unwrap();
}

async fn audit_chain_detects_change_and_deletion(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    assert!(t.store.verify_audit().await.unwrap().is_intact());
    // Concurrent appends still form one chain.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = t.store.clone();
        tasks.push(tokio::spawn(async move {
            s.append_audit(&AuditNote::new("operator", "rp.register", format!("rp-{i}")), NOW)
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = t.store.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.entries, report.head.unwrap().0), (10, 10));

    t.execute_raw("UPDATE audit_log SET detail = 'rp-x' WHERE seq = 4")
        .await
        .unwrap();
    let report = t.store.verify_audit().await.unwrap();
    assert_eq!(report.first_break, Some((4, "entry content changed")));
    t.execute_raw("DELETE FROM audit_log WHERE seq = 4")
        .await
        .unwrap();
    assert_eq!(
        t.store.verify_audit().await.unwrap().first_break,
        Some((5, "entry missing (sequence gap)"))
    );
    t.cleanup().await.unwrap();
}

/// The verification path's writes (on SQLite a writer of their own, see
/// the store's `inline` module) beside audited transactions that read
/// before they write (the audit chain's head): every one of both kinds
/// commits, none is refused for a lock or a stale snapshot.
async fn verification_writes_go_on_beside_audited_transactions(b: Backend) {
    let (t, c) = citizen_and_hotel(b).await;
    let audit_before = t.store.verify_audit().await.unwrap().entries;
    let mut tasks = Vec::new();
    for i in 0..40u8 {
        let s = t.store.clone();
        tasks.push(tokio::spawn(async move {
            let nonce = format!("n{i}");
            assert!(
                s.claim_request_nonce("hotel", &nonce, &[i; 32], NOW)
                    .await
                    .unwrap()
            );
            s.insert_verification(&VerificationRecord {
                serial: format!("s{i}"),
                rp_id: "hotel".into(),
                request_nonce: nonce,
                request_hash: [i; 32],
                citizen_id: Some(c),
                cred_id: None,
                mode: 0x01,
                result: 0,
                time: NOW,
                response: vec![i; 300],
            })
            .await
            .unwrap();
        }));
        // Reads the RP first, then writes the key and the audit entry.
        let s = t.store.clone();
        tasks.push(tokio::spawn(async move {
            s.add_rp_key(&rp_key("hotel", &format!("extra{i}")), false, &note(), NOW)
                .await
                .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(t.store.history(c, 100).await.unwrap().len(), 40);
    for i in 0..40u8 {
        let key = t.store.rp_and_key("hotel", &format!("extra{i}")).await.unwrap();
        assert!(key.is_some(), "key {i} added");
    }
    let report = t.store.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, audit_before + 40, "every key audited");
    t.cleanup().await.unwrap();
}
