//! Pixels -> weighted palette: one pass into an sRGB histogram, then k-means in OKLab over the bins.
//! Cost grows with the pixel count once; everything after the pass works on at most 32768 bins.

use crate::Error;
use crate::color::{
    Oklab, annotate, linear_to_oklab, oklab_to_rgb, rgb_to_oklab, srgb_f64_to_linear,
};
use crate::image::DecodedImage;
use crate::roles::assign_roles;
use crate::tokens::Palette;

/// Largest palette a caller may ask for.
pub const MAX_COLORS: usize = 50;

/// Bits kept per channel for binning. Five bits (32768 bins) keep the bin table in cache;
/// because each bin keeps the exact sum of its pixels, flat colours lose nothing.
const BITS: u32 = 5;
const SHIFT: u32 = 8 - BITS;
const BINS: usize = 1 << (3 * BITS);

/// Centroids closer than this in OKLab are one colour to the eye (about one just-noticeable
/// difference), so they are merged: a palette should not offer #ffffff and #fefefe.
const MERGE_DISTANCE: f64 = 0.02;

/// Lloyd refinement stops when no bin changes cluster, or after this many rounds.
const MAX_ITERATIONS: usize = 60;

/// Distances below this count as this in the median step, so a centre seeded on a bin
/// can still move (well under a just-noticeable difference).
const WEISZFELD_FLOOR: f64 = 0.01;

/// Seeding + refinement runs, the best kept...
const RESTARTS: u64 = 4;
/// ... as many as fit in this many point-centre pairs (at least one). Restarts help most
/// where there are few bins (screenshots, flat art); on tens of thousands of noisy bins at
/// large `k` they cost hundreds of milliseconds and change the result very little.
const RESTART_BUDGET: u64 = 2_000_000;

fn restarts(points: usize, k: usize) -> u64 {
    (RESTART_BUDGET / (points as u64 * k as u64).max(1)).clamp(1, RESTARTS)
}

/// Weighted sum of distances to the nearest centre: the quality metric, over the bins.
fn linear_cost(points: &[Point], centers: &[Oklab]) -> f64 {
    points
        .iter()
        .map(|p| p.weight * nearest(centers, p.lab).1.sqrt())
        .sum()
}

/// Fixed seed of the k-means++ sampler: same input, same palette, on every machine.
const SEED: u64 = 0x00C0_FFEE_D00D_F00D;

pub(crate) fn check_max_colors(max_colors: usize) -> Result<(), Error> {
    if (1..=MAX_COLORS).contains(&max_colors) {
        Ok(())
    } else {
        Err(Error::InvalidMaxColors(max_colors))
    }
}

/// One weighted point of the histogram: the mean colour of a bin, in OKLab.
#[derive(Debug, Clone, Copy)]
struct Point {
    lab: Oklab,
    weight: f64,
    /// Index of the bin in the 32x32x32 grid.
    bin: u32,
}

/// Shortest horizontal run of one exact colour that counts as part of a solid fill.
const SOLID_RUN: u64 = 4;

/// The one pass over the pixels: count and colour sums per bin, plus the non-empty bins
/// as weighted OKLab points (in bin order).
struct Histogram {
    /// Per bin, the exact colour most likely to be the majority of its solid runs
    /// (Boyer-Moore vote) and its margin: a UI fill wins its bin outright; photo noise never does.
    votes: Vec<(u32, u64)>,
    points: Vec<Point>,
}

#[inline(always)]
fn bin_of(px: u32) -> usize {
    let [r, g, b, _] = px.to_le_bytes();
    ((r as usize >> SHIFT) << (2 * BITS)) | ((g as usize >> SHIFT) << BITS) | (b as usize >> SHIFT)
}

/// Pixels a bin's hot word can take before it must be flushed: 255 x 257 = 65535 fits the
/// word's 16-bit fields exactly.
const HOT_LIMIT: u64 = 257;

