//! Step 2 of a verification: admitting an authenticated request.

use wz_proto::{RequestAuth, ResultCode};
use wz_store::RelyingParty;

use crate::Result;
use crate::platform::{Platform, SignedReply, err};

impl Platform {
    /// An idempotent retry (same nonce, same body) is answered with its
    /// stored verdict (`Some`); the same nonce with another body is a
    /// replay. The RP's rate is checked before the nonce is used, so the
    /// SDK's retry of a request refused for its rate can still succeed.
    /// The common case — a fresh nonce within the rate — costs one
    /// statement: the nonce is claimed, and only a nonce already seen is
    /// looked up among the stored verdicts. A retry of a request whose
    /// first attempt left no verdict is evaluated again.
    pub(crate) async fn admit(
        &self,
        rp: &RelyingParty,
        auth: &RequestAuth,
        request_hash: &[u8; 32],
        now: u64,
        now_ms: u64,
    ) -> Result<Option<SignedReply>> {
        if !self.limiter.allow(&rp.rp_id, rp.rate_per_s, now_ms) {
            // A retry of a request already answered is served even now.
            if let Some(stored) = self.stored_reply(rp, auth, request_hash, now).await? {
                return Ok(Some(stored));
            }
            self.security_event(ResultCode::RateLimited, Some(&rp.rp_id));
            return Err(err(ResultCode::RateLimited, "relying party is over its rate"));
        }
        if self
            .store
            .claim_request_nonce(&rp.rp_id, &auth.nonce, request_hash, now)
            .await?
        {
            return Ok(None);
        }
        if let Some(stored) = self.stored_reply(rp, auth, request_hash, now).await? {
            return Ok(Some(stored));
        }
        // The same request, claimed earlier, never answered: its first
        // attempt died (a node or the database went down in between). Its
        // QR counter moves only with a verdict, so evaluating it again is
        // safe; only one of two such retries in a second gets here.
        if self
            .store
            .reclaim_unanswered_nonce(&rp.rp_id, &auth.nonce, request_hash, now)
            .await?
        {
            tracing::info!(rp = %rp.rp_id, "retry of a request left without a verdict: evaluated again");
            return Ok(None);
        }
        self.security_event(ResultCode::RequestReplayed, Some(&rp.rp_id));
        Err(err(ResultCode::RequestReplayed, "request nonce was seen before"))
    }

    /// The verdict already given for this request nonce, re-signed, if the
    /// body is the same; the same nonce with another body is a replay.
    async fn stored_reply(
        &self,
        rp: &RelyingParty,
        auth: &RequestAuth,
        request_hash: &[u8; 32],
        now: u64,
    ) -> Result<Option<SignedReply>> {
        let Some(prev) = self
            .store
            .verification_for_request(&rp.rp_id, &auth.nonce)
            .await?
        else {
            return Ok(None);
        };
        if prev.request_hash == *request_hash {
            return self
                .sign_reply(200, prev.response, &rp.rp_id, &auth.nonce, now)
                .map(Some);
        }
        self.security_event(ResultCode::RequestReplayed, Some(&rp.rp_id));
        Err(err(
            ResultCode::RequestReplayed,
            "request nonce was used for another request",
        ))
    }
}
