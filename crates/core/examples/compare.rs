//! Side-by-side comparison with quantette (k-means and Wu) on the generated benchmark images.
//! `cargo run --release --example compare` prints the table; `-- write DIR` saves the
//! encoded inputs, `-- extract FILE [K]` only decodes and extracts one (for `/usr/bin/time -v`)
//! and `-- check FILE [ROUNDS]` times the drift check of one (for a profiler).

use std::time::Instant;

use copythat_core::check::check_with;
use copythat_core::color::rgb_to_oklab;
use copythat_core::quantize::{Threads, extract_palette_with};
use copythat_core::synth;
use copythat_core::{
    DEFAULT_TOLERANCE, DecodedImage, Limits, Palette, PaletteColor, decode, extract_palette,
    quality_of_colors, to_hex,
};
use quantette::deps::palette::Srgb;
use quantette::{PaletteSize, Pipeline, QuantizeMethod};

struct Input {
    name: &'static str,
    encoded: Vec<u8>,
}

/// The palette each benchmark image is checked against: its own design colours with one
/// left out, so there is drift to find.
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

fn inputs() -> Vec<Input> {
    vec![
        Input {
            name: "ui 1920x1080 png",
            encoded: synth::encode_png(&synth::ui_screenshot(1920, 1080)),
        },
        Input {
            name: "photo 4000x3000 jpeg",
            encoded: synth::encode_jpeg(&synth::photo(4000, 3000)),
        },
        Input {
            name: "flat 3840x2160 png",
            encoded: synth::encode_png(&synth::flat(3840, 2160)),
        },
    ]
}

