//! The platform's domain logic: plain async functions over the store that
//! tests call directly and HTTP handlers wrap. Time is always a parameter.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use wz_crypto::{PinHash, Sm2PublicKey, sm3};
use wz_proto::api::{
    Attribute, Bytes, Challenge, CredentialStatus, EnrolResponse, HistoryEntry, IdentityItems, KeysResponse,
    LightEnrolRequest, LivenessAction, ReleasedAttributes, ResumeRequest, RevocationReason, SyncResponse,
    UpgradedEnrolRequest, VerifyRequest, VerifyVerdict, proof_of_possession_input,
};
use wz_proto::{
    AuthMode, CivilDate, CredentialBody, CredentialCert, CredentialId, CredentialPin, IdNumber, Level,
    QrBody, QrEnvelope, RequestAuth, RequestTarget, ResponseAuth, ResponseTarget, ResultCode, SignedCard,
};
use wz_store::{
    AuditNote, ChallengeRow, CredentialRow, EntityStatus, NewCredential, RegistryRecord, RelyingParty, RpKey,
    RpRole, Store, VerificationRecord,
};

use crate::face::{FaceEngine, FaceError, LiveCapture};
use crate::keys::{MasterKey, PlatformKeys};
use crate::metrics::Metrics;
use crate::ratelimit::{RateLimiter, client_key};
use crate::registry::{Person, blind_index, open_person, open_photo, pseudonym, seal_record};
use crate::{PlatformConfig, PlatformError, Result};

/// China Standard Time: ages and card validity use the civil date in China.
const CST_OFFSET_SECS: i64 = 8 * 3600;
/// Challenge purposes.
pub const PURPOSE_LIGHT: &str = "enrol-light";
pub const PURPOSE_UPGRADED: &str = "enrol-upgraded";
/// Challenge purpose of a face check at verification (modes with 0x02).
pub const PURPOSE_VERIFY: &str = "verify";
/// Challenge purpose of a citizen lifting their own suspension.
pub const PURPOSE_RESUME: &str = "resume";
/// Failures of the items-and-face step of online enrolment: all answered
/// as `identity_not_confirmed`, so none tells which item or frame failed.
const IDENTITY_STEP_CODES: &[ResultCode] = &[
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
const ENROL_WINDOW_SECS: u64 = 3600;

fn err(code: ResultCode, reason: &'static str) -> PlatformError {
    PlatformError::new(code, reason)
}

/// The civil date in China at unix time `now`.
#[must_use]
pub fn china_date(now: u64) -> CivilDate {
    let secs = i64::try_from(now).unwrap_or(i64::MAX - CST_OFFSET_SECS) + CST_OFFSET_SECS;
    // Only a clock beyond the year 9999 fails; clamp rather than panic.
    CivilDate::from_unix_seconds(secs)
        .or_else(|_| CivilDate::new(9999, 12, 31))
        .unwrap_or_else(|_| unreachable!("9999-12-31 is a valid date"))
}

/// A response the platform has signed: status, body, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReply {
    pub status: u16,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// An RP registration as an operator writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpRegistration {
    pub rp_id: String,
    pub name: String,
    pub role: RpRole,
    pub public_key: Sm2PublicKey,
    pub modes: Vec<AuthMode>,
    pub attributes: Vec<Attribute>,
    pub rate_per_s: u32,
}

/// What the factors of a verification established.
struct Subject {
    record: RegistryRecord,
    level: Option<Level>,
    cred_id: Option<CredentialId>,
}

/// The factors a verify request carries for its mode, each present and
/// well-formed (but not yet evaluated).
struct Factors<'a> {
    qr: Option<QrEnvelope>,
    items: Option<&'a IdentityItems>,
    card: Option<SignedCard>,
    pin_block: Option<&'a [u8]>,
    face: Option<(&'a [Bytes], &'a str)>,
}

impl<'a> Factors<'a> {
    fn gather(req: &'a VerifyRequest) -> Result<Self> {
        let mode = req.mode;
        let missing = |what| err(ResultCode::ModeDataMissing, what);
        let qr = if mode.contains(AuthMode::QR) {
            let text = req.qr.as_deref().ok_or(missing("mode needs the QR text"))?;
            Some(QrEnvelope::parse(text)?)
        } else {
            None
        };
        let items = if mode.contains(AuthMode::TWO_ITEMS) || mode.contains(AuthMode::FOUR_ITEMS) {
            let items = req.items.as_ref().ok_or(missing("mode needs identity items"))?;
            if mode.contains(AuthMode::FOUR_ITEMS) && items.card_valid_from.is_none() {
                return Err(missing("four items need the card validity start"));
            }
            Some(items)
        } else {
            None
        };
        let card = if mode.contains(AuthMode::CARD) {
            let bytes = req.card_data.as_ref().ok_or(missing("mode needs card data"))?;
            Some(SignedCard::decode(&bytes.0)?)
        } else {
            None
        };
        let pin_block = if mode.contains(AuthMode::PIN) {
            Some(
                req.pin_block
                    .as_ref()
                    .ok_or(missing("mode needs the PIN block"))?
                    .0
                    .as_slice(),
            )
        } else {
            None
        };
        let face = if mode.contains(AuthMode::FACE) {
            if req.face_frames.is_empty() {
                return Err(missing("mode needs face frames"));
            }
            // Liveness is required on every face path: the terminal fetched
            // a challenge and the frames show its actions.
            let challenge_id = req
                .challenge_id
                .as_deref()
                .ok_or(missing("face checks need a liveness challenge (purpose verify)"))?;
            Some((req.face_frames.as_slice(), challenge_id))
        } else {
            None
        };
        Ok(Self {
            qr,
            items,
            card,
            pin_block,
            face,
        })
    }
}

/// What one [`Platform::housekeep`] pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Housekeeping {
    pub rp_nonces: u64,
    pub challenges: u64,
    pub attempt_budgets: u64,
    pub retired_keys: u64,
}

/// The running platform.
pub struct Platform {
    store: Store,
    config: PlatformConfig,
    master: MasterKey,
    keys: RwLock<Arc<PlatformKeys>>,
    face: Arc<dyn FaceEngine>,
    card_authorities: Vec<Sm2PublicKey>,
    limiter: RateLimiter,
    /// Per client address: challenges and online enrolment tries.
    clients: RateLimiter,
    /// Counters and histograms for `/metrics`.
    pub metrics: Metrics,
}

