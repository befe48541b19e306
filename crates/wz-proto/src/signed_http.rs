//! Signed HTTP exchanges between relying parties and the platform.
//!
//! A relying party signs every request; the platform signs every verdict.
//! Both sign a canonical text of newline-separated fields (no field may
//! contain a newline, so the text has one reading):
//!
//! ```text
//! request  = "wz-rp-req-v1" \n METHOD \n PATH \n TIMESTAMP \n NONCE \n hex(SM3(body)) \n RP_ID \n KEY_ID
//! response = "wz-verdict-v1" \n STATUS \n TIMESTAMP \n REQUEST_NONCE \n hex(SM3(body)) \n RP_ID \n PLATFORM_KEY_ID
//! ```
//!
//! `TIMESTAMP` is unix seconds in decimal; `NONCE` is 16 to 64 lower-case hex
//! digits; `PATH` includes the query string, if any; signatures are SM2 with
//! the default user id, sent as 128 hex digits (raw r|s). The response
//! carries the request's nonce, which ties a verdict to its request.

use wz_crypto::{KeyId, Sm2PublicKey, Sm2Signature, Sm2Signer, sm3};

use crate::{ProtoError, ResultCode};

/// Header names (lower case, as HTTP/2 sends them).
pub mod headers {
    /// The relying party's registered id.
    pub const RP_ID: &str = "x-wz-rp-id";
    /// Id of the key that signed (RP key on requests, platform key on responses).
    pub const KEY_ID: &str = "x-wz-key-id";
    /// Unix seconds.
    pub const TIMESTAMP: &str = "x-wz-timestamp";
    /// Request nonce (echoed on the response).
    pub const NONCE: &str = "x-wz-nonce";
    /// Raw r|s in hex.
    pub const SIGNATURE: &str = "x-wz-signature";
}

const REQ_DOMAIN: &str = "wz-rp-req-v1";
const RESP_DOMAIN: &str = "wz-verdict-v1";
/// Default allowed clock difference for request timestamps, seconds.
pub const DEFAULT_MAX_SKEW_SECS: u64 = 300;

const fn malformed(reason: &'static str) -> ProtoError {
    ProtoError::new(ResultCode::RequestMalformed, reason)
}

fn canonical(fields: &[&str]) -> Result<Vec<u8>, ProtoError> {
    if fields.iter().any(|f| f.contains(['\n', '\r'])) {
        return Err(malformed("signed field contains a line break"));
    }
    Ok(fields.join("\n").into_bytes())
}

/// Checks an RP id: 1-64 characters of `[A-Za-z0-9._-]`.
pub fn check_rp_id(rp_id: &str) -> Result<(), ProtoError> {
    let ok = (1..=64).contains(&rp_id.len())
        && rp_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(malformed("RP id must be 1-64 characters of A-Z a-z 0-9 . _ -"))
    }
}

fn check_nonce(nonce: &str) -> Result<(), ProtoError> {
    let ok = (16..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(malformed("nonce must be 16-64 lower-case hex digits"))
    }
}

fn check_method_path(method: &str, path: &str) -> Result<(), ProtoError> {
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(malformed("method must be an upper-case token"));
    }
    if !path.starts_with('/') || path.len() > 2048 || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(malformed("path must be an absolute, printable ASCII path"));
    }
    Ok(())
}

fn parse_signature(hex_sig: &str) -> Result<Sm2Signature, ProtoError> {
    let mut raw = [0u8; 64];
    hex::decode_to_slice(hex_sig, &mut raw).map_err(|_| malformed("signature must be 128 hex digits"))?;
    Sm2Signature::from_bytes(&raw).map_err(|_| malformed("signature is not a valid SM2 signature"))
}

/// A fresh random nonce in the form requests use.
pub fn new_nonce() -> Result<String, ProtoError> {
    Ok(hex::encode(wz_crypto::random_array::<16>()?))
}

/// The authentication part of a signed RP request, as carried in headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAuth {
    pub rp_id: String,
    pub key_id: KeyId,
    pub timestamp: u64,
    pub nonce: String,
    pub signature: Sm2Signature,
}

