/// Wallet faults. Messages never contain personal data or secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    #[error("no wallet here: run `wz wallet init` first")]
    NoWallet,
    #[error("a wallet already exists here")]
    AlreadyExists,
    #[error("wrong wallet PIN ({left} tries left before the wallet is wiped)")]
    WrongPin { left: u32 },
    #[error("too many wrong PINs: try again in {0} s")]
    Locked(u64),
    #[error("too many wrong PINs: the wallet was wiped; enrol again")]
    WipedAfterFailures,
    #[error("wallet PIN must be 6 to 64 characters")]
    WeakPin,
    #[error("this wallet shows its QR only after a local face check")]
    FaceCheckRequired,
    #[error("the local face check failed")]
    FaceCheckFailed,
    #[error("this wallet holds no credential: enrol first")]
    NotEnrolled,
    #[error("wallet file is damaged or not a wallet")]
    Corrupt,
    #[error("wallet storage: {0}")]
    Io(String),
    #[error(transparent)]
    Client(#[from] wz_client::ClientError),
    #[error(transparent)]
    Proto(#[from] wz_proto::ProtoError),
    #[error(transparent)]
    Crypto(#[from] wz_crypto::CryptoError),
}

pub type Result<T, E = WalletError> = core::result::Result<T, E>;
