//! How well a palette represents its image: mean and 95th-percentile OKLab distance of
//! every pixel to its nearest palette colour. A measurement, not part of extraction.

use super::kmeans::nearest;
use crate::color::{Oklab, rgb_to_oklab};
use crate::image::DecodedImage;
use crate::tokens::Palette;

/// How well a palette represents an image: OKLab distance x 100 from every non-transparent
/// pixel to its nearest palette colour.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quality {
    pub mean: f64,
    /// 95th percentile (resolution 0.001).
    pub p95: f64,
}

/// Quality of `palette` on the full image (a measurement pass, not part of extraction).
pub fn quality(img: &DecodedImage, palette: &Palette) -> Quality {
    let colors: Vec<[u8; 3]> = palette.colors.iter().map(|c| c.rgb).collect();
    quality_of_colors(img, &colors)
}

/// [`quality`] for a bare list of colours (used to score other quantizers the same way).
pub fn quality_of_colors(img: &DecodedImage, colors: &[[u8; 3]]) -> Quality {
    let centers: Vec<Oklab> = colors.iter().map(|&c| rgb_to_oklab(c)).collect();
    if centers.is_empty() {
        return Quality::default();
    }
    // Distances x100 are bucketed at 0.001 up to 200 (beyond the widest OKLab distance),
    // which gives the percentile without storing one float per pixel.
    const RES: f64 = 1000.0;
    let mut buckets = vec![0u64; 200_001];
    let mut sum = 0.0;
    let mut n = 0u64;
    // Neighbouring pixels repeat a lot; a one-entry cache skips most conversions.
    let mut last: Option<([u8; 3], f64)> = None;
    for px in img.rgba.chunks_exact(4) {
        if px[3] == 0 {
            continue;
        }
        let rgb = [px[0], px[1], px[2]];
        let d = match last {
            Some((c, d)) if c == rgb => d,
            _ => {
                let d = nearest(&centers, rgb_to_oklab(rgb)).1.sqrt() * 100.0;
                last = Some((rgb, d));
                d
            }
        };
        sum += d;
        n += 1;
        let last_bucket = buckets.len() - 1;
        buckets[((d * RES) as usize).min(last_bucket)] += 1;
    }
    if n == 0 {
        return Quality::default();
    }
    let rank = (n as f64 * 0.95).ceil() as u64;
    let mut acc = 0;
    let mut p95 = 0.0;
    for (i, &c) in buckets.iter().enumerate() {
        acc += c;
        if acc >= rank {
            p95 = i as f64 / RES;
            break;
        }
    }
    Quality {
        mean: sum / n as f64,
        p95,
    }
}
