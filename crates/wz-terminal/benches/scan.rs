//! QR decoding from a camera-like 1280x720 frame: the wallet's QR drawn at
//! 5 px a module, rotated, on a grey background with noise. rxing (chosen)
//! against rqrr, in the same run; each decoder's success on a set of
//! rotations is printed first.
//! `cargo bench -p wz-terminal --bench scan`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    missing_docs
)]

use criterion::{Criterion, criterion_group, criterion_main};
use wz_crypto::Sm2PrivateKey;
use wz_proto::{CredentialId, QrBody};

const W: u32 = 1280;
const H: u32 = 720;

fn qr_text() -> String {
    let device = Sm2PrivateKey::generate().unwrap();
    let platform = Sm2PrivateKey::generate().unwrap();
    QrBody {
        cred_id: CredentialId([3; 16]),
        issued_at: 1_800_000_000,
        counter: 1,
        nonce: [9; 8],
    }
    .seal(&device, platform.public_key())
    .unwrap()
}

/// The code at `px` pixels a module, rotated by `deg` about the frame
/// centre, on mid-grey, with deterministic noise of amplitude `noise`, then
/// `blur` passes of a 3x3 box blur (defocus).
fn frame(text: &str, px: u32, deg: f32, noise: u8, blur: usize) -> Vec<u8> {
    let code = wz_wallet::render::to_luma(&wz_wallet::render::symbol(text).unwrap(), px);
    let (cw, ch) = (code.width() as f32, code.height() as f32);
    let (s, c) = deg.to_radians().sin_cos();
    let mut seed = 0x2545_f491_u32;
    let mut out = Vec::with_capacity((W * H) as usize);
    for y in 0..H {
        for x in 0..W {
            let (dx, dy) = (x as f32 - W as f32 / 2.0, y as f32 - H as f32 / 2.0);
            let (u, v) = (c * dx + s * dy + cw / 2.0, -s * dx + c * dy + ch / 2.0);
            let base = if u >= 0.0 && v >= 0.0 && u < cw && v < ch {
                // Print contrast of a phone screen under room light.
                if code.get_pixel(u as u32, v as u32)[0] < 128 {
                    40
                } else {
                    210
                }
            } else {
                128
            };
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let n = (seed % (2 * u32::from(noise) + 1)) as i32 - i32::from(noise);
            out.push((base + n).clamp(0, 255) as u8);
        }
    }
    for _ in 0..blur {
        let src = out.clone();
        let (w, h) = (W as usize, H as usize);
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let mut sum = 0u32;
                for dy in 0..3 {
                    for dx in 0..3 {
                        sum += u32::from(src[(y + dy - 1) * w + x + dx - 1]);
                    }
                }
                out[y * w + x] = (sum / 9) as u8;
            }
        }
    }
    out
}

fn rxing_decode(luma: &[u8]) -> Option<String> {
    wz_terminal::scan::scan_luma(luma, W, H).ok()
}

fn rqrr_decode(luma: &[u8]) -> Option<String> {
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(W as usize, H as usize, |x, y| luma[y * W as usize + x]);
    img.detect_grids()
        .first()
        .and_then(|g| g.decode().ok())
        .map(|(_, s)| s)
}

fn bench(c: &mut Criterion) {
    let text = qr_text();
    let angles = [0.0f32, 7.0, 15.0, 30.0, 45.0, 60.0, 90.0, 135.0];
    // (pixels a module, noise amplitude, blur passes): from easy to hard.
    for (px, noise, blur) in [
        (5u32, 20u8, 0usize),
        (5, 50, 0),
        (3, 50, 0),
        (3, 50, 1),
        (2, 30, 0),
        (3, 80, 1),
        (2, 50, 1),
    ] {
        let (mut a, mut b) = (0, 0);
        for deg in angles {
            let f = frame(&text, px, deg, noise, blur);
            a += usize::from(rxing_decode(&f).as_deref() == Some(text.as_str()));
            b += usize::from(rqrr_decode(&f).as_deref() == Some(text.as_str()));
        }
        println!(
            "{px} px/module, noise ±{noise}, blur {blur}: rxing decoded {a}/{n}, rqrr {b}/{n} (rotations {angles:?})",
            n = angles.len()
        );
    }
    let f = frame(&text, 5, 15.0, 20, 0);
    assert_eq!(rxing_decode(&f).as_deref(), Some(text.as_str()));
    let mut g = c.benchmark_group("scan_1280x720_rot15_noise20");
    g.sample_size(20);
    g.bench_function("rxing", |b| b.iter(|| rxing_decode(&f)));
    g.bench_function("rqrr", |b| b.iter(|| rqrr_decode(&f)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
