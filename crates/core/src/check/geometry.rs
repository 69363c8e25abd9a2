//! Where a colour stands against a palette, in OKLab: its nearest palette colour, and
//! whether it lies within the tolerance of a palette colour or of a blend of two.
//! The same questions asked of a whole histogram bin, answered when the answer is certain.

use crate::color::{
    LMS_FROM_LINEAR, OKLAB_FROM_LMS_ROOTS, Oklab, cbrt, linear_to_oklab, rgb_to_oklab,
    srgb_f64_to_linear, srgb_f64_to_linear_exact, srgb_linear_slope, srgb_u8_to_linear,
};

/// Pieces of each blend curve between two palette colours. The curves are replaced by
/// polylines through this many + 1 points, which stay within 0.007 of them for the
/// widest pairs (black to a saturated colour) and is what "near a blend" means here.
const CURVE_PIECES: usize = 16;

/// Rounding slack added to every bound, so a certain verdict for a bin is never contradicted
/// by the exact computation for one of its colours.
const SLACK: f64 = 1e-9;

/// A pixel's fate: on palette and counted for a palette colour, or off palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    On(u32),
    Off,
}

/// Blends of colours `a` and `b` as polylines in OKLab.
struct Pair {
    a: usize,
    b: usize,
    /// The longest of its polylines: no point within `r` of them lies farther than
    /// `length + 2r` from `a` and `b` together (the ellipse test that skips most pairs).
    length: f64,
    /// Its three polylines in [`Geometry::polylines`].
    polylines: std::ops::Range<usize>,
}

/// One blend curve: a range of [`Geometry::segments`] and its bounding box.
struct Polyline {
    segments: std::ops::Range<usize>,
    min: [f64; 3],
    max: [f64; 3],
}

impl Polyline {
    /// Squared distance from `p` to the bounding box (0 inside).
    fn box_distance_sq(&self, p: Oklab) -> f64 {
        let p = [p.l, p.a, p.b];
        (0..3)
            .map(|k| {
                let d = (self.min[k] - p[k]).max(p[k] - self.max[k]).max(0.0);
                d * d
            })
            .sum()
    }
}

/// Working memory of the distance queries, kept between them.
#[derive(Default)]
pub(super) struct Scratch {
    /// Distances to the palette colours.
    dist: Vec<f64>,
    /// Pairs to visit: lower bound of their distance, index.
    order: Vec<(f64, u32)>,
}

/// The palette in OKLab with every pair's blends, and the tolerance.
pub(super) struct Geometry {
    tokens: Vec<Oklab>,
    pairs: Vec<Pair>,
    polylines: Vec<Polyline>,
    segments: Vec<Segment>,
    tolerance: f64,
    /// The sRGB curve at every half step of 0..=255, and its slope at every step.
    curve_halves: Vec<f64>,
    curve_slopes: Vec<f64>,
}

/// One piece of a polyline, with what the distance test needs precomputed.
struct Segment {
    start: Oklab,
    /// End minus start, and its squared length.
    along: [f64; 3],
    length_sq: f64,
    /// Midpoint and half length: the segment lies in this ball.
    mid: Oklab,
    half: f64,
}

impl Segment {
    fn new(a: Oklab, b: Oklab) -> Self {
        let along = [b.l - a.l, b.a - a.a, b.b - a.b];
        Self {
            start: a,
            along,
            length_sq: along[0] * along[0] + along[1] * along[1] + along[2] * along[2],
            mid: Oklab {
                l: (a.l + b.l) / 2.0,
                a: (a.a + b.a) / 2.0,
                b: (a.b + b.b) / 2.0,
            },
            half: a.distance(b) / 2.0,
        }
    }

