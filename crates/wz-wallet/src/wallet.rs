//! The unlocked wallet: enrolment, the rotating QR, sync, history, suspension.

use std::time::Duration;

use wz_client::{PlatformClient, TlsSuites, Trust};
use wz_crypto::{Sm2PrivateKey, Sm2Signer};
use wz_proto::api::{
    Bytes, Challenge, CredentialStatus, EnrolResponse, HistoryEntry, IdentityItems, KeyUsage,
    LightEnrolRequest, ResumeRequest, SyncResponse, proof_of_possession_input,
};
use wz_proto::{CredentialCert, CredentialPin, Level, QrBody};
use zeroize::Zeroizing;

use crate::error::{Result, WalletError};
use crate::keystore::{Holder, Keystore, WalletState};

/// How often the shown QR is replaced.
pub const QR_REFRESH_SECS: u64 = 60;

/// What `show` prints: level, masked holder, validity. No full PII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub level: Level,
    pub holder: Option<Holder>,
    pub cred_id: String,
    pub not_before: u64,
    pub not_after: u64,
}

/// What a sync learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOutcome {
    pub status: CredentialStatus,
    /// The credential was removed from this device.
    pub wiped: bool,
    /// Platform clock minus device clock, seconds.
    pub clock_offset: i64,
}

/// An unlocked wallet.
#[derive(Debug)]
pub struct Wallet<K: Keystore> {
    store: K,
    state: WalletState,
    /// Used only through [`Sm2Signer`], the shape a phone's secure element
    /// (Android StrongBox, Secure Enclave with an SM2 applet) implements;
    /// this reference wallet keeps a software key sealed in its keystore.
    device: Box<dyn DeviceKey>,
    client: PlatformClient,
    /// The local face check passed in this session.
    face_checked: bool,
}

/// The device key as the wallet uses it: an SM2 signer the platform knows
/// by its public key, the shape a phone's secure element implements.
pub trait DeviceKey: Sm2Signer + Send + Sync + core::fmt::Debug {}

impl<T: Sm2Signer + Send + Sync + core::fmt::Debug> DeviceKey for T {}

fn device_from(state: &WalletState) -> Result<Box<dyn DeviceKey>> {
    let der = Zeroizing::new(hex::decode(state.device_key.as_str()).map_err(|_| WalletError::Corrupt)?);
    Ok(Box::new(Sm2PrivateKey::from_pkcs8_der(&der)?))
}

fn new_device_key() -> Result<(Box<dyn DeviceKey>, Zeroizing<String>)> {
    let key = Sm2PrivateKey::generate()?;
    let der = key.to_pkcs8_der()?;
    Ok((Box::new(key), Zeroizing::new(hex::encode(der.as_slice()))))
}

fn trust_of(state: &WalletState) -> Result<Trust> {
    Ok(match (&state.tls_pin, &state.tls_ca_pem) {
        (Some(pin), _) => Trust::pin_from_hex(pin)?,
        (None, Some(pem)) => Trust::CaPem(pem.as_bytes().to_vec()),
        (None, None) => Trust::System,
    })
}

fn client(state: &WalletState) -> Result<PlatformClient> {
    // Wallet calls are device-signed with a one-time nonce: no blind retries.
    let suites = if state.tls_shangmi {
        TlsSuites::ShangMi
    } else {
        TlsSuites::Standard
    };
    Ok(PlatformClient::with_suites(
        &state.platform_url,
        &trust_of(state)?,
        suites,
        Duration::from_secs(30),
        0,
    )?)
}

impl<K: Keystore> Wallet<K> {
    /// Creates a new wallet (fresh device key, no credential) sealed under
    /// `pin`, talking to the platform at `platform_url` as `trust` vouches.
    pub fn init(store: K, pin: &str, platform_url: &str, trust: &Trust) -> Result<Self> {
        Self::init_with_suites(store, pin, platform_url, trust, TlsSuites::Standard)
    }

    /// [`Wallet::init`], offering the TLS `suites` given (kept in the wallet).
    pub fn init_with_suites(
        mut store: K,
        pin: &str,
        platform_url: &str,
        trust: &Trust,
        suites: TlsSuites,
    ) -> Result<Self> {
        let (device, device_key) = new_device_key()?;
        let (tls_pin, tls_ca_pem) = match trust {
            Trust::PinnedSha256(p) => (Some(hex::encode(p)), None),
            Trust::CaPem(pem) => (None, Some(String::from_utf8_lossy(pem).into_owned())),
            Trust::System => (None, None),
        };
        let state = WalletState {
            device_key,
            platform_url: platform_url.to_owned(),
            tls_pin,
            tls_ca_pem,
            tls_shangmi: suites == TlsSuites::ShangMi,
            ..WalletState::default()
        };
        store.create(pin, &state)?;
        Ok(Self {
            store,
            client: client(&state)?,
            state,
            device,
            face_checked: false,
        })
    }

