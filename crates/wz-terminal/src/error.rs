/// Terminal SDK faults; never carry personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerminalError {
    #[error("image: {0}")]
    Image(&'static str),
    #[error("no QR code found in the image")]
    NoQrFound,
    #[error("released attributes could not be opened with this RP's key")]
    AttributesUnreadable,
    #[error(transparent)]
    Client(#[from] wz_client::ClientError),
    #[error(transparent)]
    Proto(#[from] wz_proto::ProtoError),
    #[error(transparent)]
    Crypto(#[from] wz_crypto::CryptoError),
}

pub type Result<T, E = TerminalError> = core::result::Result<T, E>;
