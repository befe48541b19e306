//! The invariants a crash must never break, counted: what `wz admin check`
//! and the crash tests read.

use sqlx::Row;

use crate::Result;
use crate::audit::AuditReport;

use super::*;

/// Rows that break an invariant (all zero, and the audit chain intact, on a
/// consistent store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyReport {
    pub audit: AuditReport,
    /// Credentials with no `credential.issue` audit entry naming them.
    pub credentials_without_audit: u64,
    /// Superseded credentials with no newer credential of the same citizen.
    pub superseded_without_successor: u64,
    /// Credentials whose QR counter moved without a passing verdict.
    pub counters_without_verdict: u64,
    /// Citizens with more than one active credential.
    pub citizens_with_two_active: u64,
}

impl ConsistencyReport {
    /// Every invariant holds.
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        self.audit.is_intact()
            && self.credentials_without_audit == 0
            && self.superseded_without_successor == 0
            && self.counters_without_verdict == 0
            && self.citizens_with_two_active == 0
    }
}

impl Store {
    async fn count(&self, sql: &'static str) -> Result<u64> {
        let n: i64 = sqlx::query(sql).fetch_one(&self.pool).await?.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Checks the invariants over the whole store (a scan: for operators
    /// and tests, not the request path).
    pub async fn consistency(&self) -> Result<ConsistencyReport> {
        let audit = self.verify_audit().await?;
        let issued: std::collections::HashSet<String> =
            sqlx::query("SELECT detail FROM audit_log WHERE action = 'credential.issue'")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .filter_map(|r| r.try_get::<String, _>("detail").ok())
                .filter_map(|d| {
                    d.split_whitespace()
                        .find_map(|w| w.strip_prefix("cred=").map(str::to_owned))
                })
                .collect();
        let mut credentials_without_audit = 0;
        for row in sqlx::query("SELECT cred_id FROM credentials")
            .fetch_all(&self.pool)
            .await?
        {
            let id = cred_id_from(&row.try_get::<Vec<u8>, _>("cred_id")?)?;
            if !issued.contains(&id.to_string()) {
                credentials_without_audit += 1;
            }
        }
        Ok(ConsistencyReport {
            audit,
            credentials_without_audit,
            superseded_without_successor: self
                .count(
                    "SELECT COUNT(*) FROM credentials c WHERE c.status = 'superseded' AND NOT EXISTS
                     (SELECT 1 FROM credentials d WHERE d.citizen_id = c.citizen_id
                      AND d.cred_id <> c.cred_id AND d.created_at >= c.created_at)",
                )
                .await?,
            counters_without_verdict: self
                .count(
                    "SELECT COUNT(*) FROM credentials c WHERE c.last_counter >= 0 AND NOT EXISTS
                     (SELECT 1 FROM verifications v WHERE v.cred_id = c.cred_id AND v.result = 0)",
                )
                .await?,
            citizens_with_two_active: self
                .count(
                    "SELECT COUNT(*) FROM (SELECT citizen_id FROM credentials WHERE status = 'active'
                     GROUP BY citizen_id HAVING COUNT(*) > 1) t",
                )
                .await?,
        })
    }
}
