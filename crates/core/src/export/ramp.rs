//! The 50..950 colour ramp of a token for the Tailwind formats, built around the colour itself:
//! the step whose lightness is nearest the colour's own IS the colour, so `DEFAULT` is a step.
//!
//! The other steps keep the colour's OKLCH hue and take fixed lightnesses, with a chroma that
//! peaks mid-ramp and fades towards the ends (like hand-made scales), fitted into sRGB.

use crate::color::{Oklab, in_srgb_gamut, oklab_to_rgb, rgb_to_oklab};

/// Ramp steps with their OKLCH lightness and chroma factor.
pub(crate) const STEPS: [(u16, f64, f64); 11] = [
    (50, 0.971, 0.12),
    (100, 0.936, 0.25),
    (200, 0.885, 0.45),
    (300, 0.808, 0.7),
    (400, 0.711, 0.9),
    (500, 0.627, 1.0),
    (600, 0.550, 1.0),
    (700, 0.485, 0.9),
    (800, 0.422, 0.75),
    (900, 0.372, 0.6),
    (950, 0.280, 0.45),
];

/// Largest chroma <= `c` at (l, h) that sRGB can show, by bisection.
fn fit_chroma(l: f64, c: f64, h: f64) -> f64 {
    if in_srgb_gamut(Oklab::from_lch(l, c, h)) {
        return c;
    }
    let (mut lo, mut hi) = (0.0, c);
    for _ in 0..24 {
        let mid = (lo + hi) / 2.0;
        if in_srgb_gamut(Oklab::from_lch(l, mid, h)) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Index in [`STEPS`] of the step nearest in lightness to `l` (ties: the lighter step).
fn nearest_step(l: f64) -> usize {
    let mut best = 0;
    for (i, &(_, step_l, _)) in STEPS.iter().enumerate() {
        if (step_l - l).abs() < (STEPS[best].1 - l).abs() {
            best = i;
        }
    }
    best
}

/// The ramp of `rgb`: eleven `(step, colour)` pairs from 50 (lightest) to 950, one of which is
/// `rgb` itself. Lightness falls strictly along the ramp.
pub(crate) fn ramp(rgb: [u8; 3]) -> [(u16, [u8; 3]); 11] {
    let [l, c, h] = rgb_to_oklab(rgb).to_lch();
    let own = nearest_step(l);
    // The colour sits at its own step with its own chroma; the peak is scaled from there. A
    // pale colour near the light end would give a washed-out ramp if its chroma were the
    // peak, so the scaling is bounded (at most 2.5x).
    let peak = c / STEPS[own].2.max(0.4);
    let mut out = [(0u16, [0u8; 3]); 11];
    for (i, &(step, step_l, factor)) in STEPS.iter().enumerate() {
        let colour = if i == own {
            rgb
        } else {
            let c = fit_chroma(step_l, peak * factor, h);
            oklab_to_rgb(Oklab::from_lch(step_l, c, h))
        };
        out[i] = (step, colour);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_colour_is_its_nearest_step() {
        for (rgb, step) in [
            ([255, 255, 255], 50),
            ([0x25, 0x63, 0xeb], 600),
            ([0x11, 0x18, 0x27], 950),
            ([0x93, 0xc5, 0xfd], 300),
        ] {
            let r = ramp(rgb);
            let at: Vec<u16> = r
                .iter()
                .filter(|(_, c)| *c == rgb)
                .map(|(s, _)| *s)
                .collect();
            assert_eq!(at, [step], "{rgb:?}");
        }
    }

    #[test]
    fn lightness_falls_along_every_ramp() {
        for v in (0..=255u8).step_by(15) {
            for rgb in [[v, 40, 200], [250, v, 10], [v, v, v], [10, 200, v]] {
                let ls: Vec<f64> = ramp(rgb).iter().map(|(_, c)| rgb_to_oklab(*c).l).collect();
                assert!(ls.windows(2).all(|w| w[0] > w[1]), "{rgb:?}: {ls:?}");
            }
        }
    }
}
