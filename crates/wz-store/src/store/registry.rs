//! The registry: sealed person records, looked up by blind index or id.

use sqlx::Row;

use crate::audit::AuditNote;
use crate::model::{NewRegistryRecord, RegistryRecord};
use crate::{Result, StoreError};

use super::*;

/// Registry rows in one INSERT statement.
const REGISTRY_ROWS_PER_STATEMENT: usize = 100;

impl Store {
    /// Inserts a batch in one transaction; rows whose blind index already
    /// exists are skipped (so an interrupted import can simply be rerun).
    /// Returns how many rows were new. A batch that added rows is audited
    /// (`registry.import`, by `actor`) in the same transaction.
    pub async fn insert_registry_batch(
        &self,
        rows: &[NewRegistryRecord],
        actor: &str,
        now: u64,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let mut inserted = 0;
        // Many rows a statement: one round trip (or worker hop) per chunk
        // instead of per row. 7 parameters a row stays far below either
        // backend's limit on bound parameters.
        for chunk in rows.chunks(REGISTRY_ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO registry (id_index, pii, photo, face_template, template_model, data_key_id, created_at) VALUES ",
            );
            for i in 0..chunk.len() {
                let p = i * 7;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6,
                    p + 7
                ));
            }
            sql.push_str(" ON CONFLICT (id_index) DO NOTHING");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.id_index.to_vec())
                    .bind(r.pii.clone())
                    .bind(r.photo.clone())
                    .bind(r.face_template.clone())
                    .bind(r.template_model.clone())
                    .bind(r.data_key_id.clone())
                    .bind(ts(now));
            }
            inserted += q.execute(tx.conn()).await?.rows_affected();
        }
        if inserted > 0 {
            tx.audit(
                &AuditNote::new(actor, "registry.import", format!("rows={inserted}")),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    pub(super) fn registry_from_row(row: &impl Columns) -> Result<RegistryRecord> {
        let id_index: Vec<u8> = row.col("id_index")?;
        Ok(RegistryRecord {
            citizen_id: row.col("citizen_id")?,
            record: NewRegistryRecord {
                id_index: id_index
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("registry index"))?,
                pii: row.col("pii")?,
                photo: row.col("photo")?,
                face_template: row.col("face_template")?,
                template_model: row.col("template_model")?,
                data_key_id: row.col("data_key_id")?,
            },
            created_at: uts(row.col("created_at")?),
        })
    }

    /// The record with this blind index.
    pub async fn registry_by_index(&self, id_index: &[u8; 32]) -> Result<Option<RegistryRecord>> {
        let row = sqlx::query(concat!(registry_select!(), " WHERE id_index = $1"))
            .bind(id_index.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::registry_from_row).transpose()
    }

    /// The record of a citizen.
    pub async fn registry_by_id(&self, citizen_id: i64) -> Result<Option<RegistryRecord>> {
        let row = sqlx::query(concat!(registry_select!(), " WHERE citizen_id = $1"))
            .bind(citizen_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::registry_from_row).transpose()
    }

    /// Number of registry records.
    #[cfg(feature = "testing")]
    pub async fn registry_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM registry")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(uts(n))
    }

    /// Records with a photo whose face template is missing or was made by
    /// another model than `model`: what `wz admin reenrol-templates` still
    /// has to rebuild.
    pub async fn count_stale_templates(&self, model: &str) -> Result<u64> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM registry
             WHERE photo IS NOT NULL AND (template_model IS NULL OR template_model <> $1)",
        )
        .bind(model)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(uts(n))
    }

    /// Up to `limit` such records with a citizen id above `after`, in id
    /// order (a cursor, so one pass visits each record once).
    pub async fn stale_templates_after(
        &self,
        model: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<RegistryRecord>> {
        let rows = sqlx::query(concat!(
            registry_select!(),
            " WHERE citizen_id > $1 AND photo IS NOT NULL AND (template_model IS NULL OR template_model <> $2)
              ORDER BY citizen_id LIMIT $3"
        ))
        .bind(after)
        .bind(model)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::registry_from_row).collect()
    }

    /// Stores rebuilt templates (`citizen_id`, template) made by `model` in
    /// one transaction with one audit entry (`registry.reenrol-templates`).
    /// A record already holding a template of `model` is left as it is, so a
    /// rerun after a crash changes nothing twice. Returns how many changed.
    pub async fn replace_templates(
        &self,
        rows: &[(i64, Vec<u8>)],
        model: &str,
        actor: &str,
        now: u64,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let mut changed = 0;
        for (citizen_id, template) in rows {
            changed += sqlx::query(
                "UPDATE registry SET face_template = $1, template_model = $2
                 WHERE citizen_id = $3 AND (template_model IS NULL OR template_model <> $2)",
            )
            .bind(template.clone())
            .bind(model)
            .bind(*citizen_id)
            .execute(tx.conn())
            .await?
            .rows_affected();
        }
        if changed > 0 {
            tx.audit(
                &AuditNote::new(
                    actor,
                    "registry.reenrol-templates",
                    format!("rows={changed} model={model}"),
                ),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
