//! `wz models fetch`: the face models from the npm package
//! `@vladmandic/human@3.3.6` (MIT), fetched with `npm pack`, SHA-256
//! checked, and unpacked into the models cache. Nothing model-related is
//! committed to the repository.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use sha2::Digest as _;

const PACKAGE: &str = "@vladmandic/human@3.3.6";
const TARBALL: &str = "vladmandic-human-3.3.6.tgz";
const SHA256: &str = "425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7";
/// The models the engine loads (others in the package are not unpacked).
const MODELS: [&str; 4] = ["blazeface", "faceres", "antispoof", "facemesh"];
const DONE: &str = ".complete";

/// Whether `dir` holds a complete, checked set of models.
pub fn present(dir: &Path) -> bool {
    dir.join(DONE).is_file() && MODELS.iter().all(|m| dir.join(format!("{m}.json")).is_file())
}

/// Fetches the models into `dir` unless they are already there.
pub fn ensure(dir: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    if present(dir) {
        return Ok(());
    }
    writeln!(out, "    fetching face models ({PACKAGE}) into {}", dir.display())?;
    fetch(dir)
}

/// Runs a package client (`npm pack …`, `pip download …`) in a temporary
/// folder, where it must write `file`; returns its bytes if their SHA-256
/// is `sha256`, and refuses them otherwise.
pub fn fetch_checked(
    client: &mut std::process::Command,
    missing_client: &'static str,
    file: &str,
    sha256: &str,
) -> anyhow::Result<Vec<u8>> {
    let tmp = tempfile::tempdir()?;
    let status = client
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::null())
        .status()
        .context(missing_client)?;
    if !status.success() {
        bail!("fetching {file} failed ({status})");
    }
    let bytes = std::fs::read(tmp.path().join(file))
        .with_context(|| format!("the package client wrote no {file}"))?;
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    if digest != sha256 {
        bail!("{file} has SHA-256 {digest}, expected {sha256}: refusing it");
    }
    Ok(bytes)
}

/// Fetches (again) into `dir`.
pub fn fetch(dir: &Path) -> anyhow::Result<()> {
    let tgz = fetch_checked(
        std::process::Command::new("npm").args(["pack", "--silent", PACKAGE]),
        "running npm (install Node.js/npm, or set WZ_MODELS_DIR to a folder holding the models)",
        TARBALL,
        SHA256,
    )?;
    std::fs::create_dir_all(dir)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz.as_slice()));
    let mut unpacked = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some(name) = path.strip_prefix("package/models").ok().and_then(|p| p.to_str()) else {
            continue;
        };
        let wanted = MODELS
            .iter()
            .any(|m| name == format!("{m}.json") || (name.starts_with(m) && name.ends_with(".bin")));
        // Plain file names only: nothing from the archive escapes `dir`.
        if wanted && !name.contains('/') {
            entry.unpack(dir.join(name))?;
            unpacked += 1;
        }
    }
    if unpacked < MODELS.len() * 2 {
        bail!("{TARBALL} did not hold the expected models");
    }
    std::fs::write(dir.join(DONE), SHA256)?;
    Ok(())
}
