//! Operator revocation of a citizen's credentials.

use wz_proto::{IdNumber, ResultCode};
use wz_store::AuditNote;

use wz_proto::admin::RevocationReason;

use crate::Result;
use crate::registry::blind_index;

use crate::platform::{Platform, err};

impl Platform {
    /// The operator revokes every live credential of a citizen (court
    /// order, death, fraud, the citizen's own request at a hall). Audited
    /// with the reason; RPs then see `credential_revoked`, and the wallet
    /// wipes itself at its next sync. Returns how many were revoked.
    pub async fn revoke_citizen(
        &self,
        id_number: &IdNumber,
        reason: RevocationReason,
        actor: &str,
        now: u64,
    ) -> Result<u64> {
        let index = blind_index(&self.keys(), id_number);
        let record = self.store.registry_by_index(&index).await?.ok_or(err(
            ResultCode::RegistryRecordNotFound,
            "no such citizen in the registry",
        ))?;
        let note = AuditNote::new(
            actor,
            "citizen.revoke",
            format!("citizen={} reason={}", record.citizen_id, reason.name()),
        );
        Ok(self
            .store
            .revoke_citizen_credentials(record.citizen_id, &note, now)
            .await?)
    }
}
