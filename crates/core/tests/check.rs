//! The drift check: generated screens with known drift and exact expected shares, blends
//! between palette colours forgiven, the mask, determinism, and clear errors.

use copythat_core::check::{MAX_PALETTE_COLORS, check_with};
use copythat_core::quantize::{SPLIT_MIN_PIXELS, Threads};
use copythat_core::synth::{self, Canvas};
use copythat_core::{
    CheckReport, DEFAULT_TOLERANCE, DecodedImage, Error, ImageFormat, PaletteColor, check,
};

const WHITE: [u8; 3] = [0xff, 0xff, 0xff];
const BRAND_BLUE: [u8; 3] = [0x25, 0x63, 0xeb];
/// The next darker shade of the brand blue's scale: a classic drift.
const WRONG_BLUE: [u8; 3] = [0x1d, 0x4e, 0xd8];
const INK: [u8; 3] = [0x11, 0x18, 0x27];
const ORANGE: [u8; 3] = [0xf9, 0x73, 0x16];

fn palette(colors: &[(&str, [u8; 3])]) -> Vec<PaletteColor> {
    colors
        .iter()
        .map(|(name, rgb)| PaletteColor {
            name: (*name).to_owned(),
            hex: format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]),
        })
        .collect()
}

fn brand() -> Vec<PaletteColor> {
    palette(&[("white", WHITE), ("brand-blue", BRAND_BLUE)])
}

/// OKLab from the published definition (sRGB curve with `powf`, Ottosson's matrices,
/// `cbrt`), independent of the crate's tabulated implementation.
fn oklab(rgb: [u8; 3]) -> [f64; 3] {
    let lin = rgb.map(|c| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    });
    let l = (0.4122214708 * lin[0] + 0.5363325363 * lin[1] + 0.0514459929 * lin[2]).cbrt();
    let m = (0.2119034982 * lin[0] + 0.6806995451 * lin[1] + 0.1073969566 * lin[2]).cbrt();
    let s = (0.0883024619 * lin[0] + 0.2817188376 * lin[1] + 0.6299787005 * lin[2]).cbrt();
    [
        0.2104542553 * l + 0.7936177850 * m - 0.0040720468 * s,
        1.9779984951 * l - 2.4285922050 * m + 0.4505937099 * s,
        0.0259040371 * l + 0.7827717662 * m - 0.8086757660 * s,
    ]
}

