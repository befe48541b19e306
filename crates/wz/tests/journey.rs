//! The citizen's and the relying parties' journey against a real `wz serve`
//! process on loopback, on SQLite and on PostgreSQL, through the wallet and
//! terminal SDKs, with the real face engine: lightweight enrolment, upgraded
//! enrolment at a trusted terminal, QR at a hotel (with face) and a café,
//! and the failure paths — wrong wallet PIN, expired QR, replay, a voided
//! device after re-enrolment, a wrong RP key. Plus `wz demo` itself.
//!
//! Needs the LFW development set (../shared/data/faces/lfw-dev: head-turn
//! frames for liveness); where it is absent the tests say so and return.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use wz_crypto::Sm2PrivateKey;
use wz_proto::api::{CredentialStatus, IdentityItems};
use wz_proto::{AuthMode, CredentialPin, ResultCode};
use wz_store::Backend;
use wz_terminal::{Extras, Terminal};
use wz_wallet::{FileKeystore, Holder, Trust, Wallet, WalletError};

const ADMIN: &str = "journey-admin-token";

fn lfw() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces/lfw-dev");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("LFW development set absent: journey tests skipped");
        None
    }
}

fn wz() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wz"));
    c.env_remove("WZ_DATABASE_URL").env_remove("WZ_MASTER_KEY");
    c
}

fn run(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn demo_runs_every_step() {
    let Some(faces) = lfw() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = run(wz()
        .current_dir(tmp.path())
        .args(["demo", "--data", "demo-data", "--faces"])
        .arg(&faces));
    assert!(out.contains("All 13 steps behaved as expected."), "{out}");
    assert!(out.contains("café received:  age_over_18 true"), "{out}");
    assert!(!out.contains("café received:  name"), "{out}");
    assert!(out.contains("refused: QrReplayed"), "{out}");
}

/// A `wz serve` child process; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn serve(dir: &Path, database_url: &str, authority: &Sm2PrivateKey) -> Server {
    let pub_pem = dir.join("authority.pub.pem");
    std::fs::write(&pub_pem, authority.public_key().to_public_key_pem().unwrap()).unwrap();
    let port = free_port();
    let config = dir.join("wz.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{database_url}\"\nlisten = \"127.0.0.1:{port}\"\nadmin_token = \"{ADMIN}\"\n\
             card_authority_keys = [\"{}\"]\nliveness_actions = [\"turn_left\", \"turn_right\"]\n\
             tls = \"off\"\n",
            pub_pem.display()
        ),
    )
    .unwrap();
    let child = wz()
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("WZ_MASTER_KEY", "00112233445566778899aabbccddeeff")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = {
        wz_client::install_tls_provider();
        reqwest::Client::new()
    };
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{}/readyz", server.url)).send().await
            && r.status() == 200
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("wz serve did not become ready");
}

/// Registers an RP through the admin API; returns its terminal.
async fn register(
    url: &str,
    rp_id: &str,
    role: &str,
    modes: &[&str],
    attrs: &[&str],
) -> (Terminal, Sm2PrivateKey) {
    let key = Sm2PrivateKey::generate().unwrap();
    let body = serde_json::json!({
        "rp_id": rp_id, "name": format!("{rp_id} display"), "role": role,
        "public_key": hex::encode(key.public_key().to_sec1_bytes()),
        "modes": modes, "attributes": attrs, "rate_per_s": 100,
    });
    let r = {
        wz_client::install_tls_provider();
        reqwest::Client::new()
    }
    .post(format!("{url}/v1/admin/rps"))
    .bearer_auth(ADMIN)
    .json(&body)
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let t = Terminal::new(
        rp_id,
        key.clone(),
        url,
        &Trust::System,
        Duration::from_secs(30),
        1,
    )
    .unwrap();
    (t, key)
}

