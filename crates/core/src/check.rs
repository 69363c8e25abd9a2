//! Design drift check: how much of a screen is painted with a given palette, and with what
//! else. Pixels go to their nearest palette colour in OKLab; the rest is drift, clustered.
//!
//! The rules:
//! - Fully transparent pixels do not count (as in extraction); shares are fractions of the
//!   counted pixels.
//! - A pixel is **on palette** when it lies within `tolerance` (an OKLab distance) of a
//!   palette colour, or of a blend of two palette colours: anti-aliased edges, gradients
//!   and translucent overlays between two palette colours are not drift. A blend is a mix
//!   taken in OKLab, on the sRGB values (what most renderers and CSS gradients do) or in
//!   linear light; the curves are followed as polylines of 16 pieces.
//! - An on-palette pixel counts for its **nearest** palette colour (ties: the earlier one).
//!   For a blend between two colours that is the nearer end, unless a third palette colour
//!   is nearer still.
//! - The other pixels are **off palette**: they are marked in the mask, and clustered (the
//!   extraction's k-means over their histogram) into at most [`OFF_PALETTE_COLORS`]
//!   colours, each with its share, nearest palette colour and OKLab distance to it.
//! - **score** = 100 x the on-palette share: 100 when every counted pixel is on palette
//!   (or none is counted), 98 when a 2% button is off.
//!
//! Speed: the verdict depends only on a pixel's colour. It is decided once for a whole
//! cube of colours (8, 4 or 2 values per channel) where a bound proves they all share it,
//! else once per exact colour, and kept in small tables that every pixel then reads.
//! Large images are checked in two halves on two threads; every count is an integer sum,
//! so the report is the same on any machine.

mod geometry;
mod tokens_file;

use serde::{Deserialize, Serialize};

pub use self::tokens_file::palette_from_tokens_file;

use self::geometry::{Geometry, Scratch, Verdict};
use crate::Error;
use crate::color::{parse_hex, rgb_to_oklab, to_hex};
use crate::image::DecodedImage;
use crate::quantize::{BINS, SPLIT_MIN_PIXELS, Threads, bin_of, cluster_bins};

/// Default tolerance: 0.04 in OKLab, about two just-noticeable differences (CSS Color 4
/// takes 0.02 as one). JPEG noise and 8-bit rounding of blends stay well inside it; a
/// neighbouring shade of a design-system scale (blue-600 vs blue-700, about 0.06) does not.
pub const DEFAULT_TOLERANCE: f64 = 0.04;

/// Largest palette a check accepts: every pair's blends are considered, so the work grows
/// with the square of its size.
pub const MAX_PALETTE_COLORS: usize = 128;

/// At most this many off-palette colours are reported.
pub const OFF_PALETTE_COLORS: usize = 8;

/// One colour of the palette a screen is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaletteColor {
    pub name: String,
    /// `#rrggbb` (anything [`parse_hex`] reads).
    pub hex: String,
}

/// How much of the screen one palette colour covers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TokenCoverage {
    /// Index into the palette given to [`check`].
    pub index: usize,
    /// Fraction of the counted pixels, 0..1.
    pub share: f64,
}

/// One cluster of off-palette pixels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OffPalette {
    /// `#rrggbb`, lowercase: the cluster's colour.
    pub hex: String,
    /// Fraction of the counted pixels, 0..1.
    pub share: f64,
    /// Index into the palette of the nearest palette colour.
    pub nearest: usize,
    /// OKLab distance from `hex` to that colour.
    pub distance: f64,
}

/// The result of a drift check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// Conformance 0..=100 (see the module docs).
    pub score: f64,
    pub tolerance: f64,
    /// One entry per palette colour, in palette order.
    pub tokens: Vec<TokenCoverage>,
    /// Largest share first (ties: hex ascending).
    pub off_palette: Vec<OffPalette>,
    pub width: u32,
    pub height: u32,
    /// One bit per pixel, set where the pixel is off palette: rows of
    /// [`CheckReport::mask_stride`] bytes, most significant bit first (PNG's layout).
    #[serde(skip)]
    pub mask: Vec<u8>,
}

impl CheckReport {
    /// Bytes per row of [`CheckReport::mask`].
    pub fn mask_stride(&self) -> usize {
        mask_stride(self.width)
    }

    /// Whether the pixel at (`x`, `y`) is off palette (`false` outside the image).
    pub fn is_off(&self, x: u32, y: u32) -> bool {
        if x >= self.width || y >= self.height {
            return false;
        }
        let byte = y as usize * self.mask_stride() + x as usize / 8;
        self.mask[byte] & (0x80 >> (x % 8)) != 0
    }