fn distance(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (a, b) = (oklab(a), oklab(b));
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Distance from `px` to the nearest of: `a`, `b`, and their blends in OKLab, on the sRGB
/// values and in linear light, each curve sampled densely.
fn blend_distance(px: [u8; 3], a: [u8; 3], b: [u8; 3]) -> f64 {
    let p = oklab(px);
    let lin = |c: f64| {
        let c = c / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let from_linear = |l: [f64; 3]| {
        let cb = |x: f64| x.cbrt();
        let l_ = cb(0.4122214708 * l[0] + 0.5363325363 * l[1] + 0.0514459929 * l[2]);
        let m_ = cb(0.2119034982 * l[0] + 0.6806995451 * l[1] + 0.1073969566 * l[2]);
        let s_ = cb(0.0883024619 * l[0] + 0.2817188376 * l[1] + 0.6299787005 * l[2]);
        [
            0.2104542553 * l_ + 0.7936177850 * m_ - 0.0040720468 * s_,
            1.9779984951 * l_ - 2.4285922050 * m_ + 0.4505937099 * s_,
            0.0259040371 * l_ + 0.7827717662 * m_ - 0.8086757660 * s_,
        ]
    };
    let (la, lb) = (oklab(a), oklab(b));
    let dist = |q: [f64; 3]| {
        ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
    };
    (0..=2000)
        .map(|i| {
            let t = f64::from(i) / 2000.0;
            let straight = [0, 1, 2].map(|k| la[k] + t * (lb[k] - la[k]));
            let srgb = from_linear(
                [0, 1, 2].map(|k| lin(f64::from(a[k]) + t * (f64::from(b[k]) - f64::from(a[k])))),
            );
            let linear = from_linear([0, 1, 2].map(|k| {
                let (x, y) = (lin(f64::from(a[k])), lin(f64::from(b[k])));
                x + t * (y - x)
            }));
            dist(straight).min(dist(srgb)).min(dist(linear))
        })
        .fold(f64::INFINITY, f64::min)
}

fn pixels(img: &DecodedImage) -> impl Iterator<Item = (u32, u32, [u8; 3])> + '_ {
    img.rgba.chunks_exact(4).enumerate().map(move |(i, p)| {
        let (x, y) = (i as u32 % img.width, i as u32 / img.width);
        (x, y, [p[0], p[1], p[2]])
    })
}

fn off_count(report: &CheckReport) -> usize {
    (0..report.height)
        .flat_map(|y| (0..report.width).map(move |x| (x, y)))
        .filter(|&(x, y)| report.is_off(x, y))
        .count()
}

/// 100 x 100 white page, a 100 x 10 brand-blue header, and a 10 x 20 button in the wrong
/// blue at (45, 40).
fn page_with_an_off_brand_button() -> DecodedImage {
    let mut c = Canvas::new(100, 100, WHITE);
    c.rect(0, 0, 100, 10, BRAND_BLUE);
    c.rect(45, 40, 10, 20, WRONG_BLUE);
    c.into_image(ImageFormat::Png)
}

#[test]
fn an_off_brand_button_is_caught_with_its_exact_share_and_nearest_token() {
    let img = page_with_an_off_brand_button();
    let report = check(&img, &brand(), DEFAULT_TOLERANCE).unwrap();
    assert_eq!(report.score, 98.0);
    assert_eq!(report.tolerance, DEFAULT_TOLERANCE);
    let shares: Vec<(usize, f64)> = report.tokens.iter().map(|t| (t.index, t.share)).collect();
    assert_eq!(shares, [(0, 0.88), (1, 0.10)]);
    assert_eq!(report.off_palette.len(), 1, "{:?}", report.off_palette);
    let off = &report.off_palette[0];
    assert_eq!(off.hex, "#1d4ed8");
    assert_eq!(off.share, 0.02);
    assert_eq!(off.nearest, 1, "nearest is the brand blue");
    let expected = distance(WRONG_BLUE, BRAND_BLUE);
    assert!(
        expected > DEFAULT_TOLERANCE,
        "the wrong blue is beyond tolerance"
    );
    assert!(
        (off.distance - expected).abs() < 1e-6,
        "{} vs {expected}",
        off.distance
    );
    // Exactly the button is marked.
    for (x, y, _) in pixels(&img) {
        let in_button = (45..55).contains(&x) && (40..60).contains(&y);
        assert_eq!(report.is_off(x, y), in_button, "({x}, {y})");
    }
    // With the wrong blue in the palette, nothing is off.
    let mut wider = brand();
    wider.extend(palette(&[("blue-700", WRONG_BLUE)]));
    let report = check(&img, &wider, DEFAULT_TOLERANCE).unwrap();
    assert_eq!(report.score, 100.0);
    assert!(report.off_palette.is_empty());
    assert_eq!(report.tokens[2].share, 0.02);
}

#[test]
fn the_mask_png_decodes_and_marks_exactly_the_off_pixels() {
    let img = page_with_an_off_brand_button();
    let report = check(&img, &brand(), DEFAULT_TOLERANCE).unwrap();
    let png = report.mask_png();
    let mask = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .unwrap()
        .into_rgba8();
    assert_eq!(mask.dimensions(), (100, 100));
    for (x, y, px) in mask.enumerate_pixels() {
        let in_button = (45..55).contains(&x) && (40..60).contains(&y);
        let want = if in_button {
            [255, 0, 255, 255]
        } else {
            [0, 0, 0, 0]
        };
        assert_eq!(px.0, want, "({x}, {y})");
    }
}

/// Dark text on white and white text on a brand-blue button, anti-aliased: every edge
/// pixel is a blend of two palette colours, many of them farther than the tolerance from
/// both. Each pixel counts for its nearest palette colour (for a blend: the nearer end).
#[test]
fn anti_aliased_text_between_two_tokens_is_not_drift() {
    let mut c = Canvas::new(240, 120, WHITE);
    for line in 0..4 {
        c.text_line(8, 8 + line * 20, 220, 14, INK, 10 + u64::from(line));
    }
    c.rect(20, 90, 160, 26, BRAND_BLUE);
    c.text_line(30, 96, 140, 12, WHITE, 99);
    let img = c.into_image(ImageFormat::Png);
    let colors = [WHITE, BRAND_BLUE, INK];
    let pal = palette(&[("white", WHITE), ("brand-blue", BRAND_BLUE), ("ink", INK)]);

    let mut counts = [0usize; 3];
    let mut blends_beyond_tolerance = 0;
    for (_, _, px) in pixels(&img) {
        let d = colors.map(|c| distance(px, c));
        let nearest = (0..3).fold(0, |b, i| if d[i] < d[b] { i } else { b });
        counts[nearest] += 1;
        if d.iter().all(|&d| d > DEFAULT_TOLERANCE) {
            blends_beyond_tolerance += 1;
        }
    }
    assert!(
        blends_beyond_tolerance > 500,
        "the blend rule is exercised: {blends_beyond_tolerance}"
    );

    let report = check(&img, &pal, DEFAULT_TOLERANCE).unwrap();
    assert_eq!(report.score, 100.0, "{:?}", report.off_palette);
    assert!(report.off_palette.is_empty());
    assert_eq!(off_count(&report), 0);
    let total = (240 * 120) as f64;
    for (t, n) in report.tokens.iter().zip(counts) {
        assert_eq!(t.share, n as f64 / total, "token {}", t.index);
    }

    // The same text in a colour outside the palette is drift.
    let mut c = Canvas::new(240, 60, WHITE);
    c.text_line(8, 8, 220, 14, ORANGE, 10);
    let img = c.into_image(ImageFormat::Png);
    let report = check(&img, &pal, DEFAULT_TOLERANCE).unwrap();
    assert!(report.score < 100.0);
    assert!(
        report
            .off_palette
            .iter()
            .any(|o| distance(copythat_core::parse_hex(&o.hex).unwrap(), ORANGE) < 0.05)
    );
}

/// Gradients between two palette colours, interpolated the three common ways, are on
/// palette: on the sRGB values (CSS's default), in linear light and in OKLab.
#[test]
fn a_gradient_between_two_tokens_is_not_drift() {
    let mut c = Canvas::new(256, 30, WHITE);
    c.gradient(0, 0, 256, 10, WHITE, BRAND_BLUE);
    let mut img = c.into_image(ImageFormat::Png);
    let lab = |c: [u8; 3]| copythat_core::color::rgb_to_oklab(c);
    let (w, b) = (lab(WHITE), lab(BRAND_BLUE));
    for x in 0..256u32 {
        let t = f64::from(x) / 255.0;
        let ok = copythat_core::color::oklab_to_rgb(copythat_core::color::Oklab {
            l: w.l + t * (b.l - w.l),
            a: w.a + t * (b.a - w.a),
            b: w.b + t * (b.b - w.b),
        });
        let lin = [0, 1, 2].map(|k| {
            let (p, q) = (
                copythat_core::color::srgb_u8_to_linear(WHITE[k]),
                copythat_core::color::srgb_u8_to_linear(BRAND_BLUE[k]),
            );
            copythat_core::color::linear_to_srgb_u8(p + t * (q - p))
        });
        for y in 10..30 {
            let rgb = if y < 20 { ok } else { lin };
            let i = (y * 256 + x) as usize * 4;
            img.rgba[i..i + 3].copy_from_slice(&rgb);
        }
    }
    let far = pixels(&img)
        .filter(|&(_, _, px)| {
            distance(px, WHITE) > DEFAULT_TOLERANCE && distance(px, BRAND_BLUE) > DEFAULT_TOLERANCE
        })
        .count();
    assert!(
        far > 3000,
        "most of the gradient is far from both ends: {far}"
    );
    let report = check(&img, &brand(), DEFAULT_TOLERANCE).unwrap();
    assert_eq!(report.score, 100.0, "{:?}", report.off_palette);
    assert_eq!(off_count(&report), 0);
}

/// A gradient from white towards a colour outside the palette: the part near white is on
/// palette, everything farther than the tolerance from the palette is drift.
#[test]
fn a_gradient_towards_a_non_token_colour_is_drift() {
    let mut c = Canvas::new(200, 50, WHITE);
    c.gradient(0, 0, 200, 50, WHITE, ORANGE);
    let img = c.into_image(ImageFormat::Png);
    let report = check(&img, &brand(), DEFAULT_TOLERANCE).unwrap();
    let (mut surely_off, mut surely_on) = (0, 0);
    let mut near_blends = std::collections::HashMap::new();
    for (x, y, px) in pixels(&img) {
        let d = distance(px, WHITE).min(distance(px, BRAND_BLUE));
        let blend = *near_blends
            .entry(px)
            .or_insert_with(|| blend_distance(px, WHITE, BRAND_BLUE));
        // Colours clearly beyond the tolerance of the palette and its blends must be
        // marked, colours clearly within it of white must not.
        if blend > DEFAULT_TOLERANCE + 0.01 {
            surely_off += 1;
            assert!(report.is_off(x, y), "({x}, {y}) {px:?} at {d}");
        } else if d < DEFAULT_TOLERANCE - 0.005 {
            surely_on += 1;
            assert!(!report.is_off(x, y), "({x}, {y}) {px:?} at {d}");
        }
    }
    assert!(
        surely_off > 5000 && surely_on > 300,
        "{surely_off} {surely_on}"
    );
    let total = 200.0 * 50.0;
    let off_share: f64 = report.off_palette.iter().map(|o| o.share).sum();
    assert!((off_share - off_count(&report) as f64 / total).abs() < 1e-12);
    assert!((report.score - 100.0 * (1.0 - off_share)).abs() < 1e-9);
    assert!(off_share >= surely_off as f64 / total);
    assert!(
        report.off_palette.len() > 1,
        "the gradient is summarised in a few colours"
    );
    assert!(report.off_palette.len() <= copythat_core::check::OFF_PALETTE_COLORS);
    assert!(
        report
            .off_palette
            .windows(2)
            .all(|w| w[0].share >= w[1].share)
    );
}

#[test]
fn transparent_pixels_do_not_count_and_shares_add_up() {
    let mut img = page_with_an_off_brand_button();
    // The right half becomes fully transparent (its colours would be drift if seen).
    for (i, px) in img.rgba.chunks_exact_mut(4).enumerate() {
        if i % 100 >= 50 {
            px.copy_from_slice(&[0xf9, 0x73, 0x16, 0]);
        }
    }
    let report = check(&img, &brand(), DEFAULT_TOLERANCE).unwrap();
    // Visible: 50 x 100, of which the header's 50 x 10 is blue and the button's 5 x 20 off.
    assert_eq!(report.tokens[0].share, 4400.0 / 5000.0);
    assert_eq!(report.tokens[1].share, 500.0 / 5000.0);
    assert_eq!(report.off_palette[0].share, 100.0 / 5000.0);
    assert_eq!(report.score, 98.0);
    assert_eq!(off_count(&report), 100);

    let img = synth::ui_screenshot(640, 400);
    let pal = palette(&[
        ("white", WHITE),
        ("text", [0x11, 0x18, 0x27]),
        ("muted", [0x6b, 0x72, 0x80]),
        ("blue", synth::UI_ACCENTS[0]),
    ]);
    let report = check(&img, &pal, DEFAULT_TOLERANCE).unwrap();
    let sum: f64 = report.tokens.iter().map(|t| t.share).sum::<f64>()
        + report.off_palette.iter().map(|o| o.share).sum::<f64>();
    assert!((sum - 1.0).abs() < 1e-12, "{sum}");
    // The green, red and amber badges are not in this palette.
    for accent in &synth::UI_ACCENTS[1..] {
        assert!(
            report
                .off_palette
                .iter()
                .any(|o| distance(copythat_core::parse_hex(&o.hex).unwrap(), *accent) < 0.02),
            "{accent:?} in {:?}",
            report.off_palette
        );
    }

    let empty = DecodedImage::from_rgba(2, 1, ImageFormat::Png, vec![0; 8]).unwrap();
    let report = check(&empty, &brand(), DEFAULT_TOLERANCE).unwrap();
    assert_eq!(report.score, 100.0);
    assert!(report.tokens.iter().all(|t| t.share == 0.0));
}

#[test]
fn bad_palettes_and_tolerances_are_clear_errors() {
    let img = page_with_an_off_brand_button();
    assert!(matches!(
        check(&img, &[], DEFAULT_TOLERANCE),
        Err(Error::EmptyPalette)
    ));
    let mut bad = brand();
    bad.push(PaletteColor {
        name: "oops\u{1b}[31m".into(),
        hex: "#12345".into(),
    });
    let err = check(&img, &bad, DEFAULT_TOLERANCE).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidPaletteColor { index: 2, name } if name == "oops[31m"),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains('\u{1b}'),
        "no control characters echoed"
    );
    for t in [
        0.0,
        -0.1,
        1.0001,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        let err = check(&img, &brand(), t).unwrap_err();
        assert!(matches!(err, Error::InvalidTolerance(_)), "{t}: {err:?}");
        assert!(err.to_string().contains("tolerance"));
    }
    assert!(check(&img, &brand(), 1.0).is_ok());
    assert!(check(&img, &brand(), 1e-9).is_ok());
    let many: Vec<PaletteColor> = (0..=MAX_PALETTE_COLORS)
        .map(|i| PaletteColor {
            name: format!("c{i}"),
            hex: format!("#{:02x}{:02x}00", i, 255 - i),
        })
        .collect();
    assert!(matches!(
        check(&img, &many, DEFAULT_TOLERANCE),
        Err(Error::TooManyPaletteColors(n)) if n == MAX_PALETTE_COLORS + 1
    ));
    assert!(check(&img, &many[..MAX_PALETTE_COLORS], DEFAULT_TOLERANCE).is_ok());
    // Degenerate images are not a panic.
    for (w, h) in [(0, 0), (0, 5), (5, 0)] {
        let img = DecodedImage::from_rgba(w, h, ImageFormat::Png, Vec::new()).unwrap();
        assert_eq!(
            check(&img, &brand(), DEFAULT_TOLERANCE).unwrap().score,
            100.0
        );
    }
}