/// A loopback proxy to `url` that forwards the first request but drops its
/// reply (the connection closes), then passes everything through.
async fn drop_first_reply(url: &str) -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&dropped);
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let upstream = url.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut client, _)) = listener.accept().await {
            let mut server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
            if std::mem::take(&mut first) {
                // Forward what the client sends, wait for the platform's
                // answer, then hang up on the client without it.
                let mut buf = vec![0u8; 1 << 16];
                let n = tokio::time::timeout(Duration::from_millis(500), client.read(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                server.write_all(&buf[..n]).await.unwrap();
                if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), server.read(&mut buf)).await
                    && buf[..n].starts_with(b"HTTP/1.1 200")
                {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                drop(client);
                continue;
            }
            tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (format!("http://{addr}"), dropped)
}

struct Photos {
    registry: PathBuf,
    frontal: PathBuf,
    left: PathBuf,
    right: PathBuf,
}

impl Photos {
    fn frames(&self, actions: &[wz_proto::api::LivenessAction]) -> Vec<Vec<u8>> {
        use wz_proto::api::LivenessAction::{TurnLeft, TurnRight};
        let mut out = vec![std::fs::read(&self.frontal).unwrap()];
        for a in actions {
            out.push(
                std::fs::read(match a {
                    TurnLeft => &self.left,
                    TurnRight => &self.right,
                    other => panic!("unexpected action {other:?}"),
                })
                .unwrap(),
            );
        }
        out
    }
}

wz_store::on_both!(journey_against_wz_serve);

async fn journey_against_wz_serve(b: Backend) {
    let Some(faces) = lfw() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // One person of the development set: registry photo, and live frames
    // facing the camera, turned to his right and to his left.
    let d = faces.join("Daniel_Radcliffe");
    let photos = Photos {
        registry: d.join("3.jpg"),
        frontal: d.join("4.jpg"),
        right: d.join("1.jpg"),
        left: d.join("2.jpg"),
    };
    let test_store = match b {
        Backend::Sqlite => None,
        Backend::Postgres => Some(wz_store::testing::TestStore::new(b).await.unwrap()),
    };
    let database_url = test_store.as_ref().map_or_else(
        || format!("sqlite://{}/platform.db", dir.display()),
        |t| t.url.clone(),
    );

    // Registry (synthetic person, real photo referenced in place).
    let id = wz_proto::IdNumber::from_parts(110_105, "1980-01-01".parse().unwrap(), 1).unwrap();
    let csv = format!(
        "id_number,name,sex,ethnicity,birth_date,address,card_valid_from,card_valid_to,photo\n\
         {},测试丙,男,汉,1980-01-01,测试路3号,2020-01-01,2040-01-01,{}\n",
        id.as_str(),
        photos.registry.display()
    );
    std::fs::write(dir.join("registry.csv"), csv).unwrap();
    let out = run(wz()
        .args(["registry", "import"])
        .arg(dir.join("registry.csv"))
        .env("WZ_DATABASE_URL", &database_url)
        .env("WZ_MASTER_KEY", "00112233445566778899aabbccddeeff"));
    assert!(out.contains("1 imported"), "{out}");

    let authority = Sm2PrivateKey::generate().unwrap();
    let server = serve(dir, &database_url, &authority).await;
    let url = server.url.clone();
    let (hotel, _) = register(&url, "hotel", "verifier", &["0x06"], &["name", "id_number"]).await;
    let (cafe, cafe_key) = register(&url, "cafe", "verifier", &["0x04"], &["age_over_18"]).await;
    let (police, _) = register(&url, "police", "trusted_terminal", &["0x03"], &[]).await;

    // Wallet: created, then a wrong PIN is refused and counted.
    let wallet_path = dir.join("phone-1/wallet.json");
    drop(
        Wallet::init(
            FileKeystore::with_iterations(&wallet_path, 10_000),
            "right-pin",
            &url,
            &Trust::System,
        )
        .unwrap(),
    );
    match Wallet::unlock(FileKeystore::new(&wallet_path), "wrong-pin", 1) {
        Err(WalletError::WrongPin { left }) => assert_eq!(left, wz_wallet::keystore::WIPE_AFTER - 1),
        other => panic!("wrong PIN opened the wallet: {other:?}"),
    }
    let mut wallet = Wallet::unlock(FileKeystore::new(&wallet_path), "right-pin", 2).unwrap();

    // Lightweight enrolment.
    let items = IdentityItems {
        name: "测试丙".into(),
        id_number: id.clone(),
        card_valid_from: Some("2020-01-01".parse().unwrap()),
        card_valid_to: Some("2040-01-01".parse().unwrap()),
    };
    let ch = wallet
        .challenge(wz_proto::api::ChallengePurpose::EnrolLight)
        .await
        .unwrap();
    // Frames in the wrong order fail liveness, and use up the challenge;
    // online enrolment answers every items-or-face failure alike.
    let mut wrong = photos.frames(&ch.actions);
    wrong.swap(1, 2);
    let e = wallet.enrol_light(&ch, &items, wrong).await.unwrap_err();
    assert!(
        matches!(e, WalletError::Client(ref c) if c.code() == Some(ResultCode::IdentityNotConfirmed)),
        "{e}"
    );
    let ch = wallet
        .challenge(wz_proto::api::ChallengePurpose::EnrolLight)
        .await
        .unwrap();
    assert_eq!(
        wallet
            .enrol_light(&ch, &items, photos.frames(&ch.actions))
            .await
            .unwrap(),
        wz_proto::Level::Lightweight
    );

    // Upgraded at the trusted terminal.
    let person_card = wz_proto::CardData {
        id_number: items.id_number.clone(),
        name: items.name.clone(),
        sex: wz_proto::Sex::Male,
        ethnicity: "汉".into(),
        birth_date: "1980-01-01".parse().unwrap(),
        address: "测试路3号".into(),
        valid_from: "2020-01-01".parse().unwrap(),
        valid_to: Some("2040-01-01".parse().unwrap()),
        photo: vec![],
    }
    .sign(&authority)
    .unwrap();
    // At the trusted terminal: the wallet proves its device key, the
    // terminal sends card, frames and the new credential PIN.
    let upgrade = async |wallet: &mut Wallet<FileKeystore>| {
        let ch = police
            .challenge(wz_proto::api::ChallengePurpose::EnrolUpgraded)
            .await
            .unwrap();
        let (device, pop) = wallet.proof_of_possession(&ch).unwrap();
        let resp = police
            .enrol_upgraded(
                &ch,
                &person_card,
                photos.frames(&ch.actions),
                &CredentialPin::parse_new("58203917").unwrap(),
                device,
                pop,
            )
            .await
            .unwrap();
        let holder = Holder {
            masked_name: wz_wallet::mask_name(&items.name),
            masked_id_number: items.id_number.masked(),
        };
        wallet.accept(&resp, holder).await.unwrap()
    };
    assert_eq!(upgrade(&mut wallet).await, wz_proto::Level::Upgraded);

    // Hotel: QR + face, gets name and ID number.
    let qr = wallet.qr().await.unwrap();
    let ch = hotel
        .challenge(wz_proto::api::ChallengePurpose::Verify)
        .await
        .unwrap();
    let v = hotel
        .verify(
            AuthMode::from_bits(0x06).unwrap(),
            Some(&qr),
            Extras {
                face_frames: photos.frames(&ch.actions),
                challenge_id: Some(ch.challenge_id),
                ..Extras::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(v.verdict.result, ResultCode::Pass);
    let a = v.attributes.unwrap();
    assert_eq!(a.name.as_deref(), Some("测试丙"));

    // Café: QR only, adult flag, no name; the same QR again is a replay.
    let qr = wallet.qr().await.unwrap();
    let qr_only = AuthMode::from_bits(0x04).unwrap();
    let v = cafe.verify(qr_only, Some(&qr), Extras::default()).await.unwrap();
    assert_eq!(v.verdict.result, ResultCode::Pass);
    let a = v.attributes.unwrap();
    assert_eq!((a.name, a.age_over_18), (None, Some(true)));
    let v = cafe.verify(qr_only, Some(&qr), Extras::default()).await.unwrap();
    assert_eq!(v.verdict.result, ResultCode::QrReplayed);

    // An expired QR: made with the wallet's clock two hours behind.
    wallet.client().set_clock_offset(-7200);
    let stale = wallet.qr().await.unwrap();
    let v = cafe
        .verify(qr_only, Some(&stale), Extras::default())
        .await
        .unwrap();
    assert_eq!(v.verdict.result, ResultCode::QrExpired);
    wallet.sync().await.unwrap(); // relearns the clock
    let v = cafe
        .verify(qr_only, Some(&wallet.qr().await.unwrap()), Extras::default())
        .await
        .unwrap();
    assert_eq!(v.verdict.result, ResultCode::Pass);

    // A terminal signing with a key the platform does not know is refused.
    let impostor = Terminal::new(
        "cafe",
        Sm2PrivateKey::generate().unwrap(),
        &url,
        &Trust::System,
        Duration::from_secs(30),
        0,
    )
    .unwrap();
    let e = impostor
        .verify(qr_only, Some(&wallet.qr().await.unwrap()), Extras::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, wz_terminal::TerminalError::Client(ref c) if matches!(c.code(), Some(ResultCode::RpKeyInvalid | ResultCode::RpSignatureInvalid))),
        "{e}"
    );

    // A lost reply: the terminal retries the same signed request and gets
    // the verdict, and the platform counted the verification once.
    let (proxy, dropped) = drop_first_reply(&url).await;
    let flaky = Terminal::new(
        "cafe",
        cafe_key.clone(),
        &proxy,
        &Trust::System,
        Duration::from_secs(5),
        2,
    )
    .unwrap();
    let v = flaky
        .verify(qr_only, Some(&wallet.qr().await.unwrap()), Extras::default())
        .await
        .unwrap();
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        "the platform answered the first try"
    );
    assert_eq!(v.verdict.result, ResultCode::Pass, "a retry is not a replay");
    let passes_before = wallet
        .history(100)
        .await
        .unwrap()
        .iter()
        .filter(|h| h.result == ResultCode::Pass)
        .count();

    // Lost phone: a new phone enrols; the old one's QR is refused, and its
    // next sync wipes the credential.
    let old_qr = wallet.qr().await.unwrap();
    let mut phone2 = Wallet::init(
        FileKeystore::with_iterations(&dir.join("phone-2/wallet.json"), 10_000),
        "pin-two",
        &url,
        &Trust::System,
    )
    .unwrap();
    // Online enrolment cannot replace the upgraded credential: the new
    // phone is enrolled at the trusted terminal.
    let ch = phone2
        .challenge(wz_proto::api::ChallengePurpose::EnrolLight)
        .await
        .unwrap();
    let e = phone2
        .enrol_light(&ch, &items, photos.frames(&ch.actions))
        .await
        .unwrap_err();
    assert!(
        matches!(e, WalletError::Client(ref c) if c.code() == Some(ResultCode::UpgradedCredentialHeld)),
        "{e}"
    );
    assert_eq!(upgrade(&mut phone2).await, wz_proto::Level::Upgraded);
    let v = cafe
        .verify(qr_only, Some(&old_qr), Extras::default())
        .await
        .unwrap();
    assert_eq!(v.verdict.result, ResultCode::CredentialSuperseded);
    let s = wallet.sync().await.unwrap();
    assert!(s.wiped && s.status == CredentialStatus::Superseded);
    assert!(matches!(wallet.qr().await, Err(WalletError::NotEnrolled)));
    // The wallet file no longer holds the credential after a restart.
    drop(wallet);
    let reopened = Wallet::unlock(FileKeystore::new(&wallet_path), "right-pin", 3).unwrap();
    assert!(!reopened.is_enrolled());

    // Who verified me: the citizen's history names the RPs.
    let history = phone2.history(50).await.unwrap();
    assert_eq!(
        history.iter().filter(|h| h.result == ResultCode::Pass).count(),
        passes_before,
        "the retried verification is in the history once"
    );
    assert!(
        history
            .iter()
            .any(|h| h.rp_name == "hotel display" && h.result == ResultCode::Pass)
    );
    assert!(
        history
            .iter()
            .any(|h| h.rp_name == "cafe display" && h.result == ResultCode::QrReplayed)
    );

    // Suspended, then resumed with the real face engine and the credential PIN.
    assert_eq!(phone2.suspend().await.unwrap(), CredentialStatus::Suspended);
    let ch = phone2
        .challenge(wz_proto::api::ChallengePurpose::Resume)
        .await
        .unwrap();
    let e = phone2
        .resume(
            &ch,
            photos.frames(&ch.actions),
            Some(&CredentialPin::parse("11112222").unwrap()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, WalletError::Client(ref c) if c.code() == Some(ResultCode::PinWrong)),
        "{e}"
    );
    let ch = phone2
        .challenge(wz_proto::api::ChallengePurpose::Resume)
        .await
        .unwrap();
    assert_eq!(
        phone2
            .resume(
                &ch,
                photos.frames(&ch.actions),
                Some(&CredentialPin::parse("58203917").unwrap())
            )
            .await
            .unwrap(),
        CredentialStatus::Active
    );
    let qr = phone2.qr().await.unwrap();
    let v = cafe.verify(qr_only, Some(&qr), Extras::default()).await.unwrap();
    assert_eq!(v.verdict.result, ResultCode::Pass);

    drop(server);
    if let Some(t) = test_store {
        t.cleanup().await.unwrap();
    }
}
