//! The terminal's QR reader on arbitrary greyscale frames: an answer or a
//! clear error, never a panic. The first two bytes choose the width.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let width = u32::from(data[0]) % 96 + 21;
    let pixels = &data[2..];
    let height = (pixels.len() as u32 / width).min(160);
    if height < 21 {
        return;
    }
    let frame = &pixels[..(width * height) as usize];
    let _ = wz_terminal::scan::scan_luma(frame, width, height);
});