impl core::fmt::Debug for Platform {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Platform")
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Opens the platform over `store`, creating keys on first start.
    pub async fn open(
        store: Store,
        config: PlatformConfig,
        master: MasterKey,
        face: Arc<dyn FaceEngine>,
        card_authorities: Vec<Sm2PublicKey>,
        now: u64,
    ) -> Result<Self> {
        if let Some(token) = &config.admin_token {
            token.check_strength()?;
        }
        let keys = PlatformKeys::load_or_create(&store, &master, now).await?;
        Ok(Self {
            store,
            config,
            master,
            keys: RwLock::new(Arc::new(keys)),
            face,
            card_authorities,
            limiter: RateLimiter::default(),
            clients: RateLimiter::default(),
            metrics: Metrics::default(),
        })
    }

    /// The store underneath.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> &PlatformConfig {
        &self.config
    }

    /// The keys in force (cheap: an `Arc`).
    #[must_use]
    pub fn keys(&self) -> Arc<PlatformKeys> {
        self.keys
            .read()
            .map(|k| Arc::clone(&k))
            .unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// One housekeeping pass: forgets RP nonces that can no longer be
    /// replayed (older than twice the allowed clock skew, so their
    /// timestamps fail anyway), deletes expired challenges and retires keys
    /// past their drain window. `wz serve` runs it every minute.
    pub async fn housekeep(&self, now: u64) -> Result<Housekeeping> {
        let nonce_window = self.config.request_skew_secs.saturating_mul(2);
        let done = Housekeeping {
            rp_nonces: self
                .store
                .purge_rp_nonces(now.saturating_sub(nonce_window))
                .await?,
            challenges: self.store.purge_challenges(now).await?,
            attempt_budgets: self
                .store
                .purge_attempts(now.saturating_sub(ENROL_WINDOW_SECS))
                .await?,
            retired_keys: self.store.retire_drained_platform_keys(now).await?,
        };
        if done.retired_keys > 0 {
            self.reload_keys(now).await?;
        }
        Ok(done)
    }

    /// Reloads keys from the store (after a rotation here or on another node).
    pub async fn reload_keys(&self, now: u64) -> Result<()> {
        let keys = Arc::new(PlatformKeys::load_or_create(&self.store, &self.master, now).await?);
        if let Ok(mut k) = self.keys.write() {
            *k = keys;
        }
        Ok(())
    }

    /// `GET /v1/keys`.
    #[must_use]
    pub fn keys_response(&self, now: u64) -> KeysResponse {
        KeysResponse {
            keys: self.keys().published().to_vec(),
            server_time: now,
        }
    }

    /// Rotates the signing or encryption key; the old one drains.
    pub async fn rotate_key(&self, usage: &str, actor: &str, now: u64) -> Result<String> {
        let id = PlatformKeys::rotate(
            &self.store,
            &self.master,
            usage,
            actor,
            now,
            self.config.key_drain_secs,
        )
        .await?;
        self.reload_keys(now).await?;
        Ok(id)
    }

    // ------------------------------------------------------------- registry

    /// Seals one registry person (and photo) into a record, with a face
    /// template when the engine is configured. A photo in which the engine
    /// finds no usable face is refused; with no engine configured the record
    /// is stored without a template (face checks then fail for it until
    /// templates are built).
    pub async fn prepare_record(
        &self,
        person: &Person,
        photo: Option<&[u8]>,
    ) -> Result<wz_store::NewRegistryRecord> {
        let template = match photo {
            Some(p) => match self.template(p).await {
                Ok(t) => Some((t, self.face.model_id().to_owned())),
                Err(e) if e.code == ResultCode::Unavailable => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        seal_record(&self.keys(), person, photo, template)
    }

    /// Stores prepared records in one transaction; rows already present
    /// are skipped. Returns how many were new.
    pub async fn store_records(
        &self,
        rows: &[wz_store::NewRegistryRecord],
        actor: &str,
        now: u64,
    ) -> Result<u64> {
        Ok(self.store.insert_registry_batch(rows, actor, now).await?)
    }

    /// Prepares and stores people in one batch (tests and small imports).
    pub async fn import_people(
        &self,
        people: &[(Person, Option<Vec<u8>>)],
        actor: &str,
        now: u64,
    ) -> Result<u64> {
        let mut rows = Vec::with_capacity(people.len());
        for (person, photo) in people {
            rows.push(self.prepare_record(person, photo.as_deref()).await?);
        }
        self.store_records(&rows, actor, now).await
    }

    /// A registry person by ID number (for operator tools such as card issue).
    pub async fn person(&self, id: &wz_proto::IdNumber) -> Result<Option<(Person, Option<Vec<u8>>)>> {
        let keys = self.keys();
        let Some(rec) = self.store.registry_by_index(&blind_index(&keys, id)).await? else {
            return Ok(None);
        };
        Ok(Some((open_person(&keys, &rec)?, open_photo(&keys, &rec)?)))
    }

    async fn template(&self, photo: &[u8]) -> Result<Vec<u8>> {
        let face = Arc::clone(&self.face);
        let photo = photo.to_vec();
        tokio::task::spawn_blocking(move || face.template_from_photo(&photo))
            .await
            .map_err(|_| err(ResultCode::InternalError, "face task failed"))?
            .map_err(|e| err(e.result_code(), "photo has no usable face"))
    }

    // ------------------------------------------------------- relying parties

    /// Registers a relying party with its first key.
    pub async fn register_rp(&self, reg: &RpRegistration, actor: &str, now: u64) -> Result<RelyingParty> {
        wz_proto::signed_http::check_rp_id(&reg.rp_id)?;
        // The name reaches citizens' screens ("who verified me").
        let name = wz_proto::text::display_text(&reg.name, 100).map_err(|_| {
            err(
                ResultCode::RequestMalformed,
                "RP name must be 1-100 characters, without control or bidi characters",
            )
        })?;
        if reg.modes.is_empty() {
            return Err(err(ResultCode::ModeInvalid, "an RP needs at least one mode"));
        }
        for m in &reg.modes {
            check_mode_shape(*m)?;
        }
        let rp = RelyingParty {
            rp_id: reg.rp_id.clone(),
            name,
            role: reg.role,
            modes: reg.modes.clone(),
            attributes: reg.attributes.clone(),
            rate_per_s: reg.rate_per_s,
            status: EntityStatus::Active,
            created_at: now,
        };
        let key = self.rp_key_row(&reg.rp_id, &reg.public_key, now);
        let detail = format!(
            "rp={} role={} modes={} attrs={} key={}",
            rp.rp_id,
            rp.role.as_str(),
            rp.modes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            rp.attributes
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(","),
            key.key_id
        );
        self.store
            .insert_rp(&rp, &key, &AuditNote::new(actor, "rp.register", detail))
            .await
            .map_err(|e| match e {
                wz_store::StoreError::Conflict(_) => {
                    err(ResultCode::RequestMalformed, "an RP with this id or key exists")
                }
                other => other.into(),
            })?;
        Ok(rp)
    }

    fn rp_key_row(&self, rp_id: &str, key: &Sm2PublicKey, now: u64) -> RpKey {
        RpKey {
            key_id: key.key_id().to_string(),
            rp_id: rp_id.to_owned(),
            public_key: key.to_sec1_bytes().to_vec(),
            status: EntityStatus::Active,
            created_at: now,
            revoked_at: None,
        }
    }

    /// Adds a key to an RP; with `replace`, its other keys are revoked.
    pub async fn add_rp_key(
        &self,
        rp_id: &str,
        key: &Sm2PublicKey,
        replace: bool,
        actor: &str,
        now: u64,
    ) -> Result<()> {
        let row = self.rp_key_row(rp_id, key, now);
        let note = AuditNote::new(
            actor,
            "rp.key.add",
            format!("rp={rp_id} key={} replace={replace}", row.key_id),
        );
        self.store
            .add_rp_key(&row, replace, &note, now)
            .await
            .map_err(|e| match e {
                wz_store::StoreError::NotFound(_) => err(ResultCode::RpUnknown, "no such relying party"),
                wz_store::StoreError::Conflict(_) => {
                    err(ResultCode::RequestMalformed, "key already registered")
                }
                other => other.into(),
            })?;
        Ok(())
    }

    /// Revokes one RP key.
    pub async fn revoke_rp_key(&self, key_id: &str, actor: &str, now: u64) -> Result<()> {
        let note = AuditNote::new(actor, "rp.key.revoke", format!("key={key_id}"));
        if !self.store.revoke_rp_key(key_id, &note, now).await? {
            return Err(err(ResultCode::RpKeyInvalid, "no such active key"));
        }
        Ok(())
    }

    /// Revokes an RP and all its keys.
    pub async fn revoke_rp(&self, rp_id: &str, actor: &str, now: u64) -> Result<()> {
        let note = AuditNote::new(actor, "rp.revoke", format!("rp={rp_id}"));
        if !self.store.revoke_rp(rp_id, &note, now).await? {
            return Err(err(ResultCode::RpUnknown, "no such active relying party"));
        }
        Ok(())
    }

    /// Checks an RP request's signature and freshness (steps 1-4 of a
    /// verification: RP known, key valid, signature, timestamp) and
    /// remembers its nonce. Returns the RP and the key that signed.
    pub async fn authenticate_rp(
        &self,
        auth: &RequestAuth,
        target: &RequestTarget<'_>,
        now: u64,
    ) -> Result<(RelyingParty, Sm2PublicKey)> {
        let outcome = self.authenticate_rp_steps(auth, target, now).await;
        if let Err(e) = &outcome
            && e.code != ResultCode::InternalError
        {
            self.security_event(e.code, Some(&auth.rp_id));
        }
        outcome
    }

    /// Logs and counts a refusal an operator may want to alert on. The RP
    /// id is the claimed one, printed escaped; nothing about a person.
    pub fn security_event(&self, code: ResultCode, rp_id: Option<&str>) {
        tracing::warn!(event = code.name(), rp_id = ?rp_id, "security event");
        self.metrics.security_event(code.name());
    }

    async fn authenticate_rp_steps(
        &self,
        auth: &RequestAuth,
        target: &RequestTarget<'_>,
        now: u64,
    ) -> Result<(RelyingParty, Sm2PublicKey)> {
        let unknown = || {
            err(
                ResultCode::RpUnknown,
                "relying party is not registered or revoked",
            )
        };
        let (rp, key) = match self
            .store
            .rp_and_key(&auth.rp_id, &auth.key_id.to_string())
            .await?
        {
            Some(found) => found,
            // Tell an unknown RP from an unknown key, as the check order says.
            None => {
                let rp = self.store.rp(&auth.rp_id).await?.ok_or_else(unknown)?;
                if rp.status != EntityStatus::Active {
                    return Err(unknown());
                }
                return Err(err(
                    ResultCode::RpKeyInvalid,
                    "key is not an active key of this relying party",
                ));
            }
        };
        if rp.status != EntityStatus::Active {
            return Err(unknown());
        }
        if key.status != EntityStatus::Active {
            return Err(err(
                ResultCode::RpKeyInvalid,
                "key is not an active key of this relying party",
            ));
        }
        let public = Sm2PublicKey::from_sec1_bytes(&key.public_key)
            .map_err(|_| err(ResultCode::InternalError, "stored RP key is corrupt"))?;
        auth.verify_signature(&public, target)?;
        auth.check_timestamp(now, self.config.request_skew_secs)?;
        Ok((rp, public))
    }

    /// Signs a response body for an RP request.
    pub fn sign_reply(
        &self,
        status: u16,
        body: Vec<u8>,
        rp_id: &str,
        nonce: &str,
        now: u64,
    ) -> Result<SignedReply> {
        let keys = self.keys();
        let target = ResponseTarget {
            status,
            rp_id,
            request_nonce: nonce,
            body: &body,
        };
        let auth = ResponseAuth::sign(keys.signing.current(), &target, now)?;
        let mut headers: Vec<(&'static str, String)> = auth.to_headers().to_vec();
        headers.push((wz_proto::signed_http::headers::NONCE, nonce.to_owned()));
        Ok(SignedReply {
            status,
            body,
            headers,
        })
    }

    // -------------------------------------------------------------- verify

    /// `POST /v1/verify`: the whole check, in the documented order. Errors
    /// before the RP is authenticated come back as `Err` (an unsigned
    /// problem); every later outcome is a signed verdict, pass or fail, and
    /// is logged for the citizen's history.
    pub async fn verify(
        &self,
        auth: &RequestAuth,
        target: &RequestTarget<'_>,
        now: u64,
        now_ms: u64,
    ) -> Result<SignedReply> {
        let (rp, rp_key) = self.authenticate_rp(auth, target, now).await?;
        let request_hash = sm3(target.body);
        // Idempotent retry: the same signed request gets the same verdict.
        if let Some(prev) = self
            .store
            .verification_for_request(&rp.rp_id, &auth.nonce)
            .await?
        {
            if prev.request_hash == request_hash {
                return self.sign_reply(200, prev.response, &rp.rp_id, &auth.nonce, now);
            }
            self.security_event(ResultCode::RequestReplayed, Some(&rp.rp_id));
            return Err(err(
                ResultCode::RequestReplayed,
                "request nonce was used for another request",
            ));
        }
        // Rate first: a request refused for its rate has not used its nonce,
        // so the SDK's retry of the same signed request can still succeed.
        if !self.limiter.allow(&rp.rp_id, rp.rate_per_s, now_ms) {
            self.security_event(ResultCode::RateLimited, Some(&rp.rp_id));
            return Err(err(ResultCode::RateLimited, "relying party is over its rate"));
        }
        if !self.store.remember_rp_nonce(&rp.rp_id, &auth.nonce, now).await? {
            self.security_event(ResultCode::RequestReplayed, Some(&rp.rp_id));
            return Err(err(ResultCode::RequestReplayed, "request nonce was seen before"));
        }
        // Who the request turned out to concern, even if a later factor
        // failed: a failed attempt belongs in that citizen's history too.
        let mut seen: Option<(i64, Option<CredentialId>)> = None;
        let parsed: std::result::Result<VerifyRequest, _> = serde_json::from_slice(target.body);
        let (mode, outcome) = match parsed {
            Err(_) => (
                None,
                Err(err(
                    ResultCode::RequestMalformed,
                    "body is not a valid verify request",
                )),
            ),
            Ok(req) if !rp.modes.contains(&req.mode) => (
                Some(req.mode),
                Err(err(
                    ResultCode::ModeNotAllowed,
                    "mode is not registered for this RP",
                )),
            ),
            Ok(req) => (Some(req.mode), self.check_factors(&req, now, &mut seen).await),
        };
        if let Err(e) = &outcome
            && matches!(e.code, ResultCode::InternalError | ResultCode::Unavailable)
        {
            tracing::warn!(code = %e.code, reason = e.reason, rp = %rp.rp_id, "verification could not complete");
        }
        let serial = hex::encode(wz_crypto::random_array::<16>()?);
        let mode_bits = mode.unwrap_or(AuthMode::QR);
        let verdict = match &outcome {
            Ok(subject) => {
                let (released, attributes) = self.release(&rp, &rp_key, &subject.record, now)?;
                VerifyVerdict {
                    serial: serial.clone(),
                    result: ResultCode::Pass,
                    result_code: 0,
                    mode: mode_bits,
                    level: subject.level,
                    time: now,
                    pseudonym: Some(pseudonym(
                        &self.keys(),
                        &subject.record.record.id_index,
                        &rp.rp_id,
                    )),
                    released,
                    attributes,
                }
            }
            Err(e) => VerifyVerdict {
                serial: serial.clone(),
                result: e.code,
                result_code: e.code.code(),
                mode: mode_bits,
                level: None,
                time: now,
                pseudonym: None,
                released: Vec::new(),
                attributes: None,
            },
        };
        let body =
            serde_json::to_vec(&verdict).map_err(|_| err(ResultCode::InternalError, "verdict encoding"))?;
        let (citizen_id, cred_id) = match &outcome {
            Ok(s) => (Some(s.record.citizen_id), s.cred_id),
            Err(_) => seen.map_or((None, None), |(c, cred)| (Some(c), cred)),
        };
        self.store
            .insert_verification(&VerificationRecord {
                serial,
                rp_id: rp.rp_id.clone(),
                request_nonce: auth.nonce.clone(),
                request_hash,
                citizen_id,
                cred_id,
                mode: mode_bits.bits(),
                result: verdict.result.code(),
                time: now,
                response: body.clone(),
            })
            .await?;
        self.metrics
            .verification(verdict.result.name(), &mode_bits.to_string());
        if matches!(
            verdict.result,
            ResultCode::QrReplayed | ResultCode::QrSignatureInvalid | ResultCode::RequestReplayed
        ) {
            self.security_event(verdict.result, Some(&rp.rp_id));
        }
        self.sign_reply(200, body, &rp.rp_id, &auth.nonce, now)
    }

    async fn check_factors(
        &self,
        req: &VerifyRequest,
        now: u64,
        seen: &mut Option<(i64, Option<CredentialId>)>,
    ) -> Result<Subject> {
        let mode = req.mode;
        check_mode_shape(mode)?;
        let factors = Factors::gather(req)?;
        let keys = self.keys();

        // Every factor is present and well-formed; the live frames are
        // judged next, still before any identity factor is evaluated, so
        // neither a missing frame nor a failed liveness check says whether
        // the items matched.
        let capture = match &factors.face {
            Some((frames, challenge_id)) => {
                let (_, actions) = self.take_challenge(challenge_id, PURPOSE_VERIFY, now).await?;
                Some(self.capture_face(frames, actions).await?)
            }
            None => None,
        };

        let mut subject: Option<Subject> = None;
        let mut qr: Option<(QrBody, wz_crypto::KeyId)> = None;
        if let Some(envelope) = &factors.qr {
            let signed = envelope.open(&keys.encryption)?;
            let (cred, record) = self
                .store
                .credential_with_citizen(&signed.body.cred_id)
                .await?
                .ok_or(err(ResultCode::CredentialNotFound, "no such credential"))?;
            let device = Sm2PublicKey::from_sec1_bytes(&cred.device_public_key)
                .map_err(|_| err(ResultCode::InternalError, "stored device key is corrupt"))?;
            let body = signed.verify(&device)?;
            // The device signed it: this attempt concerns this citizen.
            *seen = Some((cred.citizen_id, Some(cred.cred_id)));
            if cred.status != CredentialStatus::Active {
                return Err(err(cred.status.result_code(), "credential is not active"));
            }
            if now >= cred.not_after {
                return Err(err(ResultCode::CredentialExpired, "credential validity is over"));
            }
            body.check_freshness(now, self.config.qr_freshness_secs)?;
            if !self.store.accept_qr_counter(&cred.cred_id, body.counter).await? {
                return Err(err(ResultCode::QrReplayed, "QR counter was already used"));
            }
            subject = Some(Subject {
                record,
                level: Some(cred.level),
                cred_id: Some(cred.cred_id),
            });
            qr = Some((body, signed.platform_key_id));
        }

        // When the items alone say who is claimed and a face must confirm
        // it, a wrong name and a wrong face get one answer: otherwise an RP
        // with any live face could look up whether a name fits a number.
        let items_identify = subject.is_none() && !mode.contains(AuthMode::CARD) && capture.is_some();
        if let Some(items) = factors.items {
            let four = mode.contains(AuthMode::FOUR_ITEMS);
            let code = if items_identify {
                ResultCode::IdentityNotConfirmed
            } else if four {
                ResultCode::FourItemsMismatch
            } else {
                ResultCode::TwoItemsMismatch
            };
            // Unknown numbers and wrong names get the same answer: no existence oracle.
            let record = self
                .store
                .registry_by_index(&blind_index(&keys, &items.id_number))
                .await?
                .ok_or(err(code, "items do not match the registry"))?;
            let person = open_person(&keys, &record)?;
            if !items_match(items, &person, four) {
                return Err(err(code, "items do not match the registry"));
            }
            seen.get_or_insert((record.citizen_id, None));
            subject = Some(same_citizen(subject, record)?);
        }

        if let Some(card) = factors.card {
            let record = self.check_signed_card(&card, now).await?;
            seen.get_or_insert((record.citizen_id, None));
            subject = Some(same_citizen(subject, record)?);
        }

        let subject = subject.ok_or(err(ResultCode::ModeInvalid, "mode does not identify the citizen"))?;

        if let Some(needed) = required_level(mode)
            && subject.level != Some(needed)
        {
            return Err(err(
                ResultCode::CredentialLevelInsufficient,
                "this mode needs an upgraded credential",
            ));
        }
        if let Some(block) = factors.pin_block {
            let (body, key_id) = qr.ok_or(err(ResultCode::ModeInvalid, "PIN is checked with the QR"))?;
            let challenge = wz_proto::pin::challenge_for_qr(&body);
            let pin = CredentialPin::open(block, &challenge, &keys.encryption, &key_id)?;
            self.check_pin(subject.record.citizen_id, pin, now).await?;
        }

        if let Some(capture) = &capture {
            self.match_face(&subject.record, capture).map_err(|e| {
                if items_identify && e.code == ResultCode::FaceMismatch {
                    err(ResultCode::IdentityNotConfirmed, "identity is not confirmed")
                } else {
                    e
                }
            })?;
        }
        Ok(subject)
    }

    /// Decodes and checks card data; returns the matching registry record and the card.
    async fn check_card(&self, bytes: &[u8], now: u64) -> Result<(RegistryRecord, SignedCard)> {
        let card = SignedCard::decode(bytes)?;
        let record = self.check_signed_card(&card, now).await?;
        Ok((record, card))
    }

    /// Checks a decoded card: its authority, validity and registry entry.
    async fn check_signed_card(&self, card: &SignedCard, now: u64) -> Result<RegistryRecord> {
        let authority = self
            .card_authorities
            .iter()
            .find(|k| k.key_id() == card.authority_key_id)
            .ok_or(err(
                ResultCode::CardDataInvalid,
                "card signed by an unknown authority",
            ))?;
        card.verify(authority)?;
        card.check_validity(china_date(now))?;
        let keys = self.keys();
        let record = self
            .store
            .registry_by_index(&blind_index(&keys, &card.data.id_number))
            .await?
            .ok_or(err(
                ResultCode::RegistryRecordNotFound,
                "card holder is not in the registry",
            ))?;
        let person = open_person(&keys, &record)?;
        if person.name != card.data.name
            || person.card_valid_from != card.data.valid_from
            || person.card_valid_to != card.data.valid_to
        {
            // An older card of the same person, or a forged one.
            return Err(err(
                ResultCode::CardDataInvalid,
                "card is not the one the registry lists",
            ));
        }
        Ok(record)
    }

    async fn check_pin(&self, citizen_id: i64, pin: CredentialPin, now: u64) -> Result<()> {
        // The try is counted (and the lock set at the limit) before the slow
        // hash, so concurrent guesses cannot check more than the limit.
        let state = self
            .store
            .reserve_pin_attempt(citizen_id, now, self.config.pin_lock_after, |n| {
                self.config.pin_backoff(n)
            })
            .await
            .map_err(|e| match e {
                wz_store::StoreError::NotFound(_) => err(
                    ResultCode::PinWrong,
                    "no credential PIN is set (upgraded credential needed)",
                ),
                other => other.into(),
            })?
            .ok_or(err(ResultCode::PinLocked, "PIN is locked"))?;
        let hash = PinHash::from_phc_string(&state.pin_hash)
            .map_err(|_| err(ResultCode::InternalError, "stored PIN hash is corrupt"))?;
        let pepper = self.pin_pepper();
        let ok = tokio::task::spawn_blocking(move || hash.verify(pin.expose(), Some(&pepper)))
            .await
            .map_err(|_| err(ResultCode::InternalError, "PIN task failed"))??;
        if ok {
            self.store.reset_pin_failures(citizen_id, now).await?;
            return Ok(());
        }
        if state.locked_until > now {
            self.security_event(ResultCode::PinLocked, None);
            Err(err(
                ResultCode::PinLocked,
                "PIN is now locked after too many wrong tries",
            ))
        } else {
            Err(err(ResultCode::PinWrong, "PIN is wrong"))
        }
    }

    /// Kept out of the database: mixed into every PIN hash.
    fn pin_pepper(&self) -> Vec<u8> {
        wz_crypto::hmac_sm3(&self.keys().index, b"wz-pin-pepper-v1").to_vec()
    }

    /// Live frames and the challenge's actions → a capture, judged before
    /// anything about the claimed citizen is read (so nothing this answers
    /// depends on the registry).
    async fn capture_face(&self, frames: &[Bytes], actions: Vec<LivenessAction>) -> Result<LiveCapture> {
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
    fn match_face(&self, record: &RegistryRecord, capture: &LiveCapture) -> Result<()> {
        let template = record.record.face_template.as_deref().ok_or(err(
            ResultCode::FaceMismatch,
            "registry has no face template for this citizen",
        ))?;
        if record.record.template_model.as_deref() != Some(self.face.model_id()) {
            tracing::warn!("a registry template was made by another face model: re-import the registry");
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
        if m.score >= NEAR_IDENTICAL_SCORE {
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

    async fn check_face(
        &self,
        record: &RegistryRecord,
        frames: &[Bytes],
        actions: Vec<LivenessAction>,
    ) -> Result<()> {
        let capture = self.capture_face(frames, actions).await?;
        self.match_face(record, &capture)
    }

    fn release(
        &self,
        rp: &RelyingParty,
        rp_key: &Sm2PublicKey,
        record: &RegistryRecord,
        now: u64,
    ) -> Result<(Vec<Attribute>, Option<Bytes>)> {
        if rp.attributes.is_empty() {
            return Ok((Vec::new(), None));
        }
        let keys = self.keys();
        let person = open_person(&keys, record)?;
        let today = china_date(now);
        let age = person.birth_date.age_on(today);
        let mut out = ReleasedAttributes::default();
        for a in &rp.attributes {
            match a {
                Attribute::Name => out.name = Some(person.name.clone()),
                Attribute::IdNumber => out.id_number = Some(person.id_number.clone()),
                Attribute::Sex => out.sex = Some(person.sex),
                Attribute::BirthDate => out.birth_date = Some(person.birth_date),
                Attribute::AgeOver18 => out.age_over_18 = Some(age >= 18),
                Attribute::AgeOver60 => out.age_over_60 = Some(age >= 60),
                Attribute::Address => out.address = Some(person.address.clone()),
                Attribute::Photo => out.photo = open_photo(&keys, record)?.map(Bytes),
                Attribute::Ethnicity => out.ethnicity = Some(person.ethnicity.clone()),
                Attribute::CardValidity => {
                    out.card_valid_from = Some(person.card_valid_from);
                    out.card_valid_to = person.card_valid_to;
                }
            }
        }
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec(&out).map_err(|_| err(ResultCode::InternalError, "attribute encoding"))?,
        );
        Ok((rp.attributes.clone(), Some(Bytes(rp_key.encrypt(&json)?))))
    }

    // ------------------------------------------------------------ enrolment

    /// `POST /v1/challenges`: a one-time challenge with random liveness actions.
    /// Limited per client address and purpose, and capped in all.
    pub async fn new_challenge(&self, purpose: &str, client: IpAddr, now_ms: u64) -> Result<Challenge> {
        let now = now_ms / 1000;
        if ![PURPOSE_LIGHT, PURPOSE_UPGRADED, PURPOSE_VERIFY, PURPOSE_RESUME].contains(&purpose) {
            return Err(err(ResultCode::RequestMalformed, "unknown challenge purpose"));
        }
        let key = format!("challenge {purpose} {}", client_key(client));
        if !self
            .clients
            .allow_per_minute(&key, self.config.challenges_per_client_per_min, now_ms)
        {
            self.security_event(ResultCode::RateLimited, None);
            return Err(err(
                ResultCode::RateLimited,
                "too many challenges from this client",
            ));
        }
        let nonce = wz_crypto::random_array::<16>()?;
        let pool: Vec<LivenessAction> = self
            .face
            .supported_actions()
            .iter()
            .filter(|a| {
                self.config
                    .liveness_actions
                    .as_ref()
                    .is_none_or(|allowed| allowed.contains(a))
            })
            .copied()
            .collect();
        if pool.is_empty() && !self.config.demo_liveness_waived {
            return Err(err(
                ResultCode::Unavailable,
                "no liveness action is both configured and checkable",
            ));
        }
        let actions = if self.config.demo_liveness_waived {
            Vec::new()
        } else {
            random_actions(&pool)?
        };
        let row = ChallengeRow {
            challenge_id: hex::encode(wz_crypto::random_array::<16>()?),
            nonce: nonce.to_vec(),
            purpose: purpose.to_owned(),
            actions: actions
                .iter()
                .map(|a| action_name(*a))
                .collect::<Vec<_>>()
                .join(","),
            expires_at: now + self.config.challenge_ttl_secs,
        };
        if !self
            .store
            .insert_challenge_capped(&row, self.config.max_outstanding_challenges, now)
            .await?
        {
            self.security_event(ResultCode::RateLimited, None);
            return Err(err(
                ResultCode::RateLimited,
                "too many challenges are outstanding; try again shortly",
            ));
        }
        Ok(Challenge {
            challenge_id: row.challenge_id,
            nonce: hex::encode(nonce),
            actions,
            expires_at: row.expires_at,
        })
    }

    async fn take_challenge(
        &self,
        id: &str,
        purpose: &str,
        now: u64,
    ) -> Result<(ChallengeRow, Vec<LivenessAction>)> {
        let ch = self
            .store
            .take_challenge(id, now)
            .await?
            .filter(|c| c.purpose == purpose)
            .ok_or(err(
                ResultCode::RequestExpired,
                "challenge is unknown, used or expired",
            ))?;
        let actions = ch
            .actions
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| parse_action(s).ok_or(err(ResultCode::InternalError, "stored challenge is corrupt")))
            .collect::<Result<Vec<_>>>()?;
        Ok((ch, actions))
    }

    fn device_key(ch: &ChallengeRow, key_hex: &str, pop_hex: &str) -> Result<Sm2PublicKey> {
        let bad = || {
            err(
                ResultCode::RequestMalformed,
                "device key or proof of possession is invalid",
            )
        };
        let key_bytes = hex::decode(key_hex).map_err(|_| bad())?;
        let key = Sm2PublicKey::from_sec1_bytes(&key_bytes).map_err(|_| bad())?;
        let sig = hex::decode(pop_hex)
            .ok()
            .and_then(|s| wz_crypto::Sm2Signature::from_bytes(&s).ok())
            .ok_or_else(bad)?;
        key.verify(&proof_of_possession_input(&ch.nonce, &key.to_sec1_bytes()), &sig)
            .map_err(|_| bad())?;
        Ok(key)
    }

    /// Issues a credential to a registry record, superseding any earlier
    /// one. Callers must already have established who the citizen is (the
    /// enrolment flows do; so does `wz bench`, which seeds its own registry).
    pub async fn issue(
        &self,
        record: &RegistryRecord,
        level: Level,
        device: &Sm2PublicKey,
        pin_hash: Option<String>,
        now: u64,
    ) -> Result<EnrolResponse> {
        let keys = self.keys();
        let signer = keys.signing.current();
        let cert = CredentialBody {
            cred_id: CredentialId::random()?,
            level,
            device_public_key: device.clone(),
            not_before: now,
            not_after: now + self.config.credential_validity_secs,
            issuer_key_id: signer.key_id(),
        }
        .sign(signer)?;
        let encoded = cert.encode();
        let level_name = match level {
            Level::Lightweight => "lightweight",
            Level::Upgraded => "upgraded",
        };
        let note = AuditNote::new(
            "platform",
            "credential.issue",
            format!("cred={} level={level_name}", cert.body.cred_id),
        );
        self.store
            .issue_credential(
                &NewCredential {
                    cred_id: cert.body.cred_id,
                    citizen_id: record.citizen_id,
                    level,
                    device_public_key: device.to_sec1_bytes().to_vec(),
                    certificate: encoded.clone(),
                    not_before: cert.body.not_before,
                    not_after: cert.body.not_after,
                },
                pin_hash.as_deref(),
                &note,
                now,
            )
            .await
            .map_err(|e| match e {
                wz_store::StoreError::Conflict("upgraded credential") => err(
                    ResultCode::UpgradedCredentialHeld,
                    "an upgraded credential is held: re-enrol at a trusted terminal",
                ),
                other => other.into(),
            })?;
        self.metrics.enrolment(level_name, "pass");
        Ok(EnrolResponse {
            credential: Bytes(encoded),
            level,
            server_time: now,
        })
    }

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

    async fn enrol_light_inner(
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
        let (ch, actions) = self.take_challenge(&req.challenge_id, PURPOSE_LIGHT, now).await?;
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

    /// `POST /v1/enrol/upgraded` as it arrives: authenticates the terminal's
    /// signed request, remembers its nonce, enrols, and signs the answer.
    pub async fn enrol_upgraded_signed(
        &self,
        auth: &RequestAuth,
        target: &RequestTarget<'_>,
        now: u64,
    ) -> Result<SignedReply> {
        let (terminal, _) = self.authenticate_rp(auth, target, now).await?;
        if !self
            .store
            .remember_rp_nonce(&terminal.rp_id, &auth.nonce, now)
            .await?
        {
            return Err(err(ResultCode::RequestReplayed, "request nonce was seen before"));
        }
        let req: UpgradedEnrolRequest = serde_json::from_slice(target.body).map_err(|_| {
            err(
                ResultCode::RequestMalformed,
                "body is not a valid upgraded enrolment request",
            )
        })?;
        let resp = self.enrol_upgraded(&terminal, &req, now).await?;
        let body =
            serde_json::to_vec(&resp).map_err(|_| err(ResultCode::InternalError, "response encoding"))?;
        self.sign_reply(200, body, &terminal.rp_id, &auth.nonce, now)
    }

    /// Upgraded enrolment for an already authenticated trusted terminal.
    pub async fn enrol_upgraded(
        &self,
        terminal: &RelyingParty,
        req: &UpgradedEnrolRequest,
        now: u64,
    ) -> Result<EnrolResponse> {
        let result = self.enrol_upgraded_inner(terminal, req, now).await;
        if let Err(e) = &result {
            self.metrics.enrolment("upgraded", e.code.name());
        }
        result
    }

    async fn enrol_upgraded_inner(
        &self,
        terminal: &RelyingParty,
        req: &UpgradedEnrolRequest,
        now: u64,
    ) -> Result<EnrolResponse> {
        if terminal.role != RpRole::TrustedTerminal {
            return Err(err(
                ResultCode::RoleNotAllowed,
                "only trusted terminals issue upgraded credentials",
            ));
        }
        let (ch, actions) = self
            .take_challenge(&req.challenge_id, PURPOSE_UPGRADED, now)
            .await?;
        let device = Self::device_key(&ch, &req.device_public_key, &req.proof_of_possession)?;
        let (record, _card) = self.check_card(&req.card_data.0, now).await?;
        let challenge: [u8; 16] = ch
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| err(ResultCode::InternalError, "stored challenge is corrupt"))?;
        let keys = self.keys();
        let pin = CredentialPin::open(
            &req.pin_block.0,
            &challenge,
            &keys.encryption,
            &keys.encryption.current_id(),
        )?;
        // Refuse guessable PINs when they are set.
        let pin = CredentialPin::parse_new(std::str::from_utf8(pin.expose()).unwrap_or(""))?;
        self.check_face(&record, &req.face_frames, actions).await?;
        let pepper = self.pin_pepper();
        let hash = tokio::task::spawn_blocking(move || {
            PinHash::create(pin.expose(), Some(&pepper), wz_crypto::kdf::DEFAULT_ITERATIONS)
        })
        .await
        .map_err(|_| err(ResultCode::InternalError, "PIN task failed"))??;
        self.issue(&record, Level::Upgraded, &device, Some(hash.to_phc_string()), now)
            .await
    }

    // --------------------------------------------------------------- wallet

    /// Authenticates a wallet request: signed like an RP request, with the
    /// credential id (hex) as the RP id and the device key as the key.
    pub async fn authenticate_wallet(
        &self,
        auth: &RequestAuth,
        target: &RequestTarget<'_>,
        now: u64,
    ) -> Result<CredentialRow> {
        let cred_id: CredentialId = auth
            .rp_id
            .parse()
            .map_err(|_| err(ResultCode::CredentialNotFound, "no such credential"))?;
        let cred = self
            .store
            .credential(&cred_id)
            .await?
            .ok_or(err(ResultCode::CredentialNotFound, "no such credential"))?;
        let device = Sm2PublicKey::from_sec1_bytes(&cred.device_public_key)
            .map_err(|_| err(ResultCode::InternalError, "stored device key is corrupt"))?;
        auth.verify_signature(&device, target).map_err(|e| match e.code {
            ResultCode::RpKeyInvalid | ResultCode::RpSignatureInvalid => {
                err(ResultCode::QrSignatureInvalid, "device signature does not verify")
            }
            _ => e.into(),
        })?;
        auth.check_timestamp(now, self.config.request_skew_secs)?;
        if !self
            .store
            .remember_rp_nonce(&format!("wallet:{}", auth.rp_id), &auth.nonce, now)
            .await?
        {
            return Err(err(ResultCode::RequestReplayed, "request nonce was seen before"));
        }
        Ok(cred)
    }

    /// What the wallet learns at sync.
    #[must_use]
    pub fn wallet_status(&self, cred: &CredentialRow, now: u64) -> SyncResponse {
        let status = if cred.status == CredentialStatus::Active && now >= cred.not_after {
            CredentialStatus::Expired
        } else {
            cred.status
        };
        SyncResponse {
            cred_id: cred.cred_id,
            status,
            server_time: now,
        }
    }

    /// "Who verified me", for a live credential's citizen.
    pub async fn wallet_history(&self, cred: &CredentialRow, limit: u32) -> Result<Vec<HistoryEntry>> {
        if !matches!(
            cred.status,
            CredentialStatus::Active | CredentialStatus::Suspended
        ) {
            return Err(err(cred.status.result_code(), "credential is no longer live"));
        }
        let rows = self.store.history(cred.citizen_id, limit.min(500)).await?;
        rows.into_iter()
            .map(|r| {
                Ok(HistoryEntry {
                    rp_name: r.rp_name,
                    time: r.time,
                    mode: AuthMode::from_bits(r.mode).unwrap_or(AuthMode::QR),
                    result: ResultCode::from_code(r.result).unwrap_or(ResultCode::InternalError),
                })
            })
            .collect()
    }

    /// The citizen suspends their own credential.
    pub async fn wallet_suspend(&self, cred: &CredentialRow, now: u64) -> Result<SyncResponse> {
        if !self
            .store
            .transition_credential(
                &cred.cred_id,
                CredentialStatus::Active,
                CredentialStatus::Suspended,
                &AuditNote::new("citizen", "credential.suspend", format!("cred={}", cred.cred_id)),
                now,
            )
            .await?
        {
            return Err(err(cred.status.result_code(), "credential is not active"));
        }
        Ok(SyncResponse {
            cred_id: cred.cred_id,
            status: CredentialStatus::Suspended,
            server_time: now,
        })
    }

    /// `POST /v1/wallet/resume`: the citizen lifts their own suspension.
    /// A suspension guards against a lost or lent phone, so the device
    /// signature alone is not enough: a live face must match the registry
    /// and, for an upgraded credential, the credential PIN must be right
    /// (wrong PINs count toward the lockout). Audited.
    pub async fn wallet_resume(
        &self,
        cred: &CredentialRow,
        req: &ResumeRequest,
        now: u64,
    ) -> Result<SyncResponse> {
        if cred.status != CredentialStatus::Suspended {
            let code = if cred.status == CredentialStatus::Active {
                ResultCode::RequestMalformed
            } else {
                cred.status.result_code()
            };
            return Err(err(code, "only a suspended credential can be resumed"));
        }
        // Presence of every factor first, as at verification.
        if req.face_frames.is_empty() {
            return Err(err(ResultCode::ModeDataMissing, "resuming needs face frames"));
        }
        if cred.level == Level::Upgraded && req.pin_block.is_none() {
            return Err(err(
                ResultCode::ModeDataMissing,
                "resuming an upgraded credential needs the credential PIN",
            ));
        }
        let (ch, actions) = self
            .take_challenge(&req.challenge_id, PURPOSE_RESUME, now)
            .await?;
        let record = self.store.registry_by_id(cred.citizen_id).await?.ok_or(err(
            ResultCode::InternalError,
            "credential without a registry record",
        ))?;
        let capture = self.capture_face(&req.face_frames, actions).await?;
        self.match_face(&record, &capture)?;
        if let (Level::Upgraded, Some(block)) = (cred.level, &req.pin_block) {
            let nonce: [u8; 16] = ch
                .nonce
                .as_slice()
                .try_into()
                .map_err(|_| err(ResultCode::InternalError, "stored challenge is corrupt"))?;
            let keys = self.keys();
            let key_id = keys.encryption.current_id();
            let pin = CredentialPin::open(&block.0, &nonce, &keys.encryption, &key_id)?;
            drop(keys);
            self.check_pin(cred.citizen_id, pin, now).await?;
        }
        if !self
            .store
            .transition_credential(
                &cred.cred_id,
                CredentialStatus::Suspended,
                CredentialStatus::Active,
                &AuditNote::new("citizen", "credential.resume", format!("cred={}", cred.cred_id)),
                now,
            )
            .await?
        {
            return Err(err(
                ResultCode::CredentialSuspended,
                "credential changed meanwhile",
            ));
        }
        Ok(SyncResponse {
            cred_id: cred.cred_id,
            status: CredentialStatus::Active,
            server_time: now,
        })
    }

    /// The operator revokes every live credential of a citizen (court
    /// order, death, fraud, the citizen's own request at a hall). Audited
    /// with the reason; RPs then see `credential_revoked`, and the wallet
    /// wipes itself at its next sync. Returns how many were revoked.
    pub async fn revoke_citizen(
        &self,
        id_number: &IdNumber,
        reason: RevocationReason,
        actor: &str,
        now: u64,
    ) -> Result<u64> {
        let index = blind_index(&self.keys(), id_number);
        let record = self.store.registry_by_index(&index).await?.ok_or(err(
            ResultCode::RegistryRecordNotFound,
            "no such citizen in the registry",
        ))?;
        let note = AuditNote::new(
            actor,
            "citizen.revoke",
            format!("citizen={} reason={}", record.citizen_id, reason.name()),
        );
        Ok(self
            .store
            .revoke_citizen_credentials(record.citizen_id, &note, now)
            .await?)
    }

    /// The credential certificate a wallet holds, checked against our keys.
    pub fn check_certificate(&self, bytes: &[u8]) -> Result<CredentialCert> {
        let cert = CredentialCert::decode(bytes)?;
        let keys = self.keys();
        let issuer = keys
            .signing
            .get(&cert.body.issuer_key_id)
            .map_err(|_| err(ResultCode::CredentialInvalid, "issued under an unknown key"))?;
        cert.verify(issuer.public_key())?;
        Ok(cert)
    }
}

/// Similarity at or above which a "live" frame is taken for a copy of the
/// stored photo. Two captures of one face score below it (checked on the
/// test photos in `wz-face`'s tests); the photo against its own template
/// scores 1.0.
pub const NEAR_IDENTICAL_SCORE: f32 = 0.995;

/// The credential level a mode needs, if any. The credential PIN is set at
/// a trusted terminal and belongs to the upgraded credential, so every
/// mode with the PIN (0x08) needs an upgraded credential: a lightweight
/// one, even the same citizen's after an online re-enrolment, never
/// answers a PIN mode. Other modes accept either level (the verdict says
/// which, for the RP to judge).
#[must_use]
pub fn required_level(mode: AuthMode) -> Option<Level> {
    mode.contains(AuthMode::PIN).then_some(Level::Upgraded)
}

/// Modes the platform can serve: at least one identifying factor; PIN only with QR.
fn check_mode_shape(mode: AuthMode) -> Result<()> {
    let identifies = [
        AuthMode::QR,
        AuthMode::CARD,
        AuthMode::TWO_ITEMS,
        AuthMode::FOUR_ITEMS,
    ]
    .iter()
    .any(|f| mode.contains(*f));
    if !identifies {
        return Err(err(
            ResultCode::ModeInvalid,
            "mode has no factor that identifies the citizen",
        ));
    }
    if mode.contains(AuthMode::PIN) && !mode.contains(AuthMode::QR) {
        return Err(err(
            ResultCode::ModeInvalid,
            "the PIN is checked together with the QR",
        ));
    }
    Ok(())
}

fn same_citizen(prev: Option<Subject>, record: RegistryRecord) -> Result<Subject> {
    match prev {
        Some(s) if s.record.citizen_id != record.citizen_id => Err(err(
            ResultCode::FourItemsMismatch,
            "factors name different citizens",
        )),
        Some(s) => Ok(s),
        None => Ok(Subject {
            record,
            level: None,
            cred_id: None,
        }),
    }
}

fn items_match(items: &IdentityItems, person: &Person, four: bool) -> bool {
    let name_ok = items.name.trim() == person.name && items.id_number == person.id_number;
    if !four {
        return name_ok;
    }
    name_ok
        && items.card_valid_from == Some(person.card_valid_from)
        && items.card_valid_to == person.card_valid_to
}

fn random_actions(supported: &[LivenessAction]) -> Result<Vec<LivenessAction>> {
    // Two distinct actions the engine can check, in random order (a
    // Fisher-Yates shuffle from OS randomness).
    let mut pool = supported.to_vec();
    let r = wz_crypto::random_array::<4>()?;
    for i in (1..pool.len()).rev() {
        let j = usize::from(r.get(i).copied().unwrap_or(0)) % (i + 1);
        pool.swap(i, j);
    }
    pool.truncate(2);
    Ok(pool)
}

fn action_name(a: LivenessAction) -> &'static str {
    match a {
        LivenessAction::TurnLeft => "turn_left",
        LivenessAction::TurnRight => "turn_right",
        LivenessAction::Blink => "blink",
        LivenessAction::OpenMouth => "open_mouth",
        LivenessAction::Nod => "nod",
    }
}

fn parse_action(s: &str) -> Option<LivenessAction> {
    [
        LivenessAction::TurnLeft,
        LivenessAction::TurnRight,
        LivenessAction::Blink,
        LivenessAction::OpenMouth,
        LivenessAction::Nod,
    ]
    .into_iter()
    .find(|a| action_name(*a) == s)
}
