//! Safe image intake (control S13): bytes -> RGBA8 pixels under hard limits.
//! The format is sniffed from the bytes and the header is checked before any pixel is decoded.

use std::io::Cursor;

use image::{ImageDecoder, ImageReader};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Hard limits applied to every image before its pixels are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Size of the encoded input.
    pub max_bytes: usize,
    /// Width x height.
    pub max_pixels: u64,
    pub max_width: u32,
    pub max_height: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_pixels: 40_000_000,
            max_width: 20_000,
            max_height: 20_000,
        }
    }
}

/// The only formats accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
    WebP,
    Gif,
}

impl ImageFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::WebP => "webp",
            Self::Gif => "gif",
        }
    }

    fn to_image_crate(self) -> image::ImageFormat {
        match self {
            Self::Png => image::ImageFormat::Png,
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::WebP => image::ImageFormat::WebP,
            Self::Gif => image::ImageFormat::Gif,
        }
    }
}

impl std::fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded image: straight (not premultiplied) RGBA8, row-major, EXIF orientation applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedImage {
    pub width: u32,
    pub height: u32,
    pub format: ImageFormat,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

impl DecodedImage {
    /// Wrap raw RGBA8 pixels (synthetic images, tests). `None` if the length does not match.
    pub fn from_rgba(width: u32, height: u32, format: ImageFormat, rgba: Vec<u8>) -> Option<Self> {
        let expected = (width as usize)
            .checked_mul(height as usize)?
            .checked_mul(4)?;
        (rgba.len() == expected).then_some(Self {
            width,
            height,
            format,
            rgba,
        })
    }

    pub fn pixel_count(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Identify the format from the leading bytes alone (never from a name or a declared type).
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat, Error> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(ImageFormat::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageFormat::Jpeg);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Ok(ImageFormat::Gif);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok(ImageFormat::WebP);
    }
    Err(Error::UnsupportedFormat {
        detected: identify_refused(bytes),
    })
}

/// Name a refused format when it is recognisable, so the error can say what was sent.
fn identify_refused(bytes: &[u8]) -> Option<&'static str> {
    if bytes.is_empty() {
        return Some("empty");
    }
    let head = &bytes[..bytes.len().min(512)];
    let text = head
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(head);
    let trimmed = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |i| &text[i..]);
    let lower: Vec<u8> = trimmed.iter().map(u8::to_ascii_lowercase).collect();
    let contains = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if lower.starts_with(b"<svg") || (lower.starts_with(b"<") && contains(b"<svg")) {
        return Some("svg");
    }
    if bytes.starts_with(b"BM") {
        return Some("bmp");
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return Some("tiff");
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return match &bytes[8..12] {
            b"avif" | b"avis" => Some("avif"),
            b"heic" | b"heix" | b"mif1" | b"msf1" => Some("heif"),
            _ => Some("iso-media"),
        };
    }
    if bytes.starts_with(b"%PDF") {
        return Some("pdf");
    }
    if bytes.starts_with(&[0, 0, 1, 0]) {
        return Some("ico");
    }
    if bytes.starts_with(b"RIFF") {
        return Some("riff");
    }
    if lower.starts_with(b"<") {
        return Some("markup");
    }
    if head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        return Some("text");
    }
    None
}

/// What decoding an image will cost, read from its header alone (S18): the server admits
/// each decode against a shared memory budget before any pixel is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodePlan {
    pub format: ImageFormat,
    /// As stored, before the EXIF orientation is applied.
    pub width: u32,
    pub height: u32,
    /// The most memory the decode and the extraction after it can hold at once, in
    /// bytes, including the encoded input.
    pub peak_bytes: u64,
}

/// Working memory of the quantizer beside the pixels (histogram tables, bins, centres),
/// a fixed amount whatever the image size.
const QUANTIZE_OVERHEAD: u64 = 24 << 20;

/// Bytes per pixel a decoder may hold beside its output: the WebP lossless decoder keeps
/// an ARGB word per pixel while it undoes its transforms, JPEG its component planes, GIF
/// its index buffer. PNG decodes into its output directly.
fn decoder_scratch_per_pixel(format: ImageFormat) -> u64 {
    match format {
        ImageFormat::Png => 0,
        ImageFormat::Jpeg => 3,
        ImageFormat::WebP => 4,
        ImageFormat::Gif => 1,
    }
}

/// The peak of [`decode`] plus extraction, for an image of `pixels` whose decoder output
/// takes `native` bytes. Phases, each freeing the previous one's buffers: the decoder's
/// output and scratch; conversion to RGBA8 beside the output; orientation copying the
/// RGBA8 buffer; extraction reading it.
fn peak_bytes(format: ImageFormat, pixels: u64, native: u64, converts: bool, orients: bool) -> u64 {
    let rgba = pixels.saturating_mul(4);
    let decoding = native.saturating_add(pixels.saturating_mul(decoder_scratch_per_pixel(format)));
    let converting = if converts {
        native.saturating_add(rgba)
    } else {
        0
    };
    let orienting = if orients { rgba.saturating_mul(2) } else { 0 };
    decoding
        .max(converting)
        .max(orienting)
        .max(rgba)
        .saturating_add(QUANTIZE_OVERHEAD)
}

