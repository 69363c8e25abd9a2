//! S26: image intake under arbitrary bytes must return Ok or a typed error, never panic,
//! hang or allocate past the limits; whatever decodes must also quantize.
#![no_main]

use copythat_core::{Error, Limits, decode, extract_palette, sniff};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; the checks are the same code as production.
    let limits = Limits {
        max_bytes: 1 << 20,
        max_pixels: 1 << 20,
        max_width: 4096,
        max_height: 4096,
    };
    let sniffed = sniff(data);
    match decode(data, &limits) {
        Ok(img) => {
            assert!(sniffed.is_ok());
            assert_eq!(img.format, sniffed.unwrap());
            assert!(u64::from(img.width) * u64::from(img.height) <= limits.max_pixels);
            assert_eq!(img.rgba.len(), img.width as usize * img.height as usize * 4);
            let palette = extract_palette(&img, 8).expect("8 is a valid palette size");
            assert!(palette.colors.len() <= 8);
        }
        Err(Error::UnsupportedFormat { .. }) => assert!(sniffed.is_err()),
        Err(_) => {}
    }
});
