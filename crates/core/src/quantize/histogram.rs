//! The one pass over the pixels: exact per-bin colour sums and solid-run votes.
//! Large images are tallied in two halves on two threads; the merge is exact.

use crate::color::{Oklab, linear_to_oklab, rgb_to_oklab, srgb_f64_to_linear};

/// Bits kept per channel for binning. Five bits (32768 bins) keep the bin table in cache;
/// because each bin keeps the exact sum of its pixels, flat colours lose nothing.
const BITS: u32 = 5;
const SHIFT: u32 = 8 - BITS;
pub(crate) const BINS: usize = 1 << (3 * BITS);

/// One weighted point of the histogram: the mean colour of a bin, in OKLab.
#[derive(Debug, Clone, Copy)]
pub(super) struct Point {
    pub(super) lab: Oklab,
    pub(super) weight: f64,
    /// Index of the bin in the 32x32x32 grid.
    pub(super) bin: u32,
}

/// Shortest horizontal run of one exact colour that counts as part of a solid fill.
const SOLID_RUN: u64 = 4;

/// The one pass over the pixels: count and colour sums per bin, plus the non-empty bins
/// as weighted OKLab points (in bin order).
pub(super) struct Histogram {
    /// Per bin, the exact colour most likely to be the majority of its solid runs
    /// (Boyer-Moore vote) and its margin: a UI fill wins its bin outright; photo noise never does.
    pub(super) votes: Vec<(u32, u64)>,
    pub(super) points: Vec<Point>,
}

#[inline(always)]
pub(crate) fn bin_of(px: u32) -> usize {
    let [r, g, b, _] = px.to_le_bytes();
    ((r as usize >> SHIFT) << (2 * BITS)) | ((g as usize >> SHIFT) << BITS) | (b as usize >> SHIFT)
}

