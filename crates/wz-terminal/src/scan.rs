//! QR codes from camera frames or image files. rxing (a port of ZXing) is
//! the decoder: in `benches/scan.rs` it reads rotated, noisy 1280x720
//! frames that rqrr misses.

use crate::error::{Result, TerminalError};

/// Largest image accepted, bytes and pixels a side.
pub const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;
const MAX_SIDE: u32 = 8192;

/// Decodes a JPEG/PNG and reads the one QR code in it.
pub fn scan_image(bytes: &[u8]) -> Result<String> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(TerminalError::Image("image is too large"));
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| TerminalError::Image("image is not a JPEG or PNG"))?;
    let (w, h) = reader
        .into_dimensions()
        .map_err(|_| TerminalError::Image("image is not a JPEG or PNG"))?;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(TerminalError::Image("image is too large"));
    }
    let img =
        image::load_from_memory(bytes).map_err(|_| TerminalError::Image("image is truncated or damaged"))?;
    let luma = img.to_luma8();
    scan_luma(luma.as_raw(), luma.width(), luma.height())
}

/// Reads the QR code in a greyscale frame (row-major, one byte a pixel).
pub fn scan_luma(luma: &[u8], width: u32, height: u32) -> Result<String> {
    if u64::from(width) * u64::from(height) != luma.len() as u64 || width == 0 {
        return Err(TerminalError::Image("frame size does not match its pixels"));
    }
    rxing::helpers::detect_in_luma(luma.to_vec(), width, height, Some(rxing::BarcodeFormat::QR_CODE))
        .map(|r| r.getText().to_owned())
        .map_err(|_| TerminalError::NoQrFound)
}
