//! The three web pages in a real headless Chromium (Debian's, driven by
//! playwright-core; both installed by scripts/setup.sh): `wz demo
//! --keep-running` serves them; a fake camera plays a y4m this test makes
//! from a real wallet QR and the citizen's photos. Skips with a reason when
//! the browser is not installed, unless WZ_REQUIRE_BROWSER is set (CI).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use image::{Rgb, RgbImage};

const W: u32 = 640;
const H: u32 = 480;
const FPS: u32 = 4;

fn playwright_dir() -> Option<PathBuf> {
    let models = std::env::var_os("WZ_MODELS_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/wangzheng/models")
        },
        PathBuf::from,
    );
    let dir = models.join("../browser-tests");
    let ready = dir.join("node_modules/playwright-core/package.json").exists()
        && Path::new("/usr/bin/chromium").exists();
    if ready {
        return Some(dir);
    }
    assert!(
        std::env::var_os("WZ_REQUIRE_BROWSER").is_none(),
        "WZ_REQUIRE_BROWSER is set but chromium or playwright-core is missing: run scripts/setup.sh"
    );
    eprintln!("skipping: chromium or playwright-core not installed (scripts/setup.sh installs them)");
    None
}

/// The running demo; killed when dropped.
struct Demo {
    child: Child,
    lines: Vec<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start(data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wz"))
            .args(["demo", "--keep-running", "--data"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "demo ended early:\n{}",
                lines.join("")
            );
            print!("{line}");
            let done = line.contains("Platform still running");
            lines.push(line);
            if done {
                break;
            }
        }
        // Keep draining stdout so the demo never blocks on a full pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        Self { child, lines }
    }

    /// The URL on the line that names `what`.
    fn url(&self, what: &str) -> String {
        let line = self
            .lines
            .iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what} line"));
        line.split_whitespace()
            .find(|w| w.starts_with("http"))
            .unwrap()
            .to_owned()
    }

    fn token(&self) -> String {
        let line = self.lines.iter().find(|l| l.contains("admin token:")).unwrap();
        line.rsplit("admin token: ")
            .next()
            .unwrap()
            .trim()
            .trim_end_matches(')')
            .to_owned()
    }
}

/// `img` scaled into a 640×480 frame, centred on `bg`.
fn framed(img: &RgbImage, bg: Rgb<u8>) -> RgbImage {
    let scale = (f64::from(W) / f64::from(img.width())).min(f64::from(H) / f64::from(img.height()));
    let (w, h) = (
        (f64::from(img.width()) * scale) as u32,
        (f64::from(img.height()) * scale) as u32,
    );
    let small = image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle);
    let mut out = RgbImage::from_pixel(W, H, bg);
    image::imageops::overlay(&mut out, &small, i64::from((W - w) / 2), i64::from((H - h) / 2));
    out
}

/// The photo as a kiosk camera would see the person: the main face's
/// surroundings (three face-widths across, 4:3), whatever the photo's framing.
fn as_seen_by_camera(models: &wz_face::pipeline::FaceModels, path: &str) -> RgbImage {
    let img = image::open(path).unwrap().to_rgb8();
    let rgb = wz_face::pipeline::Rgb {
        width: img.width() as usize,
        height: img.height() as usize,
        data: img.as_raw().clone(),
    };
    let faces = models.detect(&rgb).unwrap();
    let face = faces
        .iter()
        .max_by(|a, b| {
            let area = |d: &wz_face::pipeline::Detection| (d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1]);
            area(a).total_cmp(&area(b))
        })
        .unwrap_or_else(|| panic!("no face in {path}"));
    let [x0, y0, x1, y1] = face.bbox;
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let w = ((x1 - x0).max(y1 - y0) * 3.0).min(img.width() as f32);
    let h = (w * 0.75).min(img.height() as f32);
    let left = (cx - w / 2.0).clamp(0.0, img.width() as f32 - w) as u32;
    let top = (cy - h / 2.0).clamp(0.0, img.height() as f32 - h) as u32;
    let crop = image::imageops::crop_imm(&img, left, top, w as u32, h as u32).to_image();
    framed(&crop, Rgb([40, 40, 40]))
}

/// A phone held up to the camera, its screen showing the wallet's QR.
fn phone_screen(qr: &str) -> RgbImage {
    let symbol = wz_wallet::render::symbol(qr).unwrap();
    let luma = wz_wallet::render::to_luma(&symbol, 4);
    let mut frame = RgbImage::from_pixel(W, H, Rgb([60, 64, 70]));
    let side = 360u32;
    let qr_img = image::imageops::resize(
        &image::DynamicImage::ImageLuma8(luma).to_rgb8(),
        side,
        side,
        image::imageops::FilterType::Nearest,
    );
    let (pw, ph) = (side + 40, H - 20);
    let phone = RgbImage::from_pixel(pw, ph, Rgb([250, 250, 250]));
    image::imageops::overlay(&mut frame, &phone, i64::from((W - pw) / 2), 10);
    image::imageops::overlay(
        &mut frame,
        &qr_img,
        i64::from((W - side) / 2),
        i64::from((H - side) / 2),
    );
    frame
}

