//! The `wz` binary as an operator runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;

fn wz() -> Command {
    Command::cargo_bin("wz").unwrap()
}

#[test]
fn help_and_version() {
    let out = wz().arg("--help").assert().success().get_output().stdout.clone();
    let help = String::from_utf8(out).unwrap();
    assert!(help.contains("keygen") && help.contains("id-check"));
    let out = wz()
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(out).unwrap().starts_with("wz 0."));
}

#[test]
fn keygen_writes_a_private_file_and_key_id_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let public = dir.path().join("k.pub.pem");
    let out = wz()
        .args(["keygen", "--out"])
        .arg(&key)
        .arg("--public-out")
        .arg(&public)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let id = String::from_utf8(out).unwrap().trim().to_owned();
    assert_eq!(id.len(), 16);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for f in [&key, &public] {
        let got = wz()
            .arg("key-id")
            .arg(f)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_eq!(String::from_utf8(got).unwrap().trim(), id);
    }
    // Never overwrites an existing key.
    wz().args(["keygen", "--out"]).arg(&key).assert().failure();
}

#[test]
fn id_check_never_echoes_the_number() {
    let out = wz()
        .args(["id-check", "11010519491231002X"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let s = String::from_utf8(out).unwrap();
    assert!(
        s.starts_with("valid: 1****************X") && !s.contains("11010519491231002X"),
        "{s}"
    );
    let err = wz()
        .args(["id-check", "110105194912310029"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let e = String::from_utf8(err).unwrap();
    assert!(
        e.contains("check digit") && !e.contains("110105194912310029"),
        "{e}"
    );
}

#[test]
fn mode_and_codes_and_qr_inspect() {
    let out = wz()
        .args(["mode", "0x0C"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(out).unwrap().trim(), "0x0C = qr+pin");
    wz().args(["mode", "0x80"]).assert().failure();
    let out = wz().arg("codes").assert().success().get_output().stdout.clone();
    assert!(String::from_utf8(out).unwrap().contains("qr_replayed"));
    wz().args(["qr-inspect", "WZ1:NOPE"]).assert().failure();
}

/// Defect 12.10: a QR-only check (0x04) needs no face frames on the command
/// line; a face mode still asks for them.
#[test]
fn terminal_verify_qr_only_needs_no_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("rp.pem");
    wz().args(["keygen", "--out"]).arg(&key).assert().success();
    // Nothing listens on port 9: the command gets past argument parsing and
    // fails only on the connection.
    let out = wz()
        .args(["terminal", "--rp-id", "cafe-001", "--key"])
        .arg(&key)
        .args([
            "--platform",
            "http://127.0.0.1:9",
            "verify",
            "--mode",
            "0x04",
            "--qr",
            "WZ1:ABC",
        ])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&out);
    assert!(!err.contains("--frontal"), "{err}");
    assert!(err.contains("unreachable") || err.contains("connection"), "{err}");
    let out = wz()
        .args(["terminal", "--rp-id", "hotel-001", "--key"])
        .arg(&key)
        .args([
            "--platform",
            "http://127.0.0.1:9",
            "verify",
            "--mode",
            "0x06",
            "--qr",
            "WZ1:ABC",
        ])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("--frontal"));
}
