//! Registry import from a file: CSV (with a header row) or JSON Lines.
//!
//! Fields: id_number, name, sex, ethnicity, birth_date, address,
//! card_valid_from, card_valid_to (empty or 长期 for long-term cards), photo
//! (a path relative to the file). Every row is validated; valid rows are
//! sealed and stored in batches (one transaction each, existing rows
//! skipped, so an interrupted import can simply be run again); rejected rows
//! go to `FILE.rejects.tsv` as line number and reason — never the row's data.
//! `wz registry import` and the operator console (one job at a time, files
//! from the configured `import_dir` only) both run [`Platform::import_file`].

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wz_proto::ResultCode;
use wz_proto::admin::{ImportReject, ImportStatus};

use crate::registry::{Person, RegistryRow};
use crate::{Platform, PlatformError, Result};

/// Rows per transaction by default: an interrupted import resumes from the
/// last committed batch.
pub const DEFAULT_BATCH: usize = 500;
const MAX_PHOTO_BYTES: u64 = 10 * 1024 * 1024;
/// Rejects an import status carries (the file has them all).
const REJECTS_SHOWN: usize = 100;

/// What an import did so far (the last call of the progress callback is the result).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows in the file (counted before the import starts).
    pub total: u64,
    pub rows: u64,
    pub inserted: u64,
    pub already_present: u64,
    pub rejected: u64,
    /// The first rejects, line number and reason.
    pub rejects: Vec<(u64, String)>,
    pub reject_file: Option<PathBuf>,
}

/// Checks one row (fields by the platform's rules, then the photo file);
/// the reason never repeats the row's data.
/// A row checked: the person and their photo, or why the row is refused.
type Checked = std::result::Result<(Person, Vec<u8>), String>;

fn validate(raw: RegistryRow, base: &Path) -> Checked {
    let person = raw.validate()?;
    if raw.photo.trim().is_empty() {
        return Err("photo is missing".into());
    }
    let photo_path = base.join(raw.photo.trim());
    let meta = std::fs::metadata(&photo_path).map_err(|_| "photo file does not exist or cannot be read")?;
    if meta.len() > MAX_PHOTO_BYTES {
        return Err("photo file is larger than 10 MiB".into());
    }
    let photo = std::fs::read(&photo_path).map_err(|_| "photo file cannot be read")?;
    Ok((person, photo))
}

/// Rows with their line numbers; a row that does not parse carries its reason.
type Rows = Box<dyn Iterator<Item = (u64, std::result::Result<RegistryRow, String>)> + Send>;

fn is_jsonl(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "ndjson" | "json")
    )
}

fn unreadable() -> PlatformError {
    PlatformError::new(ResultCode::RequestMalformed, "registry file cannot be opened")
}

fn rows(path: &Path) -> Result<Rows> {
    let file = std::fs::File::open(path).map_err(|_| unreadable())?;
    if is_jsonl(path) {
        let lines = std::io::BufReader::new(file).lines();
        Ok(Box::new(lines.enumerate().filter_map(|(i, line)| {
            let n = i as u64 + 1;
            match line {
                Ok(l) if l.trim().is_empty() => None,
                Ok(l) => Some((
                    n,
                    serde_json::from_str::<RegistryRow>(&l)
                        .map_err(|_| "not a JSON object with the registry fields".to_owned()),
                )),
                Err(_) => Some((n, Err("line is not UTF-8 text".to_owned()))),
            }
        })))
    } else {
        let reader = csv::ReaderBuilder::new().flexible(false).from_reader(file);
        Ok(Box::new(
            reader
                .into_deserialize::<RegistryRow>()
                .enumerate()
                .map(|(i, r)| {
                    // Line numbers count the header as line 1.
                    (
                        i as u64 + 2,
                        r.map_err(|_| "row does not have the registry columns".to_owned()),
                    )
                }),
        ))
    }
}

fn count_rows(path: &Path) -> u64 {
    std::fs::File::open(path)
        .map(|f| {
            std::io::BufReader::new(f)
                .lines()
                .map_while(std::result::Result::ok)
                .filter(|l| !l.trim().is_empty())
                .count() as u64
        })
        .unwrap_or(0)
}

