//! ShangMi TLS 1.3 (RFC 8998) for rustls, built on the project's own SM2,
//! SM3 and SM4: a `CryptoProvider` with `TLS_SM4_GCM_SM3`, the `curveSM2`
//! key exchange and `sm2sig_sm3` signatures, and self-signed SM2 server
//! certificates. No I/O here: the platform and the clients plug the
//! provider into their rustls configurations.

mod cert;
mod provider;

pub use cert::{cert_pem, self_signed_sm2_der};
pub use provider::{
    CURVE_SM2, SM2_PUBLIC_KEY_ALG_ID, SM2_SM3_SIG_ALG_ID, SM2SIG_SM3, Sm2SigningKey, TLS_SM4_GCM_SM3,
    TLS13_SM2_ID, TLS13_SM4_GCM_SM3, shangmi_provider,
};

/// What can go wrong making ShangMi TLS material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("the system random source failed")]
    Random,
    #[error("SM2 signing failed")]
    Sign,
}

pub type Result<T, E = TlsError> = core::result::Result<T, E>;
