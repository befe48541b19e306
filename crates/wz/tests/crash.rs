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
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods
)]

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

/// `kill -9` of `wz serve` while relying parties verify QR codes, a restart,
/// more verifications, then the invariants: the store is consistent (no QR
/// counter moved without its verdict, the audit chain intact), every pass a
/// client received is in the citizen's history, and each wallet's next QR
/// passes after the restart.
#[test]
fn kill_9_of_wz_serve_under_verification() {
    use wz_platform::{Platform, PlatformConfig, RpRegistration};
    use wz_proto::api::VerifyRequest;
    use wz_proto::{AuthMode, Level, QrBody, RequestAuth, RequestTarget};

    if !wz_face::default_models_dir().is_dir() {
        eprintln!("SKIP: face models missing (scripts/setup.sh fetches them; wz serve loads them)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let url = format!("sqlite://{}/data/platform.db", dir.display());
    let master = wz_platform::keys::MasterKey::generate_hex().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    // Seed: an RP and 8 citizens with lightweight credentials.
    let rp_key = wz_crypto::Sm2PrivateKey::generate().unwrap();
    let (enc, mut wallets) = rt.block_on(async {
        let store = wz_store::Store::connect(&url).await.unwrap();
        let platform = Platform::open(
            store.clone(),
            PlatformConfig::default(),
            wz_platform::keys::MasterKey::from_hex(&master).unwrap(),
            std::sync::Arc::new(wz_platform::face::NoFaceEngine),
            vec![],
            now(),
        )
        .await
        .unwrap();
        platform
            .register_rp(
                &RpRegistration {
                    rp_id: "gate".into(),
                    name: "Gate".into(),
                    role: wz_store::RpRole::Verifier,
                    public_key: rp_key.public_key().clone(),
                    modes: vec![AuthMode::QR],
                    attributes: vec![],
                    rate_per_s: 100_000,
                },
                "test",
                now(),
            )
            .await
            .unwrap();
        let birth = CivilDate::new(1990, 1, 1).unwrap();
        let mut wallets = Vec::new();
        for i in 0..8u16 {
            let id = IdNumber::from_parts(110_105, birth, 500 + i).unwrap();
            let person = wz_platform::registry::Person {
                sex: id.sex(),
                birth_date: birth,
                id_number: id.clone(),
                name: format!("崩溃{i}"),
                ethnicity: "汉".into(),
                address: "测试路".into(),
                card_valid_from: birth,
                card_valid_to: None,
            };
            platform
                .import_people(&[(person, None)], "test", now())
                .await
                .unwrap();
            let record = store
                .registry_by_index(&wz_platform::registry::blind_index(&platform.keys(), &id))
                .await
                .unwrap()
                .unwrap();
            let device = wz_crypto::Sm2PrivateKey::generate().unwrap();
            let resp = platform
                .issue(&record, Level::Lightweight, device.public_key(), None, now())
                .await
                .unwrap();
            let cert = wz_proto::CredentialCert::decode(&resp.credential.0).unwrap();
            // (device, credential, next counter, passes seen, citizen id)
            wallets.push((device, cert.body.cred_id, 0u32, 0usize, record.citizen_id));
        }
        let enc = platform.keys().encryption.current().public_key().clone();
        store.close().await;
        (enc, wallets)
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.join("platform.toml"),
        format!("tls = \"off\"\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let serve = || {
        wz(dir)
            .args(["--config", "platform.toml", "serve"])
            .env("WZ_MASTER_KEY", master.as_str())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
            .spawn()
            .unwrap()
    };
    let base = format!("http://127.0.0.1:{port}");
    wz_client::install_tls_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let wait_ready = |http: &reqwest::Client| {
        rt.block_on(async {
            for _ in 0..200 {
                if http.get(format!("{base}/healthz")).send().await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!(
                "wz serve did not come up: {}",
                std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
            );
        });
    };
    // One verification: Ok(result name) or Err when the server is gone.
    let verify =
        |http: &reqwest::Client,
         w: &mut (wz_crypto::Sm2PrivateKey, wz_proto::CredentialId, u32, usize, i64)| {
            w.2 += 1;
            let qr = QrBody {
                cred_id: w.1,
                issued_at: now(),
                counter: w.2,
                nonce: wz_crypto::random_array().unwrap(),
            }
            .seal(&w.0, &enc)
            .unwrap();
            let body = serde_json::to_vec(&VerifyRequest {
                mode: AuthMode::QR,
                qr: Some(qr),
                face_frames: vec![],
                challenge_id: None,
                pin_block: None,
                items: None,
                card_data: None,
            })
            .unwrap();
            let target = RequestTarget {
                method: "POST",
                path: "/v1/verify",
                body: &body,
            };
            let auth = RequestAuth::sign(
                &rp_key,
                "gate",
                &target,
                now(),
                &wz_proto::signed_http::new_nonce().unwrap(),
            )
            .unwrap();
            rt.block_on(async {
                let mut req = http.post(format!("{base}/v1/verify")).body(body.clone());
                for (k, v) in auth.to_headers() {
                    req = req.header(k, v);
                }
                let resp = req.send().await.map_err(|_| ())?;
                let bytes = resp.bytes().await.map_err(|_| ())?;
                let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| ())?;
                Ok::<String, ()>(v["result"].as_str().unwrap_or("?").to_owned())
            })
        };

    let mut seed = 0xdead_beef_u64 ^ u64::from(std::process::id());
    let mut killed_mid_flight = 0;
    for _ in 0..trials() {
        let mut server = serve();
        wait_ready(&http);
        // Traffic from a second thread while this one kills the server.
        let delay = spread(&mut seed, 1500) + Duration::from_millis(100);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = server.kill();
            let _ = server.wait();
        });
        let mut i = 0usize;
        loop {
            let n = wallets.len();
            let w = &mut wallets[i % n];
            i += 1;
            match verify(&http, w) {
                Ok(r) if r == "pass" => w.3 += 1,
                Ok(r) => panic!("unexpected verdict before the crash: {r}"),
                Err(()) => {
                    killed_mid_flight += 1;
                    break;
                }
            }
        }
        killer.join().unwrap();
        // After a restart every wallet's next QR passes.
        let mut server = serve();
        wait_ready(&http);
        for w in &mut wallets {
            assert_eq!(verify(&http, w).as_deref(), Ok("pass"));
            w.3 += 1;
        }
        let _ = server.kill();
        let _ = server.wait();
        let check = run(dir, &["--config", "platform.toml", "admin", "check"]);
        assert!(check.contains("consistent"), "after a kill of wz serve: {check}");
    }
    // Every pass a client saw is in the citizen's history.
    rt.block_on(async {
        let store = wz_store::Store::connect(&url).await.unwrap();
        for w in &wallets {
            let history = store.history(w.4, 10_000).await.unwrap();
            let passes = history.iter().filter(|h| h.result == 0).count();
            assert!(
                passes >= w.3,
                "citizen {}: {passes} passes stored, {} received",
                w.4,
                w.3
            );
        }
        store.close().await;
    });
    eprintln!(
        "{} trials, {killed_mid_flight} with traffic in flight at the kill",
        trials()
    );
}

/// The demo's photos, laid out as `wz demo --faces` wants them
/// (`DIR/<person>/<photos>`), as links to the set `scripts/setup.sh` fetched.
fn demo_faces(dir: &Path) -> Option<std::path::PathBuf> {
    let src = wz_face::default_models_dir().join("../../test-faces/face_recognition-1.3.0");
    let out = dir.join("faces");
    for (person, photos) in wz::demo_photos::PEOPLE {
        std::fs::create_dir_all(out.join(person)).ok()?;
        for p in photos {
            let from = src.join(p);
            if !from.is_file() {
                return None;
            }
            std::os::unix::fs::symlink(&from, out.join(person).join(p)).ok()?;
        }
    }
    Some(out)
}

/// Runs `wz demo` into `dir/demo`, reading its step lines as they come.
/// With `kill_in = Some((step, fraction, windows))` it is killed with
/// SIGKILL `fraction` of the way through that step (the window measured on
/// an uninterrupted run). Returns each step's start (seconds from the
/// start) and whether the process was killed before it finished.
fn demo_until(
    dir: &Path,
    faces: &Path,
    kill_in: Option<(u32, f64, &std::collections::BTreeMap<u32, f64>)>,
) -> (std::collections::BTreeMap<u32, f64>, bool) {
    use std::io::BufRead as _;
    let mut child = wz(dir)
        .args(["demo", "--data", "demo", "--faces"])
        .arg(faces)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(u32, f64)>();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let number = line
                .trim_start()
                .split_once(". ")
                .and_then(|(n, _)| n.parse::<u32>().ok());
            if let Some(n) = number {
                let _ = tx.send((n, start.elapsed().as_secs_f64()));
            }
            lines.push(line);
        }
        lines
    });
    let mut steps = std::collections::BTreeMap::new();
    let mut killed = false;
    for (n, at) in rx.iter() {
        steps.insert(n, at);
        if let Some((target, fraction, windows)) = kill_in
            && n == target
        {
            let window = windows.get(&n).copied().unwrap_or(0.5);
            std::thread::sleep(Duration::from_secs_f64(window * fraction));
            killed = child.try_wait().unwrap().is_none();
            let _ = child.kill();
            break;
        }
    }
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    if kill_in.is_none() {
        assert!(status.success(), "demo failed:\n{}", lines.join("\n"));
    }
    (steps, killed)
}