fn limits() -> Limits {
    Limits {
        max_bytes: 64 << 20,
        ..Limits::default()
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn quantette_palette(img: &DecodedImage, k: usize, kmeans: bool) -> (Vec<[u8; 3]>, f64) {
    let pixels: Vec<Srgb<u8>> = img
        .rgba
        .chunks_exact(4)
        .map(|p| Srgb::new(p[0], p[1], p[2]))
        .collect();
    let method = if kmeans {
        QuantizeMethod::kmeans()
    } else {
        QuantizeMethod::Wu
    };
    let t = Instant::now();
    let palette = Pipeline::new()
        .palette_size(PaletteSize::from_usize_clamped(k))
        .quantize_method(method)
        .ditherer(None)
        .input_slice(&pixels)
        .expect("non-empty image")
        .output_srgb8_palette();
    let elapsed = ms(t);
    let colors = palette
        .into_vec()
        .into_iter()
        .map(|c| [c.red, c.green, c.blue])
        .collect();
    (colors, elapsed)
}

fn accents_kept(colors: &[[u8; 3]]) -> usize {
    synth::UI_ACCENTS
        .iter()
        .filter(|&&a| {
            let a = rgb_to_oklab(a);
            colors.iter().any(|&c| rgb_to_oklab(c).distance(a) < 0.05)
        })
        .count()
}

fn rgb_of(p: &Palette) -> Vec<[u8; 3]> {
    p.colors.iter().map(|c| c.rgb).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        // Write the encoded inputs, so a separate process can be measured on one of them.
        Some("write") => {
            let dir = std::path::PathBuf::from(args.get(2).map_or("/tmp", String::as_str));
            for input in inputs() {
                let name = input.name.replace(' ', "-");
                std::fs::write(dir.join(name), &input.encoded).expect("write input");
            }
            return;
        }
        // Decode one file and repeat one step on one thread, for `perf stat` (CPU time is
        // steadier than wall time on a busy machine): `repeat decode|extract|check FILE N`.
        Some("repeat") => {
            let step = args.get(2).expect("decode, extract or check");
            let path = args.get(3).expect("a file");
            let rounds: usize = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(10);
            let bytes = std::fs::read(path).expect("readable file");
            let img = decode(&bytes, &limits()).expect("decodes");
            let palette = check_palette(if path.contains("flat") { "flat" } else { "ui" });
            for _ in 0..rounds {
                match step.as_str() {
                    "decode" => drop(decode(&bytes, &limits())),
                    "extract" => drop(extract_palette_with(&img, 8, Threads::One)),
                    _ => drop(check_with(&img, &palette, DEFAULT_TOLERANCE, Threads::One)),
                }
            }
            return;
        }
        // Check one file against the ui palette (or the flat one), timed, for a profiler.
        Some("check") => {
            let path = args.get(2).expect("a file to check");
            let bytes = std::fs::read(path).expect("readable file");
            let img = decode(&bytes, &limits()).expect("decodes");
            let palette = check_palette(if path.contains("flat") { "flat" } else { "ui" });
            let rounds: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1);
            for _ in 0..rounds {
                let t = Instant::now();
                let report =
                    check_with(&img, &palette, DEFAULT_TOLERANCE, Threads::One).expect("checks");
                println!(
                    "{path}: check {:.1} ms, score {:.2}, {} off-palette colours",
                    ms(t),
                    report.score,
                    report.off_palette.len()
                );
            }
            return;
        }
        // Decode and extract one file only: run under `/usr/bin/time -v` for peak RSS.
        Some("extract") => {
            let path = args.get(2).expect("a file to extract");
            let bytes = std::fs::read(path).expect("readable file");
            let t = Instant::now();
            let img = decode(&bytes, &limits()).expect("decodes");
            let decode_ms = ms(t);
            let t = Instant::now();
            let k = args.get(3).and_then(|k| k.parse().ok()).unwrap_or(8);
            let palette = extract_palette(&img, k).expect("extracts");
            let palette_ms = ms(t);
            let colors: Vec<[u8; 3]> = palette.colors.iter().map(|c| c.rgb).collect();
            let q = quality_of_colors(&img, &colors);
            println!(
                "{path}: decode {decode_ms:.1} ms, palette {palette_ms:.1} ms, {} colours, \
                 quality {:.2} / {:.2}, RGBA {:.1} MB",
                palette.colors.len(),
                q.mean,
                q.p95,
                img.rgba.len() as f64 / 1e6
            );
            return;
        }
        _ => {}
    }

    println!(
        "| image | MP | extract k=8 ms | check ms | extract ms/MP | check ms/MP | check / extract |"
    );
    println!("|---|---|---|---|---|---|---|");
    for input in inputs() {
        let img = decode(&input.encoded, &limits()).expect("generated image decodes");
        let palette = check_palette(input.name);
        let best = |f: &dyn Fn()| {
            (0..9)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    ms(t)
                })
                .fold(f64::INFINITY, f64::min)
        };
        let extract_ms = best(&|| {
            extract_palette_with(&img, 8, Threads::One).expect("valid k");
        });
        let check_ms = best(&|| {
            check_with(&img, &palette, DEFAULT_TOLERANCE, Threads::One).expect("valid palette");
        });
        let mp = img.pixel_count() as f64 / 1e6;
        println!(
            "| {} | {mp:.2} | {extract_ms:.1} | {check_ms:.1} | {:.2} | {:.2} | {:.2} |",
            input.name,
            extract_ms / mp,
            check_ms / mp,
            check_ms / extract_ms
        );
    }
    println!();

    println!(
        "| image | k | ours mean/p95 | quantette k-means mean/p95 | quantette Wu mean/p95 | decode ms | our palette ms | q k-means ms | q Wu ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for input in inputs() {
        let t = Instant::now();
        let img = decode(&input.encoded, &limits()).expect("generated image decodes");
        let decode_ms = ms(t);
        for k in [8usize, 16] {
            let t = Instant::now();
            let ours = extract_palette(&img, k).expect("valid k");
            let ours_ms = ms(t);
            let q_ours = quality_of_colors(&img, &rgb_of(&ours));
            let (km, km_ms) = quantette_palette(&img, k, true);
            let q_km = quality_of_colors(&img, &km);
            let (wu, wu_ms) = quantette_palette(&img, k, false);
            let q_wu = quality_of_colors(&img, &wu);
            println!(
                "| {} | {k} | {:.2} / {:.2} ({} colours) | {:.2} / {:.2} | {:.2} / {:.2} | {decode_ms:.0} | {ours_ms:.0} | {km_ms:.0} | {wu_ms:.0} |",
                input.name,
                q_ours.mean,
                q_ours.p95,
                ours.colors.len(),
                q_km.mean,
                q_km.p95,
                q_wu.mean,
                q_wu.p95,
            );
            if input.name.starts_with("ui") && k == 8 {
                println!(
                    "|   accents kept at k=8 | | ours {}/4 | k-means {}/4 | Wu {}/4 | | | | |",
                    accents_kept(&rgb_of(&ours)),
                    accents_kept(&km),
                    accents_kept(&wu)
                );
                for c in &ours.colors {
                    eprintln!(
                        "  {} {:>6.2}% {:<22} {:?}",
                        c.hex,
                        c.share * 100.0,
                        c.name,
                        c.role
                    );
                }
            }
        }
    }
}