#[cfg(test)]
/// The darkest and the lightest colour of bin `bin`: each channel spans `1 << SHIFT` values.
pub(crate) fn bin_cube(bin: usize) -> ([u8; 3], [u8; 3]) {
    let mask = (1 << BITS) - 1;
    let lo = [2 * BITS, BITS, 0].map(|shift| (((bin >> shift) & mask) << SHIFT) as u8);
    (lo, lo.map(|v| v | ((1 << SHIFT) - 1)))
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
    if a == 0 {
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

/// Where finished runs go. A Boyer-Moore vote depends on the order of its ballots, so the
/// second half of a split image cannot vote on its own: it records its runs, and they are
/// replayed after the first half's, exactly as one sequential pass would cast them.
trait VoteSink {
    fn vote(&mut self, px: u32, run: u64);
}

/// Runs cast at once into the per-bin table.
struct VoteTable(Vec<(u32, u64)>);

impl VoteSink for VoteTable {
    #[inline(always)]
    fn vote(&mut self, px: u32, run: u64) {
        cast_vote(&mut self.0, px, run);
    }
}

/// Runs recorded in order for a later replay; those that cannot vote are left out.
#[derive(Default)]
struct VoteLog(Vec<(u32, u32)>);

impl VoteSink for VoteLog {
    #[inline(always)]
    fn vote(&mut self, px: u32, run: u64) {
        if run < SOLID_RUN || px >> 24 == 0 {
            return;
        }
        // Consecutive ballots for one colour add up exactly like a single one, so a run
        // too long for 32 bits (a 16 GiB image) is recorded in pieces.
        let mut left = run;
        while left > 0 {
            let piece = left.min(u64::from(u32::MAX));
            self.0.push((px, piece as u32));
            left -= piece;
        }
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
    fn step(&mut self, sums: &mut Sums, votes: &mut impl VoteSink, v: u32, table: usize) {
        let changed = v != self.prev;
        if changed & (self.run >= SOLID_RUN) {
            votes.vote(self.prev, self.run);
        }
        self.run = if changed { 1 } else { self.run + 1 };
        self.prev = v;
        add_pixel(sums, v, table);
    }
}

/// Pixels compared at once on the fast path for runs.
const LANE: usize = 8;

/// One stretch of pixels tallied: per-bin sums `[count, r, g, b]`, the runs it finished,
/// and its first and last runs, which may continue into the neighbouring stretches.
struct Stretch<V> {
    bins: Vec<[u64; 4]>,
    votes: V,
    /// The leading run `(pixel, length)`; `None` only for an empty stretch.
    first: Option<(u32, u64)>,
    /// The trailing run, never cast; `None` when the leading run fills the stretch.
    last: Option<(u32, u64)>,
}

/// Tally one stretch. The leading run is cast before any other when `cast_first` (the
/// stretch starts the image), else left to the caller, who knows whether it continues a
/// run of the stretch before. The trailing run is always left to the caller.
fn tally<V: VoteSink>(pixels: &[[u8; 4]], mut votes: V, cast_first: bool) -> Stretch<V> {
    let mut sums = Sums::new();
    let pixel = |px: &[u8; 4]| u32::from_le_bytes(*px);
    let Some(first) = pixels.first().map(pixel) else {
        return Stretch {
            bins: sums.into_bins(),
            votes,
            first: None,
            last: None,
        };
    };
    let lead = pixels.iter().take_while(|&px| pixel(px) == first).count();
    add_pixels(&mut sums, first, lead as u64);
    let first_run = Some((first, lead as u64));
    let pixels = &pixels[lead..];
    let Some(second) = pixels.first().map(pixel) else {
        return Stretch {
            bins: sums.into_bins(),
            votes,
            first: first_run,
            last: None,
        };
    };
    if cast_first {
        votes.vote(first, lead as u64);
    }
    let mut runs = Runs {
        prev: second,
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
    Stretch {
        bins: sums.into_bins(),
        votes,
        first: first_run,
        last: Some((runs.prev, runs.run)),
    }
}

/// Images from this many pixels up are tallied as two halves on two threads, where the
/// machine has two cores ([`Threads::Auto`]).
pub const SPLIT_MIN_PIXELS: usize = 4 << 20;

/// How the pixel pass may use threads. Every choice gives the same histogram, hence the
/// same palette: the split pass reproduces the sequential one exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threads {
    /// Two threads from [`SPLIT_MIN_PIXELS`] up when the machine has two cores, else one.
    #[default]
    Auto,
    /// One sequential pass.
    One,
    /// Two halves on two threads whatever the image size (to test and measure the split).
    Two,
}

/// The one pass: a sequential tally, or two halves tallied at once and joined.
pub(super) fn histogram(rgba: &[u8], threads: Threads) -> Histogram {
    let (pixels, _) = rgba.as_chunks::<4>();
    let split = match threads {
        Threads::Auto => {
            pixels.len() >= SPLIT_MIN_PIXELS
                && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
        }
        Threads::One => false,
        Threads::Two => pixels.len() >= 2,
    };
    let (bins, votes) = if split {
        let (front, back) = pixels.split_at(pixels.len() / 2);
        let (front, back) = std::thread::scope(|scope| {
            let back = scope.spawn(|| tally(back, VoteLog::default(), false));
            let front = tally(front, VoteTable(vec![(0u32, 0u64); BINS]), true);
            let back = back
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (front, back)
        });
        join(front, back)
    } else {
        let whole = tally(pixels, VoteTable(vec![(0u32, 0u64); BINS]), true);
        let mut votes = whole.votes;
        if let Some((px, run)) = whole.last.or(whole.first) {
            votes.vote(px, run);
        }
        (whole.bins, votes.0)
    };
    let points = points_of(&bins);
    Histogram { votes, points }
}

/// The non-empty bins of per-bin sums `[count, r, g, b]` as weighted OKLab points, in
/// bin order.
pub(super) fn points_of(bins: &[[u64; 4]]) -> Vec<Point> {
    bins.iter()
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
        .collect()
}

/// The two halves as the sequential pass sees them: the sums add up; the run crossing the
/// middle is joined and cast, then the back half's finished runs in their order, then its
/// trailing run.
fn join(front: Stretch<VoteTable>, back: Stretch<VoteLog>) -> (Vec<[u64; 4]>, Vec<(u32, u64)>) {
    let mut bins = front.bins;
    for (sum, add) in bins.iter_mut().zip(&back.bins) {
        for (s, a) in sum.iter_mut().zip(add) {
            *s += a;
        }
    }
    let mut votes = front.votes;
    // The run still open where the front half ends.
    let mut open = front.last.or(front.first);
    if let Some((px, run)) = back.first {
        open = match open {
            Some((prev, len)) if prev == px => Some((px, len + run)),
            Some((prev, len)) => {
                votes.vote(prev, len);
                Some((px, run))
            }
            None => Some((px, run)),
        };
        if back.last.is_some() {
            // The back half's leading run ended inside it, before any run it recorded.
            if let Some((px, run)) = open {
                votes.vote(px, run);
            }
            for &(px, run) in &back.votes.0 {
                votes.vote(px, u64::from(run));
            }
            open = back.last;
        }
    }
    if let Some((px, run)) = open {
        votes.vote(px, run);
    }
    (bins, votes.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantize::kmeans::SplitMix;

    const ALL_THREADS: [Threads; 3] = [Threads::One, Threads::Two, Threads::Auto];

    fn to_rgba(pixels: &[u32]) -> Vec<u8> {
        pixels.iter().flat_map(|p| p.to_le_bytes()).collect()
    }

    /// The plain definition of the pass: per-bin pixel counts, and one Boyer-Moore vote
    /// per maximal run of one exact colour, in image order.
    type Tally = (Vec<(u32, f64)>, Vec<(u32, u64)>);

    fn plain(pixels: &[u32]) -> Tally {
        let mut counts = vec![0u64; BINS];
        for &p in pixels {
            if p >> 24 != 0 {
                counts[bin_of(p)] += 1;
            }
        }
        let mut votes = vec![(0u32, 0u64); BINS];
        for run in pixels.chunk_by(|a, b| a == b) {
            cast_vote(&mut votes, run[0], run.len() as u64);
        }
        let weights = counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(bin, &n)| (bin as u32, n as f64))
            .collect();
        (weights, votes)
    }

    fn weights(h: &Histogram) -> Vec<(u32, f64)> {
        h.points.iter().map(|p| (p.bin, p.weight)).collect()
    }

    fn assert_plain(pixels: &[u32], threads: Threads, what: &str) {
        let hist = histogram(&to_rgba(pixels), threads);
        let (want_weights, want_votes) = plain(pixels);
        assert_eq!(weights(&hist), want_weights, "{what} {threads:?}");
        assert_eq!(hist.votes, want_votes, "{what} {threads:?}");
    }

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
        for threads in ALL_THREADS {
            let hist = histogram(&rgba, threads);
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
    }

    /// The fast and slow paths of the pass, the two hot tables, and the split into halves
    /// must all add up to the plain definition.
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
        for threads in ALL_THREADS {
            assert_plain(&pixels, threads, "random runs");
        }
        assert!(
            plain(&pixels).1.iter().any(|v| v.1 > 0),
            "the image has solid runs"
        );
    }

    /// Where the middle falls decides what the halves see: inside a run, on a run's edge,
    /// in a stretch that is one run, or in an image of one or two pixels. Colours share a
    /// bin so every ballot counts against the others: merging the halves' votes (instead
    /// of replaying the back half's runs after the front's) fails here.
    #[test]
    fn the_split_reproduces_the_sequential_pass_wherever_the_middle_falls() {
        let [a, b, c] =
            [[8u8, 8, 8, 255], [9, 9, 9, 255], [10, 10, 10, 255]].map(u32::from_le_bytes);
        let runs = |spec: &[(u32, usize)]| -> Vec<u32> {
            spec.iter()
                .flat_map(|&(px, n)| std::iter::repeat_n(px, n))
                .collect()
        };
        let cases: Vec<(&str, Vec<u32>)> = vec![
            ("ballot order", runs(&[(a, 4), (b, 4), (c, 4), (b, 4)])),
            ("run across the middle", runs(&[(b, 3), (a, 10), (c, 5)])),
            (
                "short halves of a long run",
                runs(&[(c, 9), (a, 2), (a, 2), (b, 9)]),
            ),
            ("middle on a run edge", runs(&[(a, 6), (b, 6)])),
            ("back half one run", runs(&[(a, 2), (c, 4), (b, 6)])),
            ("front half one run", runs(&[(a, 6), (b, 2), (c, 4)])),
            ("one run", runs(&[(b, 12)])),
            ("two pixels", runs(&[(a, 1), (b, 1)])),
            ("one pixel", runs(&[(a, 1)])),
            ("empty", Vec::new()),
        ];
        for (what, pixels) in &cases {
            for threads in ALL_THREADS {
                assert_plain(pixels, threads, what);
            }
        }
        // Many short random sequences over the three colours, split everywhere.
        let mut rng = SplitMix(3);
        for len in 2..200 {
            let pixels: Vec<u32> = (0..len)
                .scan(a, |cur, _| {
                    if rng.next_f64() < 0.3 {
                        *cur = [a, b, c][(rng.next_f64() * 3.0) as usize];
                    }
                    Some(*cur)
                })
                .collect();
            assert_plain(&pixels, Threads::Two, "random");
        }
    }

    /// An image at the split size: one thread or two give the plain definition, and a
    /// run across the middle votes with its full length.
    #[test]
    fn a_large_image_tallies_the_same_on_one_thread_or_two() {
        let pixels = SPLIT_MIN_PIXELS + 1001;
        let mut rng = SplitMix(5);
        let solid = u32::from_le_bytes([37, 99, 235, 255]);
        let (run_start, run_len) = (pixels / 2 - 500, 1000);
        let image: Vec<u32> = (0..pixels)
            .map(|i| {
                if (run_start..run_start + run_len).contains(&i) {
                    solid
                } else {
                    let v = (rng.next_f64() * 200.0) as u8;
                    u32::from_le_bytes([v, v / 2, 255 - v, 255])
                }
            })
            .collect();
        for threads in ALL_THREADS {
            assert_plain(&image, threads, "large");
        }
        let hist = histogram(&to_rgba(&image), Threads::Two);
        assert_eq!(
            hist.votes[bin_of(solid)],
            (solid & 0x00ff_ffff, run_len as u64)
        );
    }
}
