//! A bounds-checked cursor over untrusted bytes: every read either returns
//! the asked-for bytes or an error, never a panic.

use crate::{ProtoError, ResultCode};

pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    code: ResultCode,
}

impl<'a> Reader<'a> {
    /// Faults are reported as `CredentialInvalid` unless [`Self::with_code`] says otherwise.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            code: ResultCode::CredentialInvalid,
        }
    }

    pub(crate) fn with_code(bytes: &'a [u8], code: ResultCode) -> Self {
        Self { rest: bytes, code }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.rest.len() < n {
            return Err(ProtoError::new(self.code, "input is truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtoError> {
        let code = self.code;
        self.take(N)?
            .try_into()
            .map_err(|_| ProtoError::new(code, "input is truncated"))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ProtoError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, ProtoError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn rest(self) -> &'a [u8] {
        self.rest
    }
}
