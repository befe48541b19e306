//! The rustls `CryptoProvider` for RFC 8998: cipher suite
//! `TLS_SM4_GCM_SM3` (0x00C6), key exchange `curveSM2` (41), signature
//! scheme `sm2sig_sm3` (0x0708, SM2 over SM3 with the distinguishing
//! identifier `TLSv1.3+GM+Cipher+Suite`). TLS 1.3 only.

use std::sync::Arc;

use aes_gcm::AesGcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use hmac::Mac as _;
use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, InboundPlainMessage, Iv, MessageDecrypter, MessageEncrypter, Nonce,
    OutboundOpaqueMessage, OutboundPlainMessage, PrefixedPayload, Tls13AeadAlgorithm,
    UnsupportedOperationError, make_tls13_aad,
};
use rustls::crypto::tls13::HkdfUsingHmac;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, SharedSecret,
    SupportedKxGroup, WebPkiSupportedAlgorithms, hash, hmac as rhmac,
};
use rustls::pki_types::{
    AlgorithmIdentifier, InvalidSignature, PrivateKeyDer, SignatureVerificationAlgorithm,
};
use rustls::sign::{Signer, SigningKey};
use rustls::{
    CipherSuite, CipherSuiteCommon, ConnectionTrafficSecrets, ContentType, Error, NamedGroup,
    ProtocolVersion, SignatureAlgorithm, SignatureScheme, SupportedCipherSuite, Tls13CipherSuite,
};
use sm2::elliptic_curve::sec1::ToSec1Point as _;
use sm3::Sm3;
use sm4::cipher::consts::U12;
use wz_crypto::{Sm2PrivateKey, Sm2PublicKey, Sm2Signature};
use zeroize::Zeroizing;

/// RFC 8998 §3.2.1: the SM2 user id for signatures in the TLS 1.3 handshake.
pub const TLS13_SM2_ID: &str = "TLSv1.3+GM+Cipher+Suite";
/// IANA code points.
pub const TLS_SM4_GCM_SM3: u16 = 0x00C6;
pub const CURVE_SM2: u16 = 0x0029;
pub const SM2SIG_SM3: u16 = 0x0708;

/// DER contents of the AlgorithmIdentifier of an SM2 public key:
/// id-ecPublicKey with the named curve sm2 (1.2.156.10197.1.301).
pub const SM2_PUBLIC_KEY_ALG_ID: &[u8] = &[
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01,
    0x82, 0x2d,
];
/// DER contents of the AlgorithmIdentifier SM2-with-SM3 (1.2.156.10197.1.501).
pub const SM2_SM3_SIG_ALG_ID: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75];

/// A provider offering only the ShangMi suite, group and signature scheme.
#[must_use]
pub fn shangmi_provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![TLS13_SM4_GCM_SM3],
        kx_groups: vec![&CurveSm2],
        signature_verification_algorithms: SIG_ALGS,
        secure_random: &Rng,
        key_provider: &Sm2Keys,
    }
}

/// The `TLS_SM4_GCM_SM3` suite.
pub static TLS13_SM4_GCM_SM3: SupportedCipherSuite = SupportedCipherSuite::Tls13(&Tls13CipherSuite {
    common: CipherSuiteCommon {
        suite: CipherSuite::Unknown(TLS_SM4_GCM_SM3),
        hash_provider: &Sm3Hash,
        // Same bound as AES-128-GCM: SM4 is a 128-bit block cipher.
        confidentiality_limit: 1 << 24,
    },
    hkdf_provider: &HkdfUsingHmac(&HmacSm3),
    aead_alg: &Sm4GcmAead,
    quic: None,
});

static SIG_ALGS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    // Certificate chains are signed with the GM/T 0009 default user id.
    all: &[&SM2_CERT_SIGNATURES],
    mapping: &[(SignatureScheme::Unknown(SM2SIG_SM3), &[&SM2_HANDSHAKE_SIGNATURES])],
};

// ------------------------------------------------------------------ SM3

struct Sm3Hash;

impl hash::Hash for Sm3Hash {
    fn start(&self) -> Box<dyn hash::Context> {
        Box::new(Sm3Context(Sm3::default()))
    }
    fn hash(&self, data: &[u8]) -> hash::Output {
        hash::Output::new(&wz_crypto::sm3(data))
    }
    fn output_len(&self) -> usize {
        32
    }
    fn algorithm(&self) -> rustls::crypto::hash::HashAlgorithm {
        // No TLS code point exists for SM3 hashes; only resumption compares it.
        rustls::crypto::hash::HashAlgorithm::Unknown(0xe3)
    }
}