/// Per-bin sums in two tiers. The hot tier is one `u64` per bin holding 16-bit sums of r,
/// g, b and a 16-bit pixel count, so the per-pixel work is one load, one add and one store
/// on a table that stays in cache. It exists twice (2 x 256 KiB), for even and odd pixels:
/// neighbours often share a bin, and with one table each update would wait for the store
/// of the one before. Every 257 pixels a hot word is flushed into the wide cold tier
/// ([count, r, g, b] as `u64` per bin, which 40 MP of white cannot overflow).
struct Sums {
    hot: Box<[u64; 2 * BINS]>,
    cold: Vec<[u64; 4]>,
}

impl Sums {
    fn new() -> Self {
        Self {
            hot: vec![0u64; 2 * BINS]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("the vector has 2 * BINS entries")),
            cold: vec![[0u64; 4]; BINS],
        }
    }

    fn flush(&mut self, slot: usize) {
        let slot = slot & (2 * BINS - 1);
        let w = self.hot[slot];
        let c = &mut self.cold[slot & (BINS - 1)];
        c[0] += w >> 48;
        c[1] += w & 0xffff;
        c[2] += (w >> 16) & 0xffff;
        c[3] += (w >> 32) & 0xffff;
        self.hot[slot] = 0;
    }

    fn into_bins(mut self) -> Vec<[u64; 4]> {
        for idx in 0..2 * BINS {
            self.flush(idx);
        }
        self.cold
    }
}

/// Adds `n` pixels of colour `px` to its bin.
#[inline(always)]
fn add_pixels(sums: &mut Sums, px: u32, n: u64) {
    let [r, g, b, a] = px.to_le_bytes();
    // Fully transparent pixels have no visible colour: they do not vote.
    if a == 0 || n == 0 {
        return;
    }
    // The mask proves the index in range, so the hot path carries no bounds check.
    let idx = bin_of(px) & (BINS - 1);
    let word = sums.hot[idx];
    if (word >> 48) + n <= HOT_LIMIT {
        let packed = u64::from(r) | u64::from(g) << 16 | u64::from(b) << 32 | 1 << 48;
        sums.hot[idx] = word + packed * n;
    } else {
        sums.flush(idx);
        let c = &mut sums.cold[idx & (BINS - 1)];
        c[0] += n;
        c[1] += n * u64::from(r);
        c[2] += n * u64::from(g);
        c[3] += n * u64::from(b);
    }
}

/// [`add_pixels`] for one pixel, in hot table `table` (0 or 1): the photo path.
#[inline(always)]
fn add_pixel(sums: &mut Sums, px: u32, table: usize) {
    let [r, g, b, a] = px.to_le_bytes();
    if a == 0 {
        return;
    }
    let idx = (bin_of(px) | table << (3 * BITS)) & (2 * BINS - 1);
    if sums.hot[idx] >> 48 >= HOT_LIMIT {
        sums.flush(idx);
    }
    sums.hot[idx] += u64::from(r) | u64::from(g) << 16 | u64::from(b) << 32 | 1 << 48;
}

/// A finished run of `run` pixels of `px` votes for `px` as its bin's solid colour. Only
/// runs count as votes: fills (buttons, panels) come in long runs, while anti-aliasing,
/// noise and gradients do not.
#[inline(always)]
fn cast_vote(votes: &mut [(u32, u64)], px: u32, run: u64) {
    if run < SOLID_RUN || px >> 24 == 0 {
        return;
    }
    // Compare colours without alpha: a half-transparent pixel shows the same colour.
    let rgb = px & 0x00ff_ffff;
    let vote = &mut votes[bin_of(px) & (BINS - 1)];
    if vote.0 == rgb {
        vote.1 += run;
    } else if vote.1 >= run {
        vote.1 -= run;
    } else {
        *vote = (rgb, run - vote.1);
    }
}

/// The run of one exact colour the pass is in.
struct Runs {
    prev: u32,
    run: u64,
}

