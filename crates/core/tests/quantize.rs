//! The quantizer: deterministic, bounded by max_colors, keeps small distinct accents,
//! merges near-duplicates, and suggests sensible roles on crafted images.

use copythat_core::color::rgb_to_oklab;
use copythat_core::quantize::{SPLIT_MIN_PIXELS, Threads, extract_palette_with};
use copythat_core::synth;
use copythat_core::{
    DecodedImage, Error, ImageFormat, Palette, Role, extract_palette, quality, quality_of_colors,
};

fn has_near(p: &Palette, rgb: [u8; 3], tolerance: f64) -> bool {
    let target = rgb_to_oklab(rgb);
    p.colors
        .iter()
        .any(|c| rgb_to_oklab(c.rgb).distance(target) < tolerance)
}

fn role_of(p: &Palette, rgb: [u8; 3]) -> Option<Role> {
    let target = rgb_to_oklab(rgb);
    p.colors
        .iter()
        .min_by(|a, b| {
            rgb_to_oklab(a.rgb)
                .distance(target)
                .total_cmp(&rgb_to_oklab(b.rgb).distance(target))
        })
        .and_then(|c| c.role)
}

#[test]
fn max_colors_outside_1_to_50_is_refused() {
    let img = synth::flat(32, 32);
    assert!(matches!(
        extract_palette(&img, 0),
        Err(Error::InvalidMaxColors(0))
    ));
    assert!(matches!(
        extract_palette(&img, 51),
        Err(Error::InvalidMaxColors(51))
    ));
    assert!(extract_palette(&img, 1).is_ok());
    assert!(extract_palette(&img, 50).is_ok());
}

/// Determinism across threads: an image at the split size is tallied as two halves on two
/// threads, and must give exactly the palette of one sequential pass. Two small solid
/// accents, one in each half, only survive through their run votes, so dropping or
/// mis-merging either half's sums or votes changes the palette.
#[test]
fn threaded_tally_gives_the_single_threaded_palette() {
    // Odd width: the middle falls inside a row, not on a row boundary.
    let (w, h) = (2047u32, 2051u32);
    assert!((w * h) as usize >= SPLIT_MIN_PIXELS);
    let mut img = synth::photo(w, h);
    let cyan = [0x06, 0xb6, 0xd4];
    let magenta = [0xc0, 0x26, 0xd3];
    let mut paint = |x0: u32, y0: u32, rgb: [u8; 3]| {
        for y in y0..y0 + 60 {
            for x in x0..x0 + 80 {
                let i = (y * w + x) as usize * 4;
                img.rgba[i..i + 3].copy_from_slice(&rgb);
            }
        }
    };
    paint(300, 200, cyan); // front half
    paint(1500, 1800, magenta); // back half
    let one = extract_palette_with(&img, 8, Threads::One).unwrap();
    let two = extract_palette_with(&img, 8, Threads::Two).unwrap();
    let auto = extract_palette_with(&img, 8, Threads::Auto).unwrap();
    assert!(has_near(&one, cyan, 0.01), "{:?}", one.colors);
    assert!(has_near(&one, magenta, 0.01), "{:?}", one.colors);
    assert_eq!(one, two);
    assert_eq!(one, auto);
    assert_eq!(
        serde_json::to_string(&one).unwrap(),
        serde_json::to_string(&two).unwrap()
    );
}

#[test]
fn same_input_same_palette() {
    let img = synth::photo(320, 240);
    let a = extract_palette(&img, 12).unwrap();
    let b = extract_palette(&img.clone(), 12).unwrap();
    assert_eq!(a, b);
}

#[test]
fn palette_respects_max_colors_and_is_sorted_by_share() {
    let img = synth::photo(320, 240);
    for k in [1, 3, 8, 16, 50] {
        let p = extract_palette(&img, k).unwrap();
        assert!(
            !p.colors.is_empty() && p.colors.len() <= k,
            "k={k}: {}",
            p.colors.len()
        );
        let total: f64 = p.colors.iter().map(|c| c.share).sum();
        assert!((total - 1.0).abs() < 1e-4, "shares sum to {total}");
        assert!(p.colors.windows(2).all(|w| w[0].share >= w[1].share));
        let hexes: std::collections::BTreeSet<_> = p.colors.iter().map(|c| &c.hex).collect();
        assert_eq!(hexes.len(), p.colors.len(), "no duplicate colours");
    }
}

#[test]
fn a_two_percent_brand_colour_on_a_white_page_survives() {
    let brand = [0x7c, 0x3a, 0xed];
    let img = synth::stripes(200, &[([255, 255, 255], 98), (brand, 2)]);
    for k in [2, 4, 8] {
        let p = extract_palette(&img, k).unwrap();
        assert!(has_near(&p, brand, 0.01), "k={k}: {:?}", p.colors);
    }
}

#[test]
fn every_ui_accent_survives_at_k8() {
    let img = synth::ui_screenshot(1280, 800);
    let p = extract_palette(&img, 8).unwrap();
    for accent in synth::UI_ACCENTS {
        assert!(
            has_near(&p, accent, 0.05),
            "{accent:?} lost: {:?}",
            p.colors
        );
    }
}

