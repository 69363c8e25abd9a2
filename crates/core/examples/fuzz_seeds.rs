//! Writes the small seed corpus for the intake fuzz target (`fuzz/corpus/intake`).
//! `cargo run --example fuzz_seeds -- <dir>`: tiny valid PNG, JPEG, GIF and WebP files.

use std::path::PathBuf;

use copythat_core::synth;
use image::ImageEncoder;

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus/intake".into()),
    );
    std::fs::create_dir_all(&dir).expect("corpus directory");
    let small = synth::ui_screenshot(48, 32);
    let photo = synth::photo(24, 16);
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("seed-ui.png", synth::encode_png(&small)),
        ("seed-photo.jpg", synth::encode_jpeg(&photo)),
        ("seed-flat.png", synth::encode_png(&synth::flat(40, 30))),
    ];
    let mut gif = Vec::new();
    {
        let enc = image::codecs::gif::GifEncoder::new(&mut gif);
        enc.write_image(
            &small.rgba,
            small.width,
            small.height,
            image::ExtendedColorType::Rgba8,
        )
        .expect("gif");
    }
    files.push(("seed-ui.gif", gif));
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(
            &photo.rgba,
            photo.width,
            photo.height,
            image::ExtendedColorType::Rgba8,
        )
        .expect("webp");
    files.push(("seed-photo.webp", webp));
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write seed");
    }
}
