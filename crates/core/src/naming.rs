//! Human colour names ("dark blue", "light warm grey") built from OKLCH lightness, chroma and hue.
//! Compositional rather than a big lookup list: predictable, short and stable across versions.

use crate::color::to_oklch;

/// Hue families by OKLCH hue angle (degrees, upper bound exclusive), chosen by eye on
/// the sRGB primaries and their mixes: red sits near 29, yellow near 110, blue near 264.
const HUES: [(f64, &str); 13] = [
    (15.0, "pink"),
    (45.0, "red"),
    (70.0, "orange"),
    (100.0, "amber"),
    (115.0, "yellow"),
    (135.0, "lime"),
    (165.0, "green"),
    (190.0, "teal"),
    (225.0, "cyan"),
    (275.0, "blue"),
    (295.0, "indigo"),
    (325.0, "purple"),
    (350.0, "magenta"),
];

/// The hue family of an OKLCH hue angle.
pub fn hue_family(h: f64) -> &'static str {
    HUES.iter()
        .find(|(upper, _)| h < *upper)
        .map_or("pink", |(_, name)| name)
}

/// A short lowercase English name for an 8-bit colour.
pub fn name_of(rgb: [u8; 3]) -> String {
    let [l, c, h] = to_oklch(rgb);
    if c < 0.02 {
        let tint = if c < 0.008 {
            ""
        } else if (40.0..200.0).contains(&h) {
            "warm "
        } else {
            "cool "
        };
        let base = match l {
            l if l >= 0.985 => return "white".into(),
            l if l < 0.16 => return "black".into(),
            l if l >= 0.9 => "very light",
            l if l >= 0.75 => "light",
            l if l >= 0.5 => "",
            l if l >= 0.3 => "dark",
            _ => "very dark",
        };
        return join3(base, tint.trim_end(), "grey");
    }
    let mut family = hue_family(h);
    // Dark, muted oranges and ambers read as browns; muted dark yellows as olive.
    if (45.0..100.0).contains(&h) && l < 0.62 && c < 0.16 {
        family = "brown";
    } else if (100.0..135.0).contains(&h) && l < 0.62 {
        family = "olive";
    }
    let lightness = match l {
        l if l >= 0.9 => "pale",
        l if l >= 0.75 => "light",
        l if l >= 0.45 => "",
        l if l >= 0.3 => "dark",
        _ => "very dark",
    };
    let saturation = if c < 0.06 {
        "muted"
    } else if c >= 0.2 {
        "vivid"
    } else {
        ""
    };
    join3(lightness, saturation, family)
}

fn join3(a: &str, b: &str, c: &str) -> String {
    [a, b, c]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_familiar_colours() {
        assert_eq!(name_of([255, 255, 255]), "white");
        assert_eq!(name_of([0, 0, 0]), "black");
        assert_eq!(name_of([128, 128, 128]), "grey");
        assert_eq!(name_of([255, 0, 0]), "vivid red");
        assert_eq!(name_of([0, 0, 255]), "vivid blue");
        assert_eq!(name_of([0x16, 0xa3, 0x4a]), "green");
        assert_eq!(name_of([0x8b, 0x45, 0x13]), "brown");
        assert_eq!(name_of([0xf3, 0xf4, 0xf6]), "very light grey");
    }
}