/// Writes the frames as a 4:2:0 y4m video, each shown for `secs` seconds.
fn write_y4m(path: &Path, segments: &[(RgbImage, u32)]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "YUV4MPEG2 W{W} H{H} F{FPS}:1 Ip A1:1 C420jpeg").unwrap();
    for (img, secs) in segments {
        let (mut y, mut u, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for p in img.pixels() {
            let [r, g, b] = p.0.map(f32::from);
            y.push((0.299 * r + 0.587 * g + 0.114 * b).round().clamp(0.0, 255.0) as u8);
        }
        for cy in 0..H / 2 {
            for cx in 0..W / 2 {
                let p = img.get_pixel(cx * 2, cy * 2).0.map(f32::from);
                let [r, g, b] = p;
                u.push(
                    (128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b)
                        .round()
                        .clamp(0.0, 255.0) as u8,
                );
                v.push(
                    (128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b)
                        .round()
                        .clamp(0.0, 255.0) as u8,
                );
            }
        }
        for _ in 0..secs * FPS {
            f.write_all(b"FRAME\n").unwrap();
            f.write_all(&y).unwrap();
            f.write_all(&u).unwrap();
            f.write_all(&v).unwrap();
        }
    }
}

/// A fresh QR from the demo citizen's wallet file (before the wallet page unlocks it).
async fn wallet_qr(wallet: &Path) -> String {
    let mut w = wz_wallet::Wallet::unlock(
        wz_wallet::FileKeystore::new(wallet),
        "demo-wallet-pin",
        wz::env::now(),
    )
    .unwrap();
    w.qr().await.unwrap()
}

fn run_browser(playwright: &Path, config: &serde_json::Value, dir: &Path) {
    let name = config["name"].as_str().unwrap();
    let cfg_path = dir.join(format!("{name}.json"));
    std::fs::write(&cfg_path, serde_json::to_vec(config).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web/browser.mjs");
    let status = Command::new("node")
        .arg(script)
        .arg(&cfg_path)
        .env("WZ_PLAYWRIGHT_DIR", playwright)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "browser scenario {name} failed (screenshots in {})",
        config["artefacts"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kiosk_wallet_and_console_in_a_real_browser() {
    let Some(playwright) = playwright_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let artefacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    let _ = std::fs::remove_dir_all(&artefacts);
    let demo = Demo::start(&data);
    let wallet_file = data.join("phone-2/wallet.json");
    let frames: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("camera-frames.json")).unwrap()).unwrap();
    let models = wz_face::pipeline::FaceModels::load(&wz_face::default_models_dir()).unwrap();
    let photo = |k: &str| as_seen_by_camera(&models, frames[k].as_str().unwrap());

    // Hotel: the phone's QR, then the citizen facing the camera and turning each way, on a loop.
    let y4m = tmp.path().join("hotel.y4m");
    write_y4m(
        &y4m,
        &[
            (phone_screen(&wallet_qr(&wallet_file).await), 3),
            (photo("frontal"), 2),
            (photo("turn_left"), 2),
            (photo("turn_right"), 2),
        ],
    );
    run_browser(
        &playwright,
        &serde_json::json!({
            "kind": "kiosk", "name": "kiosk-hotel", "url": demo.url("hotel kiosk"), "y4m": y4m,
            "artefacts": artefacts, "place_zh": "酒店入住", "attributes": ["name", "id_number"], "replay": true,
        }),
        tmp.path(),
    );

    // Internet café: QR only; the screen says adult and the pseudonym, nothing else.
    let y4m = tmp.path().join("cafe.y4m");
    write_y4m(
        &y4m,
        &[
            (phone_screen(&wallet_qr(&wallet_file).await), 2),
            (photo("frontal"), 1),
        ],
    );
    run_browser(
        &playwright,
        &serde_json::json!({
            "kind": "kiosk", "name": "kiosk-cafe", "url": demo.url("internet café kiosk"), "y4m": y4m,
            "artefacts": artefacts, "place_zh": "网吧上网", "attributes": ["age_over_18"], "replay": false,
        }),
        tmp.path(),
    );

    run_browser(
        &playwright,
        &serde_json::json!({
            "kind": "wallet", "name": "wallet", "url": demo.url("citizen wallet"), "artefacts": artefacts,
            "pin": "demo-wallet-pin", "history": ["pass", "qr_replayed"],
        }),
        tmp.path(),
    );

    let registry = std::fs::read_to_string(data.join("registry/registry.csv")).unwrap();
    let lookup_id = registry
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    run_browser(
        &playwright,
        &serde_json::json!({
            "kind": "console", "name": "console", "url": demo.url("operator console"), "artefacts": artefacts,
            "token": demo.token(), "import_file": "registry.csv", "lookup_id": lookup_id,
        }),
        tmp.path(),
    );
    println!("screenshots in {}", artefacts.display());
}
