//! Face checks: live frames captured before the registry is read, then compared.

use std::sync::Arc;

use wz_proto::ResultCode;
use wz_proto::api::{Bytes, LivenessAction};
use wz_store::RegistryRecord;

use crate::Result;
use crate::face::{FaceError, LiveCapture};

use crate::platform::{Platform, err};

/// Similarity at or above which a "live" frame is taken for a copy of the
/// stored photo, for an engine that names no bound of its own
/// ([`crate::face::FaceEngine::near_identical`]). Two captures of one face
/// score below it; the photo against its own template scores 1.0.
pub const NEAR_IDENTICAL_SCORE: f32 = 0.995;

impl Platform {
    /// Live frames and the challenge's actions → a capture, judged before
    /// anything about the claimed citizen is read (so nothing this answers
    /// depends on the registry).
    pub(crate) async fn capture_face(
        &self,
        frames: &[Bytes],
        actions: Vec<LivenessAction>,
    ) -> Result<LiveCapture> {
        if frames.is_empty() {
            return Err(err(ResultCode::ModeDataMissing, "face checks need live frames"));
        }
        let frames: Vec<Vec<u8>> = frames.iter().map(|b| b.0.clone()).collect();
        let face = Arc::clone(&self.face);
        let waived = self.config.demo_liveness_waived && actions.is_empty();
        let capture = tokio::task::spawn_blocking(move || face.capture_live(&frames, &actions))
            .await
            .map_err(|_| err(ResultCode::InternalError, "face task failed"))?
            .map_err(|e| err(e.result_code(), "face engine could not check the frames"))?;
        if !capture.live && !waived {
            return Err(err(ResultCode::LivenessFailed, "liveness was not shown"));
        }
        Ok(capture)
    }

    /// A capture against the citizen's registry template.
    pub(crate) fn match_face(&self, record: &RegistryRecord, capture: &LiveCapture) -> Result<()> {
        let template = record.record.face_template.as_deref().ok_or(err(
            ResultCode::FaceMismatch,
            "registry has no face template for this citizen",
        ))?;
        if record.record.template_model.as_deref() != Some(self.face.model_id()) {
            tracing::warn!(
                "a registry template was made by another face model: run `wz admin reenrol-templates`"
            );
            return Err(err(
                FaceError::ModelMismatch.result_code(),
                "registry template was made by another model",
            ));
        }
        let m = self
            .face
            .compare(&capture.probe, template)
            .map_err(|e| err(e.result_code(), "face engine could not compare the capture"))?;
        // A live capture is never pixel-for-pixel the registry or card photo:
        // a near-perfect score means that photo itself was sent.
        if m.score >= self.face.near_identical() {
            self.security_event(ResultCode::PresentationAttack, None);
            return Err(err(
                ResultCode::PresentationAttack,
                "the face frame is a copy of the stored photo, not a live capture",
            ));
        }
        if !m.matched {
            return Err(err(ResultCode::FaceMismatch, "face does not match the registry"));
        }
        Ok(())
    }

    pub(crate) async fn check_face(
        &self,
        record: &RegistryRecord,
        frames: &[Bytes],
        actions: Vec<LivenessAction>,
    ) -> Result<()> {
        let capture = self.capture_face(frames, actions).await?;
        self.match_face(record, &capture)
    }
}