    /// The mask as a PNG of the image's size: opaque magenta where a pixel is off palette,
    /// transparent elsewhere (a 1-bit indexed PNG, small enough to overlay in a browser).
    pub fn mask_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let written = (|| -> Result<(), png::EncodingError> {
            let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
            encoder.set_color(png::ColorType::Indexed);
            encoder.set_depth(png::BitDepth::One);
            encoder.set_palette(&[0, 0, 0, 255, 0, 255][..]);
            encoder.set_trns(&[0, 255][..]);
            encoder.set_compression(png::Compression::Fast);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&self.mask)?;
            writer.finish()
        })();
        // Encoding a well-formed buffer into memory has no way to fail; if it ever did, an
        // empty answer is safer than a panic.
        if written.is_err() {
            out.clear();
        }
        out
    }
}

fn mask_stride(width: u32) -> usize {
    (width as usize).div_ceil(8)
}

/// Check `image` against `palette` with [`DEFAULT_TOLERANCE`] or another `tolerance`
/// (OKLab distance, `0 < tolerance <= 1`). See the module docs for the rules.
pub fn check(
    image: &DecodedImage,
    palette: &[PaletteColor],
    tolerance: f64,
) -> Result<CheckReport, Error> {
    check_with(image, palette, tolerance, Threads::Auto)
}

/// [`check`] with a choice of [`Threads`] (the report does not depend on it).
pub fn check_with(
    image: &DecodedImage,
    palette: &[PaletteColor],
    tolerance: f64,
    threads: Threads,
) -> Result<CheckReport, Error> {
    if !(tolerance > 0.0 && tolerance <= 1.0) {
        return Err(Error::InvalidTolerance(tolerance));
    }
    let colors = parse_palette(palette)?;
    let geometry = Geometry::new(&colors, tolerance);

    let (width, height) = (image.width, image.height);
    let stride = mask_stride(width);
    let mut mask = vec![0u8; stride * height as usize];
    let row_bytes = (width as usize * 4).max(4);
    let rows = || image.rgba.chunks_exact(row_bytes).take(height as usize);
    let split = match threads {
        Threads::Auto => {
            image.pixel_count() >= SPLIT_MIN_PIXELS as u64
                && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
        }
        Threads::One => false,
        Threads::Two => height >= 2,
    };
    let tokens = colors.len();
    let (on, off) = if split {
        let half = height as usize / 2;
        let (front_mask, back_mask) = mask.split_at_mut(half * stride);
        let (front, back) = std::thread::scope(|scope| {
            let back = scope.spawn(|| {
                let mut pass = Pass::new(&geometry);
                pass.rows(rows().skip(half), back_mask, stride);
                pass.finish(tokens)
            });
            let mut front = Pass::new(&geometry);
            front.rows(rows().take(half), front_mask, stride);
            let back = back
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (front.finish(tokens), back)
        });
        // Integer sums: the order of the halves does not matter.
        let on = front.0.iter().zip(&back.0).map(|(a, b)| a + b).collect();
        let mut off = front.1;
        for (a, b) in off.iter_mut().zip(&back.1) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        (on, off)
    } else {
        let mut pass = Pass::new(&geometry);
        pass.rows(rows(), &mut mask, stride);
        pass.finish(tokens)
    };

    let on_total: u64 = on.iter().sum();
    let total = on_total + off.iter().map(|s| s[0]).sum::<u64>();
    let share = |n: u64| {
        if total == 0 {
            0.0
        } else {
            n as f64 / total as f64
        }
    };
    let score = if total == 0 {
        100.0
    } else {
        100.0 * on_total as f64 / total as f64
    };
    let tokens = on
        .iter()
        .enumerate()
        .map(|(index, &n)| TokenCoverage {
            index,
            share: share(n),
        })
        .collect();
    let mut off_palette: Vec<OffPalette> = cluster_bins(&off, OFF_PALETTE_COLORS)
        .into_iter()
        .map(|(rgb, n)| {
            let lab = rgb_to_oklab(rgb);
            let (nearest, distance) = (0..colors.len())
                .map(|i| (i, geometry.token(i).distance(lab)))
                .fold(
                    (0, f64::INFINITY),
                    |best, x| if x.1 < best.1 { x } else { best },
                );
            OffPalette {
                hex: to_hex(rgb),
                share: share(n),
                nearest,
                distance,
            }
        })
        .collect();
    off_palette.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.hex.cmp(&b.hex)));
    Ok(CheckReport {
        score,
        tolerance,
        tokens,
        off_palette,
        width,
        height,
        mask,
    })
}

