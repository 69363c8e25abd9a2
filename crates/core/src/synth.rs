//! Deterministic synthetic images for tests, benchmarks and demos (no binary fixtures).
//! Integer hashing only, so every machine generates the same pixels.

use crate::image::{DecodedImage, ImageFormat};

/// The saturated accents drawn on [`ui_screenshot`]: button blue, success green, error red,
/// warning amber.
pub const UI_ACCENTS: [[u8; 3]; 4] = [
    [0x25, 0x63, 0xeb],
    [0x16, 0xa3, 0x4a],
    [0xdc, 0x26, 0x26],
    [0xf5, 0x9e, 0x0b],
];

/// The neutrals of [`ui_screenshot`]: page, sidebar, borders, text, muted text.
pub const UI_NEUTRALS: [[u8; 3]; 5] = [WHITE, SIDEBAR, BORDER, TEXT, MUTED_TEXT];

const WHITE: [u8; 3] = [255, 255, 255];
const SIDEBAR: [u8; 3] = [0xf3, 0xf4, 0xf6];
const BORDER: [u8; 3] = [0xe5, 0xe7, 0xeb];
const TEXT: [u8; 3] = [0x11, 0x18, 0x27];
const MUTED_TEXT: [u8; 3] = [0x6b, 0x72, 0x80];

