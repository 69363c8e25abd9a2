//! copythat-core: turns image bytes into a colour palette and design tokens.
//! Pure and synchronous: no network, no database, no async runtime.
//!
//! The path of an upload: [`decode`] (format sniffed, limits checked from the header,
//! control S13) -> [`extract_palette`] (one pass into a histogram, k-means in OKLab over
//! its bins, solid accents kept, near-duplicates merged) -> annotated [`ColorToken`]s with
//! suggested [`Role`]s -> [`export()`] in one of five token formats. [`extract`] does the
//! first two steps at once; [`quality`] measures a palette against its image.
//!
//! [`url_policy`] decides which image URLs and addresses the server may fetch from (S14);
//! it only parses and classifies, it never resolves or connects.
//!
//! Determinism: the same pixels give the same palette on every run and machine. The
//! quantizer uses fixed seeds, sums in a fixed order, no hash-map iteration, and only
//! IEEE-exact float operations (tabulated sRGB curve, Newton cube root). The one use of
//! threads, tallying a large image's two fixed halves at once, merges integer counts and
//! gives the same result on one thread.
#![forbid(unsafe_code)]

pub mod base64;
pub mod check;
pub mod color;
pub mod export;
pub mod image;
pub mod naming;
pub mod quantize;
pub mod roles;
pub mod synth;
pub mod tokens;
pub mod url_policy;

pub use crate::check::{
    CheckReport, DEFAULT_TOLERANCE, OffPalette, PaletteColor, TokenCoverage, check,
    palette_from_tokens_file,
};
pub use crate::color::{annotate, contrast_ratio, parse_hex, to_hex};
pub use crate::export::{ExportFormat, ExportToken, export};
pub use crate::image::{DecodedImage, ImageFormat, Limits, decode, sniff};
pub use crate::quantize::{MAX_COLORS, Quality, extract_palette, quality, quality_of_colors};
pub use crate::tokens::{ColorToken, Palette, Role, WcagFlags};

/// Everything that can go wrong between image bytes and a palette.
///
/// Messages describe the input, never the decoder's internals (paths, library names),
/// because the server may show them to the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not one of PNG, JPEG, WebP or GIF (SVG, BMP, TIFF, text, empty input...).
    #[error("unsupported image format{}", detected.map(|d| format!(" ({d})")).unwrap_or_default())]
    UnsupportedFormat { detected: Option<&'static str> },
    /// Over a byte, width, height, pixel or allocation limit.
    #[error("image too large: {reason}")]
    TooLarge { reason: String },
    /// Truncated, corrupt or otherwise undecodable data.
    #[error("image could not be decoded: {reason}")]
    Corrupt { reason: String },
    /// `max_colors` outside `1..=50`.
    #[error("max_colors must be between 1 and 50, got {0}")]
    InvalidMaxColors(usize),
    /// A drift check was given no palette colours.
    #[error("the palette is empty: give at least one colour")]
    EmptyPalette,
    /// A drift check was given more colours than it compares (see [`check::MAX_PALETTE_COLORS`]).
    #[error("the palette has {0} colours, at most {max} can be checked", max = check::MAX_PALETTE_COLORS)]
    TooManyPaletteColors(usize),
    /// A palette colour whose value is not a hex colour (`index` counts from 0).
    #[error("palette colour {name:?} is not a hex colour such as #1a2b3c")]
    InvalidPaletteColor { index: usize, name: String },
    /// A drift-check tolerance that is not a number above 0 and at most 1.
    #[error("tolerance must be an OKLab distance above 0 and at most 1, got {0}")]
    InvalidTolerance(f64),
    /// A tokens file that is not DTCG, Style Dictionary JSON or CSS custom properties, or
    /// holds a colour that cannot be read.
    #[error("tokens file: {reason}")]
    InvalidTokensFile { reason: String },
}

/// Decode `bytes` under `limits` and extract up to `max_colors` colours.
///
/// `max_colors` is checked before any decoding so a bad request costs nothing.
pub fn extract(
    bytes: &[u8],
    limits: &Limits,
    max_colors: usize,
) -> Result<(DecodedImage, Palette), Error> {
    quantize::check_max_colors(max_colors)?;
    let img = decode(bytes, limits)?;
    let palette = extract_palette(&img, max_colors)?;
    Ok((img, palette))
}
