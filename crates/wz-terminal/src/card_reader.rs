//! Reading ID card chip data. A real second-generation card is read through
//! a licensed SAM (security access module) attached to the reader, which
//! returns the authority-signed chip data; such a reader implements
//! [`CardReader`] just as [`FileCardReader`] does for virtual `.wzc` cards.

use std::path::PathBuf;

use wz_proto::{ProtoError, ResultCode, SignedCard};

use crate::{Result, TerminalError};

/// Largest card file accepted (photo included).
const MAX_CARD_BYTES: u64 = 1024 * 1024;

/// Something that yields the signed chip data of the card presented to it.
pub trait CardReader {
    /// The raw chip bytes (authority-signed), as the platform expects them.
    fn read(&mut self) -> Result<Vec<u8>>;

    /// Reads and parses (the signature is checked by the platform).
    fn read_card(&mut self) -> Result<SignedCard> {
        let bytes = self.read()?;
        Ok(SignedCard::decode(&bytes)?)
    }
}

/// Reads a virtual card written by `wz card issue`.
#[derive(Debug, Clone)]
pub struct FileCardReader {
    path: PathBuf,
}

impl FileCardReader {
    /// A reader for the card file at `path`.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl CardReader for FileCardReader {
    fn read(&mut self) -> Result<Vec<u8>> {
        let unreadable = || {
            TerminalError::Proto(ProtoError::new(
                ResultCode::CardDataInvalid,
                "card file cannot be read",
            ))
        };
        let meta = std::fs::metadata(&self.path).map_err(|_| unreadable())?;
        if meta.len() > MAX_CARD_BYTES {
            return Err(TerminalError::Proto(ProtoError::new(
                ResultCode::CardDataInvalid,
                "card file is too large",
            )));
        }
        std::fs::read(&self.path).map_err(|_| unreadable())
    }
}
