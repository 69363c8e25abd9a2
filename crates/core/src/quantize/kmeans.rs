//! Weighted k-means in OKLab over histogram points: k-means++ seeding, Lloyd rounds with
//! Hamerly's bound and a geometric-median step, and merging of near-duplicate centres.

use super::histogram::Point;
use crate::color::Oklab;

/// Centroids closer than this in OKLab are one colour to the eye (about one just-noticeable
/// difference), so they are merged: a palette should not offer #ffffff and #fefefe.
pub(super) const MERGE_DISTANCE: f64 = 0.02;

/// Lloyd refinement stops when no bin changes cluster, or after this many rounds.
pub(super) const MAX_ITERATIONS: usize = 60;

/// Distances below this count as this in the median step, so a centre seeded on a bin
/// can still move (well under a just-noticeable difference).
pub(super) const WEISZFELD_FLOOR: f64 = 0.01;

/// Seeding + refinement runs, the best kept...
const RESTARTS: u64 = 4;
/// ... as many as fit in this many point-centre pairs (at least one). Restarts help most
/// where there are few bins (screenshots, flat art); on tens of thousands of noisy bins at
/// large `k` they cost hundreds of milliseconds and change the result very little.
const RESTART_BUDGET: u64 = 2_000_000;

pub(super) fn restarts(points: usize, k: usize) -> u64 {
    (RESTART_BUDGET / (points as u64 * k as u64).max(1)).clamp(1, RESTARTS)
}

/// Weighted sum of distances to the nearest centre: the quality metric, over the bins.
pub(super) fn linear_cost(points: &[Point], centers: &[Oklab]) -> f64 {
    points
        .iter()
        .map(|p| p.weight * nearest(centers, p.lab).1.sqrt())
        .sum()
}

/// Fixed seed of the k-means++ sampler: same input, same palette, on every machine.
pub(super) const SEED: u64 = 0x00C0_FFEE_D00D_F00D;

/// SplitMix64: tiny, fixed, and identical everywhere (no dependency on a rand version).
pub(super) struct SplitMix(pub(super) u64);

impl SplitMix {
    pub(super) fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(super) fn nearest(centers: &[Oklab], p: Oklab) -> (usize, f64) {
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
pub(super) fn nearest_two(centers: &[Oklab], p: Oklab) -> (usize, f64, f64) {
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
pub(super) fn seed(points: &[Point], k: usize, seed: u64) -> Vec<Oklab> {
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
pub(super) fn refine(
    points: &[Point],
    centers: &mut [Oklab],
    pinned: &[bool],
    max_iter: usize,
) -> Vec<usize> {
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
pub(super) fn merge_close(
    points: &[Point],
    centers: &mut Vec<Oklab>,
    pinned: &mut Vec<bool>,
) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