#[test]
fn near_duplicates_merge() {
    let img = synth::stripes(100, &[([0x33, 0x66, 0xcc], 50), ([0x34, 0x67, 0xcd], 50)]);
    let p = extract_palette(&img, 8).unwrap();
    assert_eq!(p.colors.len(), 1, "{:?}", p.colors);
    let img = synth::stripes(
        100,
        &[
            ([255, 255, 255], 50),
            ([254, 254, 254], 30),
            ([0, 0, 0], 20),
        ],
    );
    let p = extract_palette(&img, 8).unwrap();
    assert_eq!(p.colors.len(), 2, "{:?}", p.colors);
}

#[test]
fn flat_images_are_reproduced_exactly() {
    let img = synth::flat(400, 300);
    let p = extract_palette(&img, 8).unwrap();
    assert_eq!(p.colors.len(), synth::FLAT_COLORS.len());
    for c in synth::FLAT_COLORS {
        assert!(p.colors.iter().any(|t| t.rgb == c), "{c:?}");
    }
    let q = quality(&img, &p);
    assert_eq!(q.mean, 0.0);
    assert_eq!(q.p95, 0.0);
}

#[test]
fn quality_measures_distance_to_the_nearest_colour() {
    let img = synth::stripes(10, &[([255, 255, 255], 50), ([0, 0, 0], 50)]);
    let q = quality_of_colors(&img, &[[255, 255, 255]]);
    // Half the pixels are 100 (OKLab L 0 -> 1, x100) away, half are 0.
    assert!((q.mean - 50.0).abs() < 0.01, "{q:?}");
    assert!((q.p95 - 100.0).abs() < 0.01, "{q:?}");
    assert_eq!(
        quality_of_colors(&img, &[[255, 255, 255], [0, 0, 0]]).mean,
        0.0
    );
}

#[test]
fn roles_on_a_crafted_app_screenshot() {
    let white = [255, 255, 255];
    let surface = [0xf1, 0xf5, 0xf9];
    let text = [0x0f, 0x17, 0x2a];
    let blue = [0x25, 0x63, 0xeb];
    let green = [0x16, 0xa3, 0x4a];
    let red = [0xdc, 0x26, 0x26];
    let amber = [0xf5, 0x9e, 0x0b];
    let violet = [0x7c, 0x3a, 0xed];
    let img = synth::stripes(
        400,
        &[
            (white, 600),
            (surface, 180),
            (text, 90),
            (blue, 60),
            (violet, 30),
            (green, 15),
            (red, 15),
            (amber, 10),
        ],
    );
    let p = extract_palette(&img, 10).unwrap();
    assert_eq!(role_of(&p, white), Some(Role::Background));
    assert_eq!(role_of(&p, surface), Some(Role::Surface));
    assert_eq!(role_of(&p, text), Some(Role::Text));
    assert_eq!(role_of(&p, blue), Some(Role::Primary));
    assert_eq!(role_of(&p, violet), Some(Role::Secondary));
    assert_eq!(role_of(&p, green), Some(Role::Success));
    assert_eq!(role_of(&p, red), Some(Role::Error));
    assert_eq!(role_of(&p, amber), Some(Role::Warning));
    for c in &p.colors {
        assert!((0.0..=1.0).contains(&c.confidence));
    }
}

#[test]
fn roles_on_a_dark_theme() {
    let bg = [0x0b, 0x10, 0x20];
    let text = [0xe2, 0xe8, 0xf0];
    let teal = [0x14, 0xb8, 0xa6];
    let img = synth::stripes(300, &[(bg, 80), (text, 12), (teal, 8)]);
    let p = extract_palette(&img, 6).unwrap();
    assert_eq!(role_of(&p, bg), Some(Role::Background));
    assert_eq!(role_of(&p, text), Some(Role::Text));
    assert_eq!(role_of(&p, teal), Some(Role::Primary));
}

#[test]
fn annotation_fields_are_consistent() {
    let img = DecodedImage::from_rgba(1, 1, ImageFormat::Png, vec![0x25, 0x63, 0xeb, 255]).unwrap();
    let p = extract_palette(&img, 1).unwrap();
    let c = &p.colors[0];
    assert_eq!(c.hex, "#2563eb");
    assert_eq!(c.rgb, [0x25, 0x63, 0xeb]);
    assert_eq!(c.share, 1.0);
    assert!((c.hsl[0] - 221.21).abs() < 0.01, "{:?}", c.hsl);
    assert!((c.oklch[0] - 0.5461).abs() < 0.001, "{:?}", c.oklch);
    assert!((c.oklch[2] - 262.88).abs() < 0.1, "{:?}", c.oklch);
    assert!(
        (c.contrast_white - 5.17).abs() < 0.01,
        "{}",
        c.contrast_white
    );
    assert!(c.wcag.on_white.aa_normal && !c.wcag.on_white.aaa_normal);
    // 21 / 5.17 = 4.06 on black: large text only.
    assert!(!c.wcag.on_black.aa_normal && c.wcag.on_black.aa_large);
    assert!((c.contrast_white * c.contrast_black - 21.0).abs() < 0.1);
}
