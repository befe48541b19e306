//! Drawing the QR: Unicode half-blocks for a terminal (two module rows per
//! text line, 4-module quiet zone), PNG and SVG files.

use fast_qr::{ECL, QRBuilder, QRCode};

use crate::error::{Result, WalletError};

/// Quiet zone around the code, in modules (ISO/IEC 18004 asks for 4).
pub const QUIET: usize = 4;

/// The QR symbol for a `WZ1:` text: error correction M (a 304-character
/// text becomes version 10).
pub fn symbol(text: &str) -> Result<QRCode> {
    QRBuilder::new(text.as_bytes())
        .ecl(ECL::M)
        .build()
        .map_err(|_| WalletError::Io("QR text does not fit a QR symbol".to_owned()))
}

fn dark(qr: &QRCode, x: usize, y: usize) -> bool {
    // Outside the symbol (the quiet zone) is light.
    let (Some(x), Some(y)) = (x.checked_sub(QUIET), y.checked_sub(QUIET)) else {
        return false;
    };
    x < qr.size && y < qr.size && qr.data.get(y * qr.size + x).is_some_and(|m| m.value())
}

/// Dark-on-light half-block art (works on light and dark terminal themes
/// because light modules are drawn as full blocks).
#[must_use]
pub fn to_terminal(qr: &QRCode) -> String {
    let side = qr.size + 2 * QUIET;
    let mut out = String::with_capacity(side * side / 2 * 4);
    for y in (0..side).step_by(2) {
        for x in 0..side {
            let top_light = !dark(qr, x, y);
            let bottom_light = y + 1 < side && !dark(qr, x, y + 1);
            out.push(match (top_light, bottom_light) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    out
}

/// A greyscale image, `scale` pixels a module, quiet zone included.
#[must_use]
pub fn to_luma(qr: &QRCode, scale: u32) -> image::GrayImage {
    let scale = scale.max(1);
    let side = u32::try_from(qr.size + 2 * QUIET).unwrap_or(0) * scale;
    image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = ((x / scale) as usize, (y / scale) as usize);
        image::Luma([if dark(qr, mx, my) { 0 } else { 255 }])
    })
}

/// PNG bytes.
pub fn to_png(qr: &QRCode, scale: u32) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    to_luma(qr, scale)
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|_| WalletError::Io("PNG encoding failed".to_owned()))?;
    Ok(out.into_inner())
}

/// SVG text, one path of unit squares.
#[must_use]
pub fn to_svg(qr: &QRCode) -> String {
    let side = qr.size + 2 * QUIET;
    let mut path = String::new();
    for y in 0..side {
        for x in 0..side {
            if dark(qr, x, y) {
                path.push_str(&format!("M{x} {y}h1v1h-1z"));
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>\n"
    )
}
