//! Solid-colour peaks: flat fills (buttons, badges) that must keep a palette slot even
//! when k-means spends its slots elsewhere, unless they are blends of heavier fills.

use super::histogram::{Histogram, Point};
use super::kmeans::{nearest, nearest_two};
use crate::color::{Oklab, linear_to_oklab, rgb_to_oklab, srgb_f64_to_linear};

/// A flat colour (a button, a badge) covering at least this share of the image is a
/// candidate for a guaranteed palette slot...
const PEAK_MIN_SHARE: f64 = 0.0005;
/// ... if that one exact colour is the clear majority of its bin (a solid fill, not a
/// slice of a gradient or of noise: photos have no such peaks, so they are untouched) ...
const PEAK_DOMINANCE: f64 = 0.5;
/// ... and if no palette colour is within this OKLab distance of it.
const RESCUE_DISTANCE: f64 = 0.06;

/// Blends closer than this (OKLab) to a mix of two heavier solid colours are taken for
/// anti-aliasing or translucency between them, not for a colour of their own.
const BLEND_TOLERANCE: f64 = 0.02;

/// Solid-colour peaks: exact colours that dominate their bin and cover enough pixels,
/// heaviest first.
pub(super) fn solid_peaks(hist: &Histogram, total: f64) -> Vec<(Point, [u8; 3])> {
    let mut peaks: Vec<(Point, [u8; 3])> = hist
        .points
        .iter()
        .filter_map(|p| {
            let (rgb, margin) = hist.votes[p.bin as usize];
            let margin = margin as f64;
            (margin >= PEAK_MIN_SHARE * total && margin >= PEAK_DOMINANCE * p.weight).then(|| {
                let [r, g, b, _] = rgb.to_le_bytes();
                let point = Point {
                    lab: rgb_to_oklab([r, g, b]),
                    weight: margin,
                    bin: p.bin,
                };
                (point, [r, g, b])
            })
        })
        .collect();
    peaks.sort_by(|a, b| {
        b.0.weight
            .total_cmp(&a.0.weight)
            .then(a.0.bin.cmp(&b.0.bin))
    });
    peaks
}

/// Whether `c` is (nearly) a mix of `a` and `b`: what anti-aliased edges and translucent
/// overlays produce. Renderers blend either in linear light or, more often, directly on
/// the sRGB values, so both are tried.
pub(super) fn is_blend(c: [u8; 3], a: [u8; 3], b: [u8; 3]) -> bool {
    let lin = |v: [u8; 3]| v.map(crate::color::srgb_u8_to_linear);
    let enc = |v: [u8; 3]| v.map(|x| f64::from(x) / 255.0);
    let target = rgb_to_oklab(c);
    let near_segment =
        |c: [f64; 3], a: [f64; 3], b: [f64; 3], to_lab: &dyn Fn([f64; 3]) -> Oklab| {
            let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
            let len2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
            if len2 <= 0.0 {
                return false;
            }
            let t = ((c[0] - a[0]) * ab[0] + (c[1] - a[1]) * ab[1] + (c[2] - a[2]) * ab[2]) / len2;
            let t = t.clamp(0.0, 1.0);
            let mix = [0, 1, 2].map(|k| a[k] + t * ab[k]);
            to_lab(mix).distance(target) < BLEND_TOLERANCE
        };
    let from_linear = |m: [f64; 3]| linear_to_oklab(m[0], m[1], m[2]);
    let from_encoded = |m: [f64; 3]| {
        let l = m.map(|x| srgb_f64_to_linear(x * 255.0));
        linear_to_oklab(l[0], l[1], l[2])
    };
    near_segment(lin(c), lin(a), lin(b), &from_linear)
        || near_segment(enc(c), enc(a), enc(b), &from_encoded)
}

/// The peaks that are colours in their own right: not blends of two heavier peaks.
pub(super) fn distinct_peaks(peaks: &[(Point, [u8; 3])]) -> Vec<Point> {
    let mut out = Vec::new();
    for (i, (p, rgb)) in peaks.iter().enumerate() {
        let heavier = &peaks[..i];
        let blend = heavier
            .iter()
            .enumerate()
            .any(|(j, (_, a))| heavier[j + 1..].iter().any(|(_, b)| is_blend(*rgb, *a, *b)));
        if !blend {
            out.push(*p);
        }
    }
    out
}

/// Give every distinct solid colour its own slot when k-means spent its slots on
/// anti-aliasing in-betweens: the most costly unrepresented peak replaces the centre
/// whose removal costs the least, unless that centre is itself a more important peak.
/// This is why a 2% brand colour on a white page survives at k=8.
pub(super) fn rescue_peaks(
    points: &[Point],
    peaks: &[Point],
    centers: &mut [Oklab],
    pinned: &mut [bool],
) -> bool {
    let mut changed = false;
    for _ in 0..centers.len() {
        // The unrepresented peak that costs most: weight x distance. Costs here are linear
        // in distance, like the quality metric, so a large near-white panel (cheap in
        // squared terms) is not traded for a small accent.
        let Some((peak, peak_cost)) = peaks
            .iter()
            .map(|p| (p, nearest(centers, p.lab).1))
            .filter(|&(_, d2)| d2 > RESCUE_DISTANCE * RESCUE_DISTANCE)
            .map(|(p, d2)| (p, p.weight * d2.sqrt()))
            .fold(None, |best: Option<(&Point, f64)>, x| match best {
                Some(b) if b.1 >= x.1 => Some(b),
                _ => Some(x),
            })
        else {
            break;
        };
        if centers.len() < 2 {
            break;
        }
        // Removal cost of each centre: its points move to their second-nearest centre.
        let mut removal = vec![0.0; centers.len()];
        for p in points {
            let (i1, d1, d2) = nearest_two(centers, p.lab);
            removal[i1] += p.weight * (d2.sqrt() - d1.sqrt());
        }
        // A centre sitting on a peak is protected by that peak's own importance.
        let protection = |c: Oklab| -> f64 {
            peaks
                .iter()
                .filter(|q| q.lab.distance_sq(c) <= RESCUE_DISTANCE * RESCUE_DISTANCE)
                .map(|q| {
                    let others = centers
                        .iter()
                        .filter(|o| o.distance_sq(c) > 0.0)
                        .map(|o| o.distance(q.lab))
                        .fold(f64::INFINITY, f64::min);
                    q.weight * others
                })
                .fold(0.0, f64::max)
        };
        let victim = (0..centers.len())
            .filter(|&i| protection(centers[i]) < peak_cost)
            .fold(None, |best: Option<usize>, i| match best {
                Some(b) if removal[b] <= removal[i] => Some(b),
                _ => Some(i),
            });
        let Some(v) = victim else { break };
        centers[v] = peak.lab;
        pinned[v] = true;
        changed = true;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blends_of_heavier_colours_are_not_distinct() {
        let white = [255, 255, 255];
        let ink = [17, 24, 39];
        // 50% coverage of ink over white, mixed in linear light.
        let mid = [0, 1, 2].map(|k| {
            crate::color::linear_to_srgb_u8(
                (crate::color::srgb_u8_to_linear(white[k])
                    + crate::color::srgb_u8_to_linear(ink[k]))
                    / 2.0,
            )
        });
        assert!(is_blend(mid, white, ink));
        assert!(!is_blend([0x25, 0x63, 0xeb], white, ink));
    }
}
