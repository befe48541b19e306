//! The registry: importing people (checked, sealed, with face templates) and reading one back.

use std::sync::Arc;

use wz_proto::ResultCode;

use crate::registry::{Person, blind_index, open_person, open_photo, seal_record};
use crate::{PlatformError, Result};

use crate::platform::{Platform, err};

/// What [`Platform::reenrol_templates`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReenrolReport {
    /// The model the templates are now made by.
    pub model: String,
    /// Templates rebuilt.
    pub rebuilt: u64,
    /// Photos in which the engine found no usable face (old template kept).
    pub refused: u64,
}

impl Platform {
    /// Seals one registry person (and photo) into a record, with a face
    /// template when the engine is configured. A photo in which the engine
    /// finds no usable face is refused; with no engine configured the record
    /// is stored without a template (face checks then fail for it until
    /// templates are built).
    pub async fn prepare_record(
        &self,
        person: &Person,
        photo: Option<&[u8]>,
    ) -> Result<wz_store::NewRegistryRecord> {
        let template = match photo {
            Some(p) => match self.template(p).await {
                Ok(t) => Some((t, self.face.model_id().to_owned())),
                Err(e) if e.code == ResultCode::Unavailable => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        seal_record(&self.keys(), person, photo, template)
    }

    /// Stores prepared records in one transaction; rows already present
    /// are skipped. Returns how many were new.
    pub async fn store_records(
        &self,
        rows: &[wz_store::NewRegistryRecord],
        actor: &str,
        now: u64,
    ) -> Result<u64> {
        Ok(self.store.insert_registry_batch(rows, actor, now).await?)
    }

    /// Prepares and stores people in one batch (tests and small imports).
    pub async fn import_people(
        &self,
        people: &[(Person, Option<Vec<u8>>)],
        actor: &str,
        now: u64,
    ) -> Result<u64> {
        let rows = if people.iter().all(|(_, photo)| photo.is_none()) {
            self.seal_without_photos(people.iter().map(|(p, _)| p).collect())?
        } else {
            let mut rows = Vec::with_capacity(people.len());
            for (person, photo) in people {
                rows.push(self.prepare_record(person, photo.as_deref()).await?);
            }
            rows
        };
        self.store_records(&rows, actor, now).await
    }

    /// Seals people who have no photo (blind index, SM4-GCM) on every core:
    /// nothing to compute a template from, so sealing is all the work.
    pub fn seal_without_photos(&self, people: Vec<&Person>) -> Result<Vec<wz_store::NewRegistryRecord>> {
        let keys = self.keys();
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let per_thread = people.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let sealing: Vec<_> = people
                .chunks(per_thread)
                .map(|chunk| {
                    let keys = &keys;
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|p| seal_record(keys, p, None, None))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            let mut rows = Vec::with_capacity(people.len());
            for s in sealing {
                rows.extend(
                    s.join()
                        .map_err(|_| PlatformError::new(ResultCode::InternalError, "sealing thread"))??,
                );
            }
            Ok(rows)
        })
    }

    /// A citizen's credentials by ID number, found through the blind index
    /// (the operator console's lookup; no personal data in the answer).
    pub async fn citizen_credentials(
        &self,
        id: &wz_proto::IdNumber,
    ) -> Result<wz_proto::admin::CitizenCredentials> {
        let keys = self.keys();
        let Some(rec) = self.store.registry_by_index(&blind_index(&keys, id)).await? else {
            return Ok(wz_proto::admin::CitizenCredentials {
                in_registry: false,
                credentials: Vec::new(),
            });
        };
        let rows = self.store.credentials_of_citizen(rec.citizen_id).await?;
        Ok(wz_proto::admin::CitizenCredentials {
            in_registry: true,
            credentials: rows
                .into_iter()
                .map(|c| wz_proto::admin::CredentialInfo {
                    cred_id: hex::encode(c.cred_id.0),
                    level: c.level.name().to_owned(),
                    status: c.status.name().to_owned(),
                    not_before: c.not_before,
                    not_after: c.not_after,
                    issued_at: c.created_at,
                    status_changed_at: c.status_changed_at,
                })
                .collect(),
        })
    }

    /// A registry person by ID number (for operator tools such as card issue).
    pub async fn person(&self, id: &wz_proto::IdNumber) -> Result<Option<(Person, Option<Vec<u8>>)>> {
        let keys = self.keys();
        let Some(rec) = self.store.registry_by_index(&blind_index(&keys, id)).await? else {
            return Ok(None);
        };
        Ok(Some((open_person(&keys, &rec)?, open_photo(&keys, &rec)?)))
    }

    /// Rebuilds every registry template that is missing or was made by
    /// another model with the configured engine, `batch` records a
    /// transaction (each audited). Resumable: a rerun after an interruption
    /// finds only what is still stale. A photo the engine finds no usable
    /// face in keeps its old template and is counted in `refused`.
    /// `progress(done, total)` is called after every batch.
    pub async fn reenrol_templates(
        &self,
        batch: u32,
        actor: &str,
        now: u64,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ReenrolReport> {
        let model = self.face.model_id().to_owned();
        let total = self.store.count_stale_templates(&model).await?;
        let keys = self.keys();
        let mut report = ReenrolReport::default();
        let mut after = 0i64;
        loop {
            let records = self
                .store
                .stale_templates_after(&model, after, batch.max(1))
                .await?;
            let Some(last) = records.last() else { break };
            after = last.citizen_id;
            let mut rebuilt = Vec::with_capacity(records.len());
            for rec in &records {
                let Some(photo) = open_photo(&keys, rec)? else {
                    continue;
                };
                match self.template(&photo).await {
                    Ok(t) => rebuilt.push((rec.citizen_id, t)),
                    Err(e) if e.code == ResultCode::Unavailable => return Err(e),
                    Err(_) => report.refused += 1,
                }
            }
            report.rebuilt += self.store.replace_templates(&rebuilt, &model, actor, now).await?;
            progress(report.rebuilt + report.refused, total);
        }
        report.model = model;
        Ok(report)
    }

    pub(crate) async fn template(&self, photo: &[u8]) -> Result<Vec<u8>> {
        Self::template_done(self.template_started(photo)).await
    }

    /// The template of `photo`, computed on the blocking pool from now on.
    fn template_started(
        &self,
        photo: &[u8],
    ) -> tokio::task::JoinHandle<std::result::Result<Vec<u8>, crate::face::FaceError>> {
        let face = Arc::clone(&self.face);
        let photo = photo.to_vec();
        tokio::task::spawn_blocking(move || face.template_from_photo(&photo))
    }

    async fn template_done(
        task: tokio::task::JoinHandle<std::result::Result<Vec<u8>, crate::face::FaceError>>,
    ) -> Result<Vec<u8>> {
        task.await
            .map_err(|_| err(ResultCode::InternalError, "face task failed"))?
            .map_err(|e| err(e.result_code(), "photo has no usable face"))
    }

    /// [`Platform::prepare_record`] for several people with photos at once:
    /// their templates are computed side by side (one per core is what a
    /// registry import asks), the records sealed in order.
    pub async fn prepare_records(
        &self,
        people: &[(&Person, &[u8])],
    ) -> Vec<Result<wz_store::NewRegistryRecord>> {
        let tasks: Vec<_> = people
            .iter()
            .map(|(_, photo)| self.template_started(photo))
            .collect();
        let mut out = Vec::with_capacity(people.len());
        for (&(person, photo), task) in people.iter().zip(tasks) {
            let template = match Self::template_done(task).await {
                Ok(t) => Ok(Some((t, self.face.model_id().to_owned()))),
                Err(e) if e.code == ResultCode::Unavailable => Ok(None),
                Err(e) => Err(e),
            };
            out.push(template.and_then(|t| seal_record(&self.keys(), person, Some(photo), t)));
        }
        out
    }
}
