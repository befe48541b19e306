//! QR scanning: the wallet's rendering read back (PNG and a rotated, noisy
//! camera-like frame), and bad images refused clearly. Presets are valid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use wz_crypto::Sm2PrivateKey;
use wz_proto::{AuthMode, CredentialId, QrBody};
use wz_terminal::TerminalError;
use wz_terminal::scan::{scan_image, scan_luma};

fn qr_text() -> String {
    let device = Sm2PrivateKey::generate().unwrap();
    let platform = Sm2PrivateKey::generate().unwrap();
    QrBody {
        cred_id: CredentialId([5; 16]),
        issued_at: 1_800_000_000,
        counter: 9,
        nonce: [1; 8],
    }
    .seal(&device, platform.public_key())
    .unwrap()
}

#[test]
fn wallet_png_scans_back() {
    let text = qr_text();
    let symbol = wz_wallet::render::symbol(&text).unwrap();
    assert_eq!(symbol.size, 57, "304 characters at level M is version 10");
    let png = wz_wallet::render::to_png(&symbol, 4).unwrap();
    assert_eq!(scan_image(&png).unwrap(), text);
    let art = wz_wallet::render::to_terminal(&symbol);
    let lines: Vec<&str> = art.lines().collect();
    assert_eq!(lines.len(), (57_usize + 8).div_ceil(2));
    assert!(lines.iter().all(|l| l.chars().count() == 57 + 8));
    assert!(wz_wallet::render::to_svg(&symbol).starts_with("<svg"));
}

#[test]
fn rotated_noisy_frame_scans() {
    let text = qr_text();
    let code = wz_wallet::render::to_luma(&wz_wallet::render::symbol(&text).unwrap(), 5);
    let (w, h) = (1280u32, 720u32);
    let (s, c) = 20f32.to_radians().sin_cos();
    let mut seed = 7u32;
    let mut frame = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - 640.0, y as f32 - 360.0);
            let (u, v) = (
                c * dx + s * dy + code.width() as f32 / 2.0,
                -s * dx + c * dy + code.height() as f32 / 2.0,
            );
            let inside = u >= 0.0 && v >= 0.0 && u < code.width() as f32 && v < code.height() as f32;
            let base: i32 = if !inside {
                128
            } else if code.get_pixel(u as u32, v as u32)[0] < 128 {
                40
            } else {
                210
            };
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            frame.push((base + (seed >> 16) as i32 % 41 - 20).clamp(0, 255) as u8);
        }
    }
    assert_eq!(scan_luma(&frame, w, h).unwrap(), text);
}

#[test]
fn bad_images_are_refused_clearly() {
    assert!(matches!(
        scan_image(b"not an image"),
        Err(TerminalError::Image(_))
    ));
    let png = wz_wallet::render::to_png(&wz_wallet::render::symbol(&qr_text()).unwrap(), 4).unwrap();
    assert!(matches!(
        scan_image(&png[..png.len() / 2]),
        Err(TerminalError::Image(_))
    ));
    let blank = image::GrayImage::from_pixel(200, 200, image::Luma([255]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    blank.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    assert!(matches!(
        scan_image(bytes.get_ref()),
        Err(TerminalError::NoQrFound)
    ));
    assert!(matches!(scan_luma(&[0; 10], 5, 5), Err(TerminalError::Image(_))));
}

#[test]
fn presets_are_valid_registrations() {
    for p in wz_terminal::presets::PRESETS {
        assert!(!p.modes.is_empty(), "{}", p.name);
        for m in p.modes {
            m.parse::<AuthMode>().unwrap();
        }
    }
    let cafe = wz_terminal::presets::preset("internet-cafe").unwrap();
    assert!(!cafe.attributes.contains(&wz_proto::api::Attribute::Name));
    assert!(wz_terminal::presets::preset("casino").is_none());
}
