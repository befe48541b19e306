//! A change and its audit entry commit together: with a failure injected
//! between the two writes (a database trigger that aborts every audit
//! insert), every state-changing operation leaves neither behind; without
//! it, both are there. Run against a fresh SQLite file and a fresh schema in
//! the real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use wz_proto::api::{Attribute, CredentialStatus};
use wz_proto::{AuthMode, CredentialId, Level};
use wz_store::testing::TestStore;
use wz_store::{
    AuditNote, Backend, EntityStatus, NewCredential, NewRegistryRecord, PlatformKeyRow, RelyingParty, RpKey,
    RpRole,
};

wz_store::on_both!(
    failed_audit_write_leaves_no_change,
    housekeeping_purges_expired_rows
);

const NOW: u64 = 1_795_000_000;

/// Makes every audit insert fail (the second write of each change).
async fn break_audit(t: &TestStore, b: Backend) {
    let sql = match b {
        Backend::Sqlite => {
            "CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        }
        Backend::Postgres => {
            "CREATE OR REPLACE FUNCTION audit_fails() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_fails();"
        }
    };
    t.execute_raw(sql).await.unwrap();
}

async fn mend_audit(t: &TestStore) {
    let sql = match t.store.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_fails",
        Backend::Postgres => "DROP TRIGGER audit_fails ON audit_log",
    };
    t.execute_raw(sql).await.unwrap();
}

async fn audit_len(t: &TestStore) -> u64 {
    t.store.verify_audit().await.unwrap().entries
}

fn note(action: &str) -> AuditNote {
    AuditNote::new("test", action, "x=1")
}

fn record(i: u8) -> NewRegistryRecord {
    NewRegistryRecord {
        id_index: [i; 32],
        pii: vec![i; 40],
        photo: None,
        face_template: None,
        template_model: None,
        data_key_id: "k1".into(),
    }
}

fn credential(citizen_id: i64, id: u8) -> NewCredential {
    NewCredential {
        cred_id: CredentialId([id; 16]),
        citizen_id,
        level: Level::Upgraded,
        device_public_key: vec![4; 65],
        certificate: vec![id; 174],
        not_before: NOW,
        not_after: NOW + 86_400,
    }
}

