//! The sealed wallet file: unlock, wrong-PIN counting with lock and wipe,
//! damaged files, PIN change, state surviving a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wz_wallet::keystore::{LOCK_AFTER, WIPE_AFTER};
use wz_wallet::{FileKeystore, Keystore, WalletError, WalletState};

/// What must never show in the sealed file: long enough that random
/// ciphertext cannot contain it by chance (four hex digits did, 1 run in
/// ~150).
const DEVICE_KEY_MARKER: &str = "5eed00aa5eed00aa5eed00aa5eed00aa5eed00aa5eed00aa5eed00aa5eed00aa";

fn state() -> WalletState {
    WalletState {
        device_key: String::from(DEVICE_KEY_MARKER).into(),
        platform_url: "http://127.0.0.1:1".into(),
        counter: 41,
        ..WalletState::default()
    }
}

fn store(dir: &std::path::Path) -> FileKeystore {
    FileKeystore::with_iterations(&dir.join("w/wallet.json"), 10_000)
}

#[test]
fn sealed_state_survives_a_restart_and_reveals_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ks = store(tmp.path());
    assert!(!ks.exists());
    ks.create("secret-pin", &state()).unwrap();
    assert!(matches!(
        ks.create("secret-pin", &state()),
        Err(WalletError::AlreadyExists)
    ));
    let mut s = ks.unlock("secret-pin", 100).unwrap();
    s.counter += 1;
    ks.save(&s).unwrap();
    // A new process: the counter persisted.
    let mut again = store(tmp.path());
    assert_eq!(again.unlock("secret-pin", 101).unwrap().counter, 42);
    let file = std::fs::read_to_string(tmp.path().join("w/wallet.json")).unwrap();
    assert!(
        !file.contains(DEVICE_KEY_MARKER) && !file.contains("127.0.0.1"),
        "{file}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(tmp.path().join("w/wallet.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn wrong_pins_lock_then_wipe() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ks = store(tmp.path());
    ks.create("secret-pin", &state()).unwrap();
    let mut now = 1_000;
    for i in 1..WIPE_AFTER {
        match ks.unlock("not-the-pin", now) {
            Err(WalletError::WrongPin { left }) => assert_eq!(left, WIPE_AFTER - i),
            other => panic!("{other:?}"),
        }
        if i >= LOCK_AFTER {
            // Locked: even the right PIN waits.
            assert!(matches!(
                ks.unlock("secret-pin", now),
                Err(WalletError::Locked(_))
            ));
            now += 1_000_000;
        }
    }
    assert!(matches!(
        ks.unlock("not-the-pin", now),
        Err(WalletError::WipedAfterFailures)
    ));
    assert!(!ks.exists());
    assert!(matches!(ks.unlock("secret-pin", now), Err(WalletError::NoWallet)));
}

#[test]
fn right_pin_resets_the_count_and_pin_change_works() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ks = store(tmp.path());
    ks.create("secret-pin", &state()).unwrap();
    for _ in 0..LOCK_AFTER - 1 {
        assert!(ks.unlock("nope-nope", 5).is_err());
    }
    let s = ks.unlock("secret-pin", 5).unwrap();
    match ks.unlock("nope-nope", 5) {
        Err(WalletError::WrongPin { left }) => assert_eq!(left, WIPE_AFTER - 1),
        other => panic!("{other:?}"),
    }
    assert!(matches!(ks.change_pin("short", &s), Err(WalletError::WeakPin)));
    ks.change_pin("a-new-pin", &s).unwrap();
    let mut again = store(tmp.path());
    assert!(again.unlock("secret-pin", 6).is_err());
    assert_eq!(again.unlock("a-new-pin", 6).unwrap().counter, 41);
}

#[test]
fn damaged_or_foreign_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("w/wallet.json");
    let mut ks = store(tmp.path());
    ks.create("secret-pin", &state()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    // A flipped ciphertext digit reads as a wrong PIN (GCM tag fails), never as data.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sealed = v["sealed"].as_str().unwrap();
    let flipped = format!(
        "{}{}",
        if sealed.starts_with('0') { "1" } else { "0" },
        &sealed[1..]
    );
    std::fs::write(&path, text.replace(sealed, &flipped)).unwrap();
    assert!(matches!(
        store(tmp.path()).unlock("secret-pin", 1),
        Err(WalletError::WrongPin { .. })
    ));
    for junk in ["", "{}", "not json", r#"{"format":"other"}"#] {
        std::fs::write(&path, junk).unwrap();
        assert!(
            matches!(
                store(tmp.path()).unlock("secret-pin", 1),
                Err(WalletError::Corrupt)
            ),
            "{junk}"
        );
    }
}
