//! `wz registry import FILE`: CSV (with a header row) or JSON Lines.
//!
//! Fields: id_number, name, sex, ethnicity, birth_date, address,
//! card_valid_from, card_valid_to (empty or 长期 for long-term cards), photo
//! (a path relative to the file). Every row is validated; valid rows are
//! sealed and stored in batches (one transaction each, existing rows
//! skipped, so an interrupted import can simply be run again); rejected rows
//! go to `FILE.rejects.tsv` as line number and reason — never the row's data.

use std::collections::HashSet;
use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context;
use wz_platform::Platform;
use wz_platform::registry::{Person, RegistryRow};

/// Rows per transaction by default: an interrupted import resumes from the
/// last committed batch.
pub const DEFAULT_BATCH: usize = 500;
const MAX_PHOTO_BYTES: u64 = 10 * 1024 * 1024;

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub rows: u64,
    pub inserted: u64,
    pub already_present: u64,
    pub rejected: u64,
    pub reject_file: Option<PathBuf>,
}

/// Checks one row (fields by the platform's rules, then the photo file);
/// the reason never repeats the row's data.
fn validate(raw: RegistryRow, base: &Path) -> Result<(Person, Vec<u8>), String> {
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
type Rows = Box<dyn Iterator<Item = (u64, Result<RegistryRow, String>)>>;

fn rows(path: &Path) -> anyhow::Result<Rows> {
    let is_jsonl = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "ndjson" | "json")
    );
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    if is_jsonl {
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
                .map_while(Result::ok)
                .filter(|l| !l.trim().is_empty())
                .count() as u64
        })
        .unwrap_or(0)
}

/// Imports `path` into the platform's registry.
pub async fn import(
    platform: &Platform,
    path: &Path,
    now: u64,
    show_progress: bool,
    batch_rows: usize,
) -> anyhow::Result<ImportReport> {
    let batch_rows = batch_rows.max(1);
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let is_csv = !matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "ndjson" | "json")
    );
    let total = count_rows(path).saturating_sub(u64::from(is_csv));
    let bar = if show_progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let reject_path = PathBuf::from(format!("{}.rejects.tsv", path.display()));
    let mut rejects: Vec<(u64, String)> = Vec::new();
    let mut report = ImportReport::default();
    let mut seen = HashSet::new();
    let mut batch = Vec::with_capacity(batch_rows);
    for (line, row) in rows(path)? {
        report.rows += 1;
        let prepared = match row.and_then(|raw| validate(raw, &base)) {
            Err(reason) => Err(reason),
            Ok((person, photo)) => {
                if seen.insert(person.id_number.clone()) {
                    platform
                        .prepare_record(&person, Some(&photo))
                        .await
                        .map_err(|e| e.reason.to_owned())
                } else {
                    Err("ID number appears earlier in this file".to_owned())
                }
            }
        };
        match prepared {
            Ok(rec) => batch.push(rec),
            Err(reason) => rejects.push((line, reason)),
        }
        if batch.len() >= batch_rows {
            let n = batch.len() as u64;
            let inserted = platform.store_records(&batch, "registry-import", now).await?;
            report.inserted += inserted;
            report.already_present += n - inserted;
            batch.clear();
        }
        bar.inc(1);
        bar.set_message(format!("{} rejected", rejects.len()));
    }
    if !batch.is_empty() {
        let n = batch.len() as u64;
        let inserted = platform.store_records(&batch, "registry-import", now).await?;
        report.inserted += inserted;
        report.already_present += n - inserted;
    }
    bar.finish();
    report.rejected = rejects.len() as u64;
    if !rejects.is_empty() {
        let mut f = std::fs::File::create(&reject_path)
            .with_context(|| format!("writing {}", reject_path.display()))?;
        writeln!(f, "line\treason")?;
        for (line, reason) in &rejects {
            writeln!(f, "{line}\t{reason}")?;
        }
        report.reject_file = Some(reject_path);
    }
    Ok(report)
}