/// Everything a request signature covers besides the auth headers.
#[derive(Debug, Clone, Copy)]
pub struct RequestTarget<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
}

fn request_text(
    t: &RequestTarget<'_>,
    rp_id: &str,
    key_id: &KeyId,
    timestamp: u64,
    nonce: &str,
) -> Result<Vec<u8>, ProtoError> {
    check_method_path(t.method, t.path)?;
    check_rp_id(rp_id)?;
    check_nonce(nonce)?;
    canonical(&[
        REQ_DOMAIN,
        t.method,
        t.path,
        &timestamp.to_string(),
        nonce,
        &hex::encode(sm3(t.body)),
        rp_id,
        &key_id.to_string(),
    ])
}

impl RequestAuth {
    /// The exact bytes a request signature covers (for other
    /// implementations and the golden vectors).
    pub fn signing_text(
        target: &RequestTarget<'_>,
        rp_id: &str,
        key_id: &KeyId,
        timestamp: u64,
        nonce: &str,
    ) -> Result<Vec<u8>, ProtoError> {
        request_text(target, rp_id, key_id, timestamp, nonce)
    }

    /// Signs a request as relying party `rp_id`.
    pub fn sign(
        signer: &dyn Sm2Signer,
        rp_id: &str,
        target: &RequestTarget<'_>,
        timestamp: u64,
        nonce: &str,
    ) -> Result<Self, ProtoError> {
        let key_id = signer.key_id();
        let text = request_text(target, rp_id, &key_id, timestamp, nonce)?;
        let signature = signer.sign(&text)?;
        Ok(Self {
            rp_id: rp_id.to_owned(),
            key_id,
            timestamp,
            nonce: nonce.to_owned(),
            signature,
        })
    }

    /// The five headers to send.
    #[must_use]
    pub fn to_headers(&self) -> [(&'static str, String); 5] {
        [
            (headers::RP_ID, self.rp_id.clone()),
            (headers::KEY_ID, self.key_id.to_string()),
            (headers::TIMESTAMP, self.timestamp.to_string()),
            (headers::NONCE, self.nonce.clone()),
            (headers::SIGNATURE, hex::encode(self.signature.to_bytes())),
        ]
    }

    /// Reads the headers through `get` (a header lookup by lower-case name).
    /// Missing or malformed headers are `RequestMalformed`.
    pub fn from_headers<'h>(get: impl Fn(&str) -> Option<&'h str>) -> Result<Self, ProtoError> {
        let need = |name: &str| get(name).ok_or(malformed("a required x-wz-* header is missing"));
        let rp_id = need(headers::RP_ID)?.to_owned();
        check_rp_id(&rp_id)?;
        let key_id = need(headers::KEY_ID)?
            .parse::<KeyId>()
            .map_err(|_| malformed("key id must be 16 hex digits"))?;
        let ts = need(headers::TIMESTAMP)?;
        if ts.is_empty() || ts.len() > 20 || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("timestamp must be decimal unix seconds"));
        }
        let timestamp = ts
            .parse::<u64>()
            .map_err(|_| malformed("timestamp must be decimal unix seconds"))?;
        let nonce = need(headers::NONCE)?.to_owned();
        check_nonce(&nonce)?;
        let signature = parse_signature(need(headers::SIGNATURE)?)?;
        Ok(Self {
            rp_id,
            key_id,
            timestamp,
            nonce,
            signature,
        })
    }

    /// Checks the signature with the RP's registered key.
    pub fn verify_signature(
        &self,
        rp_key: &Sm2PublicKey,
        target: &RequestTarget<'_>,
    ) -> Result<(), ProtoError> {
        if rp_key.key_id() != self.key_id {
            return Err(ProtoError::new(
                ResultCode::RpKeyInvalid,
                "request names another key",
            ));
        }
        let text = request_text(target, &self.rp_id, &self.key_id, self.timestamp, &self.nonce)?;
        rp_key.verify(&text, &self.signature).map_err(|_| {
            ProtoError::new(
                ResultCode::RpSignatureInvalid,
                "request signature does not verify",
            )
        })
    }

    /// Checks the timestamp is within `max_skew` seconds of `now`.
    pub fn check_timestamp(&self, now: u64, max_skew: u64) -> Result<(), ProtoError> {
        if self.timestamp.abs_diff(now) > max_skew {
            return Err(ProtoError::new(
                ResultCode::RequestExpired,
                "request timestamp outside the window",
            ));
        }
        Ok(())
    }
}

