//! `POST /v1/enrol/light`: four items + live face + device key, online.

use std::net::IpAddr;

use wz_proto::api::{EnrolResponse, LightEnrolRequest};
use wz_proto::{Level, ResultCode};

use crate::Result;
use crate::ratelimit::client_key;
use crate::registry::{blind_index, open_person};
use wz_proto::api::ChallengePurpose;

use crate::platform::{Platform, err};
use crate::verify::factors::items_match;

/// Failures of the items-and-face step of online enrolment: all answered
/// as `identity_not_confirmed`, so none tells which item or frame failed.
pub(crate) const IDENTITY_STEP_CODES: &[ResultCode] = &[
    ResultCode::FourItemsMismatch,
    ResultCode::RegistryRecordNotFound,
    ResultCode::FaceMismatch,
    ResultCode::LivenessFailed,
    ResultCode::FaceQualityLow,
    ResultCode::FaceNotFound,
    ResultCode::ImageInvalid,
    ResultCode::PresentationAttack,
    ResultCode::ModeDataMissing,
];

/// The window of the per-ID-number online enrolment budget.
pub(crate) const ENROL_WINDOW_SECS: u64 = 3600;

impl Platform {
    /// `POST /v1/enrol/light`: four items + live face + device key. Every
    /// failure of the items-and-face step answers `identity_not_confirmed`
    /// (metrics too), after the same work: the frames are judged before the
    /// registry is read. Tries are limited per client and per ID number
    /// before anything is checked. A live upgraded credential is never
    /// replaced from here (`upgraded_credential_held`): that needs a trusted
    /// terminal.
    pub async fn enrol_light(
        &self,
        req: &LightEnrolRequest,
        client: IpAddr,
        now_ms: u64,
    ) -> Result<EnrolResponse> {
        let result = self.enrol_light_inner(req, client, now_ms).await.map_err(|e| {
            if IDENTITY_STEP_CODES.contains(&e.code) {
                err(
                    ResultCode::IdentityNotConfirmed,
                    "identity is not confirmed: check the items and capture the face again",
                )
            } else {
                e
            }
        });
        if let Err(e) = &result {
            self.metrics.enrolment("lightweight", e.code.name());
        }
        result
    }

    pub(crate) async fn enrol_light_inner(
        &self,
        req: &LightEnrolRequest,
        client: IpAddr,
        now_ms: u64,
    ) -> Result<EnrolResponse> {
        let now = now_ms / 1000;
        let key = format!("enrol {}", client_key(client));
        if !self
            .clients
            .allow_per_minute(&key, self.config.enrol_tries_per_client_per_min, now_ms)
        {
            self.security_event(ResultCode::RateLimited, None);
            return Err(err(
                ResultCode::RateLimited,
                "too many enrolment tries from this client",
            ));
        }
        let keys = self.keys();
        let id_index = blind_index(&keys, &req.items.id_number);
        // In the database: holds across nodes and restarts, and for any
        // number, registered or not.
        if !self
            .store
            .take_attempt(
                "enrol-light",
                &id_index,
                self.config.enrol_tries_per_id_per_hour,
                ENROL_WINDOW_SECS,
                now,
            )
            .await?
        {
            self.security_event(ResultCode::RateLimited, None);
            return Err(err(
                ResultCode::RateLimited,
                "too many enrolment tries for this ID number; try again later",
            ));
        }
        let (ch, actions) = self
            .take_challenge(&req.challenge_id, ChallengePurpose::EnrolLight, now)
            .await?;
        let device = Self::device_key(&ch, &req.device_public_key, &req.proof_of_possession)?;
        if req.items.card_valid_from.is_none() {
            return Err(err(
                ResultCode::ModeDataMissing,
                "four items need the card validity start",
            ));
        }
        let capture = self.capture_face(&req.face_frames, actions).await?;
        let record = match self.store.registry_by_index(&id_index).await? {
            Some(r) if items_match(&req.items, &open_person(&keys, &r)?, true) => r,
            _ => {
                return Err(err(
                    ResultCode::FourItemsMismatch,
                    "items do not match the registry",
                ));
            }
        };
        // A template of another model is the operator's fault (logged), but
        // only a matching record has one: answered like a mismatch.
        self.match_face(&record, &capture).map_err(|e| {
            if e.code == ResultCode::InternalError {
                err(
                    ResultCode::FaceMismatch,
                    "registry template was made by another model",
                )
            } else {
                e
            }
        })?;
        self.issue(&record, Level::Lightweight, &device, None, now).await
    }
}