    fn distance_sq(&self, p: Oklab) -> f64 {
        let [dl, da, db] = self.along;
        let (pl, pa, pb) = (p.l - self.start.l, p.a - self.start.a, p.b - self.start.b);
        let t = if self.length_sq > 0.0 {
            ((pl * dl + pa * da + pb * db) / self.length_sq).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (el, ea, eb) = (pl - t * dl, pa - t * da, pb - t * db);
        el * el + ea * ea + eb * eb
    }
}

fn polyline_length(points: &[Oklab]) -> f64 {
    points.windows(2).map(|w| w[0].distance(w[1])).sum()
}

impl Geometry {
    /// `colors` are the palette in sRGB; `tolerance` an OKLab distance.
    pub(super) fn new(colors: &[[u8; 3]], tolerance: f64) -> Self {
        let tokens: Vec<Oklab> = colors.iter().map(|&c| rgb_to_oklab(c)).collect();
        let mut pairs = Vec::new();
        let mut polylines = Vec::new();
        let mut segments = Vec::new();
        let mut add = |points: &mut dyn Iterator<Item = Oklab>, polylines: &mut Vec<Polyline>| {
            let line: Vec<Oklab> = points.collect();
            let start = segments.len();
            segments.extend(line.windows(2).map(|w| Segment::new(w[0], w[1])));
            let coords = |p: &Oklab| [p.l, p.a, p.b];
            let (min, max) = line.iter().map(coords).fold(
                ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]),
                |(lo, hi), c| {
                    (
                        [0, 1, 2].map(|k| lo[k].min(c[k])),
                        [0, 1, 2].map(|k| hi[k].max(c[k])),
                    )
                },
            );
            let length = polyline_length(&line);
            polylines.push(Polyline {
                segments: start..segments.len(),
                min,
                max,
            });
            length
        };
        for a in 0..colors.len() {
            for b in a + 1..colors.len() {
                let first = polylines.len();
                // A straight line in OKLab (OKLab gradients, `color-mix(in oklab)`)...
                let mut length = add(&mut [tokens[a], tokens[b]].into_iter(), &mut polylines);
                // ... a mix of the sRGB values (most anti-aliasing, CSS gradients) ...
                let (ca, cb) = (colors[a].map(f64::from), colors[b].map(f64::from));
                let mut srgb = (0..=CURVE_PIECES).map(|i| {
                    let t = i as f64 / CURVE_PIECES as f64;
                    let mix = [0, 1, 2].map(|k| srgb_f64_to_linear(ca[k] + t * (cb[k] - ca[k])));
                    linear_to_oklab(mix[0], mix[1], mix[2])
                });
                length = length.max(add(&mut srgb, &mut polylines));
                // ... and a mix in linear light (gamma-correct renderers, image scaling).
                let (la, lb) = (
                    colors[a].map(srgb_u8_to_linear),
                    colors[b].map(srgb_u8_to_linear),
                );
                let mut linear = (0..=CURVE_PIECES).map(|i| {
                    let t = i as f64 / CURVE_PIECES as f64;
                    let mix = [0, 1, 2].map(|k| la[k] + t * (lb[k] - la[k]));
                    linear_to_oklab(mix[0], mix[1], mix[2])
                });
                length = length.max(add(&mut linear, &mut polylines));
                pairs.push(Pair {
                    a,
                    b,
                    length,
                    polylines: first..polylines.len(),
                });
            }
        }
        Self {
            tokens,
            pairs,
            polylines,
            segments,
            tolerance,
            curve_halves: (0..=510)
                .map(|i| srgb_f64_to_linear_exact(f64::from(i) / 2.0))
                .collect(),
            curve_slopes: (0..=255).map(|i| srgb_linear_slope(f64::from(i))).collect(),
        }
    }

    pub(super) fn token(&self, i: usize) -> Oklab {
        self.tokens[i]
    }

    /// Distances from `p` to every palette colour.
    fn distances(&self, p: Oklab, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.tokens.iter().map(|t| t.distance(p)));
    }

    /// The smallest distance from `p` to a blend polyline, or some value above `reach`
    /// when none comes within `reach`. The search stops early at a distance of `enough`
    /// or less. `scratch.dist` holds the distances from `p` to the palette colours.
    ///
    /// Pairs are visited nearest first by a lower bound: a point `q` of a polyline of
    /// length `len` from `a` to `b` has `|pa| + |pb| <= 2|pq| + len`, so no polyline of the
    /// pair is nearer than `(|pa| + |pb| - len) / 2`. Once that exceeds the best distance
    /// found, the remaining pairs cannot do better.
    fn blend_distance(&self, p: Oklab, scratch: &mut Scratch, reach: f64, enough: f64) -> f64 {
        let dist = &scratch.dist;
        scratch.order.clear();
        scratch
            .order
            .extend(self.pairs.iter().enumerate().filter_map(|(i, pair)| {
                let lower = (dist[pair.a] + dist[pair.b] - pair.length) / 2.0;
                (lower <= reach).then_some((lower, i as u32))
            }));
        scratch
            .order
            .sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        // Nothing beyond `reach` matters: start from there and shrink.
        let mut bound = reach;
        let mut best_sq = f64::INFINITY;
        let enough_sq = enough.max(0.0) * enough.max(0.0);
        for &(lower, i) in &scratch.order {
            if lower > bound {
                break;
            }
            let pair = &self.pairs[i as usize];
            for line in &self.polylines[pair.polylines.clone()] {
                if line.box_distance_sq(p) > bound * bound {
                    continue;
                }
                for segment in &self.segments[line.segments.clone()] {
                    let reach = bound + segment.half;
                    if segment.mid.distance_sq(p) > reach * reach {
                        continue;
                    }
                    let d_sq = segment.distance_sq(p);
                    if d_sq < best_sq {
                        best_sq = d_sq;
                        bound = bound.min(d_sq.sqrt());
                    }
                }
                if best_sq <= enough_sq {
                    return best_sq.sqrt();
                }
            }
        }
        best_sq.sqrt()
    }

    /// The verdict for one exact colour: its nearest palette colour (ties to the lower
    /// index) if it lies within the tolerance of a palette colour or of a blend of two.
    pub(super) fn classify(&self, rgb: [u8; 3], scratch: &mut Scratch) -> Verdict {
        let p = rgb_to_oklab(rgb);
        self.distances(p, &mut scratch.dist);
        let (nearest, d) = nearest(&scratch.dist);
        let t = self.tolerance;
        if d <= t || self.blend_distance(p, scratch, t, t) <= t {
            Verdict::On(nearest as u32)
        } else {
            Verdict::Off
        }
    }

    /// The OKLab centre of the sRGB cube from `lo` to `hi` and a radius around it that holds
    /// every colour of the cube. By the mean value theorem each OKLab coordinate moves from
    /// the centre by at most the sum, over channels, of the largest slope in the cube times
    /// the half-width. A slope is the sRGB curve's (largest at the light end) times a sum of
    /// matrix products weighted by the cube root's slope at each LMS response, which lies
    /// between its values at the cube's lightest and darkest corners (the responses grow with
    /// every channel): interval arithmetic bounds it. Infinite at black, where the cube root's
    /// slope is.
    fn cube_bounds(&self, lo: [u8; 3], hi: [u8; 3]) -> (Oklab, f64) {
        let lms = |lin: [f64; 3]| {
            LMS_FROM_LINEAR.map(|row| row[0] * lin[0] + row[1] * lin[1] + row[2] * lin[2])
        };
        let half = [0, 1, 2].map(|k| (f64::from(hi[k]) - f64::from(lo[k])) / 2.0);
        let roots =
            lms([0, 1, 2].map(|k| self.curve_halves[usize::from(lo[k]) + usize::from(hi[k])]))
                .map(cbrt);
        let centre = OKLAB_FROM_LMS_ROOTS
            .map(|row| row[0] * roots[0] + row[1] * roots[1] + row[2] * roots[2]);
        let centre = Oklab {
            l: centre[0],
            a: centre[1],
            b: centre[2],
        };
        let (darkest, lightest) = (
            lms(lo.map(srgb_u8_to_linear)),
            lms(hi.map(srgb_u8_to_linear)),
        );
        if darkest.iter().any(|&v| v <= 0.0) {
            return (centre, f64::INFINITY);
        }
        let root_slope = |v: f64| {
            let r = cbrt(v);
            1.0 / (3.0 * r * r)
        };
        let (slope_lo, slope_hi) = (lightest.map(root_slope), darkest.map(root_slope));
        let curve_slope = hi.map(|v| self.curve_slopes[usize::from(v)]);
        let mut reach_sq = 0.0;
        for row in OKLAB_FROM_LMS_ROOTS {
            let mut reach = 0.0;
            for channel in 0..3 {
                let (mut least, mut most) = (0.0, 0.0);
                for k in 0..3 {
                    let coefficient = row[k] * LMS_FROM_LINEAR[k][channel];
                    let (a, b) = (coefficient * slope_lo[k], coefficient * slope_hi[k]);
                    least += a.min(b);
                    most += a.max(b);
                }
                reach += f64::abs(least).max(f64::abs(most)) * curve_slope[channel] * half[channel];
            }
            reach_sq += reach * reach;
        }
        (centre, reach_sq.sqrt() + SLACK)
    }

    /// The verdict shared by every colour of the cube from `lo` to `hi` (inclusive, per
    /// channel), or `None` when its colours may differ: a verdict that holds with
    /// [`cube_bounds`]'s radius of room around the cube's centre holds for every colour.
    pub(super) fn classify_cube(
        &self,
        lo: [u8; 3],
        hi: [u8; 3],
        scratch: &mut Scratch,
    ) -> Option<Verdict> {
        let (centre, radius) = self.cube_bounds(lo, hi);
        if !radius.is_finite() {
            return None;
        }
        self.distances(centre, &mut scratch.dist);
        let (nearest, d) = nearest(&scratch.dist);
        let second = scratch
            .dist
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != nearest)
            .map(|(_, &d)| d)
            .fold(f64::INFINITY, f64::min);
        let nearest_is_certain = d + radius < second - radius;
        let t = self.tolerance;
        let on = Some(Verdict::On(nearest as u32)).filter(|_| nearest_is_certain);
        if d + radius <= t {
            return on;
        }
        if d - radius <= t {
            return None;
        }
        let blend = self.blend_distance(centre, scratch, t + radius, t - radius);
        if blend + radius <= t {
            on
        } else if blend - radius > t {
            Some(Verdict::Off)
        } else {
            None
        }
    }
}