/// `kill -9` of `wz demo` — the embedded platform and its clients in one
/// process — in the middle of lightweight enrolment (step 5), the upgrade
/// at the trusted terminal (6), re-enrolment on a new phone that voids the
/// old one (11) and suspension (12), then the platform is opened again on
/// what the crash left (`wz admin check`): no credential without its audit
/// entry, no superseded credential without a successor, no QR counter moved
/// without a verdict, one active credential per citizen, the audit chain
/// intact. Kill points are spread over each step's duration as measured on
/// an uninterrupted run first.
#[test]
fn kill_9_of_wz_demo_during_enrolment() {
    if !wz_face::default_models_dir().is_dir() {
        eprintln!("SKIP: face models missing (scripts/setup.sh fetches them)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(faces) = demo_faces(tmp.path()) else {
        eprintln!("SKIP: test photos missing (scripts/setup.sh fetches them)");
        return;
    };
    // One uninterrupted run: how long each step takes on this machine.
    let reference = tmp.path().join("reference");
    std::fs::create_dir_all(&reference).unwrap();
    let (starts, _) = demo_until(&reference, &faces, None);
    let windows: std::collections::BTreeMap<u32, f64> = starts
        .iter()
        .zip(starts.iter().skip(1))
        .map(|((n, a), (_, b))| (*n, b - a))
        .collect();
    let enrolment_steps = [5u32, 6, 11, 12];
    for s in enrolment_steps {
        assert!(windows.contains_key(&s), "the demo has no step {s}: {starts:?}");
    }
    let mut seed = 0x0e17_0a11_u64 ^ u64::from(std::process::id());
    let mut killed_mid_step = 0;
    for trial in 0..trials().max(enrolment_steps.len()) {
        let step = enrolment_steps[trial % enrolment_steps.len()];
        let fraction = spread(&mut seed, 1000).as_secs_f64();
        let dir = tmp.path().join(format!("trial-{trial}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (_, killed) = demo_until(&dir, &faces, Some((step, fraction, &windows)));
        killed_mid_step += usize::from(killed);
        let check = wz(&dir)
            .env(
                "WZ_DATABASE_URL",
                format!("sqlite://{}/demo/platform.db", dir.display()),
            )
            .args(["admin", "check"])
            .output()
            .unwrap();
        let text =
            String::from_utf8_lossy(&check.stdout).into_owned() + &String::from_utf8_lossy(&check.stderr);
        assert!(
            check.status.success() && text.contains("consistent"),
            "trial {trial}, killed {fraction:.2} into step {step}: {text}"
        );
    }
    eprintln!(
        "{} trials over steps {enrolment_steps:?}, {killed_mid_step} killed before the demo finished",
        trials().max(enrolment_steps.len())
    );
    assert!(killed_mid_step > 0, "no trial was killed in flight");
}