fn hash(mut x: u64) -> u64 {
    x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn hash2(x: u32, y: u32, salt: u64) -> u64 {
    hash((u64::from(x) << 32 | u64::from(y)) ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// A simple opaque RGBA canvas to draw test screens on.
pub struct Canvas {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

impl Canvas {
    pub fn new(w: u32, h: u32, bg: [u8; 3]) -> Self {
        let mut px = Vec::with_capacity(w as usize * h as usize * 4);
        for _ in 0..(w as usize * h as usize) {
            px.extend_from_slice(&[bg[0], bg[1], bg[2], 255]);
        }
        Self { w, h, px }
    }

    /// Blend `c` over the pixel with coverage `cov` in 0..=256, on the sRGB values (as
    /// most renderers anti-alias). Outside the canvas: nothing.
    pub fn blend(&mut self, x: u32, y: u32, c: [u8; 3], cov: u32) {
        if x >= self.w || y >= self.h {
            return;
        }
        let i = (y as usize * self.w as usize + x as usize) * 4;
        for (dst, &src) in self.px[i..i + 3].iter_mut().zip(&c) {
            let old = u32::from(*dst);
            *dst = ((old * (256 - cov) + u32::from(src) * cov + 128) / 256) as u8;
        }
    }

    /// A solid rectangle, clipped to the canvas.
    pub fn rect(&mut self, x0: u32, y0: u32, w: u32, h: u32, c: [u8; 3]) {
        for y in y0..(y0 + h).min(self.h) {
            for x in x0..(x0 + w).min(self.w) {
                self.blend(x, y, c, 256);
            }
        }
    }

    /// A run of glyph-like vertical and horizontal strokes with anti-aliased edges,
    /// roughly what rendered text looks like to a quantizer.
    pub fn text_line(&mut self, x0: u32, y0: u32, width: u32, size: u32, c: [u8; 3], salt: u64) {
        let mut x = x0;
        let mut n = 0u64;
        while x + size + 3 < x0 + width {
            let r = hash(salt ^ n);
            n += 1;
            if r.is_multiple_of(7) {
                x += size / 2; // word gap
                continue;
            }
            let glyph_w = size / 2 + (r >> 8) as u32 % (size / 3 + 1);
            let tall = (r >> 16).is_multiple_of(3);
            let top = if tall { y0 } else { y0 + size / 3 };
            // Left stem, right stem, and a bar, each with a partially covered edge column.
            for y in top..y0 + size {
                self.blend(x, y, c, 140);
                self.blend(x + 1, y, c, 256);
                self.blend(x + 2, y, c, 90);
                if (r >> 20).is_multiple_of(2) {
                    self.blend(x + glyph_w - 2, y, c, 200);
                    self.blend(x + glyph_w - 1, y, c, 70);
                }
            }
            for xx in x..x + glyph_w {
                self.blend(xx, y0 + size - 1, c, 180);
                if (r >> 24).is_multiple_of(2) {
                    self.blend(xx, top + (y0 + size - top) / 2, c, 120);
                }
            }
            x += glyph_w + 2;
        }
    }

    /// A horizontal gradient from `from` (left) to `to` (right): column `i` of `w` is the
    /// sRGB mix at `i / (w - 1)`, rounded.
    pub fn gradient(&mut self, x0: u32, y0: u32, w: u32, h: u32, from: [u8; 3], to: [u8; 3]) {
        let span = w.saturating_sub(1).max(1);
        for i in 0..w {
            let c = [0, 1, 2].map(|k| {
                let (a, b) = (u32::from(from[k]), u32::from(to[k]));
                ((a * (span - i) + b * i + span / 2) / span) as u8
            });
            self.rect(x0 + i, y0, 1, h, c);
        }
    }

    pub fn into_image(self, format: ImageFormat) -> DecodedImage {
        DecodedImage {
            width: self.w,
            height: self.h,
            format,
            rgba: self.px,
        }
    }
}

/// A UI screenshot: white page, grey sidebar and card borders, dark and muted text, and a
/// few small saturated accents ([`UI_ACCENTS`]): buttons, badges, a warning banner, links.
pub fn ui_screenshot(w: u32, h: u32) -> DecodedImage {
    let mut c = Canvas::new(w, h, WHITE);
    let sidebar = w / 8;
    c.rect(0, 0, sidebar, h, SIDEBAR);
    c.rect(sidebar, 0, 1, h, BORDER);
    c.rect(0, 56, w, 1, BORDER);
    // Sidebar menu entries.
    for i in 0..12 {
        c.text_line(
            24,
            90 + i * 40,
            sidebar.saturating_sub(48),
            14,
            MUTED_TEXT,
            100 + u64::from(i),
        );
    }
    // Header: title and primary button.
    c.text_line(sidebar + 32, 20, w / 4, 18, TEXT, 1);
    let button_w = 140;
    c.rect(
        w.saturating_sub(button_w + 32),
        12,
        button_w,
        34,
        UI_ACCENTS[0],
    );
    c.text_line(
        w.saturating_sub(button_w + 12),
        22,
        button_w - 40,
        12,
        WHITE,
        2,
    );
    // A grid of cards, each with a border, text, a badge and sometimes a link.
    let (cols, card_w, card_h) = (3u32, w.saturating_sub(sidebar + 64 + 2 * 24) / 3, 220u32);
    let mut card = 0u64;
    let mut y = 90;
    while y + card_h < h.saturating_sub(40) {
        for col in 0..cols {
            let x = sidebar + 32 + col * (card_w + 24);
            c.rect(x, y, card_w, 1, BORDER);
            c.rect(x, y + card_h - 1, card_w, 1, BORDER);
            c.rect(x, y, 1, card_h, BORDER);
            c.rect((x + card_w).saturating_sub(1), y, 1, card_h, BORDER);
            c.text_line(x + 20, y + 20, card_w * 2 / 3, 16, TEXT, 1000 + card);
            for line in 0..4 {
                c.text_line(
                    x + 20,
                    y + 60 + line * 24,
                    card_w.saturating_sub(60),
                    12,
                    MUTED_TEXT,
                    2000 + card * 8 + u64::from(line),
                );
            }
            let badge = UI_ACCENTS[1 + (card % 3) as usize];
            c.rect((x + card_w).saturating_sub(100), y + 18, 76, 22, badge);
            if card.is_multiple_of(2) {
                c.text_line(x + 20, y + 170, card_w / 3, 12, UI_ACCENTS[0], 3000 + card);
            }
            if card % 4 == 1 {
                c.rect(x + 20, y + card_h - 48, 110, 30, UI_ACCENTS[0]);
            }
            card += 1;
        }
        y += card_h + 24;
    }
    c.into_image(ImageFormat::Png)
}

/// Smooth value noise in 0..=255 at lattice spacing `cell` (bilinear, integer maths).
fn value_noise(x: u32, y: u32, cell: u32, salt: u64) -> u32 {
    let (gx, gy) = (x / cell, y / cell);
    let (fx, fy) = (x % cell, y % cell);
    let v = |a: u32, b: u32| (hash2(a, b, salt) & 0xff) as u32;
    let top = v(gx, gy) * (cell - fx) + v(gx + 1, gy) * fx;
    let bottom = v(gx, gy + 1) * (cell - fx) + v(gx + 1, gy + 1) * fx;
    (top * (cell - fy) + bottom * fy) / (cell * cell)
}

fn mix(a: [u8; 3], b: [u8; 3], t: u32, scale: u32) -> [i32; 3] {
    let t = t.min(scale) as i32;
    let s = scale as i32;
    [0, 1, 2].map(|k| (i32::from(a[k]) * (s - t) + i32::from(b[k]) * t) / s)
}

/// A photo-like scene: a sky gradient, a sun, textured hills, water, and sensor noise.
pub fn photo(w: u32, h: u32) -> DecodedImage {
    let mut px = Vec::with_capacity(w as usize * h as usize * 4);
    let horizon = h * 11 / 20;
    let (sun_x, sun_y, sun_r) = (w * 7 / 10, h * 3 / 10, h / 12);
    for y in 0..h {
        for x in 0..w {
            let mut c = if y < horizon {
                let sky = mix([40, 90, 170], [250, 170, 110], y, horizon);
                let dx = i64::from(x) - i64::from(sun_x);
                let dy = i64::from(y) - i64::from(sun_y);
                let d2 = (dx * dx + dy * dy) as u64;
                let r2 = u64::from(sun_r) * u64::from(sun_r);
                if d2 < r2 {
                    [255, 236, 180]
                } else if d2 < 4 * r2 {
                    let t = ((d2 - r2) * 256 / (3 * r2)) as u32;
                    let glow = mix([255, 210, 150], [0, 0, 0], t, 256);
                    [0, 1, 2].map(|k| (sky[k] + glow[k]) / 2 + sky[k] / 2)
                } else {
                    sky
                }
            } else {
                let hill = horizon + value_noise(x, 0, (w / 6).max(1), 7) * (h / 6) / 255;
                if y < hill + h / 10 {
                    let tex = value_noise(x, y, 24, 11) + value_noise(x, y, 5, 13) / 2;
                    let base = mix([34, 85, 40], [120, 150, 60], tex, 380);
                    let shade = (y - horizon) * 60 / (h - horizon);
                    [
                        base[0] - shade as i32 / 2,
                        base[1] - shade as i32,
                        base[2] - shade as i32 / 3,
                    ]
                } else {
                    let ripple = value_noise(x, y, 12, 17);
                    let water = mix([20, 60, 90], [70, 120, 150], ripple, 255);
                    let t = (y - horizon) * 100 / (h - horizon);
                    [water[0] + t as i32 / 4, water[1], water[2] - t as i32 / 5]
                }
            };
            let n = hash2(x, y, 99);
            for (k, v) in c.iter_mut().enumerate() {
                *v += ((n >> (k * 8)) & 0xf) as i32 - 8;
            }
            px.extend_from_slice(&[
                c[0].clamp(0, 255) as u8,
                c[1].clamp(0, 255) as u8,
                c[2].clamp(0, 255) as u8,
                255,
            ]);
        }
    }
    DecodedImage {
        width: w,
        height: h,
        format: ImageFormat::Jpeg,
        rgba: px,
    }
}

/// Colours of [`flat`], largest area first.
pub const FLAT_COLORS: [[u8; 3]; 6] = [
    [0xfa, 0xf7, 0xf0],
    [0x26, 0x46, 0x53],
    [0x2a, 0x9d, 0x8f],
    [0xe9, 0xc4, 0x6a],
    [0xf4, 0xa2, 0x61],
    [0xe7, 0x6f, 0x51],
];

/// A flat illustration: hard-edged blocks and discs of six colours, no anti-aliasing.
pub fn flat(w: u32, h: u32) -> DecodedImage {
    let mut c = Canvas::new(w, h, FLAT_COLORS[0]);
    c.rect(0, h * 2 / 3, w, h / 3 + 1, FLAT_COLORS[1]);
    c.rect(w / 10, h / 5, w / 4, h / 3, FLAT_COLORS[2]);
    c.rect(w / 2, h / 4, w / 6, h / 2, FLAT_COLORS[3]);
    let (cx, cy, r) = (w * 4 / 5, h / 4, h / 8);
    for y in cy - r..cy + r {
        for x in cx - r..cx + r {
            let (dx, dy) = (i64::from(x) - i64::from(cx), i64::from(y) - i64::from(cy));
            if dx * dx + dy * dy < i64::from(r) * i64::from(r) {
                c.blend(x, y, FLAT_COLORS[4], 256);
            }
        }
    }
    c.rect(w / 3, h * 3 / 4, w / 5, h / 12, FLAT_COLORS[5]);
    c.into_image(ImageFormat::Png)
}

/// A square image of `n x n` pixels split between `colors` by the given weights
/// (columns filled in order), for crafted role and accent tests.
pub fn stripes(n: u32, colors: &[([u8; 3], u32)]) -> DecodedImage {
    let total: u32 = colors.iter().map(|c| c.1).sum::<u32>().max(1);
    let mut c = Canvas::new(n, n, [0, 0, 0]);
    let mut x = 0;
    for (i, &(color, weight)) in colors.iter().enumerate() {
        let cols = if i + 1 == colors.len() {
            n - x
        } else {
            n * weight / total
        };
        c.rect(x, 0, cols, n, color);
        x += cols;
    }
    c.into_image(ImageFormat::Png)
}

/// Encode as PNG (lossless) for decode benchmarks and tests.
pub fn encode_png(img: &DecodedImage) -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    let enc = image::codecs::png::PngEncoder::new(&mut out);
    enc.write_image(
        &img.rgba,
        img.width,
        img.height,
        image::ExtendedColorType::Rgba8,
    )
    .expect("encoding an in-memory RGBA8 buffer cannot fail");
    out
}

/// Encode as JPEG (quality 90, alpha dropped) for decode benchmarks and tests.
pub fn encode_jpeg(img: &DecodedImage) -> Vec<u8> {
    use image::ImageEncoder;
    let rgb: Vec<u8> = img
        .rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    enc.write_image(&rgb, img.width, img.height, image::ExtendedColorType::Rgb8)
        .expect("encoding an in-memory RGB8 buffer cannot fail");
    out
}