struct Sm3Context(Sm3);

impl hash::Context for Sm3Context {
    fn fork_finish(&self) -> hash::Output {
        use sm3::Digest as _;
        hash::Output::new(&self.0.clone().finalize())
    }
    fn fork(&self) -> Box<dyn hash::Context> {
        Box::new(Self(self.0.clone()))
    }
    fn finish(self: Box<Self>) -> hash::Output {
        use sm3::Digest as _;
        hash::Output::new(&self.0.finalize())
    }
    fn update(&mut self, data: &[u8]) {
        use sm3::Digest as _;
        self.0.update(data);
    }
}

struct HmacSm3;

impl rhmac::Hmac for HmacSm3 {
    fn with_key(&self, key: &[u8]) -> Box<dyn rhmac::Key> {
        Box::new(HmacSm3Key(Zeroizing::new(key.to_vec())))
    }
    fn hash_output_len(&self) -> usize {
        32
    }
}

struct HmacSm3Key(Zeroizing<Vec<u8>>);

impl rhmac::Key for HmacSm3Key {
    fn sign_concat(&self, first: &[u8], middle: &[&[u8]], last: &[u8]) -> rhmac::Tag {
        // HMAC takes keys of any length, so this cannot fail.
        let Ok(mut mac) = <hmac::Hmac<Sm3> as hmac::KeyInit>::new_from_slice(&self.0) else {
            return rhmac::Tag::new(&[]);
        };
        mac.update(first);
        for m in middle {
            mac.update(m);
        }
        mac.update(last);
        rhmac::Tag::new(&mac.finalize().into_bytes())
    }
    fn tag_len(&self) -> usize {
        32
    }
}

// --------------------------------------------------------------- SM4-GCM

type Sm4Gcm = AesGcm<sm4::Sm4, U12>;
const TAG_LEN: usize = 16;

struct Sm4GcmAead;

impl Tls13AeadAlgorithm for Sm4GcmAead {
    fn encrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageEncrypter> {
        Box::new(Sm4GcmRecords {
            cipher: cipher(&key),
            iv,
        })
    }
    fn decrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageDecrypter> {
        Box::new(Sm4GcmRecords {
            cipher: cipher(&key),
            iv,
        })
    }
    fn key_len(&self) -> usize {
        16
    }
    fn extract_keys(&self, _: AeadKey, _: Iv) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        // No kernel TLS offload for SM4-GCM.
        Err(UnsupportedOperationError)
    }
}

/// `None` only if rustls handed over a key of the wrong length (it never
/// does: `key_len` is 16); every record then fails instead of using a bad key.
fn cipher(key: &AeadKey) -> Option<Sm4Gcm> {
    Sm4Gcm::new_from_slice(key.as_ref()).ok()
}

struct Sm4GcmRecords {
    cipher: Option<Sm4Gcm>,
    iv: Iv,
}

impl MessageEncrypter for Sm4GcmRecords {
    fn encrypt(&mut self, msg: OutboundPlainMessage<'_>, seq: u64) -> Result<OutboundOpaqueMessage, Error> {
        let total_len = self.encrypted_payload_len(msg.payload.len());
        let mut plain = msg.payload.to_vec();
        plain.extend_from_slice(&msg.typ.to_array());
        let nonce = Nonce::new(&self.iv, seq).0;
        let aad = make_tls13_aad(total_len);
        let sealed = self
            .cipher
            .as_ref()
            .ok_or(Error::EncryptError)?
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::EncryptError)?;
        let mut payload = PrefixedPayload::with_capacity(total_len);
        payload.extend_from_slice(&sealed);
        Ok(OutboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            payload,
        ))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len + 1 + TAG_LEN
    }
}

impl MessageDecrypter for Sm4GcmRecords {
    fn decrypt<'a>(
        &mut self,
        mut msg: InboundOpaqueMessage<'a>,
        seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        let payload = &mut msg.payload;
        if payload.len() < TAG_LEN {
            return Err(Error::DecryptError);
        }
        let nonce = Nonce::new(&self.iv, seq).0;
        let aad = make_tls13_aad(payload.len());
        let plain = self
            .cipher
            .as_ref()
            .ok_or(Error::DecryptError)?
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: payload,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::DecryptError)?;
        let n = plain.len();
        payload
            .get_mut(..n)
            .ok_or(Error::DecryptError)?
            .copy_from_slice(&plain);
        payload.truncate(n);
        msg.into_tls13_unpadded_message()
    }
}

