//! S26: base64 intake under arbitrary text must return the bytes or a typed error, never
//! panic or allocate past the decoded-size limit; valid standard base64 round-trips.
#![no_main]

use base64::Engine;
use copythat_core::base64::{Base64Error, decode_base64};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match decode_base64(text, LIMIT) {
            Ok(bytes) => assert!(!bytes.is_empty() && bytes.len() <= LIMIT),
            Err(Base64Error::Empty | Base64Error::TooLarge | Base64Error::Invalid) => {}
        }
    }
    // Whatever the bytes, their standard encoding decodes back to them.
    if !data.is_empty() && data.len() <= LIMIT {
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        assert_eq!(decode_base64(&encoded, LIMIT).as_deref(), Ok(data));
    }
});