/// The same input gives the same report, whether the image is checked on one thread or in
/// two halves on two (an image past the split size, with drift in both halves).
#[test]
fn the_report_is_deterministic_and_independent_of_threads() {
    let (w, h) = (2047u32, 2051u32);
    assert!((w * h) as usize >= SPLIT_MIN_PIXELS);
    let img = synth::ui_screenshot(w, h);
    let pal = palette(&[
        ("white", WHITE),
        ("sidebar", [0xf3, 0xf4, 0xf6]),
        ("text", [0x11, 0x18, 0x27]),
        ("blue", synth::UI_ACCENTS[0]),
        ("green", synth::UI_ACCENTS[1]),
    ]);
    let one = check_with(&img, &pal, DEFAULT_TOLERANCE, Threads::One).unwrap();
    let two = check_with(&img, &pal, DEFAULT_TOLERANCE, Threads::Two).unwrap();
    let auto = check_with(&img, &pal, DEFAULT_TOLERANCE, Threads::Auto).unwrap();
    assert!(one.score < 100.0 && !one.off_palette.is_empty());
    let marked_rows: Vec<bool> = (0..h).map(|y| (0..w).any(|x| one.is_off(x, y))).collect();
    assert!(marked_rows[..h as usize / 2].contains(&true));
    assert!(marked_rows[h as usize / 2..].contains(&true));
    assert_eq!(one, two);
    assert_eq!(one, auto);
    assert_eq!(one.mask_png(), two.mask_png());
    assert_eq!(one, check(&img.clone(), &pal, DEFAULT_TOLERANCE).unwrap());
}