// ------------------------------------------------------------- curveSM2

#[derive(Debug)]
struct CurveSm2;

impl SupportedKxGroup for CurveSm2 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let mut seed = [0u8; 32];
        // Rejection sampling inside from_slice: retry until a valid scalar.
        for _ in 0..16 {
            getrandom::fill(&mut seed).map_err(|_| GetRandomFailed)?;
            if let Ok(secret) = sm2::SecretKey::from_slice(&seed) {
                zeroize::Zeroize::zeroize(&mut seed);
                let public = secret.public_key().to_sec1_point(false).as_bytes().to_vec();
                return Ok(Box::new(Sm2Exchange { secret, public }));
            }
        }
        Err(Error::General("could not draw an SM2 key".into()))
    }
    fn name(&self) -> NamedGroup {
        NamedGroup::Unknown(CURVE_SM2)
    }
}

struct Sm2Exchange {
    secret: sm2::SecretKey,
    public: Vec<u8>,
}

impl ActiveKeyExchange for Sm2Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        // Uncompressed points only (RFC 8998 §3.1 follows RFC 8446 §4.2.8.2).
        if peer_pub_key.first() != Some(&0x04) || peer_pub_key.len() != 65 {
            return Err(Error::from(rustls::PeerMisbehaved::InvalidKeyShare));
        }
        let peer = sm2::PublicKey::from_sec1_bytes(peer_pub_key)
            .map_err(|_| Error::from(rustls::PeerMisbehaved::InvalidKeyShare))?;
        let shared = self.secret.diffie_hellman(&peer);
        Ok(SharedSecret::from(shared.raw_secret_bytes().as_slice()))
    }
    fn pub_key(&self) -> &[u8] {
        &self.public
    }
    fn group(&self) -> NamedGroup {
        NamedGroup::Unknown(CURVE_SM2)
    }
}

// ------------------------------------------------------------ signatures

/// SM2 signature verification with a fixed user id.
#[derive(Debug)]
struct Sm2Verify {
    user_id: &'static str,
}

static SM2_HANDSHAKE_SIGNATURES: Sm2Verify = Sm2Verify {
    user_id: TLS13_SM2_ID,
};
static SM2_CERT_SIGNATURES: Sm2Verify = Sm2Verify {
    user_id: wz_crypto::DEFAULT_USER_ID,
};

impl SignatureVerificationAlgorithm for Sm2Verify {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key = Sm2PublicKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let sig = Sm2Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        key.verify_with_id(self.user_id, message, &sig)
            .map_err(|_| InvalidSignature)
    }
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        AlgorithmIdentifier::from_slice(SM2_PUBLIC_KEY_ALG_ID)
    }
    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        AlgorithmIdentifier::from_slice(SM2_SM3_SIG_ALG_ID)
    }
}

#[derive(Debug)]
struct Sm2Keys;

impl KeyProvider for Sm2Keys {
    fn load_private_key(&self, key_der: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, Error> {
        let key = match &key_der {
            PrivateKeyDer::Pkcs8(der) => Sm2PrivateKey::from_pkcs8_der(der.secret_pkcs8_der()),
            PrivateKeyDer::Sec1(der) => Sm2PrivateKey::from_sec1_der(der.secret_sec1_der()),
            _ => {
                return Err(Error::General(
                    "only SM2 keys (PKCS#8 or SEC1) are supported".into(),
                ));
            }
        }
        .map_err(|_| Error::General("not an SM2 private key".into()))?;
        Ok(Arc::new(Sm2SigningKey(Arc::new(key))))
    }
}

/// The server's SM2 key, signing `CertificateVerify` as `sm2sig_sm3`.
#[derive(Debug, Clone)]
pub struct Sm2SigningKey(Arc<Sm2PrivateKey>);

impl SigningKey for Sm2SigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::Unknown(SM2SIG_SM3))
            .then(|| Box::new(self.clone()) as Box<dyn Signer>)
    }
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::Unknown(0xe2)
    }
}

impl Signer for Sm2SigningKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.0
            .sign_with_id(TLS13_SM2_ID, message)
            .map(|s| s.to_der())
            .map_err(|_| Error::General("SM2 signing failed".into()))
    }
    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::Unknown(SM2SIG_SM3)
    }
}

#[derive(Debug)]
struct Rng;

impl SecureRandom for Rng {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        getrandom::fill(buf).map_err(|_| GetRandomFailed)
    }
}