fn rp(id: &str) -> RelyingParty {
    RelyingParty {
        rp_id: id.into(),
        name: format!("{id} name"),
        role: RpRole::Verifier,
        modes: vec![AuthMode::from_bits(0x04).unwrap()],
        attributes: vec![Attribute::Name],
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

fn platform_key(id: &str, status: &str) -> PlatformKeyRow {
    PlatformKeyRow {
        key_id: id.into(),
        usage: "encryption".into(),
        wrapped: vec![1; 60],
        public_key: Some(vec![4; 65]),
        status: status.into(),
        created_at: NOW,
        retire_at: None,
    }
}

async fn failed_audit_write_leaves_no_change(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    let s = &t.store;

    // Registry import batch.
    break_audit(&t, b).await;
    assert!(s.insert_registry_batch(&[record(1)], "test", NOW).await.is_err());
    assert_eq!(s.registry_count().await.unwrap(), 0);
    mend_audit(&t).await;
    assert_eq!(
        s.insert_registry_batch(&[record(1)], "test", NOW).await.unwrap(),
        1
    );
    assert_eq!(audit_len(&t).await, 1);
    let citizen = s.registry_by_index(&[1; 32]).await.unwrap().unwrap().citizen_id;

    // Issuance with a PIN, and the supersede of the one before.
    s.issue_credential(&credential(citizen, 1), None, &note("credential.issue"), NOW)
        .await
        .unwrap();
    break_audit(&t, b).await;
    assert!(
        s.issue_credential(
            &credential(citizen, 2),
            Some("pin"),
            &note("credential.issue"),
            NOW
        )
        .await
        .is_err()
    );
    assert!(s.credential(&CredentialId([2; 16])).await.unwrap().is_none());
    let first = s.credential(&CredentialId([1; 16])).await.unwrap().unwrap();
    assert_eq!(first.status, CredentialStatus::Active, "supersede rolled back");
    assert!(s.pin_state(citizen).await.unwrap().is_none(), "PIN rolled back");
    mend_audit(&t).await;
    s.issue_credential(
        &credential(citizen, 2),
        Some("pin"),
        &note("credential.issue"),
        NOW,
    )
    .await
    .unwrap();
    let audited = audit_len(&t).await;
    assert_eq!(audited, 3);

    // Suspension.
    let id = CredentialId([2; 16]);
    break_audit(&t, b).await;
    let suspend_note = note("credential.suspend");
    let suspend = || {
        s.transition_credential(
            &id,
            CredentialStatus::Active,
            CredentialStatus::Suspended,
            &suspend_note,
            NOW,
        )
    };
    assert!(suspend().await.is_err());
    assert_eq!(
        s.credential(&id).await.unwrap().unwrap().status,
        CredentialStatus::Active
    );
    mend_audit(&t).await;
    assert!(suspend().await.unwrap());
    assert_eq!(audit_len(&t).await, audited + 1);

    // PIN lock (the fifth wrong PIN sets it, audited).
    for _ in 0..4 {
        s.reserve_pin_attempt(citizen, NOW, 5, |_| 60).await.unwrap();
    }
    break_audit(&t, b).await;
    assert!(s.reserve_pin_attempt(citizen, NOW, 5, |_| 60).await.is_err());
    let pin = s.pin_state(citizen).await.unwrap().unwrap();
    assert_eq!(
        (pin.failed_count, pin.locked_until),
        (4, 0),
        "count and lock rolled back"
    );
    mend_audit(&t).await;
    let locked = s
        .reserve_pin_attempt(citizen, NOW, 5, |_| 60)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((locked.failed_count, locked.locked_until), (5, NOW + 60));
    assert_eq!(audit_len(&t).await, audited + 2);

    // PIN reset (set_pin) and revocation of the citizen's credentials.
    break_audit(&t, b).await;
    assert!(
        s.set_pin(citizen, "new", &note("credential_pin.set"), NOW)
            .await
            .is_err()
    );
    assert_eq!(s.pin_state(citizen).await.unwrap().unwrap().pin_hash, "pin");
    assert!(
        s.revoke_citizen_credentials(citizen, &note("credential.revoke"), NOW)
            .await
            .is_err()
    );
    assert_eq!(
        s.credential(&id).await.unwrap().unwrap().status,
        CredentialStatus::Suspended
    );
    mend_audit(&t).await;
    s.set_pin(citizen, "new", &note("credential_pin.set"), NOW)
        .await
        .unwrap();
    assert_eq!(
        s.revoke_citizen_credentials(citizen, &note("credential.revoke"), NOW)
            .await
            .unwrap(),
        1
    );
    assert_eq!(audit_len(&t).await, audited + 4);

    // Relying parties and their keys.
    break_audit(&t, b).await;
    assert!(
        s.insert_rp(&rp("hotel"), &rp_key("hotel", "k1"), &note("rp.register"))
            .await
            .is_err()
    );
    assert!(s.rp("hotel").await.unwrap().is_none());
    assert!(s.rp_key("k1").await.unwrap().is_none());
    mend_audit(&t).await;
    s.insert_rp(&rp("hotel"), &rp_key("hotel", "k1"), &note("rp.register"))
        .await
        .unwrap();
    break_audit(&t, b).await;
    assert!(
        s.add_rp_key(&rp_key("hotel", "k2"), true, &note("rp.key.add"), NOW)
            .await
            .is_err()
    );
    assert!(s.rp_key("k2").await.unwrap().is_none());
    assert_eq!(
        s.rp_key("k1").await.unwrap().unwrap().status,
        EntityStatus::Active
    );
    assert!(s.revoke_rp_key("k1", &note("rp.key.revoke"), NOW).await.is_err());
    assert_eq!(
        s.rp_key("k1").await.unwrap().unwrap().status,
        EntityStatus::Active
    );
    let qr_only = [AuthMode::from_bits(0x04).unwrap()];
    assert!(
        s.update_rp_entitlements("hotel", &qr_only, &[], 1, &note("rp.update"), NOW)
            .await
            .is_err()
    );
    assert_eq!(s.rp("hotel").await.unwrap().unwrap(), rp("hotel"));
    assert!(s.revoke_rp("hotel", &note("rp.revoke"), NOW).await.is_err());
    assert_eq!(s.rp("hotel").await.unwrap().unwrap().status, EntityStatus::Active);
    mend_audit(&t).await;
    assert!(s.revoke_rp("hotel", &note("rp.revoke"), NOW).await.unwrap());
    assert_eq!(
        s.rp_key("k1").await.unwrap().unwrap().status,
        EntityStatus::Revoked
    );
    assert_eq!(audit_len(&t).await, audited + 6);

    // Platform keys: creation and rotation.
    break_audit(&t, b).await;
    assert!(
        s.insert_platform_key(&platform_key("e1", "current"), "test")
            .await
            .is_err()
    );
    assert!(s.live_platform_keys().await.unwrap().is_empty());
    mend_audit(&t).await;
    s.insert_platform_key(&platform_key("e1", "current"), "test")
        .await
        .unwrap();
    break_audit(&t, b).await;
    assert!(
        s.rotate_platform_key(&platform_key("e2", "pending"), NOW + 600, "test")
            .await
            .is_err()
    );
    let live = s.live_platform_keys().await.unwrap();
    assert_eq!(live.len(), 1, "the new key was not stored");
    assert_eq!(live[0].status, "current", "the old key still serves");
    mend_audit(&t).await;
    s.rotate_platform_key(&platform_key("e2", "pending"), NOW + 600, "test")
        .await
        .unwrap();
    let report = s.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, audited + 8);
    t.cleanup().await.unwrap();
}

async fn housekeeping_purges_expired_rows(b: Backend) {
    let t = TestStore::new(b).await.unwrap();
    let s = &t.store;
    for i in 0..20_u64 {
        assert!(
            s.remember_rp_nonce("hotel", &format!("n{i}"), NOW + i)
                .await
                .unwrap()
        );
        assert!(
            s.insert_challenge_capped(
                &wz_store::ChallengeRow {
                    challenge_id: format!("c{i}"),
                    nonce: vec![1; 16],
                    purpose: "verify".into(),
                    actions: String::new(),
                    expires_at: NOW + i,
                },
                1_000_000,
                0,
            )
            .await
            .unwrap()
        );
    }
    assert_eq!(s.purge_rp_nonces(NOW + 10).await.unwrap(), 10);
    assert_eq!(s.rp_nonce_count().await.unwrap(), 10);
    assert_eq!(s.purge_challenges(NOW + 15).await.unwrap(), 15);
    assert_eq!(s.challenge_count().await.unwrap(), 5);
    // What is left still works: a live challenge can be taken once.
    assert!(s.take_challenge("c19", NOW).await.unwrap().is_some());
    assert!(s.take_challenge("c0", NOW).await.unwrap().is_none());
    t.cleanup().await.unwrap();
}