impl Runs {
    /// One pixel on the slow path: counted at once, and ending a run when it changes colour.
    #[inline(always)]
    fn step(&mut self, sums: &mut Sums, votes: &mut [(u32, u64)], v: u32, table: usize) {
        let changed = v != self.prev;
        if changed & (self.run >= SOLID_RUN) {
            cast_vote(votes, self.prev, self.run);
        }
        self.run = if changed { 1 } else { self.run + 1 };
        self.prev = v;
        add_pixel(sums, v, table);
    }
}

/// Pixels compared at once on the fast path for runs.
const LANE: usize = 8;

/// Per-bin sums `[count, r, g, b]` and run votes of one stretch of pixels.
fn tally(rgba: &[u8]) -> (Vec<[u64; 4]>, Vec<(u32, u64)>) {
    let mut sums = Sums::new();
    let mut votes = vec![(0u32, 0u64); BINS];
    let pixel = |px: &[u8; 4]| u32::from_le_bytes(*px);
    let (pixels, _) = rgba.as_chunks::<4>();
    let Some(first) = pixels.first() else {
        return (sums.into_bins(), votes);
    };
    let mut runs = Runs {
        prev: pixel(first),
        run: 0,
    };
    // Pixels of the current run that the fast path counted but did not add to the sums.
    let mut pending = 0u64;
    // Screenshots and flat art are long runs of one colour, which the fast path swallows
    // eight pixels per compare; elsewhere (photos, edges) each pixel is counted on its own.
    let (lanes, rest) = pixels.as_chunks::<LANE>();
    for lane in lanes {
        let same = lane
            .iter()
            .fold(true, |all, px| all & (pixel(px) == runs.prev));
        if same {
            runs.run += LANE as u64;
            pending += LANE as u64;
            continue;
        }
        add_pixels(&mut sums, runs.prev, pending);
        pending = 0;
        // Neighbours often share a bin: alternating tables keeps one pixel's update from
        // waiting on the store of the one before.
        for pair in lane.as_chunks::<2>().0 {
            runs.step(&mut sums, &mut votes, pixel(&pair[0]), 0);
            runs.step(&mut sums, &mut votes, pixel(&pair[1]), 1);
        }
    }
    add_pixels(&mut sums, runs.prev, pending);
    for px in rest {
        runs.step(&mut sums, &mut votes, pixel(px), 0);
    }
    cast_vote(&mut votes, runs.prev, runs.run);
    (sums.into_bins(), votes)
}

/// Images from this many pixels up are tallied as two halves, on two threads where the
/// machine has them. The split does not depend on the machine, so neither does the result.
const SPLIT_MIN_PIXELS: usize = 4 << 20;

/// Boyer-Moore votes of two stretches combined: the same candidate adds up, different
/// ones cancel out.
fn merge_votes(a: (u32, u64), b: (u32, u64)) -> (u32, u64) {
    if a.0 == b.0 {
        (a.0, a.1 + b.1)
    } else if a.1 >= b.1 {
        (a.0, a.1 - b.1)
    } else {
        (b.0, b.1 - a.1)
    }
}

fn histogram(rgba: &[u8]) -> Histogram {
    let parallel = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    histogram_with(rgba, parallel)
}

fn histogram_with(rgba: &[u8], parallel: bool) -> Histogram {
    let pixels = rgba.len() / 4;
    let (bins, votes) = if pixels < SPLIT_MIN_PIXELS {
        tally(rgba)
    } else {
        let (first, second) = rgba.split_at(pixels / 2 * 4);
        let ((mut bins, mut votes), (bins2, votes2)) = if parallel {
            std::thread::scope(|scope| {
                let other = scope.spawn(|| tally(second));
                let mine = tally(first);
                let other = other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (mine, other)
            })
        } else {
            (tally(first), tally(second))
        };
        for (sum, add) in bins.iter_mut().zip(&bins2) {
            for (s, a) in sum.iter_mut().zip(add) {
                *s += a;
            }
        }
        for (vote, other) in votes.iter_mut().zip(votes2) {
            *vote = merge_votes(*vote, other);
        }
        (bins, votes)
    };
    let points = bins
        .iter()
        .enumerate()
        .filter(|(_, b)| b[0] > 0)
        .map(|(i, &[n, r, g, b])| {
            let nf = n as f64;
            let lab = if r % n == 0 && g % n == 0 && b % n == 0 {
                // A bin holding one exact colour (flat UI areas): convert it exactly.
                rgb_to_oklab([(r / n) as u8, (g / n) as u8, (b / n) as u8])
            } else {
                linear_to_oklab(
                    srgb_f64_to_linear(r as f64 / nf),
                    srgb_f64_to_linear(g as f64 / nf),
                    srgb_f64_to_linear(b as f64 / nf),
                )
            };
            Point {
                lab,
                weight: nf,
                bin: i as u32,
            }
        })
        .collect();
    Histogram { votes, points }
}

