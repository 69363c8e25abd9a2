//! S13 image intake: format allowlist by sniffing, limits checked from the header before any
//! pixel allocation, corrupt input is a typed error, transparency and orientation handled.

use copythat_core::synth;
use copythat_core::{
    DecodedImage, Error, ImageFormat, Limits, decode, extract, extract_palette, sniff,
};

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG whose header declares `w x h` RGB, followed by ~300 KB of IDAT filler.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &vec![0u8; 300 * 1024]);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

fn solid(w: u32, h: u32, rgba: [u8; 4]) -> DecodedImage {
    let px = rgba.repeat((w * h) as usize);
    DecodedImage::from_rgba(w, h, ImageFormat::Png, px).unwrap()
}

#[test]
fn s13_png_bomb_declaring_10000x10000_is_refused_from_the_header() {
    let bomb = png_declaring(10_000, 10_000);
    assert!(bomb.len() > 300 * 1024 && bomb.len() < Limits::default().max_bytes);
    match decode(&bomb, &Limits::default()) {
        Err(Error::TooLarge { reason }) => assert!(reason.contains("10000x10000"), "{reason}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn s13_width_and_height_limits_apply_separately() {
    let limits = Limits {
        max_width: 1000,
        max_height: 1000,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&png_declaring(1001, 10), &limits),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        decode(&png_declaring(10, 1001), &limits),
        Err(Error::TooLarge { .. })
    ));
    let limits = Limits {
        max_pixels: 100,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&png_declaring(11, 10), &limits),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn s13_jpeg_gif_and_webp_bombs_are_refused_from_the_header() {
    // JPEG: a real small file whose SOF0 is patched to declare 30000x30000.
    let mut jpeg = synth::encode_jpeg(&synth::photo(16, 16));
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&30_000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&30_000u16.to_be_bytes());
    // GIF: a real small file whose logical screen is patched to 65535x65535.
    let mut gif = Vec::new();
    {
        use image::ImageEncoder;
        let small = synth::flat(16, 16);
        image::codecs::gif::GifEncoder::new(&mut gif)
            .write_image(&small.rgba, 16, 16, image::ExtendedColorType::Rgba8)
            .unwrap();
    }
    gif[6..10].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    // WebP: a real lossless file whose VP8L header is patched to 8000x8000 (64 MP).
    let mut webp = Vec::new();
    {
        use image::ImageEncoder;
        let small = synth::flat(16, 16);
        image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
            .write_image(&small.rgba, 16, 16, image::ExtendedColorType::Rgba8)
            .unwrap();
    }
    assert_eq!(&webp[12..16], b"VP8L");
    let dims: u32 = 7999 | (7999 << 14);
    let b = dims.to_le_bytes();
    webp[21..24].copy_from_slice(&b[..3]);
    webp[24] = (webp[24] & 0xF0) | b[3];
    for (name, bytes) in [("jpeg", jpeg), ("gif", gif), ("webp", webp)] {
        match decode(&bytes, &Limits::default()) {
            Err(Error::TooLarge { .. }) => {}
            other => panic!("{name}: expected TooLarge, got {other:?}"),
        }
    }
}

#[test]
fn s13_input_over_the_byte_limit_is_refused_before_sniffing() {
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&[0u8; 101], &limits),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn s13_svg_and_other_formats_are_unsupported() {
    let cases: [(&[u8], Option<&str>); 7] = [
        (
            b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            Some("svg"),
        ),
        (b"  <svg width=\"10\" height=\"10\"></svg>", Some("svg")),
        (b"BM\x3a\x00\x00\x00\x00\x00", Some("bmp")),
        (b"II*\x00\x08\x00\x00\x00", Some("tiff")),
        (b"hello, this is text", Some("text")),
        (b"", Some("empty")),
        (b"\x00\x01\x02\x03\xfe", None),
    ];
    for (bytes, detected) in cases {
        match decode(bytes, &Limits::default()) {
            Err(Error::UnsupportedFormat { detected: d }) => assert_eq!(d, detected),
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        }
    }
}

#[test]
fn s13_format_comes_from_the_bytes() {
    let png = synth::encode_png(&synth::flat(64, 48));
    let jpeg = synth::encode_jpeg(&synth::photo(64, 48));
    assert_eq!(sniff(&png).unwrap(), ImageFormat::Png);
    assert_eq!(sniff(&jpeg).unwrap(), ImageFormat::Jpeg);
    let img = decode(&jpeg, &Limits::default()).unwrap();
    assert_eq!(
        (img.width, img.height, img.format),
        (64, 48, ImageFormat::Jpeg)
    );
    assert_eq!(img.rgba.len(), 64 * 48 * 4);
    assert_eq!(
        serde_json::to_string(&ImageFormat::WebP).unwrap(),
        "\"webp\""
    );
    assert_eq!(ImageFormat::Jpeg.as_str(), "jpeg");
}

