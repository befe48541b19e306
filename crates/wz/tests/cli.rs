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