/// Index and value of the smallest distance; ties go to the lower index.
fn nearest(dist: &[f64]) -> (usize, f64) {
    dist.iter().enumerate().fold(
        (0, f64::INFINITY),
        |best, (i, &d)| if d < best.1 { (i, d) } else { best },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantize::{BINS, bin_cube, bin_of};

    /// The bound must hold every colour of a cube, and stay close to the cube's true size
    /// (else few cubes are ever decided whole).
    #[test]
    fn cube_bounds_hold_every_colour_and_are_tight() {
        let geometry = Geometry::new(&[[0, 0, 0]], 0.04);
        let mut worst_ratio = 0.0f64;
        for size in [2u8, 4, 8] {
            for lo in [
                [0, 0, 0],
                [8, 8, 8],
                [248, 248, 248],
                [128, 64, 200],
                [32, 96, 232],
                [0, 248, 0],
            ] {
                let lo = lo.map(|c: u8| c & !(size - 1));
                let hi = lo.map(|c| c | (size - 1));
                let (centre, radius) = geometry.cube_bounds(lo, hi);
                let mut farthest = 0.0f64;
                for r in lo[0]..=hi[0] {
                    for g in lo[1]..=hi[1] {
                        for b in lo[2]..=hi[2] {
                            farthest = farthest.max(rgb_to_oklab([r, g, b]).distance(centre));
                        }
                    }
                }
                assert!(farthest <= radius, "{lo:?}+{size}: {farthest} > {radius}");
                if lo != [0, 0, 0] {
                    worst_ratio = worst_ratio.max(radius / farthest);
                }
            }
        }
        assert!(worst_ratio < 3.0, "{worst_ratio}");
        assert!(geometry.cube_bounds([0, 0, 0], [7, 7, 7]).1.is_infinite());
    }

    /// A certain cube verdict must hold for every colour in the cube: checked exhaustively
    /// on a sample of histogram bins against a palette whose tolerance boundary crosses
    /// many of them.
    #[test]
    fn cube_verdicts_agree_with_every_colour_of_the_cube() {
        let palette = [[255, 255, 255], [37, 99, 235], [17, 24, 39], [219, 39, 119]];
        let geometry = Geometry::new(&palette, 0.04);
        let mut scratch = Scratch::default();
        for size in [8u8, 4, 2] {
            let (mut certain, mut unsure) = (0, 0);
            // Every 7th histogram bin, and in it the cube of this size at its low corner.
            for bin in (0..BINS).step_by(7) {
                let (lo, _) = bin_cube(bin);
                let hi = lo.map(|c| c | (size - 1));
                let Some(verdict) = geometry.classify_cube(lo, hi, &mut scratch) else {
                    unsure += 1;
                    continue;
                };
                certain += 1;
                for r in lo[0]..=hi[0] {
                    for g in lo[1]..=hi[1] {
                        for b in lo[2]..=hi[2] {
                            assert_eq!(bin_of(u32::from_le_bytes([r, g, b, 255])), bin);
                            let exact = geometry.classify([r, g, b], &mut scratch);
                            assert_eq!(exact, verdict, "{size}: {:?}", [r, g, b]);
                        }
                    }
                }
            }
            // Both kinds occur, so both paths were compared.
            assert!(
                certain > 1000 && unsure > 0,
                "{size}: {certain} certain, {unsure} unsure"
            );
        }
    }
}