// Token files: what `copythat check --tokens FILE` reads.

fn hexes(palette: &[PaletteColor]) -> std::collections::BTreeSet<String> {
    palette.iter().map(|c| c.hex.clone()).collect()
}

/// Every exporter whose format the parser reads round-trips its colours.
#[test]
fn exported_token_files_read_back_with_the_same_colours() {
    use copythat_core::{ExportFormat, ExportToken, Role, export, palette_from_tokens_file};
    let tokens = vec![
        ExportToken {
            name: "Brand Blue".into(),
            hex: "#2563eb".into(),
            role: Some(Role::Primary),
            share: None,
        },
        ExportToken {
            name: "Indigo".into(),
            hex: "#4F46E5".into(),
            role: Some(Role::Primary),
            share: None,
        },
        ExportToken {
            name: "Paper".into(),
            hex: "#ffffff".into(),
            role: Some(Role::Background),
            share: None,
        },
        ExportToken {
            name: "Ink \"quoted\" </style>".into(),
            hex: "#111827".into(),
            role: None,
            share: None,
        },
        ExportToken {
            name: "2nd pink".into(),
            hex: "#db2777".into(),
            role: None,
            share: None,
        },
        ExportToken {
            name: "Same as paper".into(),
            hex: "#ffffff".into(),
            role: None,
            share: None,
        },
    ];
    let want: std::collections::BTreeSet<String> =
        ["#2563eb", "#4f46e5", "#ffffff", "#111827", "#db2777"]
            .map(String::from)
            .into();
    let readable = ["dtcg", "dtcg-hex", "css", "scss", "style-dictionary"];
    let mut read = Vec::new();
    for format in ExportFormat::ALL {
        if !readable.contains(&format.as_str()) {
            continue;
        }
        let text = export(format, "Acme web", &tokens);
        let palette =
            palette_from_tokens_file(&text).unwrap_or_else(|e| panic!("{format}: {e}\n{text}"));
        assert_eq!(hexes(&palette), want, "{format}");
        assert_eq!(palette.len(), tokens.len(), "{format}: one entry per token");
        assert!(palette.iter().all(|c| !c.name.is_empty()), "{format}");
        read.push(format.as_str());
    }
    for format in ["dtcg", "css", "style-dictionary"] {
        assert!(read.contains(&format), "{format} was tested");
    }
}