    /// Opens an existing wallet. `now` is the device's unix time.
    pub fn unlock(mut store: K, pin: &str, now: u64) -> Result<Self> {
        let state = store.unlock(pin, now)?;
        let device = device_from(&state)?;
        let client = client(&state)?;
        client.set_clock_offset(state.clock_offset);
        Ok(Self {
            store,
            state,
            device,
            client,
            face_checked: false,
        })
    }

    /// The platform client (for the terminal flows run beside the wallet).
    #[must_use]
    pub fn client(&self) -> &PlatformClient {
        &self.client
    }

    fn credential(&self) -> Result<CredentialCert> {
        let hex_cert = self.state.credential.as_ref().ok_or(WalletError::NotEnrolled)?;
        Ok(CredentialCert::decode(
            &hex::decode(hex_cert).map_err(|_| WalletError::Corrupt)?,
        )?)
    }

    /// Whether a credential is held.
    #[must_use]
    pub fn is_enrolled(&self) -> bool {
        self.state.credential.is_some()
    }

    /// Level, masked holder and validity.
    pub fn summary(&self) -> Result<Summary> {
        let c = self.credential()?;
        Ok(Summary {
            level: c.body.level,
            holder: self.state.holder.clone(),
            cred_id: c.body.cred_id.to_string(),
            not_before: c.body.not_before,
            not_after: c.body.not_after,
        })
    }

    /// Asks the platform for an enrolment challenge (`enrol-light` or `enrol-upgraded`).
    pub async fn challenge(&self, purpose: wz_proto::api::ChallengePurpose) -> Result<Challenge> {
        Ok(self
            .client
            .post_json(
                wz_proto::routes::CHALLENGES,
                &wz_proto::api::ChallengeRequest { purpose },
            )
            .await?)
    }

    /// The device public key (hex) and its proof of possession for `challenge`,
    /// as a trusted terminal forwards them for upgraded enrolment.
    pub fn proof_of_possession(&self, challenge: &Challenge) -> Result<(String, String)> {
        let nonce = hex::decode(&challenge.nonce).map_err(|_| WalletError::Corrupt)?;
        let public = self.device.public_key().to_sec1_bytes();
        let sig = self.device.sign(&proof_of_possession_input(&nonce, &public))?;
        Ok((hex::encode(public), hex::encode(sig.to_bytes())))
    }

    /// Lightweight enrolment: four items + frames showing `challenge`'s actions.
    pub async fn enrol_light(
        &mut self,
        challenge: &Challenge,
        items: &IdentityItems,
        frames: Vec<Vec<u8>>,
    ) -> Result<Level> {
        let (device_public_key, proof_of_possession) = self.proof_of_possession(challenge)?;
        let req = LightEnrolRequest {
            challenge_id: challenge.challenge_id.clone(),
            items: items.clone(),
            face_frames: frames.into_iter().map(Bytes).collect(),
            device_public_key,
            proof_of_possession,
        };
        let resp: EnrolResponse = self.client.post_json(wz_proto::routes::ENROL_LIGHT, &req).await?;
        let holder = Holder {
            masked_name: mask_name(&items.name),
            masked_id_number: items.id_number.masked(),
        };
        self.accept(&resp, holder).await
    }

    /// Stores a credential the platform issued to this device (checked
    /// against the platform's signing key and this device's key).
    pub async fn accept(&mut self, resp: &EnrolResponse, holder: Holder) -> Result<Level> {
        let cert = CredentialCert::decode(&resp.credential.0)?;
        let issuer = self.client.signing_key(&cert.body.issuer_key_id).await?;
        cert.verify(&issuer)?;
        if cert.body.device_public_key != *self.device.public_key() {
            return Err(WalletError::Proto(wz_proto::ProtoError::new(
                wz_proto::ResultCode::CredentialNotFound,
                "credential is bound to another device",
            )));
        }
        self.state.clock_offset = self.client.learn_server_time(resp.server_time);
        self.state.credential = Some(hex::encode(cert.encode()));
        self.state.holder = Some(holder);
        self.state.counter = 0;
        self.store.save(&self.state)?;
        Ok(cert.body.level)
    }

    /// Turns the local face gate on (a template from the holder's photo,
    /// made by a face engine on the device) or off (`None`).
    pub fn set_face_gate(&mut self, gate: Option<(&str, &[u8])>) -> Result<()> {
        self.state.face_gate = gate.map(|(model_id, template)| crate::keystore::FaceGate {
            model_id: model_id.to_owned(),
            template: hex::encode(template),
        });
        self.store.save(&self.state)
    }

    /// The face gate's model id and template, if the gate is on.
    pub fn face_gate(&self) -> Result<Option<(String, Vec<u8>)>> {
        self.state
            .face_gate
            .as_ref()
            .map(|g| {
                Ok((
                    g.model_id.clone(),
                    hex::decode(&g.template).map_err(|_| WalletError::Corrupt)?,
                ))
            })
            .transpose()
    }

