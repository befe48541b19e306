//! The operator's commands end to end on a fresh embedded SQLite platform:
//! registry import (with rejects, and a safe rerun), RP registration,
//! virtual card issue, audit verification, and `wz serve` answering HTTP
//! on loopback and stopping cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Read, Write};
use std::path::Path;

use assert_cmd::Command;

fn wz(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("wz").unwrap();
    c.current_dir(dir).env(
        "WZ_DATABASE_URL",
        format!("sqlite://{}/data/platform.db", dir.display()),
    );
    c.env_remove("WZ_MASTER_KEY");
    c
}

fn stdout(c: &mut Command) -> String {
    String::from_utf8(c.assert().success().get_output().stdout.clone()).unwrap()
}

#[test]
fn operator_journey() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Real face photos (the import makes face templates), referenced in place.
    let faces = wz_face::default_models_dir().join("../../test-faces/face_recognition-1.3.0");
    let (a, b) = (faces.join("obama.jpg"), faces.join("biden.jpg"));
    let csv = "id_number,name,sex,ethnicity,birth_date,address,card_valid_from,card_valid_to,photo\n\
        11010519491231002X,测试甲,女,汉,1949-12-31,测试路1号,2020-01-01,2040-01-01,photos/a.jpg\n\
        440524188001010014,测试乙,男,汉,18800101,测试路2号,2020-01-01,长期,photos/b.jpg\n\
        110105194912310029,坏号码,女,汉,1949-12-31,x,2020-01-01,2040-01-01,photos/a.jpg\n\
        11010519491231002X,重复,女,汉,1949-12-31,x,2020-01-01,2040-01-01,photos/a.jpg\n\
        310104201506010113,缺照片,男,汉,2015-06-01,x,2020-01-01,2040-01-01,photos/missing.jpg\n\
        110105199001010010,测试\u{1b}[2J丙,男,汉,1990-01-01,测试路3号,2020-01-01,2040-01-01,photos/a.jpg\n\
        110105199001010029,测试丁,女,汉,1990-01-01,测试路\u{202E}号4,2020-01-01,2040-01-01,photos/a.jpg\n"
        .replace("photos/a.jpg", &a.display().to_string())
        .replace("photos/b.jpg", &b.display().to_string());
    std::fs::write(dir.join("registry.csv"), csv).unwrap();

    let out = stdout(wz(dir).args(["registry", "import", "registry.csv"]));
    assert!(
        out.contains("7 rows: 2 imported, 0 already present, 5 rejected"),
        "{out}"
    );
    let rejects = std::fs::read_to_string(dir.join("registry.csv.rejects.tsv")).unwrap();
    assert!(
        rejects.contains("4\tID number check digit does not match"),
        "{rejects}"
    );
    assert!(
        rejects.contains("5\tID number appears earlier in this file"),
        "{rejects}"
    );
    assert!(rejects.contains("6\tphoto file does not exist"), "{rejects}");
    // Defect 12.7: control and bidi characters never reach the registry.
    assert!(
        rejects.contains("7\tname contains a control character"),
        "{rejects}"
    );
    assert!(
        rejects.contains("8\taddress contains a bidirectional-text control"),
        "{rejects}"
    );
    assert!(
        !rejects.contains("坏号码") && !rejects.contains("110105194912310029"),
        "no row data in rejects"
    );
    // The master key was created beside the database, owner-only.
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(dir.join("data/master.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Rerun: nothing twice.
    let out = stdout(wz(dir).args(["registry", "import", "registry.csv"]));
    assert!(out.contains("2 already present"), "{out}");

    // A relying party.
    stdout(wz(dir).args(["keygen", "--out", "hotel.pem", "--public-out", "hotel.pub.pem"]));
    let out = stdout(wz(dir).args([
        "rp",
        "register",
        "--id",
        "hotel-001",
        "--name",
        "Hotel",
        "--pubkey",
        "hotel.pub.pem",
        "--modes",
        "0x06,0x04",
        "--attrs",
        "name,id_number",
        "--rate",
        "50/s",
    ]));
    assert!(out.starts_with("registered hotel-001 (verifier)"), "{out}");
    wz(dir)
        .args([
            "rp",
            "register",
            "--id",
            "hotel-001",
            "--name",
            "Again",
            "--pubkey",
            "hotel.pub.pem",
            "--modes",
            "0x04",
        ])
        .assert()
        .failure();
    wz(dir)
        .args([
            "rp",
            "register",
            "--id",
            "x",
            "--name",
            "X",
            "--pubkey",
            "hotel.pub.pem",
            "--modes",
            "0x80",
        ])
        .assert()
        .failure();
    // A preset fills modes, attributes and rate.
    stdout(wz(dir).args(["keygen", "--out", "cafe.pem", "--public-out", "cafe.pub.pem"]));
    let out = stdout(wz(dir).args([
        "rp",
        "register",
        "--id",
        "cafe-001",
        "--name",
        "Café",
        "--pubkey",
        "cafe.pub.pem",
        "--preset",
        "internet-cafe",
    ]));
    assert!(out.starts_with("registered cafe-001 (verifier)"), "{out}");
    wz(dir)
        .args([
            "rp",
            "register",
            "--id",
            "y",
            "--name",
            "Y",
            "--pubkey",
            "hotel.pub.pem",
            "--preset",
            "casino",
        ])
        .assert()
        .failure();
    let out = stdout(wz(dir).args(["rp", "list"]));
    assert!(
        out.contains("hotel-001\tHotel\tverifier\tmodes=0x06,0x04\tattrs=name,id_number\t50/s"),
        "{out}"
    );
    assert!(
        out.contains("cafe-001\tCafé\tverifier\tmodes=0x04\tattrs=age_over_18\t20/s"),
        "{out}"
    );

    // A virtual card from the registry, signed by a separate authority key.
    stdout(wz(dir).args(["keygen", "--out", "authority.pem"]));
    let out = stdout(wz(dir).args([
        "card",
        "issue",
        "--id-number",
        "11010519491231002X",
        "--authority-key",
        "authority.pem",
        "--out",
        "jia.wzc",
    ]));
    assert!(
        out.contains("1****************X") && !out.contains("11010519491231002X"),
        "{out}"
    );
    use wz_terminal::card_reader::CardReader as _;
    let card = wz_terminal::card_reader::FileCardReader::new(dir.join("jia.wzc"))
        .read_card()
        .unwrap();
    assert!(
        wz_terminal::card_reader::FileCardReader::new(dir.join("nope.wzc"))
            .read_card()
            .is_err()
    );
    assert_eq!(card.data.name, "测试甲");
    assert_eq!(card.data.photo, std::fs::read(&a).unwrap());
    wz(dir)
        .args([
            "card",
            "issue",
            "--id-number",
            "310104201506010113",
            "--authority-key",
            "authority.pem",
            "--out",
            "x.wzc",
        ])
        .assert()
        .failure();

    // Audit: the five platform keys made on first start, the import and
    // the two registrations are logged, and the chain holds.
    let out = stdout(wz(dir).args(["admin", "audit", "verify"]));
    assert!(
        out.contains("chain intact") && out.contains("head seq 8"),
        "{out}"
    );

    // wz serve on a free loopback port.
    let bin = assert_cmd::cargo::cargo_bin("wz");
    let mut child = std::process::Command::new(bin)
        .arg("serve")
        .current_dir(dir)
        .env(
            "WZ_DATABASE_URL",
            format!("sqlite://{}/data/platform.db", dir.display()),
        )
        .env("WZ_LISTEN", "127.0.0.1:0")
        .env("WZ_LOG_JSON", "1")
        .env_remove("RUST_LOG")
        .env_remove("WZ_MASTER_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("wz serve: https://")
        .expect("serve prints its https URL")
        .to_owned();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let fingerprint = line
        .trim()
        .strip_prefix("TLS certificate SHA-256: ")
        .expect("serve prints its certificate fingerprint")
        .to_owned();
    let cert = dir.join("data/tls-cert.pem");
    assert!(cert.is_file(), "self-signed certificate kept beside the database");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(s, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    assert!(!resp.starts_with(b"HTTP/1.1 200"), "plain HTTP was served");

    // curl with the certificate as its CA (what an operator would type).
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok()
    {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--tlsv1.3", "--cacert"])
            .arg(&cert)
            .arg(format!(
                "https://localhost:{}/healthz",
                addr.rsplit(':').next().unwrap()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl --cacert: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("curl not installed: checking with the client library only");
    }

    // The client library, trusting the pin or the CA file; a wrong pin is refused.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = format!("https://{addr}");
    let timeout = std::time::Duration::from_secs(10);
    let get = |trust: wz_client::Trust, path: &str| {
        let http = trust.http_client(&base, timeout).unwrap();
        rt.block_on(async {
            let r = http.get(format!("{base}{path}")).send().await?;
            Ok::<_, reqwest::Error>((r.status().as_u16(), r.text().await?))
        })
    };
    let pinned = || wz_client::Trust::pin_from_hex(&fingerprint).unwrap();
    assert_eq!(get(pinned(), "/healthz").unwrap().0, 200);
    assert_eq!(get(pinned(), "/readyz").unwrap().0, 200);
    let ca = wz_client::Trust::CaPem(std::fs::read(&cert).unwrap());
    let (status, keys) = get(ca, "/v1/keys").unwrap();
    assert_eq!(status, 200);
    assert!(
        keys.contains("\"usage\":\"signing\"") && keys.contains("\"usage\":\"encryption\""),
        "{keys}"
    );
    assert_eq!(
        get(pinned(), wz_platform::tls::FINGERPRINT_PATH).unwrap().1,
        fingerprint,
        "served fingerprint is the printed one"
    );
    let missing = get(pinned(), "/nope").unwrap();
    assert!((400..500).contains(&missing.0), "{missing:?}");
    assert!(
        get(wz_client::Trust::PinnedSha256([7; 32]), "/healthz").is_err(),
        "wrong pin accepted"
    );
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");

    // Defect 12.9: one access-log line per request, with the route
    // template, status, result code, client and request id.
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    let access: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "wz::access")
        .collect();
    let route = |r: &str| access.iter().find(|v| v["fields"]["route"] == r).cloned();
    let ready = route("/readyz").expect("access line for /readyz");
    assert_eq!(ready["fields"]["status"], 200, "{ready}");
    assert_eq!(ready["fields"]["client"], "127.0.0.1", "{ready}");
    assert_eq!(
        ready["fields"]["request_id"].as_str().map(str::len),
        Some(16),
        "{ready}"
    );
    let unmatched = route("unmatched").expect("access line for an unknown path");
    assert!(
        !unmatched.to_string().contains("/nope"),
        "no raw paths: {unmatched}"
    );
}

/// The demo registry from the LFW development set, where it exists (CI has
/// it beside the project); imported without a face engine it still stores
/// every row.
#[test]
fn demo_registry_imports() {
    let faces = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces/lfw-dev");
    if !faces.is_dir() {
        eprintln!("skipping: {} not present", faces.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = stdout(
        wz(dir)
            .args(["registry", "demo", "--count", "12", "--out", "reg", "--faces"])
            .arg(&faces),
    );
    assert!(out.starts_with("wrote 12 synthetic people"), "{out}");
    let csv = std::fs::read_to_string(dir.join("reg/registry.csv")).unwrap();
    assert_eq!(csv.lines().count(), 13);
    // Photos are referenced in place, not copied.
    assert!(
        csv.contains("lfw-dev/")
            && !dir.join("reg").read_dir().unwrap().any(|e| e
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "jpg"))
    );
    let out = stdout(wz(dir).args(["registry", "import", "reg/registry.csv"]));
    assert!(out.contains("12 rows: 12 imported"), "{out}");
    wz(dir)
        .args(["registry", "demo", "--count", "100000", "--out", "big", "--faces"])
        .arg(&faces)
        .assert()
        .failure();
}

/// Calibration writes the threshold into the config file, keeping the rest.
#[test]
fn face_calibrate_writes_the_threshold() {
    let faces = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces/lfw-dev");
    if !faces.is_dir() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let set = dir.join("set");
    std::fs::create_dir(&set).unwrap();
    let mut ids: Vec<_> = std::fs::read_dir(&faces)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    ids.sort();
    for p in ids.iter().take(12) {
        std::os::unix::fs::symlink(p, set.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.join("platform.toml"),
        "# city platform\nlisten = \"127.0.0.1:9999\"\n",
    )
    .unwrap();
    let out = stdout(wz(dir).args([
        "--config",
        "platform.toml",
        "face",
        "calibrate",
        "set",
        "--far",
        "1e-2",
    ]));
    assert!(out.starts_with("face_threshold = 0."), "{out}");
    let text = std::fs::read_to_string(dir.join("platform.toml")).unwrap();
    assert!(
        text.starts_with("# city platform\nlisten = \"127.0.0.1:9999\"\nface_threshold = 0."),
        "{text}"
    );
    let config = wz_platform::PlatformConfig::from_toml(&text).unwrap();
    assert!(config.face_threshold.is_some_and(|t| t > 0.3 && t < 0.95));
    // Twelve people cannot measure FAR 1e-4; the file is left as it was.
    wz(dir)
        .args([
            "--config",
            "platform.toml",
            "face",
            "calibrate",
            "set",
            "--far",
            "1e-4",
        ])
        .assert()
        .failure();
    assert_eq!(std::fs::read_to_string(dir.join("platform.toml")).unwrap(), text);
}

#[test]
fn face_eval_prints_rates_and_draws_the_roc() {
    // Two people from the face_recognition sdist photos, linked (not copied)
    // into DIR/<identity>/ folders.
    let faces = wz_face::default_models_dir().join("../../test-faces/face_recognition-1.3.0");
    let tmp = tempfile::tempdir().unwrap();
    let set = tmp.path().join("set");
    for (who, files) in [
        ("obama", &["obama.jpg", "obama2.jpg", "obama3.jpg"][..]),
        ("biden", &["biden.jpg"][..]),
    ] {
        std::fs::create_dir_all(set.join(who)).unwrap();
        for f in files {
            std::os::unix::fs::symlink(faces.join(f), set.join(who).join(f)).unwrap();
        }
    }
    let out = stdout(
        wz(tmp.path())
            .args(["face", "eval"])
            .arg(&set)
            .args(["--plot", "roc.png"]),
    );
    assert!(out.contains("2 identities, 4 images"), "{out}");
    assert!(out.contains("3 genuine pairs, 3 impostor pairs"), "{out}");
    assert!(out.contains("TAR at FAR 1e-4: too few impostor pairs"), "{out}");
    let png = image::open(tmp.path().join("roc.png")).unwrap();
    assert_eq!((png.width(), png.height()), (900, 640));
}

#[test]
fn wallet_face_lock_gates_the_qr() {
    let faces = wz_face::default_models_dir().join("../../test-faces/face_recognition-1.3.0");
    let tmp = tempfile::tempdir().unwrap();
    let wallet = |args: &[&str]| {
        let mut c = wz(tmp.path());
        c.env("WZ_WALLET_PIN", "a-wallet-pin").arg("wallet").args(args);
        c
    };
    stdout(&mut wallet(&["init", "--platform", "http://127.0.0.1:9"]));
    let out = stdout(wallet(&["show"]).arg("--wallet").arg("wz-wallet/wallet.json"));
    assert!(out.contains("no credential"), "{out}");
    // A wrong wallet PIN opens nothing.
    let failed = wz(tmp.path())
        .env("WZ_WALLET_PIN", "not-the-pin")
        .args(["wallet", "show"])
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&failed.get_output().stderr).contains("wrong wallet PIN"));
    stdout(wallet(&["face-lock", "--photo"]).arg(faces.join("obama.jpg")));
    let err =
        |c: &mut Command| String::from_utf8_lossy(&c.assert().failure().get_output().stderr).into_owned();
    assert!(err(&mut wallet(&["qr"])).contains("pass --face"));
    assert!(err(wallet(&["qr", "--face"]).arg(faces.join("biden.jpg"))).contains("local face check failed"));
    // The holder passes the gate; this wallet then still needs a credential.
    assert!(err(wallet(&["qr", "--face"]).arg(faces.join("obama.jpg"))).contains("enrol first"));
    stdout(&mut wallet(&["face-lock", "--off"]));
    assert!(err(&mut wallet(&["qr"])).contains("enrol first"));
}

/// The master key in a PKCS#11 token through the CLI: `[hsm]` in the
/// config, `wz admin hsm-keygen`, then the platform's keys are created and
/// rotated under it; a wrong token PIN is refused. Skips (saying why)
/// without SoftHSM2, which `scripts/setup.sh` installs.
#[test]
fn master_key_in_a_token_via_the_cli() {
    let module = std::path::PathBuf::from("/usr/lib/softhsm/libsofthsm2.so");
    if !module.is_file()
        || std::process::Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_err()
    {
        assert!(
            std::env::var_os("WZ_REQUIRE_SOFTHSM").is_none(),
            "softhsm2 is required here but not installed"
        );
        eprintln!("SKIP: softhsm2 is not installed (scripts/setup.sh installs it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    let init = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "wz",
            "--pin",
            "314159",
            "--so-pin",
            "271828",
        ])
        .output()
        .unwrap();
    assert!(init.status.success());
    std::fs::write(
        dir.join("platform.toml"),
        format!("[hsm]\nmodule = \"{}\"\ntoken_label = \"wz\"\n", module.display()),
    )
    .unwrap();
    let run = |pin: &str, args: &[&str]| {
        let mut c = wz(dir);
        c.env("SOFTHSM2_CONF", &conf)
            .env("WZ_HSM_PIN", pin)
            .args(["--config", "platform.toml"])
            .args(args);
        c
    };
    let out = stdout(&mut run("314159", &["admin", "hsm-keygen"]));
    assert!(out.contains("AES-256-GCM key \"wz-master\""), "{out}");
    let out = stdout(&mut run("314159", &["admin", "rotate-key", "signing"]));
    assert!(out.contains("new current signing key"), "{out}");
    assert!(
        !dir.join("data/master.key").exists(),
        "no software master key was made"
    );
    run("000000", &["admin", "rotate-key", "signing"])
        .assert()
        .failure();
    let out = stdout(&mut run("314159", &["admin", "audit", "verify"]));
    assert!(out.contains("chain intact"), "{out}");
}
