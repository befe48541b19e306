//! Step 2 of a verification: admitting an authenticated request.

use wz_proto::{RequestAuth, ResultCode};
use wz_store::RelyingParty;

use crate::Result;
use crate::platform::{Platform, SignedReply, err};

impl Platform {
    /// An idempotent retry (same nonce, same body) is answered with its
    /// stored verdict (`Some`); the same nonce with another body is a
    /// replay. Then the RP's rate — before the nonce is used, so the SDK's
    /// retry of a request refused for its rate can still succeed — and then
    /// the nonce itself, once.
    pub(crate) async fn admit(
        &self,
        rp: &RelyingParty,
        auth: &RequestAuth,
        request_hash: &[u8; 32],
        now: u64,
        now_ms: u64,
    ) -> Result<Option<SignedReply>> {
        if let Some(prev) = self
            .store
            .verification_for_request(&rp.rp_id, &auth.nonce)
            .await?
        {
            if prev.request_hash == *request_hash {
                return self
                    .sign_reply(200, prev.response, &rp.rp_id, &auth.nonce, now)
                    .map(Some);
            }
            self.security_event(ResultCode::RequestReplayed, Some(&rp.rp_id));
            return Err(err(
                ResultCode::RequestReplayed,
                "request nonce was used for another request",
            ));
        }
        if !self.limiter.allow(&rp.rp_id, rp.rate_per_s, now_ms) {
            self.security_event(ResultCode::RateLimited, Some(&rp.rp_id));
            return Err(err(ResultCode::RateLimited, "relying party is over its rate"));
        }
        if !self.store.remember_rp_nonce(&rp.rp_id, &auth.nonce, now).await? {
            self.security_event(ResultCode::RequestReplayed, Some(&rp.rp_id));
            return Err(err(ResultCode::RequestReplayed, "request nonce was seen before"));
        }
        Ok(None)
    }
}