/// The platform's signature over a response, as carried in headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseAuth {
    pub key_id: KeyId,
    pub timestamp: u64,
    pub signature: Sm2Signature,
}

/// What a response signature covers besides its own headers.
#[derive(Debug, Clone, Copy)]
pub struct ResponseTarget<'a> {
    pub status: u16,
    pub rp_id: &'a str,
    pub request_nonce: &'a str,
    pub body: &'a [u8],
}

fn response_text(t: &ResponseTarget<'_>, key_id: &KeyId, timestamp: u64) -> Result<Vec<u8>, ProtoError> {
    check_rp_id(t.rp_id)?;
    check_nonce(t.request_nonce)?;
    canonical(&[
        RESP_DOMAIN,
        &t.status.to_string(),
        &timestamp.to_string(),
        t.request_nonce,
        &hex::encode(sm3(t.body)),
        t.rp_id,
        &key_id.to_string(),
    ])
}

impl ResponseAuth {
    /// The exact bytes a response signature covers.
    pub fn signing_text(
        target: &ResponseTarget<'_>,
        key_id: &KeyId,
        timestamp: u64,
    ) -> Result<Vec<u8>, ProtoError> {
        response_text(target, key_id, timestamp)
    }

    /// Signs a response with the platform key.
    pub fn sign(
        signer: &dyn Sm2Signer,
        target: &ResponseTarget<'_>,
        timestamp: u64,
    ) -> Result<Self, ProtoError> {
        let key_id = signer.key_id();
        let signature = signer.sign(&response_text(target, &key_id, timestamp)?)?;
        Ok(Self {
            key_id,
            timestamp,
            signature,
        })
    }

    /// The three headers to send (the nonce header echoes the request's).
    #[must_use]
    pub fn to_headers(&self) -> [(&'static str, String); 3] {
        [
            (headers::KEY_ID, self.key_id.to_string()),
            (headers::TIMESTAMP, self.timestamp.to_string()),
            (headers::SIGNATURE, hex::encode(self.signature.to_bytes())),
        ]
    }

    /// Reads the headers through `get`.
    pub fn from_headers<'h>(get: impl Fn(&str) -> Option<&'h str>) -> Result<Self, ProtoError> {
        let bad = |r| ProtoError::new(ResultCode::VerdictSignatureInvalid, r);
        let key_id = get(headers::KEY_ID)
            .and_then(|k| k.parse::<KeyId>().ok())
            .ok_or(bad("verdict key id header missing or malformed"))?;
        let timestamp = get(headers::TIMESTAMP)
            .filter(|t| !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or(bad("verdict timestamp header missing or malformed"))?;
        let signature = get(headers::SIGNATURE)
            .ok_or(bad("verdict signature header missing"))
            .and_then(|s| parse_signature(s).map_err(|_| bad("verdict signature malformed")))?;
        Ok(Self {
            key_id,
            timestamp,
            signature,
        })
    }

    /// Checks the platform's signature with its published key.
    pub fn verify(&self, platform_key: &Sm2PublicKey, target: &ResponseTarget<'_>) -> Result<(), ProtoError> {
        let bad = ProtoError::new(
            ResultCode::VerdictSignatureInvalid,
            "verdict signature does not verify",
        );
        if platform_key.key_id() != self.key_id {
            return Err(bad);
        }
        platform_key
            .verify(
                &response_text(target, &self.key_id, self.timestamp)?,
                &self.signature,
            )
            .map_err(|_| bad)
    }
}