/// SplitMix64: tiny, fixed, and identical everywhere (no dependency on a rand version).
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn nearest(centers: &[Oklab], p: Oklab) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (i, c) in centers.iter().enumerate() {
        let d = c.distance_sq(p);
        // Strict `<`: ties go to the lower index, deterministically.
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

/// Slack in the comparison against a moved bound: far above floating-point rounding, far
/// below any distance that matters.
const BOUND_MARGIN: f64 = 1e-9;

/// The nearest centre, its squared distance, and the squared distance to the second
/// nearest (infinite with one centre). Ties go to the lower index, as in [`nearest`].
fn nearest_two(centers: &[Oklab], p: Oklab) -> (usize, f64, f64) {
    let (mut i1, mut d1, mut d2) = (0, f64::INFINITY, f64::INFINITY);
    for (i, c) in centers.iter().enumerate() {
        let d = c.distance_sq(p);
        if d < d1 {
            (d2, i1, d1) = (d1, i, d);
        } else if d < d2 {
            d2 = d;
        }
    }
    (i1, d1, d2)
}

/// Pick the index whose cumulative weight first exceeds `target` (weights >= 0).
fn sample_index(weights: &[f64], total: f64, rng: &mut SplitMix) -> usize {
    let target = rng.next_f64() * total;
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if acc > target {
            return i;
        }
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

/// Greedy k-means++ seeding over weighted points: the first centre is the heaviest bin,
/// each next one the best of a few D²-weighted candidates. A small but distant colour
/// (a brand accent on a white page) carries a large weight x distance² and gets a seed.
fn seed(points: &[Point], k: usize, seed: u64) -> Vec<Oklab> {
    let mut rng = SplitMix(seed);
    let first = points.iter().enumerate().fold(0, |best, (i, p)| {
        if p.weight > points[best].weight {
            i
        } else {
            best
        }
    });
    let mut centers = vec![points[first].lab];
    let mut d2: Vec<f64> = points
        .iter()
        .map(|p| p.lab.distance_sq(centers[0]))
        .collect();
    let candidates = 2 + (k as f64).ln().floor() as usize;
    let mut cost = vec![0.0; points.len()];
    while centers.len() < k {
        for ((c, p), d) in cost.iter_mut().zip(points).zip(&d2) {
            *c = p.weight * d;
        }
        let total: f64 = cost.iter().sum();
        // Everything already sits within merge distance of a centre: no new colour exists.
        let spread = points
            .iter()
            .zip(&d2)
            .any(|(_, &d)| d > MERGE_DISTANCE * MERGE_DISTANCE);
        if total <= 0.0 || !spread {
            break;
        }
        let mut best: Option<(usize, f64)> = None;
        for _ in 0..candidates {
            let idx = sample_index(&cost, total, &mut rng);
            let cand = points[idx].lab;
            let potential: f64 = points
                .iter()
                .zip(&d2)
                .map(|(p, &d)| p.weight * d.min(p.lab.distance_sq(cand)))
                .sum();
            if best.is_none_or(|(_, b)| potential < b) {
                best = Some((idx, potential));
            }
        }
        let Some((idx, _)) = best else { break };
        let c = points[idx].lab;
        for (d, p) in d2.iter_mut().zip(points) {
            *d = d.min(p.lab.distance_sq(c));
        }
        centers.push(c);
    }
    centers
}

/// Weighted Lloyd iterations over the bins. Sums run in bin order, so the result does
/// not depend on threads or hashing.
///
/// Each point keeps a lower bound on its distance to every centre but its own (Hamerly's
/// bound): while the exact distance to its own centre stays below that bound, no other
/// centre can be nearer and the scan of all `k` is skipped. The assignments are the ones a
/// full scan gives; the work per point and round drops from `k` distances to about one,
/// which is what keeps 50 colours over 32768 noisy bins cheap.
fn refine(points: &[Point], centers: &mut [Oklab], pinned: &[bool], max_iter: usize) -> Vec<usize> {
    let mut assign = vec![usize::MAX; points.len()];
    // Lower bounds on the distance to the second-nearest centre; 0 forces a full scan.
    let mut lower = vec![0.0f64; points.len()];
    let mut previous = centers.to_vec();
    for _ in 0..max_iter {
        let mut changed = false;
        let mut sums = vec![[0.0f64; 4]; centers.len()];
        for ((a, bound), p) in assign.iter_mut().zip(lower.iter_mut()).zip(points) {
            let own = (*a != usize::MAX).then(|| centers[*a].distance_sq(p.lab));
            let d2 = match own {
                // The margin covers rounding in the bound's updates.
                Some(d2) if d2.sqrt() + BOUND_MARGIN < *bound => d2,
                _ => {
                    let (i, d2, second) = nearest_two(centers, p.lab);
                    if *a != i {
                        *a = i;
                        changed = true;
                    }
                    *bound = second.sqrt();
                    d2
                }
            };
            let i = *a;
            // One Weiszfeld step towards the weighted geometric median: the quality
            // metric is the mean distance (not squared), whose optimum is the median. A
            // solid colour holding most of its cluster pulls the centre exactly onto it,
            // instead of the mean dragging it towards anti-aliasing fringes.
            let w = p.weight / d2.sqrt().max(WEISZFELD_FLOOR);
            let s = &mut sums[i];
            s[0] += w;
            s[1] += w * p.lab.l;
            s[2] += w * p.lab.a;
            s[3] += w * p.lab.b;
        }
        previous.copy_from_slice(centers);
        let mut reseeded = false;
        for (ci, s) in sums.iter().enumerate() {
            if pinned.get(ci).copied().unwrap_or(false) {
                // A rescued solid colour stays exactly on its peak.
                continue;
            }
            if s[0] > 0.0 {
                centers[ci] = Oklab {
                    l: s[1] / s[0],
                    a: s[2] / s[0],
                    b: s[3] / s[0],
                };
            } else {
                // An empty cluster moves to the point that costs the most where it is.
                let worst = points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (i, p.weight * nearest(centers, p.lab).1))
                    .fold((0, -1.0), |b, x| if x.1 > b.1 { x } else { b });
                if worst.1 > 0.0 {
                    centers[ci] = points[worst.0].lab;
                    reseeded = true;
                }
            }
        }
        if !changed && !reseeded {
            break;
        }
        // Every other centre came at most as much closer as the farthest-moving one.
        let moved = previous
            .iter()
            .zip(centers.iter())
            .map(|(old, new)| old.distance(*new))
            .fold(0.0, f64::max);
        if moved > 0.0 {
            for bound in &mut lower {
                *bound -= moved;
            }
        }
    }
    assign
}

/// Merge centres closer than [`MERGE_DISTANCE`], heaviest pair-member first.
fn merge_close(points: &[Point], centers: &mut Vec<Oklab>, pinned: &mut Vec<bool>) -> bool {
    let mut weights = vec![0.0; centers.len()];
    for p in points {
        weights[nearest(centers, p.lab).0] += p.weight;
    }
    let mut merged = false;
    loop {
        let mut best: Option<(usize, usize, f64)> = None;
        for i in 0..centers.len() {
            for j in i + 1..centers.len() {
                let d = centers[i].distance(centers[j]);
                let either_pinned = pinned[i] || pinned[j];
                if !either_pinned && d < MERGE_DISTANCE && best.is_none_or(|(_, _, b)| d < b) {
                    best = Some((i, j, d));
                }
            }
        }
        let Some((i, j, _)) = best else { break };
        let (wi, wj) = (weights[i], weights[j]);
        let w = (wi + wj).max(f64::MIN_POSITIVE);
        centers[i] = Oklab {
            l: (centers[i].l * wi + centers[j].l * wj) / w,
            a: (centers[i].a * wi + centers[j].a * wj) / w,
            b: (centers[i].b * wi + centers[j].b * wj) / w,
        };
        weights[i] = wi + wj;
        centers.remove(j);
        weights.remove(j);
        pinned.remove(j);
        merged = true;
    }
    merged
}

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
fn solid_peaks(hist: &Histogram, total: f64) -> Vec<(Point, [u8; 3])> {
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
fn is_blend(c: [u8; 3], a: [u8; 3], b: [u8; 3]) -> bool {
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
fn distinct_peaks(peaks: &[(Point, [u8; 3])]) -> Vec<Point> {
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
fn rescue_peaks(
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

/// The raw result of quantization: colours with their pixel shares, share-descending.
pub fn quantize(img: &DecodedImage, max_colors: usize) -> Result<Vec<([u8; 3], f64)>, Error> {
    check_max_colors(max_colors)?;
    let hist = histogram(&img.rgba);
    let points = &hist.points[..];
    if points.is_empty() {
        return Ok(Vec::new());
    }
    let total: f64 = points.iter().map(|p| p.weight).sum();
    let peaks = distinct_peaks(&solid_peaks(&hist, total));
    // A few fixed seeds, keep the best finished result: k-means only finds a local
    // optimum, and over at most 32768 bins a restart costs far less than the pixel pass.
    let k = max_colors.min(points.len());
    let mut best: Option<(f64, Vec<Oklab>, Vec<bool>)> = None;
    for attempt in 0..restarts(points.len(), k) {
        let mut centers = seed(points, k, SEED.wrapping_add(attempt));
        let mut pinned = vec![false; centers.len()];
        refine(points, &mut centers, &pinned, MAX_ITERATIONS);
        if rescue_peaks(points, &peaks, &mut centers, &mut pinned) {
            refine(points, &mut centers, &pinned, MAX_ITERATIONS);
        }
        if merge_close(points, &mut centers, &mut pinned) {
            refine(points, &mut centers, &pinned, MAX_ITERATIONS);
            merge_close(points, &mut centers, &mut pinned);
        }
        let cost = linear_cost(points, &centers);
        if best.as_ref().is_none_or(|b| cost < b.0) {
            best = Some((cost, centers, pinned));
        }
    }
    let Some((_, mut centers, pinned)) = best else {
        return Ok(Vec::new());
    };
    let assign = refine(points, &mut centers, &pinned, 1);
    let mut weights = vec![0.0; centers.len()];
    for (a, p) in assign.iter().zip(points) {
        weights[*a] += p.weight;
    }
    // Two centres can round to the same 8-bit colour; fold them together.
    let mut out: Vec<([u8; 3], f64)> = Vec::with_capacity(centers.len());
    for (c, w) in centers.iter().zip(&weights) {
        if *w <= 0.0 {
            continue;
        }
        let rgb = oklab_to_rgb(*c);
        match out.iter_mut().find(|(x, _)| *x == rgb) {
            Some(e) => e.1 += w / total,
            None => out.push((rgb, w / total)),
        }
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(out)
}

/// Extract an annotated palette of at most `max_colors` colours, with suggested roles.
///
/// Deterministic: the same pixels always give the same palette. An image whose pixels are
/// all fully transparent gives an empty palette.
pub fn extract_palette(img: &DecodedImage, max_colors: usize) -> Result<Palette, Error> {
    let colors = quantize(img, max_colors)?;
    let mut tokens: Vec<_> = colors
        .iter()
        .map(|&(rgb, share)| annotate(rgb, share))
        .collect();
    assign_roles(&mut tokens);
    Ok(Palette { colors: tokens })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-tier sums must equal a plain per-pixel sum, across flushes and long runs.
    #[test]
    fn histogram_sums_match_a_naive_count() {
        let mut rgba = Vec::new();
        for i in 0..5000u32 {
            // Alternating colours in one bin (single-pixel runs), then a long run.
            let v = if i % 2 == 0 {
                [250, 250, 250, 255]
            } else {
                [251, 252, 253, 255]
            };
            rgba.extend_from_slice(&v);
        }
        for _ in 0..70_000 {
            rgba.extend_from_slice(&[255, 254, 253, 255]);
        }
        rgba.extend_from_slice(&[9, 9, 9, 0]); // transparent: ignored
        let hist = histogram(&rgba);
        assert_eq!(hist.points.len(), 1);
        let p = hist.points[0];
        assert_eq!(p.weight, 75_000.0);
        let expected = [
            2500.0 * 250.0 + 2500.0 * 251.0 + 70_000.0 * 255.0,
            2500.0 * 250.0 + 2500.0 * 252.0 + 70_000.0 * 254.0,
            2500.0 * 250.0 + 2500.0 * 253.0 + 70_000.0 * 253.0,
        ]
        .map(|s| s / 75_000.0);
        let lab = linear_to_oklab(
            srgb_f64_to_linear(expected[0]),
            srgb_f64_to_linear(expected[1]),
            srgb_f64_to_linear(expected[2]),
        );
        assert!(p.lab.distance(lab) < 1e-12);
        // The long run is a solid colour and wins its bin's vote.
        let (rgb, margin) = hist.votes[p.bin as usize];
        assert_eq!(rgb.to_le_bytes()[..3], [255, 254, 253]);
        assert_eq!(margin, 70_000);
    }

    /// The fast and slow paths of the pass, and the two hot tables, must add up to the
    /// plain definition: per-bin pixel sums, and one Boyer-Moore vote per maximal run of
    /// one exact colour at least `SOLID_RUN` long.
    #[test]
    fn histogram_matches_the_plain_definition() {
        let mut rng = SplitMix(7);
        let palette: Vec<u32> = (0..12)
            .map(|i| {
                let alpha = match i % 4 {
                    0 => 0,
                    1 => 128,
                    _ => 255,
                };
                u32::from_le_bytes([i * 20, 255 - i * 20, 7 + i, alpha])
            })
            .collect();
        let mut pixels = Vec::new();
        while pixels.len() < 200_000 {
            let colour = palette[(rng.next_f64() * palette.len() as f64) as usize];
            let len = 1 + (rng.next_f64() * rng.next_f64() * 40.0) as usize;
            pixels.extend(std::iter::repeat_n(colour, len));
        }
        let rgba: Vec<u8> = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
        let hist = histogram(&rgba);

        let mut counts = vec![0u64; BINS];
        for &p in &pixels {
            if p >> 24 != 0 {
                counts[bin_of(p)] += 1;
            }
        }
        let mut votes = vec![(0u32, 0u64); BINS];
        for run in pixels.chunk_by(|a, b| a == b) {
            cast_vote(&mut votes, run[0], run.len() as u64);
        }
        let got: Vec<(u32, f64)> = hist.points.iter().map(|p| (p.bin, p.weight)).collect();
        let want: Vec<(u32, f64)> = counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(bin, &n)| (bin as u32, n as f64))
            .collect();
        assert_eq!(got, want);
        assert_eq!(hist.votes, votes);
        assert!(votes.iter().any(|v| v.1 > 0), "the image has solid runs");
    }

    /// Large images are tallied in two halves: the sums stay exact, a run across the split
    /// still votes with its full length, and one thread or two give the same result.
    #[test]
    fn split_tally_is_exact_and_independent_of_threads() {
        let pixels = SPLIT_MIN_PIXELS + 1001;
        let mut rng = SplitMix(5);
        let mut rgba = Vec::with_capacity(pixels * 4);
        let solid = u32::from_le_bytes([37, 99, 235, 255]);
        let (run_start, run_len) = (pixels / 2 - 500, 1000);
        for i in 0..pixels {
            let px = if (run_start..run_start + run_len).contains(&i) {
                solid
            } else {
                let v = (rng.next_f64() * 200.0) as u8;
                u32::from_le_bytes([v, v / 2, 255 - v, 255])
            };
            rgba.extend_from_slice(&px.to_le_bytes());
        }
        let one = histogram_with(&rgba, false);
        let two = histogram_with(&rgba, true);
        assert_eq!(one.votes, two.votes);
        let weights = |h: &Histogram| -> Vec<(u32, f64)> {
            h.points.iter().map(|p| (p.bin, p.weight)).collect()
        };
        assert_eq!(weights(&one), weights(&two));

        let mut counts = vec![0u64; BINS];
        for px in rgba.as_chunks::<4>().0 {
            counts[bin_of(u32::from_le_bytes(*px))] += 1;
        }
        let want: Vec<(u32, f64)> = counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(bin, &n)| (bin as u32, n as f64))
            .collect();
        assert_eq!(weights(&one), want);
        assert_eq!(
            one.votes[bin_of(solid)],
            (solid & 0x00ff_ffff, run_len as u64)
        );
    }

    /// Lloyd's rounds with a full scan of every centre for every point: what `refine`
    /// must reproduce exactly while skipping most of the scans.
    fn refine_by_full_scan(points: &[Point], centers: &mut [Oklab], max_iter: usize) -> Vec<usize> {
        let mut assign = vec![usize::MAX; points.len()];
        for _ in 0..max_iter {
            let mut changed = false;
            let mut sums = vec![[0.0f64; 4]; centers.len()];
            for (a, p) in assign.iter_mut().zip(points) {
                let (i, d2) = nearest(centers, p.lab);
                changed |= *a != i;
                *a = i;
                let w = p.weight / d2.sqrt().max(WEISZFELD_FLOOR);
                let s = &mut sums[i];
                s[0] += w;
                s[1] += w * p.lab.l;
                s[2] += w * p.lab.a;
                s[3] += w * p.lab.b;
            }
            let mut reseeded = false;
            for (ci, s) in sums.iter().enumerate() {
                if s[0] > 0.0 {
                    centers[ci] = Oklab {
                        l: s[1] / s[0],
                        a: s[2] / s[0],
                        b: s[3] / s[0],
                    };
                } else {
                    let worst = points
                        .iter()
                        .enumerate()
                        .map(|(i, p)| (i, p.weight * nearest(centers, p.lab).1))
                        .fold((0, -1.0), |b, x| if x.1 > b.1 { x } else { b });
                    if worst.1 > 0.0 {
                        centers[ci] = points[worst.0].lab;
                        reseeded = true;
                    }
                }
            }
            if !changed && !reseeded {
                break;
            }
        }
        assign
    }

    #[test]
    fn bounded_refinement_equals_the_full_scan() {
        let mut rng = SplitMix(11);
        for (n, k) in [(50, 3), (2000, 8), (5000, 16), (3000, 50)] {
            let points: Vec<Point> = (0..n)
                .map(|i| Point {
                    lab: Oklab {
                        l: rng.next_f64(),
                        a: rng.next_f64() * 0.6 - 0.3,
                        b: rng.next_f64() * 0.6 - 0.3,
                    },
                    weight: 1.0 + (rng.next_f64() * 500.0).floor(),
                    bin: i,
                })
                .collect();
            let start = seed(&points, k, SEED);
            let (mut fast, mut full) = (start.clone(), start);
            let pinned = vec![false; fast.len()];
            let a = refine(&points, &mut fast, &pinned, MAX_ITERATIONS);
            let b = refine_by_full_scan(&points, &mut full, MAX_ITERATIONS);
            assert_eq!(a, b, "n={n} k={k}");
            let same = fast.iter().zip(&full).all(|(x, y)| {
                x.l.to_bits() == y.l.to_bits()
                    && x.a.to_bits() == y.a.to_bits()
                    && x.b.to_bits() == y.b.to_bits()
            });
            assert!(same, "n={n} k={k}");
        }
    }

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
