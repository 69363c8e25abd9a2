//! Base64 intake (S12, S13): image bytes from base64 text, with the size checked before
//! decoding. The image itself is then sniffed from the bytes by `image::decode`.
//!
//! Base64 stance: the standard alphabet and the URL-safe one (`-`, `_`) are both taken,
//! padding is optional, ASCII whitespace anywhere is ignored (line-wrapped output of the
//! `base64` tool works), and one leading `data:<type>;base64,` prefix is stripped (its
//! declared type is ignored). Anything else is refused. The text is decoded once.

use ::base64::Engine;
use ::base64::alphabet;
use ::base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// 14 MiB of base64 text at most (10 MiB decoded, S12).
pub const MAX_BASE64_LEN: usize = 14 * 1024 * 1024;

const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    #[error("image_base64 is empty")]
    Empty,
    #[error("image_base64 is larger than allowed")]
    TooLarge,
    #[error("image_base64 is not valid base64")]
    Invalid,
}

/// Decodes `text` per the stance above into at most `max_decoded` bytes.
pub fn decode_base64(text: &str, max_decoded: usize) -> Result<Vec<u8>, Base64Error> {
    let body = strip_data_prefix(text.trim_start());
    if body.len() > MAX_BASE64_LEN {
        return Err(Base64Error::TooLarge);
    }
    let needs_cleaning = body
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b == b'-' || b == b'_');
    let cleaned;
    let input: &[u8] = if needs_cleaning {
        cleaned = body
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|b| match b {
                b'-' => b'+',
                b'_' => b'/',
                other => other,
            })
            .collect::<Vec<u8>>();
        &cleaned
    } else {
        body.as_bytes()
    };
    if input.is_empty() {
        return Err(Base64Error::Empty);
    }
    // Refuse before allocating when the text alone proves the result is too big.
    let unpadded = input.len() - input.iter().rev().take_while(|b| **b == b'=').count();
    if unpadded / 4 * 3 + (unpadded % 4).saturating_sub(1) > max_decoded {
        return Err(Base64Error::TooLarge);
    }
    let decoded = LENIENT_STANDARD
        .decode(input)
        .map_err(|_| Base64Error::Invalid)?;
    if decoded.is_empty() {
        return Err(Base64Error::Empty);
    }
    Ok(decoded)
}

fn strip_data_prefix(text: &str) -> &str {
    let Some(head) = text.get(..5) else {
        return text;
    };
    if !head.eq_ignore_ascii_case("data:") {
        return text;
    }
    // Only look for the comma near the start: a media type is short. The window is cut in
    // bytes (a character may straddle its end); the comma is ASCII, so slicing after it is
    // always on a character boundary.
    let window = &text.as_bytes()[..text.len().min(256)];
    match window.iter().position(|&b| b == b',') {
        Some(comma) if window[..comma].to_ascii_lowercase().ends_with(b";base64") => {
            &text[comma + 1..]
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    /// Found by the `base64_intake` fuzz target: a `data:` prefix whose 256th byte falls
    /// inside a multi-byte character panicked on a string slice (S13: nothing panics).
    #[test]
    fn s13_a_data_prefix_cut_inside_a_character_is_not_a_panic() {
        for pad in 240..260 {
            let text = format!("data:{}\u{85}\u{85}é,AAAA", "x".repeat(pad));
            assert_eq!(
                decode_base64(&text, 1 << 20),
                Err(Base64Error::Invalid),
                "{pad}"
            );
        }
        let crash = include_bytes!(
            "../../../fuzz/corpus/base64_intake/36129eea8be8d47f1948211d3fb72ccea9a3cdc4"
        );
        if let Ok(text) = std::str::from_utf8(crash) {
            let _ = decode_base64(text, 1 << 20);
        }
    }

    #[test]
    fn s12_accepts_the_documented_spellings() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let standard = STANDARD.encode(&bytes);
        assert_eq!(decode_base64(&standard, 2000).unwrap(), bytes);
        let url_safe = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(decode_base64(&url_safe, 2000).unwrap(), bytes);
        let wrapped: String = standard
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(decode_base64(&wrapped, 2000).unwrap(), bytes);
        let data_url = format!("data:image/png;base64,{standard}");
        assert_eq!(decode_base64(&data_url, 2000).unwrap(), bytes);
        let unpadded = standard.trim_end_matches('=');
        assert_eq!(decode_base64(unpadded, 2000).unwrap(), bytes);
    }

    #[test]
    fn s12_refuses_bad_text_and_oversize_before_decoding() {
        assert_eq!(decode_base64("", 10), Err(Base64Error::Empty));
        assert_eq!(
            decode_base64("data:image/png;base64,", 10),
            Err(Base64Error::Empty)
        );
        assert_eq!(decode_base64("not*base64!", 100), Err(Base64Error::Invalid));
        assert_eq!(decode_base64("QUJD=x", 100), Err(Base64Error::Invalid));
        assert_eq!(
            decode_base64(&STANDARD.encode([0u8; 100]), 99),
            Err(Base64Error::TooLarge)
        );
        assert!(decode_base64(&STANDARD.encode([0u8; 100]), 100).is_ok());
        assert_eq!(
            decode_base64(&"A".repeat(MAX_BASE64_LEN + 4), usize::MAX),
            Err(Base64Error::TooLarge)
        );
    }
}