#[test]
fn s13_truncated_and_corrupt_files_are_typed_errors() {
    let png = synth::encode_png(&synth::photo(64, 48));
    for cut in [8, 20, 33, png.len() / 2, png.len() - 13] {
        match decode(&png[..cut], &Limits::default()) {
            Err(Error::Corrupt { reason }) => {
                assert!(!reason.contains('/'), "no paths in messages: {reason}");
            }
            other => panic!("cut at {cut}: expected Corrupt, got {other:?}"),
        }
    }
    let mut bad_crc = png.clone();
    bad_crc[30] ^= 0xFF;
    assert!(matches!(
        decode(&bad_crc, &Limits::default()),
        Err(Error::Corrupt { .. })
    ));
    let jpeg = synth::encode_jpeg(&synth::photo(64, 48));
    assert!(decode(&jpeg[..40], &Limits::default()).is_err());
}

#[test]
fn s13_gif_first_frame_and_webp_decode() {
    use image::ImageEncoder;
    let img = synth::flat(40, 30);
    let mut gif = Vec::new();
    image::codecs::gif::GifEncoder::new(&mut gif)
        .write_image(&img.rgba, 40, 30, image::ExtendedColorType::Rgba8)
        .unwrap();
    let d = decode(&gif, &Limits::default()).unwrap();
    assert_eq!((d.width, d.height, d.format), (40, 30, ImageFormat::Gif));
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(&img.rgba, 40, 30, image::ExtendedColorType::Rgba8)
        .unwrap();
    let d = decode(&webp, &Limits::default()).unwrap();
    assert_eq!(d.format, ImageFormat::WebP);
    assert_eq!(d.rgba, img.rgba, "lossless WebP round-trips");
}

/// Insert an EXIF APP1 segment with the given orientation right after the JPEG SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\x00\x08\x00\x00\x00".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one IFD entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn s13_exif_orientation_is_applied() {
    let jpeg = synth::encode_jpeg(&synth::photo(40, 20));
    let upright = decode(&with_exif_orientation(&jpeg, 1), &Limits::default()).unwrap();
    assert_eq!((upright.width, upright.height), (40, 20));
    let rotated = decode(&with_exif_orientation(&jpeg, 6), &Limits::default()).unwrap();
    assert_eq!((rotated.width, rotated.height), (20, 40));
    // Rotation moves pixels, it does not change which colours there are.
    let a = extract_palette(&upright, 4).unwrap();
    let b = extract_palette(&rotated, 4).unwrap();
    assert_eq!(a, b);
}

#[test]
fn fully_transparent_pixels_do_not_vote() {
    let mut img = solid(10, 10, [0, 0, 255, 255]);
    for px in img.rgba.chunks_exact_mut(4).take(90) {
        px.copy_from_slice(&[255, 0, 0, 0]);
    }
    let p = extract_palette(&img, 8).unwrap();
    assert_eq!(p.colors.len(), 1);
    assert_eq!(p.colors[0].hex, "#0000ff");
    assert_eq!(p.colors[0].share, 1.0);
    let empty = solid(4, 4, [10, 20, 30, 0]);
    assert!(extract_palette(&empty, 8).unwrap().colors.is_empty());
}

#[test]
fn extract_checks_max_colors_before_decoding() {
    assert!(matches!(
        extract(b"not an image", &Limits::default(), 0),
        Err(Error::InvalidMaxColors(0))
    ));
    assert!(matches!(
        extract(b"", &Limits::default(), 51),
        Err(Error::InvalidMaxColors(51))
    ));
    let png = synth::encode_png(&synth::flat(64, 48));
    let (img, palette) = extract(&png, &Limits::default(), 8).unwrap();
    assert_eq!((img.width, img.height), (64, 48));
    assert_eq!(palette.colors.len(), 6);
}

#[test]
fn error_messages_describe_the_input_only() {
    let msgs = [
        decode(b"<svg/>", &Limits::default())
            .unwrap_err()
            .to_string(),
        decode(&png_declaring(10_000, 10_000), &Limits::default())
            .unwrap_err()
            .to_string(),
        decode(b"\x89PNG\r\n\x1a\n\x00", &Limits::default())
            .unwrap_err()
            .to_string(),
        Error::InvalidMaxColors(99).to_string(),
    ];
    for m in msgs {
        assert!(
            !m.contains("src/") && !m.contains(".rs") && !m.contains("image::"),
            "{m}"
        );
    }
}
