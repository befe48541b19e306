//! The master key in a real PKCS#11 token: Debian's SoftHSM2, with a token
//! initialised by `softhsm2-util` in a temporary directory. Checks that the
//! key is generated non-extractable, that wrapping round-trips and binds
//! its additional data, that a reopened token unwraps what it wrapped, and
//! that a platform opened over it keeps its keys across restarts while a
//! software master key cannot open them.
//!
//! `scripts/setup.sh` installs softhsm2; without it the test says why it
//! skips (and fails where `WZ_REQUIRE_SOFTHSM=1`, as in `.ci/run`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use wz_crypto::KeyWrapper;
use wz_hsm::{HsmConfig, HsmError, Pkcs11Wrapper};
use zeroize::Zeroizing;

const MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
];

fn softhsm() -> Option<PathBuf> {
    let module = MODULES.iter().map(PathBuf::from).find(|p| p.is_file());
    let util = std::process::Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    match (module, util) {
        (Some(m), true) => Some(m),
        _ if std::env::var_os("WZ_REQUIRE_SOFTHSM").is_some() => {
            panic!("softhsm2 is required here (WZ_REQUIRE_SOFTHSM) but not installed: run scripts/setup.sh")
        }
        _ => {
            eprintln!("SKIP: softhsm2 is not installed (scripts/setup.sh installs it)");
            None
        }
    }
}

/// A fresh token in `dir`; returns the SoftHSM2 config file naming it.
fn init_token(dir: &Path, label: &str) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            "246810",
            "--so-pin",
            "135791",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    conf
}

/// Makes a token, then runs [`softhsm_checks`] in a child test process
/// whose environment names it (SoftHSM2 reads its config from there, and
/// this crate does not write its own process environment).
#[test]
fn master_key_in_softhsm2() {
    let Some(module) = softhsm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let conf = init_token(dir.path(), "wz-test");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "softhsm_checks",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .env("WZ_SOFTHSM_MODULE", &module)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "softhsm_checks failed:\n{text}"
    );
}

#[test]
#[ignore = "run by master_key_in_softhsm2, which sets up the token"]
fn softhsm_checks() {
    let Some(module) = std::env::var_os("WZ_SOFTHSM_MODULE").map(PathBuf::from) else {
        eprintln!("SKIP: run through master_key_in_softhsm2");
        return;
    };
    let config = HsmConfig {
        module,
        token_label: "wz-test".into(),
        key_label: "wz-master".into(),
        pin: Zeroizing::new("246810".into()),
    };

    assert!(matches!(Pkcs11Wrapper::open(&config), Err(HsmError::NoKey(_))));
    let wrong_pin = HsmConfig {
        pin: Zeroizing::new("000000".into()),
        ..config.clone()
    };
    assert!(Pkcs11Wrapper::open(&wrong_pin).is_err());
    let wrong_token = HsmConfig {
        token_label: "other".into(),
        ..config.clone()
    };
    assert!(matches!(
        Pkcs11Wrapper::open(&wrong_token),
        Err(HsmError::NoToken(_))
    ));

    let hsm = Pkcs11Wrapper::generate(&config).unwrap();
    assert!(
        !hsm.key_is_extractable().unwrap(),
        "the master key must stay in the token"
    );
    assert!(matches!(
        Pkcs11Wrapper::generate(&config),
        Err(HsmError::KeyExists(_))
    ));

    let secret = b"an SM2 private scalar, 32 bytes!";
    let wrapped = hsm.wrap(b"wz-platform-key|signing|k1", secret).unwrap();
    assert_eq!(wrapped.len(), 12 + secret.len() + 16);
    assert_ne!(&wrapped[12..12 + secret.len()], secret.as_slice());
    assert_eq!(
        hsm.unwrap(b"wz-platform-key|signing|k1", &wrapped)
            .unwrap()
            .as_slice(),
        secret
    );
    // Bound to its usage and id, and tamper-evident.
    assert!(hsm.unwrap(b"wz-platform-key|encryption|k1", &wrapped).is_err());
    let mut tampered = wrapped.clone();
    tampered[20] ^= 1;
    assert!(hsm.unwrap(b"wz-platform-key|signing|k1", &tampered).is_err());
    assert!(hsm.unwrap(b"x", &wrapped[..10]).is_err());
    // Two wraps of one secret differ (fresh IV from the token).
    assert_ne!(hsm.wrap(b"a", secret).unwrap(), hsm.wrap(b"a", secret).unwrap());
    drop(hsm);

    // A reopened token unwraps what it wrapped.
    let hsm = Pkcs11Wrapper::open(&config).unwrap();
    assert_eq!(
        hsm.unwrap(b"wz-platform-key|signing|k1", &wrapped)
            .unwrap()
            .as_slice(),
        secret
    );
    drop(hsm);

    // A platform over the token: keys created wrapped by it, the same keys
    // after a restart, and a software master key cannot open them.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = wz_store::testing::TestStore::new(wz_store::Backend::Sqlite)
            .await
            .unwrap();
        let open = |master: wz_platform::keys::MasterKey| {
            wz_platform::Platform::open(
                t.store.clone(),
                wz_platform::PlatformConfig::default(),
                master,
                std::sync::Arc::new(wz_platform::face::NoFaceEngine),
                vec![],
                1_764_000_000,
            )
        };
        let hsm_master = || wz_platform::keys::MasterKey::from_wrapper(Pkcs11Wrapper::open(&config).unwrap());
        let first = open(hsm_master()).await.unwrap();
        let published = first.keys_response(1_764_000_000);
        drop(first);
        let again = open(hsm_master()).await.unwrap();
        assert_eq!(
            again.keys_response(1_764_000_000),
            published,
            "same keys after a restart"
        );
        drop(again);
        let software = wz_platform::keys::MasterKey::from_hex("00112233445566778899aabbccddeeff").unwrap();
        let err = open(software).await.unwrap_err();
        assert!(err.to_string().contains("master key"), "{err}");
        t.cleanup().await.unwrap();
    });
}