fn parse_palette(palette: &[PaletteColor]) -> Result<Vec<[u8; 3]>, Error> {
    if palette.is_empty() {
        return Err(Error::EmptyPalette);
    }
    if palette.len() > MAX_PALETTE_COLORS {
        return Err(Error::TooManyPaletteColors(palette.len()));
    }
    palette
        .iter()
        .enumerate()
        .map(|(index, c)| {
            parse_hex(&c.hex).ok_or_else(|| Error::InvalidPaletteColor {
                index,
                name: printable(&c.name),
            })
        })
        .collect()
}

/// A user-given name made safe to show in a message: printable characters only, short.
pub(crate) fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .take(64)
        .collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// Format and direction characters that would hide or reorder text on a terminal.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

// Verdict codes in the lookup tables: palette colour `i` is `ON + i`, which fits a byte
// because a palette has at most 128 colours.
const UNKNOWN: u8 = 0;
const UNSURE: u8 = 1;
const OFF: u8 = 2;
const ON: u8 = 3;
const _: () = assert!(MAX_PALETTE_COLORS + ON as usize <= u8::MAX as usize + 1);

fn encode(verdict: Option<Verdict>) -> u8 {
    match verdict {
        None => UNSURE,
        Some(Verdict::Off) => OFF,
        Some(Verdict::On(i)) => ON + i as u8,
    }
}

/// The verdict codes of the 64 colours of a cell (a cube of 4 values per channel),
/// [`UNKNOWN`] until decided.
type Block = [u8; 64];

/// Cells: 6 bits per channel.
const CELL_BITS: u32 = 6;
const CELLS: usize = 1 << (3 * CELL_BITS);

/// A cell not looked at yet.
const NONE: u16 = u16::MAX;
/// A cell whose block index does not fit 16 bits (only images with tens of thousands of
/// boundary cells): looked up in [`Pass::overflow`] instead.
const FAR: u16 = u16::MAX - 1;

/// The cell of a colour.
#[inline(always)]
fn cell_of(px: u32) -> usize {
    let [r, g, b, _] = px.to_le_bytes();
    (usize::from(r >> 2) << 12 | usize::from(g >> 2) << 6 | usize::from(b >> 2)) & (CELLS - 1)
}

/// Which colour of its cell a colour is.
#[inline(always)]
fn exact_of(px: u32) -> usize {
    let [r, g, b, _] = px.to_le_bytes();
    usize::from(r & 3) << 4 | usize::from(g & 3) << 2 | usize::from(b & 3)
}

/// Which cube of 2 values per channel of its cell a colour is in.
fn eighth_of(px: u32) -> usize {
    let [r, g, b, _] = px.to_le_bytes();
    usize::from(r & 2) << 1 | usize::from(g & 2) | usize::from(b & 2) >> 1
}

/// Pixels of one mask byte, compared at once to find runs of one colour.
const LANE: usize = 8;

/// Bits per channel of the off-palette sums: 4096 bins keep the per-pixel add in the
/// fastest cache, and are plenty to find a few off-palette colours.
const OFF_BITS: u32 = 4;
const OFF_BINS: usize = 1 << (3 * OFF_BITS);

/// Sums `[count, r, g, b]` of off-palette pixels per coarse bin, in two tiers like the
/// extraction's (one 64-bit word of 16-bit fields per bin, flushed every 257 pixels), so
/// a pixel costs one add on a 32 KiB table.
struct OffSums {
    hot: Box<[u64; OFF_BINS]>,
    cold: Vec<[u64; 4]>,
}