/// The largest [`DecodePlan::peak_bytes`] any accepted image of at most `max_pixels` can
/// have, input bytes aside: a 16-bit RGBA PNG (8 bytes a pixel) converted to RGBA8.
pub fn worst_case_decode_bytes(max_pixels: u64) -> u64 {
    [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::WebP,
        ImageFormat::Gif,
    ]
    .into_iter()
    .map(|format| {
        let native = max_pixels.saturating_mul(if format == ImageFormat::Png { 8 } else { 4 });
        peak_bytes(format, max_pixels, native, true, true)
    })
    .max()
    .unwrap_or(0)
}

/// Reads the header of `bytes` under `limits` and says what decoding it will cost,
/// without decoding any pixel. Refuses what [`decode`] would refuse from the header.
pub fn plan_decode(bytes: &[u8], limits: &Limits) -> Result<DecodePlan, Error> {
    let (mut decoder, format) = open_decoder(bytes, limits)?;
    let (width, height) = decoder.dimensions();
    let orients = decoder
        .orientation()
        .is_ok_and(|o| o != image::metadata::Orientation::NoTransforms);
    let converts = decoder.color_type() != image::ColorType::Rgba8;
    let pixels = u64::from(width) * u64::from(height);
    let peak = peak_bytes(format, pixels, decoder.total_bytes(), converts, orients);
    Ok(DecodePlan {
        format,
        width,
        height,
        peak_bytes: peak.saturating_add(bytes.len() as u64),
    })
}

/// The checks every decode starts with: byte size, then format, then the declared
/// dimensions from the header. Returns a decoder whose allocations are capped at what
/// this exact header needs.
fn open_decoder<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<(Box<dyn image::ImageDecoder + 'a>, ImageFormat), Error> {
    if bytes.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            reason: format!(
                "{} bytes exceeds the limit of {} bytes",
                bytes.len(),
                limits.max_bytes
            ),
        });
    }
    let format = sniff(bytes)?;

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image_crate());
    let mut coarse = image::Limits::default();
    coarse.max_image_width = Some(limits.max_width);
    coarse.max_image_height = Some(limits.max_height);
    // 8 bytes per pixel covers 16-bit RGBA, the widest layout these decoders produce.
    coarse.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(1 << 20));
    reader.limits(coarse);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| map_image_error(e, format))?;

    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;

    // Tighten the allocation budget to what this exact header needs.
    let needed = decoder.total_bytes();
    let mut tight = image::Limits::default();
    tight.max_image_width = Some(limits.max_width);
    tight.max_image_height = Some(limits.max_height);
    tight.max_alloc = Some(needed.saturating_mul(2).saturating_add(1 << 20));
    decoder
        .set_limits(tight)
        .map_err(|e| map_image_error(e, format))?;
    Ok((Box::new(decoder), format))
}

/// Decode `bytes` into RGBA8 under `limits`.
///
/// Order matters for S13: byte size, then format, then the declared dimensions from the
/// header; only then is the pixel buffer allocated. GIF yields its first frame; the EXIF
/// orientation of JPEG/WebP/PNG is applied so width/height match what a viewer shows.
/// Memory: see [`plan_decode`]; the image is converted to RGBA8 before it is turned, so
/// a wide (16-bit) layout is never copied.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<DecodedImage, Error> {
    let (mut decoder, format) = open_decoder(bytes, limits)?;
    // A bad orientation tag is not worth refusing the image for: fall back to as-stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| map_image_error(e, format))?;
    let mut img = image::DynamicImage::ImageRgba8(img.into_rgba8());
    img.apply_orientation(orientation);
    let rgba = img.into_rgba8();
    let (width, height) = rgba.dimensions();
    Ok(DecodedImage {
        width,
        height,
        format,
        rgba: rgba.into_raw(),
    })
}

fn check_dimensions(width: u32, height: u32, limits: &Limits) -> Result<(), Error> {
    if width == 0 || height == 0 {
        return Err(Error::Corrupt {
            reason: format!("the header declares an empty {width}x{height} image"),
        });
    }
    if width > limits.max_width || height > limits.max_height {
        return Err(Error::TooLarge {
            reason: format!(
                "{width}x{height} exceeds the limit of {}x{}",
                limits.max_width, limits.max_height
            ),
        });
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(Error::TooLarge {
            reason: format!(
                "{width}x{height} is {pixels} pixels, over the limit of {}",
                limits.max_pixels
            ),
        });
    }
    Ok(())
}

/// Translate decoder errors into input-level reasons; the decoder's own text is dropped
/// because it can name internals.
fn map_image_error(err: image::ImageError, format: ImageFormat) -> Error {
    use image::ImageError as E;
    use image::error::LimitErrorKind;
    match err {
        E::Limits(l) => match l.kind() {
            LimitErrorKind::DimensionError => Error::TooLarge {
                reason: format!("the {format} dimensions exceed the limits"),
            },
            _ => Error::TooLarge {
                reason: format!("decoding this {format} would exceed the memory limit"),
            },
        },
        E::Unsupported(_) => Error::Corrupt {
            reason: format!("the {format} uses a feature that is not supported"),
        },
        _ => Error::Corrupt {
            reason: format!("the {format} data is truncated or corrupt"),
        },
    }
}