#[test]
fn hand_written_dtcg_files_are_read() {
    let text = r##"{
      "color": {
        "$type": "color",
        "brand": {
          "primary": { "$value": { "colorSpace": "srgb", "components": [0.1451, 0.3882, 0.9216] } },
          "accent": { "$value": { "colorSpace": "oklch", "components": [0.6, 0.2, 0], "hex": "#db2777" } },
          "link": { "$value": "{color.brand.primary}" }
        },
        "neutral": {
          "white": { "$value": "#FFF" },
          "ink": { "$value": { "colorSpace": "hsl", "components": [221, 39.3, 11] } },
          "glass": { "$value": "#11182780" }
        }
      },
      "space": { "$type": "dimension", "small": { "$value": { "value": 4, "unit": "px" } } },
      "untyped-size": { "$value": "12px" }
    }"##;
    let palette = copythat_core::palette_from_tokens_file(text).unwrap();
    let got: Vec<(&str, &str)> = palette
        .iter()
        .map(|c| (c.name.as_str(), c.hex.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("color.brand.accent", "#db2777"),
            ("color.brand.link", "#2563eb"),
            ("color.brand.primary", "#2563eb"),
            ("color.neutral.glass", "#111827"),
            ("color.neutral.ink", "#111827"),
            ("color.neutral.white", "#ffffff"),
        ]
    );
}

