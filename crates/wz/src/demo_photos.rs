//! The demo's own photo set, for a machine with nothing beside the clone:
//! the test photos shipped in the PyPI source distribution of
//! `face_recognition` 1.3.0 (MIT licence; press photos of two public
//! figures), fetched with `pip download`, SHA-256 checked and unpacked into
//! the cache, sorted into one folder per person. Nothing is committed.
//!
//! None of these photos shows a turned head, so the demo's liveness
//! challenge cannot be answered with them: `wz demo` says so and runs its
//! platform with liveness actions waived (see `docs/face-models.md`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::bail;

const PACKAGE: &str = "face_recognition==1.3.0";
const SDIST: &str = "face_recognition-1.3.0.tar.gz";
const SHA256: &str = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec";
const IMAGES: &str = "face_recognition-1.3.0/tests/test_images/";
/// Person folder, then the package's photos of that person (the partial
/// and tiny crops are left out: they fail the capture gates on purpose).
pub const PEOPLE: [(&str, &[&str]); 2] = [
    ("person-a", &["obama.jpg", "obama2.jpg", "obama3.jpg"]),
    ("person-b", &["biden.jpg"]),
];
const DONE: &str = ".complete";

/// Where the set is kept: beside the models cache
/// (`~/.cache/wangzheng/demo-faces/face_recognition-1.3.0`).
#[must_use]
pub fn cache_dir() -> PathBuf {
    let models = wz_face::default_models_dir();
    models
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("demo-faces"), |base| base.join("demo-faces"))
        .join("face_recognition-1.3.0")
}

/// Where the set was published, for the demo's output and the docs.
pub const SOURCE: &str = "PyPI sdist face_recognition 1.3.0 (MIT), tests/test_images";

/// The photo folder, fetched first if it is not in the cache.
pub fn ensure(out: &mut impl Write) -> anyhow::Result<PathBuf> {
    let dir = cache_dir();
    if dir.join(DONE).is_file() {
        return Ok(dir);
    }
    writeln!(
        out,
        "    fetching demo photos ({SOURCE}; SHA-256 checked) into {}",
        dir.display()
    )?;
    out.flush()?;
    fetch(&dir)?;
    Ok(dir)
}

fn fetch(dir: &Path) -> anyhow::Result<()> {
    let sdist = crate::models::fetch_checked(
        std::process::Command::new("python3").args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            PACKAGE,
            "-d",
            ".",
        ]),
        "running pip (install python3 and pip, or pass --faces DIR with your own photos)",
        SDIST,
        SHA256,
    )?;
    let tmp = tempfile::tempdir()?;
    let staging = tmp.path().join("faces");
    for (person, _) in PEOPLE {
        std::fs::create_dir_all(staging.join(person))?;
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(sdist.as_slice()));
    let mut unpacked = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let Some(name) = path.strip_prefix(IMAGES) else {
            continue;
        };
        // Only the listed plain file names: nothing from the archive escapes.
        if let Some((person, _)) = PEOPLE.iter().find(|(_, files)| files.contains(&name)) {
            entry.unpack(staging.join(person).join(name))?;
            unpacked += 1;
        }
    }
    let expected: usize = PEOPLE.iter().map(|(_, f)| f.len()).sum();
    if unpacked != expected {
        bail!("{SDIST} did not hold the expected photos ({unpacked} of {expected})");
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Same file system as the cache is not guaranteed for a temp folder;
    // the marker goes last, so a cut-short copy is fetched again.
    copy_dir(&staging, dir)?;
    std::fs::write(dir.join(DONE), SHA256)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
