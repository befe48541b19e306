//! Switching face models without re-importing the registry: `reenrol_templates`
//! rebuilds every template of another model from the sealed photos,
//! audited, resumable, and a photo without a usable face keeps its old one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use common::*;
use wz_platform::face::{FaceEngine, FaceError, FaceMatch, LiveCapture};
use wz_platform::keys::MasterKey;
use wz_platform::{Platform, PlatformConfig};
use wz_proto::api::LivenessAction;
use wz_store::Backend;

wz_store::on_both!(templates_are_rebuilt_for_a_new_model);

/// A second "model": another id, another template of the same photo, and
/// no usable face in the minor's photo.
struct NewModel;

impl FaceEngine for NewModel {
    fn model_id(&self) -> &str {
        "test-double-v2"
    }
    fn supported_actions(&self) -> &[LivenessAction] {
        &[LivenessAction::TurnLeft]
    }
    fn template_from_photo(&self, image: &[u8]) -> Result<Vec<u8>, FaceError> {
        if image == b"photo-of-yi" {
            return Err(FaceError::NoSingleFace);
        }
        let mut t = wz_crypto::sm3(image).to_vec();
        t.reverse();
        Ok(t)
    }
    fn capture_live(&self, _: &[Vec<u8>], _: &[LivenessAction]) -> Result<LiveCapture, FaceError> {
        Err(FaceError::Unavailable)
    }
    fn compare(&self, _: &[u8], _: &[u8]) -> Result<FaceMatch, FaceError> {
        Err(FaceError::Unavailable)
    }
}

async fn templates_are_rebuilt_for_a_new_model(backend: Backend) {
    // Two people imported with the first model (test-double-v1).
    let env = env(backend).await;
    let store = env.platform.store().clone();
    assert_eq!(store.count_stale_templates("test-double-v1").await.unwrap(), 0);
    assert_eq!(store.count_stale_templates("test-double-v2").await.unwrap(), 2);

    // The operator switches models: the same store, the new engine.
    let platform = Platform::open(
        store.clone(),
        PlatformConfig::default(),
        MasterKey::from_hex("00112233445566778899aabbccddeeff").unwrap(),
        Arc::new(NewModel),
        vec![env.authority.public_key().clone()],
        now(),
    )
    .await
    .unwrap();
    let audit_before = store.audit_entries().await.unwrap().len();
    let mut seen = Vec::new();
    let report = platform
        .reenrol_templates(1, "operator-test", now(), |done, total| seen.push((done, total)))
        .await
        .unwrap();
    assert_eq!((report.rebuilt, report.refused), (1, 1), "{report:?}");
    assert_eq!(report.model, "test-double-v2");
    assert_eq!(seen, vec![(1, 2), (2, 2)], "progress after each batch of one");

    // The adult's record now carries the new model's template of the same photo.
    let (jia, photo) = platform.person(&adult().id_number).await.unwrap().unwrap();
    assert_eq!(jia.name, adult().name);
    let stale = store
        .stale_templates_after("test-double-v2", 0, 10)
        .await
        .unwrap();
    assert_eq!(stale.len(), 1, "only the minor's (refused) record is still stale");
    let all_ids: Vec<i64> = (1..=2).collect();
    let mut rebuilt = 0;
    for id in all_ids {
        let rec = store.registry_by_id(id).await.unwrap().unwrap();
        if rec.record.template_model.as_deref() == Some("test-double-v2") {
            rebuilt += 1;
            assert_eq!(
                rec.record.face_template.unwrap(),
                NewModel.template_from_photo(&photo.clone().unwrap()).unwrap()
            );
        } else {
            assert_eq!(rec.record.template_model.as_deref(), Some("test-double-v1"));
        }
    }
    assert_eq!(rebuilt, 1);

    // Audited once per batch that changed something, with the model named.
    let entries = store.audit_entries().await.unwrap();
    let new: Vec<_> = entries[audit_before..]
        .iter()
        .filter(|e| e.action == "registry.reenrol-templates")
        .collect();
    assert_eq!(new.len(), 1);
    assert!(
        new[0].detail.contains("model=test-double-v2"),
        "{}",
        new[0].detail
    );
    assert!(
        store.verify_audit().await.unwrap().is_intact(),
        "the audit chain still verifies"
    );

    // A rerun (as after an interruption) rebuilds nothing twice.
    let again = platform
        .reenrol_templates(10, "operator-test", now(), |_, _| {})
        .await
        .unwrap();
    assert_eq!((again.rebuilt, again.refused), (0, 1));
    assert_eq!(store.audit_entries().await.unwrap().len(), entries.len());
}