    /// Runs the local face check: `matches(model_id, template)` compares a
    /// live frame with the stored template. Without a gate it passes.
    pub fn check_face(&mut self, matches: impl FnOnce(&str, &[u8]) -> bool) -> Result<()> {
        let Some((model_id, template)) = self.face_gate()? else {
            self.face_checked = true;
            return Ok(());
        };
        if matches(&model_id, &template) {
            self.face_checked = true;
            Ok(())
        } else {
            Err(WalletError::FaceCheckFailed)
        }
    }

    /// A fresh QR text: new counter (persisted first, so a crash never
    /// reuses one), platform time, random nonce, device signature, sealed to
    /// the platform's current encryption key.
    pub async fn qr(&mut self) -> Result<String> {
        if self.state.face_gate.is_some() && !self.face_checked {
            return Err(WalletError::FaceCheckRequired);
        }
        let cert = self.credential()?;
        let platform = self.client.current_key(KeyUsage::Encryption).await?;
        self.state.counter = self.state.counter.checked_add(1).ok_or(WalletError::Corrupt)?;
        self.store.save(&self.state)?;
        let body = QrBody {
            cred_id: cert.body.cred_id,
            issued_at: self.client.platform_now(),
            counter: self.state.counter,
            nonce: wz_crypto::random_array()?,
        };
        Ok(body.seal(&*self.device, &platform)?)
    }

    async fn device_call<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let cert = self.credential()?;
        let reply = self
            .client
            .signed_post(path, &cert.body.cred_id.to_string(), &*self.device, b"", true)
            .await?;
        Ok(reply.json()?)
    }

    /// Learns the credential's status and the platform clock; a revoked,
    /// superseded or expired credential is wiped from this device (with a
    /// new device key, ready to enrol again).
    pub async fn sync(&mut self) -> Result<SyncOutcome> {
        // The published keys carry the platform clock: learn it before signing.
        self.client.refresh_keys().await?;
        let s: SyncResponse = self.device_call(wz_proto::routes::WALLET_STATUS).await?;
        self.state.clock_offset = self.client.learn_server_time(s.server_time);
        let wiped = s.status.must_wipe();
        if wiped {
            self.forget_credential()?;
        } else {
            self.store.save(&self.state)?;
        }
        Ok(SyncOutcome {
            status: s.status,
            wiped,
            clock_offset: self.state.clock_offset,
        })
    }

    fn forget_credential(&mut self) -> Result<()> {
        let (device, device_key) = new_device_key()?;
        self.device = device;
        self.state.device_key = device_key;
        self.state.credential = None;
        self.state.holder = None;
        self.state.counter = 0;
        self.store.save(&self.state)
    }

    /// "Who verified me": the latest `limit` verifications.
    pub async fn history(&self, limit: u32) -> Result<Vec<HistoryEntry>> {
        self.device_call(&format!("{}?limit={limit}", wz_proto::routes::WALLET_HISTORY))
            .await
    }

    /// Suspends the credential (e.g. the phone was lent or may be lost).
    pub async fn suspend(&mut self) -> Result<CredentialStatus> {
        let s: SyncResponse = self.device_call(wz_proto::routes::WALLET_SUSPEND).await?;
        Ok(s.status)
    }

    /// Lifts this credential's suspension: frames showing `challenge`'s
    /// actions (a challenge of purpose `resume`), and for an upgraded
    /// credential the credential PIN, sealed to the platform and bound to
    /// the challenge.
    pub async fn resume(
        &mut self,
        challenge: &Challenge,
        frames: Vec<Vec<u8>>,
        pin: Option<&CredentialPin>,
    ) -> Result<CredentialStatus> {
        let cert = self.credential()?;
        let pin_block = match pin {
            Some(pin) => {
                let nonce: [u8; 16] = hex::decode(&challenge.nonce)
                    .ok()
                    .and_then(|n| n.try_into().ok())
                    .ok_or(WalletError::Corrupt)?;
                let platform = self.client.current_key(KeyUsage::Encryption).await?;
                Some(Bytes(pin.seal(&nonce, &platform)?))
            }
            None => None,
        };
        let req = ResumeRequest {
            challenge_id: challenge.challenge_id.clone(),
            face_frames: frames.into_iter().map(Bytes).collect(),
            pin_block,
        };
        let body = serde_json::to_vec(&req).map_err(|_| WalletError::Corrupt)?;
        let reply = self
            .client
            .signed_post(
                wz_proto::routes::WALLET_RESUME,
                &cert.body.cred_id.to_string(),
                &*self.device,
                &body,
                true,
            )
            .await?;
        let s: SyncResponse = reply.json()?;
        Ok(s.status)
    }

    /// Reseals the wallet under a new wallet PIN (the credential stays valid;
    /// the credential PIN of an upgraded credential is reset at a trusted
    /// terminal, which issues a new credential).
    pub fn change_pin(&mut self, new_pin: &str) -> Result<()> {
        self.store.change_pin(new_pin, &self.state)
    }

    /// Removes the wallet from this device.
    pub fn wipe(mut self) -> Result<()> {
        self.store.wipe()
    }
}

/// `王*` / `欧阳**`: the first character, the rest starred.
#[must_use]
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        std::iter::once(first).chain(chars.map(|_| '*')).collect()
    })
}
