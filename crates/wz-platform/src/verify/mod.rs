//! `POST /v1/verify`, as a pipeline of named steps, each in its own module:
//!
//! 1. authenticate the RP — known, key valid, signature, timestamp
//!    (`crate::relying_parties`);
//! 2. admit the request — an idempotent retry gets its stored verdict,
//!    then the RP's rate, then its nonce ([`admit`]);
//! 3. evaluate the factors — every factor gathered first, frames judged,
//!    then QR (open → device signature → credential status → freshness →
//!    counter, [`qr`]), items, card, level, PIN ([`pin`]), face
//!    ([`factors`]);
//! 4. release the attributes the RP is entitled to ([`release`]);
//! 5. record the verification for the citizen's history — accepting the
//!    QR's counter in the same transaction — and sign the verdict
//!    ([`verdict`]).

mod admit;
pub(crate) mod factors;
mod pin;
mod qr;
mod release;
mod verdict;

use wz_crypto::sm3;
use wz_proto::{RequestAuth, RequestTarget};

use crate::Result;
use crate::platform::{Platform, SignedReply};

impl Platform {
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
        if let Some(stored) = self.admit(&rp, auth, &request_hash, now, now_ms).await? {
            return Ok(stored);
        }
        let evaluation = self.evaluate(&rp, target.body, now).await;
        self.record_and_sign(&rp, &rp_key, auth, request_hash, evaluation, now)
            .await
    }
}
