//! `wz registry import FILE`: the platform's registry import
//! ([`wz_platform::import`]) with a progress bar.

use std::path::Path;

use wz_platform::Platform;
pub use wz_platform::import::{DEFAULT_BATCH, ImportReport};

/// Imports `path` into the platform's registry.
pub async fn import(
    platform: &Platform,
    path: &Path,
    now: u64,
    show_progress: bool,
    batch_rows: usize,
) -> anyhow::Result<ImportReport> {
    let bar = if show_progress {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut on_row = |r: &ImportReport| {
        bar.set_length(r.total);
        bar.set_position(r.rows);
        bar.set_message(format!("{} rejected", r.rejected));
    };
    let report = platform
        .import_file(path, now, batch_rows, &mut on_row)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.reason))?;
    bar.finish();
    Ok(report)
}