#[test]
fn hand_written_style_dictionary_and_css_files_are_read() {
    let sd = r##"{
      "color": {
        "base": { "blue": { "value": "#2563eb", "type": "color" }, "gray": { "value": "rgb(17, 24, 39)" } },
        "button": { "background": { "value": "{color.base.blue.value}" } }
      },
      "size": { "font": { "base": { "value": "16px", "type": "dimension" } } }
    }"##;
    let palette = copythat_core::palette_from_tokens_file(sd).unwrap();
    let got: Vec<(&str, &str)> = palette
        .iter()
        .map(|c| (c.name.as_str(), c.hex.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("color.base.blue", "#2563eb"),
            ("color.base.gray", "#111827"),
            ("color.button.background", "#2563eb"),
        ]
    );

    let css = r#"
      /* brand colours; --not-a-token: #000000; */
      :root {
        --brand: #2563EB;
        --brand-ink: rgb(17 24 39);
        --link: var(--brand);
        --fallback: var(--missing, #fff);
        --radius: 4px;
        --font: "Inter", sans-serif;
      }
      .button { color: var(--brand); }
    "#;
    // Tailwind 4 themes give colours as `oklch()`.
    let [l, c, h] = copythat_core::color::to_oklch(BRAND_BLUE);
    let css = format!(
        "{css}\n@theme {{ --color-blue-600: oklch({:.3}% {c:.5} {h:.3}); }}",
        l * 100.0
    );
    let palette = copythat_core::palette_from_tokens_file(&css).unwrap();
    let got: Vec<&str> = palette.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        got,
        ["brand", "brand-ink", "link", "fallback", "color-blue-600"]
    );
    assert_eq!(palette[0].hex, "#2563eb");
    assert_eq!(palette[1].hex, "#111827");
    assert_eq!(palette[2].hex, "#2563eb");
    assert_eq!(palette[3].hex, "#ffffff");
    assert_eq!(palette[4].hex, "#2563eb");
}