impl OffSums {
    fn new() -> Self {
        Self {
            hot: vec![0; OFF_BINS]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("the vector has OFF_BINS entries")),
            cold: vec![[0; 4]; OFF_BINS],
        }
    }

    #[inline(always)]
    fn bin(px: u32) -> usize {
        let [r, g, b, _] = px.to_le_bytes();
        let shift = 8 - OFF_BITS;
        (usize::from(r >> shift) << (2 * OFF_BITS)
            | usize::from(g >> shift) << OFF_BITS
            | usize::from(b >> shift))
            & (OFF_BINS - 1)
    }

    /// Adds pixel `px` when `off` is 1, nothing when it is 0, without a branch on it.
    #[inline(always)]
    fn add_one(&mut self, px: u32, off: u64) {
        let bin = Self::bin(px);
        if self.hot[bin] >> 48 >= 257 {
            self.flush(bin);
        }
        let packed = u64::from(px & 0xff)
            | u64::from(px & 0xff00) << 8
            | u64::from(px & 0xff_0000) << 16
            | 1 << 48;
        self.hot[bin] += packed * off;
    }

    /// Adds `n` pixels of colour `px` straight to the wide sums (runs of one colour).
    fn add_run(&mut self, px: u32, n: u64) {
        let [r, g, b, _] = px.to_le_bytes();
        let c = &mut self.cold[Self::bin(px)];
        c[0] += n;
        c[1] += n * u64::from(r);
        c[2] += n * u64::from(g);
        c[3] += n * u64::from(b);
    }

    fn flush(&mut self, bin: usize) {
        let bin = bin & (OFF_BINS - 1);
        let w = self.hot[bin];
        let c = &mut self.cold[bin];
        c[0] += w >> 48;
        c[1] += w & 0xffff;
        c[2] += (w >> 16) & 0xffff;
        c[3] += (w >> 32) & 0xffff;
        self.hot[bin] = 0;
    }

    fn into_bins(mut self) -> Vec<[u64; 4]> {
        for bin in 0..OFF_BINS {
            self.flush(bin);
        }
        self.cold
    }
}

/// The per-pixel pass over a stretch of rows. Every visible pixel takes the same path,
/// two lookups and three adds, without a branch on its verdict: photos, whose neighbours
/// rarely share one, would otherwise pay a mispredicted branch every few pixels.
struct Pass<'a> {
    geometry: &'a Geometry,
    /// Per histogram bin (8 values per channel), its verdict code once met: a bin whose
    /// colours provably share one spares classifying its cells.
    bins: Vec<u8>,
    /// Per cell, its block in `blocks` ([`NONE`] until met). A cell whose colours provably
    /// share a verdict points to the shared block of that verdict. 16 bits keep the table
    /// at 512 KiB, within a core's cache.
    cells: Box<[u16; CELLS]>,
    overflow: std::collections::BTreeMap<usize, u32>,
    blocks: Vec<Block>,
    /// Per block of an unsure cell, its cubes of 2 values per channel, decided when first
    /// met: they spare deciding each of their colours apart.
    eighths: Vec<Option<[u8; 8]>>,
    /// The shared block of each verdict code (they come first, so their indices are small).
    uniform: [u32; 256],
    scratch: Scratch,
    /// Pixels per verdict code, twice: even and odd pixels count apart so that runs of one
    /// verdict do not wait on their own stores.
    counts: [[u64; 256]; 2],
    off: OffSums,
}