impl Platform {
    /// Imports `path` into the registry, calling `progress` after every row.
    pub async fn import_file(
        &self,
        path: &Path,
        now: u64,
        batch_rows: usize,
        progress: &mut (dyn FnMut(&ImportReport) + Send),
    ) -> Result<ImportReport> {
        let batch_rows = batch_rows.max(1);
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut report = ImportReport {
            total: count_rows(path).saturating_sub(u64::from(!is_jsonl(path))),
            ..ImportReport::default()
        };
        let reject_path = PathBuf::from(format!("{}.rejects.tsv", path.display()));
        let mut rejects: Vec<(u64, String)> = Vec::new();
        let mut seen = HashSet::new();
        let mut batch = Vec::with_capacity(batch_rows);
        progress(&report);
        // Rows are validated one by one and their templates computed a
        // group at a time, one per core, side by side.
        let group = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut pending: Vec<(u64, Checked)> = Vec::new();
        let mut rows_left = rows(path)?.peekable();
        while let Some((line, row)) = rows_left.next() {
            report.rows += 1;
            let checked = row
                .and_then(|raw| validate(raw, &base))
                .and_then(|(person, photo)| {
                    if seen.insert(person.id_number.clone()) {
                        Ok((person, photo))
                    } else {
                        Err("ID number appears earlier in this file".to_owned())
                    }
                });
            pending.push((line, checked));
            if pending.len() < group && rows_left.peek().is_some() {
                continue;
            }
            let valid: Vec<(&Person, &[u8])> = pending
                .iter()
                .filter_map(|(_, c)| c.as_ref().ok().map(|(p, photo)| (p, photo.as_slice())))
                .collect();
            let sealed = self.prepare_records(&valid).await;
            drop(valid);
            let mut sealed = sealed.into_iter();
            for (line, checked) in pending.drain(..) {
                let prepared = match checked {
                    Err(reason) => Err(reason),
                    Ok(_) => match sealed.next() {
                        Some(r) => r.map_err(|e| e.reason.to_owned()),
                        None => Err("internal: record missing".to_owned()),
                    },
                };
                match prepared {
                    Ok(rec) => batch.push(rec),
                    Err(reason) => {
                        if report.rejects.len() < REJECTS_SHOWN {
                            report.rejects.push((line, reason.clone()));
                        }
                        rejects.push((line, reason));
                        report.rejected += 1;
                    }
                }
                if batch.len() >= batch_rows {
                    self.store_batch(&mut batch, &mut report, now).await?;
                }
            }
            progress(&report);
        }
        self.store_batch(&mut batch, &mut report, now).await?;
        if !rejects.is_empty() {
            write_rejects(&reject_path, &rejects)?;
            report.reject_file = Some(reject_path);
        }
        progress(&report);
        Ok(report)
    }

    async fn store_batch(
        &self,
        batch: &mut Vec<wz_store::NewRegistryRecord>,
        report: &mut ImportReport,
        now: u64,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len() as u64;
        let inserted = self.store_records(batch, "registry-import", now).await?;
        report.inserted += inserted;
        report.already_present += n - inserted;
        batch.clear();
        Ok(())
    }
}

fn write_rejects(path: &Path, rejects: &[(u64, String)]) -> Result<()> {
    let failed = |_| PlatformError::new(ResultCode::Unavailable, "rejects file cannot be written");
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    writeln!(f, "line\treason").map_err(failed)?;
    for (line, reason) in rejects {
        writeln!(f, "{line}\t{reason}").map_err(failed)?;
    }
    f.flush().map_err(failed)
}

/// The registry files an operator may import from the console: regular
/// CSV or JSON Lines files directly inside `dir`, by name.
pub fn importable_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(std::result::Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| {
            let p = Path::new(n);
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("csv" | "jsonl" | "ndjson")
            )
        })
        .collect();
    names.sort();
    names
}

/// Console import jobs: their latest status, by job number.
#[derive(Debug, Default)]
pub struct ImportJobs {
    jobs: Mutex<HashMap<u64, ImportStatus>>,
}

impl ImportJobs {
    fn set(&self, status: ImportStatus) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(status.job, status);
        }
    }

    /// A job's latest status.
    pub fn get(&self, job: u64) -> Option<ImportStatus> {
        self.jobs.lock().ok().and_then(|j| j.get(&job).cloned())
    }

    fn running(&self) -> bool {
        self.jobs.lock().is_ok_and(|j| j.values().any(|s| !s.finished))
    }
}

fn status_of(job: u64, file: &str, r: &ImportReport, finished: bool) -> ImportStatus {
    ImportStatus {
        job,
        file: file.to_owned(),
        total: r.total,
        rows: r.rows,
        inserted: r.inserted,
        already_present: r.already_present,
        rejected: r.rejected,
        rejects: r
            .rejects
            .iter()
            .map(|(line, reason)| ImportReject {
                line: *line,
                reason: reason.clone(),
            })
            .collect(),
        rejects_file: r
            .reject_file
            .as_ref()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .map(str::to_owned),
        finished,
        error: None,
    }
}

/// Starts importing `file` (a name [`importable_files`] lists) in the
/// background; one console import runs at a time.
pub fn start_import(platform: &Arc<Platform>, file: &str, now: u64) -> Result<ImportStatus> {
    let dir = platform
        .config()
        .import_dir
        .as_deref()
        .map(PathBuf::from)
        .ok_or_else(|| PlatformError::new(ResultCode::Unavailable, "no import_dir is configured"))?;
    if !importable_files(&dir).iter().any(|n| n == file) {
        return Err(PlatformError::new(
            ResultCode::RequestMalformed,
            "no such registry file in the import folder",
        ));
    }
    let jobs = &platform.imports;
    if jobs.running() {
        return Err(PlatformError::new(
            ResultCode::RateLimited,
            "an import is already running",
        ));
    }
    let job = platform
        .import_seq
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let first = status_of(job, file, &ImportReport::default(), false);
    jobs.set(first.clone());
    let p = Arc::clone(platform);
    let name = file.to_owned();
    tokio::spawn(async move {
        let path = dir.join(&name);
        // The console polls a few times a second; a status every 20 rows is plenty.
        let mut on_row = |r: &ImportReport| {
            if r.rows.is_multiple_of(20) {
                p.imports.set(status_of(job, &name, r, false));
            }
        };
        let done = p.import_file(&path, now, DEFAULT_BATCH, &mut on_row).await;
        let status = match done {
            Ok(r) => status_of(job, &name, &r, true),
            Err(e) => ImportStatus {
                error: Some(e.reason.to_owned()),
                finished: true,
                ..p.imports
                    .get(job)
                    .unwrap_or_else(|| status_of(job, &name, &ImportReport::default(), true))
            },
        };
        p.imports.set(status);
    });
    Ok(first)
}