#[test]
fn unreadable_token_files_are_clear_errors() {
    use copythat_core::palette_from_tokens_file as read;
    let reason = |text: &str| match read(text) {
        Err(Error::InvalidTokensFile { reason }) => reason,
        other => panic!("{text}: {other:?}"),
    };
    assert!(reason("{ \"color\": ").contains("not valid JSON (line 1"));
    assert!(reason("").contains("no colour tokens"));
    assert!(reason(":root { --space: 4px; }").contains("no colour tokens"));
    assert!(reason("{}").contains("no colour tokens"));
    assert!(
        reason("[1, 2]").contains("no colour tokens"),
        "not sniffed as JSON"
    );
    let r = reason(
        r#"{"c": {"$type": "color", "p3": {"$value": {"colorSpace": "display-p3", "components": [1, 0, 0]}}}}"#,
    );
    assert!(r.contains("display-p3") && r.contains("hex"), "{r}");
    let r = reason(r#"{"c": {"a": {"$value": "{c.b}"}, "b": {"$value": "{c.a}"}}}"#);
    assert!(r.contains("circle"), "{r}");
    let r = reason(r#"{"c": {"a": {"$type": "color", "$value": "{c.nowhere}"}}}"#);
    assert!(r.contains("c.nowhere"), "{r}");
    let r = reason(r#"{"c": {"a": {"$type": "color", "$value": "blue-ish"}}}"#);
    assert!(r.contains("typed as a colour"), "{r}");
    let r = reason(":root { --a: var(--b); --b: var(--a); }");
    assert!(r.contains("circle"), "{r}");
    // Names are shown without control characters.
    let r = reason("{\"c\": {\"bad\\u001b[2J\": {\"$type\": \"color\", \"$value\": \"nope\"}}}");
    assert!(!r.contains('\u{1b}'), "{r}");
}
