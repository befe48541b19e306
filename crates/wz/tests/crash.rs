//! Crash consistency: `kill -9` of `wz` at random points during a registry
//! import and during platform key rotation, then a restart, then the
//! invariant checker (`wz admin check`: audit chain intact, every
//! credential audited, every superseded credential succeeded, no QR counter
//! moved without a verdict, one active credential per citizen). An
//! interrupted import must resume: after it is run again every row is
//! there exactly once.
//!
//! `WZ_CRASH_TRIALS` sets the trials per scenario (default 3 here; the full
//! run uses 100).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use wz_proto::{CivilDate, IdNumber};

fn trials() -> usize {
    std::env::var("WZ_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn wz(dir: &Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("wz"));
    c.current_dir(dir)
        .env(
            "WZ_DATABASE_URL",
            format!("sqlite://{}/data/platform.db", dir.display()),
        )
        .env_remove("WZ_MASTER_KEY")
        .env("RUST_LOG", "error");
    c
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = wz(dir).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "wz {args:?} failed:\n{text}");
    text
}

/// Starts `args`, kills it with SIGKILL after `delay`, and waits for it.
fn kill_after(dir: &Path, args: &[&str], delay: Duration) -> bool {
    let mut child = wz(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
    !finished
}

/// A small pseudo-random number (no dependency): the delays need not be
/// cryptographic, only spread out.
fn spread(seed: &mut u64, max_ms: u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    Duration::from_millis(*seed % max_ms.max(1))
}

fn registry_csv(dir: &Path, rows: u32) -> std::path::PathBuf {
    let faces = wz_face::default_models_dir().join("../../test-faces/face_recognition-1.3.0");
    let photo = faces.join("obama.jpg");
    let mut csv =
        String::from("id_number,name,sex,ethnicity,birth_date,address,card_valid_from,card_valid_to,photo\n");
    for i in 0..rows {
        let birth = CivilDate::new(1960 + (i % 40) as u16, 1 + (i % 12) as u8, 1 + (i % 28) as u8).unwrap();
        let id = IdNumber::from_parts(110_105, birth, 100 + (i % 800) as u16).unwrap();
        let sex = if id.sex() == wz_proto::Sex::Male {
            "男"
        } else {
            "女"
        };
        csv.push_str(&format!(
            "{},测试{i},{sex},汉,{birth},测试路{i}号,2020-01-01,2040-01-01,{}\n",
            id.as_str(),
            photo.display()
        ));
    }
    let path = dir.join("registry.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn kill_9_during_import_and_key_rotation() {
    let faces = wz_face::default_models_dir().join("../../test-faces/face_recognition-1.3.0");
    if !faces.join("obama.jpg").is_file() || !wz_face::default_models_dir().is_dir() {
        eprintln!("SKIP: face models or test photos missing (scripts/setup.sh fetches them)");
        return;
    }
    let mut seed = 0x5eed_1234_abcd_u64 ^ u64::from(std::process::id());
    let rows = 60;
    let mut interrupted = 0;
    for trial in 0..trials() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // First start: keys and the master key are made (not killed).
        run(dir, &["admin", "check"]);
        run(dir, &["rp", "list"]);
        registry_csv(dir, rows);
        let delay = spread(&mut seed, 4000) + Duration::from_millis(200);
        if kill_after(
            dir,
            &["registry", "import", "registry.csv", "--batch", "7"],
            delay,
        ) {
            interrupted += 1;
        }
        let check = run(dir, &["admin", "check"]);
        assert!(check.contains("consistent"), "trial {trial} after kill: {check}");
        // Resume, then once more: every row exactly once.
        let out = run(dir, &["registry", "import", "registry.csv", "--batch", "7"]);
        assert!(
            out.contains(&format!("{rows} rows: ")) && out.contains(", 0 rejected"),
            "{out}"
        );
        let again = run(dir, &["registry", "import", "registry.csv", "--batch", "7"]);
        assert!(
            again.contains(&format!(
                "{rows} rows: 0 imported, {rows} already present, 0 rejected"
            )),
            "trial {trial}: {again}"
        );

        // Key rotation killed at random points; the platform still opens
        // and the chain and keys agree.
        for _ in 0..3 {
            let delay = spread(&mut seed, 400);
            kill_after(dir, &["admin", "rotate-key", "signing"], delay);
            let check = run(dir, &["admin", "check"]);
            assert!(check.contains("consistent"), "after a rotation kill: {check}");
            run(dir, &["rp", "list"]);
        }
        let out = run(dir, &["admin", "rotate-key", "encryption"]);
        assert!(out.contains("new current encryption key"), "{out}");
        let check = run(dir, &["admin", "check"]);
        assert!(check.contains("consistent"), "{check}");
    }
    eprintln!("{} trials, {interrupted} imports killed mid-way", trials());
}