impl<'a> Pass<'a> {
    fn new(geometry: &'a Geometry) -> Self {
        Self {
            geometry,
            bins: vec![UNKNOWN; BINS],
            cells: vec![NONE; CELLS]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("the vector has CELLS entries")),
            overflow: std::collections::BTreeMap::new(),
            blocks: Vec::new(),
            eighths: Vec::new(),
            uniform: [u32::MAX; 256],
            scratch: Scratch::default(),
            counts: [[0; 256]; 2],
            off: OffSums::new(),
        }
    }

    /// The verdict code of visible pixel `px` (RGBA as a little-endian word).
    #[inline(always)]
    fn verdict(&mut self, px: u32) -> u8 {
        let entry = self.cells[cell_of(px)];
        let block = if entry < FAR {
            u32::from(entry)
        } else {
            self.far_cell(px)
        };
        let code = self.blocks[block as usize][exact_of(px)];
        if code != UNKNOWN {
            return code;
        }
        self.classify_colour(px, block as usize)
    }

    /// The block of a cell not met yet, or of one whose index does not fit 16 bits.
    #[cold]
    fn far_cell(&mut self, px: u32) -> u32 {
        match self.cells[cell_of(px)] {
            NONE => self.classify_cell(px),
            _ => self.overflow[&cell_of(px)],
        }
    }

    /// The shared block of verdict `code`.
    fn uniform(&mut self, code: u8) -> u32 {
        if self.uniform[usize::from(code)] == u32::MAX {
            self.blocks.push([code; 64]);
            self.eighths.push(None);
            self.uniform[usize::from(code)] = (self.blocks.len() - 1) as u32;
        }
        self.uniform[usize::from(code)]
    }

    /// The first pixel of a cell: the verdict of its bin or of the cell if all their
    /// colours share one, else an empty block of its own.
    #[cold]
    fn classify_cell(&mut self, px: u32) -> u32 {
        let [r, g, b, _] = px.to_le_bytes();
        let cube = |size: u8| {
            let lo = [r, g, b].map(|c| c & !(size - 1));
            (lo, lo.map(|c| c | (size - 1)))
        };
        let bin = bin_of(px);
        if self.bins[bin] == UNKNOWN {
            let (lo, hi) = cube(8);
            self.bins[bin] = encode(self.geometry.classify_cube(lo, hi, &mut self.scratch));
        }
        let mut code = self.bins[bin];
        if code == UNSURE {
            let (lo, hi) = cube(4);
            code = encode(self.geometry.classify_cube(lo, hi, &mut self.scratch));
        }
        let block = if code == UNSURE {
            self.blocks.push([UNKNOWN; 64]);
            self.eighths.push(Some([UNKNOWN; 8]));
            (self.blocks.len() - 1) as u32
        } else {
            self.uniform(code)
        };
        match u16::try_from(block) {
            Ok(small) if small < FAR => self.cells[cell_of(px)] = small,
            _ => {
                self.cells[cell_of(px)] = FAR;
                self.overflow.insert(cell_of(px), block);
            }
        }
        block
    }

    /// The first pixel of one colour in an unsure cell: the verdict of its cube of 2 values
    /// per channel if that has one, else of the colour itself.
    #[cold]
    fn classify_colour(&mut self, px: u32, block: usize) -> u8 {
        let [r, g, b, _] = px.to_le_bytes();
        let (geometry, scratch) = (self.geometry, &mut self.scratch);
        let mut code = UNSURE;
        // Uniform blocks hold no UNKNOWN, so only unsure cells get here.
        if let Some(eighths) = &mut self.eighths[block] {
            let eighth = &mut eighths[eighth_of(px)];
            if *eighth == UNKNOWN {
                let lo = [r, g, b].map(|c| c & !1);
                *eighth = encode(geometry.classify_cube(lo, lo.map(|c| c | 1), scratch));
            }
            code = *eighth;
        }
        if code == UNSURE {
            code = encode(Some(geometry.classify([r, g, b], scratch)));
        }
        self.blocks[block][exact_of(px)] = code;
        code
    }

    /// Counts `n` visible pixels of colour `px` with verdict `code`; returns their mask
    /// bit (1 when off palette).
    #[inline(always)]
    fn count(&mut self, px: u32, code: u8, parity: usize) -> u8 {
        self.counts[parity & 1][usize::from(code)] += 1;
        let off = u8::from(code == OFF);
        self.off.add_one(px, u64::from(off));
        off
    }

    fn rows<'p>(&mut self, rows: impl Iterator<Item = &'p [u8]>, mask: &mut [u8], stride: usize) {
        if stride == 0 {
            return;
        }
        let pixel = |p: &[u8; 4]| u32::from_le_bytes(*p);
        for (row, mask_row) in rows.zip(mask.chunks_exact_mut(stride)) {
            let (lanes, rest) = row.as_chunks::<4>().0.as_chunks::<LANE>();
            for (lane, mask_byte) in lanes.iter().zip(mask_row.iter_mut()) {
                // A lane of one colour (flat fills) takes one lookup; compared without a
                // branch per pixel, so photos, whose lanes never are, pay one per lane.
                let first = pixel(&lane[0]);
                let uniform = lane.iter().fold(true, |all, p| all & (pixel(p) == first));
                if uniform {
                    if first >> 24 != 0 {
                        let code = self.verdict(first);
                        self.counts[0][usize::from(code)] += LANE as u64;
                        if code == OFF {
                            self.off.add_run(first, LANE as u64);
                            *mask_byte = 0xff;
                        }
                    }
                    continue;
                }
                let mut bits = 0;
                for (i, p) in lane.iter().enumerate() {
                    let px = pixel(p);
                    // Transparent pixels are not counted.
                    if px >> 24 != 0 {
                        let code = self.verdict(px);
                        bits |= self.count(px, code, i) << (7 - i);
                    }
                }
                *mask_byte = bits;
            }
            if !rest.is_empty() {
                let mut bits = 0;
                for (i, p) in rest.iter().enumerate() {
                    let px = pixel(p);
                    if px >> 24 != 0 {
                        let code = self.verdict(px);
                        bits |= self.count(px, code, i) << (7 - i);
                    }
                }
                mask_row[lanes.len()] = bits;
            }
        }
    }

    /// The counts: pixels per palette colour, and per coarse bin sums of the off-palette
    /// ones.
    fn finish(self, tokens: usize) -> (Vec<u64>, Vec<[u64; 4]>) {
        let on = (0..tokens)
            .map(|i| self.counts[0][usize::from(ON) + i] + self.counts[1][usize::from(ON) + i])
            .collect();
        (on, self.off.into_bins())
    }
}
