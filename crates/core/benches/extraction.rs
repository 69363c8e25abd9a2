//! Criterion benchmarks of extraction on generated inputs, with quantette as the baseline,
//! and of the drift check beside it. Each run first prints quality (mean/p95 OKLab x100)
//! of ours vs quantette side by side.

use std::hint::black_box;
use std::time::Duration;

use copythat_core::synth;
use copythat_core::{
    DEFAULT_TOLERANCE, DecodedImage, Limits, PaletteColor, check, decode, extract_palette, quality,
    quality_of_colors, to_hex,
};
use criterion::{Criterion, criterion_group, criterion_main};
use quantette::deps::palette::Srgb;
use quantette::{PaletteSize, Pipeline, QuantizeMethod};

struct Case {
    name: &'static str,
    encoded: Vec<u8>,
    image: DecodedImage,
}

fn cases() -> Vec<Case> {
    let limits = Limits {
        max_bytes: 64 << 20,
        ..Limits::default()
    };
    [
        (
            "ui-1920x1080-png",
            synth::encode_png(&synth::ui_screenshot(1920, 1080)),
        ),
        (
            "photo-4000x3000-jpeg",
            synth::encode_jpeg(&synth::photo(4000, 3000)),
        ),
        (
            "flat-3840x2160-png",
            synth::encode_png(&synth::flat(3840, 2160)),
        ),
    ]
    .into_iter()
    .map(|(name, encoded)| {
        let image = decode(&encoded, &limits).expect("generated image decodes");
        Case {
            name,
            encoded,
            image,
        }
    })
    .collect()
}

/// What each case is checked against: its own design colours with one left out (the
/// amber badge, the last flat colour), so there is drift to find.
fn check_palette(name: &str) -> Vec<PaletteColor> {
    let colors: Vec<[u8; 3]> = if name.starts_with("flat") {
        synth::FLAT_COLORS[..5].to_vec()
    } else {
        synth::UI_NEUTRALS
            .iter()
            .chain(&synth::UI_ACCENTS[..3])
            .copied()
            .collect()
    };
    colors
        .into_iter()
        .map(|c| PaletteColor {
            name: to_hex(c),
            hex: to_hex(c),
        })
        .collect()
}

fn rgb_pixels(img: &DecodedImage) -> Vec<Srgb<u8>> {
    img.rgba
        .chunks_exact(4)
        .map(|p| Srgb::new(p[0], p[1], p[2]))
        .collect()
}

fn quantette(pixels: &[Srgb<u8>], k: usize, method: QuantizeMethod) -> Vec<[u8; 3]> {
    Pipeline::new()
        .palette_size(PaletteSize::from_usize_clamped(k))
        .quantize_method(method)
        .ditherer(None)
        .input_slice(pixels)
        .expect("non-empty")
        .output_srgb8_palette()
        .into_vec()
        .into_iter()
        .map(|c| [c.red, c.green, c.blue])
        .collect()
}

fn bench(c: &mut Criterion) {
    let limits = Limits {
        max_bytes: 64 << 20,
        ..Limits::default()
    };
    for case in cases() {
        let pixels = rgb_pixels(&case.image);
        for k in [8usize, 16] {
            let ours = quality(&case.image, &extract_palette(&case.image, k).unwrap());
            let km = quality_of_colors(
                &case.image,
                &quantette(&pixels, k, QuantizeMethod::kmeans()),
            );
            let wu = quality_of_colors(&case.image, &quantette(&pixels, k, QuantizeMethod::Wu));
            println!(
                "quality {} k={k}: ours {:.2}/{:.2}  quantette-kmeans {:.2}/{:.2} (ratio {:.2})  quantette-wu {:.2}/{:.2} (ratio {:.2})",
                case.name,
                ours.mean,
                ours.p95,
                km.mean,
                km.p95,
                ours.mean / km.mean.max(1e-9),
                wu.mean,
                wu.p95,
                ours.mean / wu.mean.max(1e-9),
            );
        }

        let mut group = c.benchmark_group(case.name);
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("decode", |b| {
            b.iter(|| decode(black_box(&case.encoded), &limits).unwrap())
        });
        group.bench_function("ours-k8", |b| {
            b.iter(|| extract_palette(black_box(&case.image), 8).unwrap())
        });
        group.bench_function("ours-k16", |b| {
            b.iter(|| extract_palette(black_box(&case.image), 16).unwrap())
        });
        let palette = check_palette(case.name);
        group.bench_function("check", |b| {
            b.iter(|| check(black_box(&case.image), &palette, DEFAULT_TOLERANCE).unwrap())
        });
        group.bench_function("quantette-wu-k8", |b| {
            b.iter(|| quantette(black_box(&pixels), 8, QuantizeMethod::Wu))
        });
        group.bench_function("quantette-kmeans-k8", |b| {
            b.iter(|| quantette(black_box(&pixels), 8, QuantizeMethod::kmeans()))
        });
        group.finish();
    }

    let mut colour = c.benchmark_group("colour-math");
    colour.bench_function("rgb_to_oklab-4096", |b| {
        b.iter(|| {
            (0..4096u32)
                .map(|i| {
                    copythat_core::color::rgb_to_oklab([i as u8, (i >> 4) as u8, (i >> 8) as u8]).l
                })
                .sum::<f64>()
        })
    });
    colour.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
