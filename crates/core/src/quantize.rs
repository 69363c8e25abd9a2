//! Pixels -> weighted palette: one pass into an sRGB histogram, then k-means in OKLab over the bins.
//! Cost grows with the pixel count once; everything after the pass works on at most 32768 bins.

//!
//! `histogram` makes the pass, `kmeans` clusters its bins, `peaks` keeps solid fills that
//! k-means would drop, `quality` measures the result against the image.

mod histogram;
mod kmeans;
mod peaks;
mod quality;

pub use self::quality::{Quality, quality, quality_of_colors};

#[cfg(test)]
pub(crate) use self::histogram::bin_cube;
pub(crate) use self::histogram::{BINS, bin_of};
pub use self::histogram::{SPLIT_MIN_PIXELS, Threads};

use self::histogram::{Point, histogram, points_of};
use self::kmeans::{MAX_ITERATIONS, SEED, linear_cost, merge_close, refine, restarts, seed};
use self::peaks::{distinct_peaks, rescue_peaks, solid_peaks};
use crate::Error;
use crate::color::{Oklab, annotate, oklab_to_rgb};
use crate::image::DecodedImage;
use crate::roles::assign_roles;
use crate::tokens::Palette;

/// Largest palette a caller may ask for.
pub const MAX_COLORS: usize = 50;

pub(crate) fn check_max_colors(max_colors: usize) -> Result<(), Error> {
    if (1..=MAX_COLORS).contains(&max_colors) {
        Ok(())
    } else {
        Err(Error::InvalidMaxColors(max_colors))
    }
}

/// The raw result of quantization: colours with their pixel shares, share-descending.
pub fn quantize(img: &DecodedImage, max_colors: usize) -> Result<Vec<([u8; 3], f64)>, Error> {
    quantize_with(img, max_colors, Threads::Auto)
}

/// [`quantize`] with a choice of [`Threads`] (the result does not depend on it).
pub fn quantize_with(
    img: &DecodedImage,
    max_colors: usize,
    threads: Threads,
) -> Result<Vec<([u8; 3], f64)>, Error> {
    check_max_colors(max_colors)?;
    let hist = histogram(&img.rgba, threads);
    let points = &hist.points[..];
    if points.is_empty() {
        return Ok(Vec::new());
    }
    let total: f64 = points.iter().map(|p| p.weight).sum();
    let peaks = distinct_peaks(&solid_peaks(&hist, total));
    let mut out: Vec<([u8; 3], f64)> = cluster(points, &peaks, max_colors)
        .into_iter()
        .map(|(rgb, weight)| (rgb, weight / total))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(out)
}

/// At most `k` colours for `points`, each with the weight of the points nearest to it (in
/// no particular order). `peaks` are solid colours to keep (see [`peaks`]).
fn cluster(points: &[Point], peaks: &[Point], k: usize) -> Vec<([u8; 3], f64)> {
    // A few fixed seeds, keep the best finished result: k-means only finds a local
    // optimum, and over at most 32768 bins a restart costs far less than the pixel pass.
    let k = k.min(points.len());
    if k == 0 {
        return Vec::new();
    }
    let mut best: Option<(f64, Vec<Oklab>, Vec<bool>)> = None;
    for attempt in 0..restarts(points.len(), k) {
        let mut centers = seed(points, k, SEED.wrapping_add(attempt));
        let mut pinned = vec![false; centers.len()];
        refine(points, &mut centers, &pinned, MAX_ITERATIONS);
        if rescue_peaks(points, peaks, &mut centers, &mut pinned) {
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
        return Vec::new();
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
            Some(e) => e.1 += w,
            None => out.push((rgb, *w)),
        }
    }
    out
}

/// Plain k-means over per-bin sums `[count, r, g, b]` (any binning): at most `k`
/// colours with their pixel counts, heaviest first. Used to summarise a subset of an
/// image's pixels, such as the ones a drift check finds off palette.
pub(crate) fn cluster_bins(bins: &[[u64; 4]], k: usize) -> Vec<([u8; 3], u64)> {
    let points = points_of(bins);
    let mut out: Vec<([u8; 3], u64)> = cluster(&points, &[], k)
        .into_iter()
        // Weights are sums of whole pixel counts, exact in f64 far beyond any image size.
        .map(|(rgb, weight)| (rgb, weight as u64))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// Extract an annotated palette of at most `max_colors` colours, with suggested roles.
///
/// Deterministic: the same pixels always give the same palette. An image whose pixels are
/// all fully transparent gives an empty palette.
pub fn extract_palette(img: &DecodedImage, max_colors: usize) -> Result<Palette, Error> {
    extract_palette_with(img, max_colors, Threads::Auto)
}

/// [`extract_palette`] with a choice of [`Threads`] (the result does not depend on it).
pub fn extract_palette_with(
    img: &DecodedImage,
    max_colors: usize,
    threads: Threads,
) -> Result<Palette, Error> {
    let colors = quantize_with(img, max_colors, threads)?;
    let mut tokens: Vec<_> = colors
        .iter()
        .map(|&(rgb, share)| annotate(rgb, share))
        .collect();
    assign_roles(&mut tokens);
    Ok(Palette { colors: tokens })
}
