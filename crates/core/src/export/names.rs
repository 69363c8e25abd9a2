//! Token names for every export: slugs that are valid keys and identifiers in each format, never
//! one of a format's reserved words, unique, and telling twins apart by how they differ.
//!
//! A token's base name is its role (`primary`) or, without one, the slug of its name
//! (`vivid-indigo`). Tokens sharing a base are twins. Twins are sorted along the axis on which
//! they differ most (OKLCH lightness, chroma, or hue as warmth) and named by their rank on it:
//! two twins become `-lighter`/`-darker`, `-vivid`/`-muted` or `-warm`/`-cool`; three to five
//! use a five-word scale (`-lightest`, `-lighter`, `-mid`, `-darker`, `-darkest`); more share
//! those five words in rank order. Only what is left equal (the same word twice, or twins of
//! the very same colour) gets a number (`-2`, `-3`). Everything is sorted once and each
//! clash is settled through a per-name counter, so n tokens cost O(n log n) however many clash.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::ramp::STEPS;
use super::{ExportToken, Named, describe};
use crate::color::{parse_hex, to_hex, to_oklch};

/// Longest slug, in bytes (ASCII): short enough for any tool.
const MAX_SLUG: usize = 64;

/// Keys a consumer reads as structure rather than as a token name: Style Dictionary's token
/// properties (a group key `value` makes the group a token), Tailwind's `DEFAULT` and colour
/// keywords its utilities already own (`bg-transparent`), CSS-wide keywords. A slug equal to
/// one of these gets `-color` appended.
const RESERVED: [&str; 22] = [
    "attributes",
    "auto",
    "comment",
    "current",
    "currentcolor",
    "default",
    "deprecated",
    "description",
    "extensions",
    "filepath",
    "inherit",
    "initial",
    "issource",
    "name",
    "none",
    "original",
    "path",
    "revert",
    "themeable",
    "transparent",
    "type",
    "value",
];

/// Lowercase ASCII slug `[a-z0-9-]`, no leading/trailing/double dashes, starting with a
/// letter (so it is a valid CSS, SCSS and JS identifier fragment), at most 64 bytes.
/// Empty -> `color`.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_SLUG));
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= MAX_SLUG {
            break;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        return "color".to_owned();
    }
    if out.as_bytes()[0].is_ascii_digit() {
        out.insert_str(0, "color-");
    }
    out
}

/// Whether `n` is a ramp step (50, 100, ..., 950): `<name>-<step>` belongs to a ramp.
fn is_ramp_step(n: usize) -> bool {
    STEPS.iter().any(|&(step, _, _)| usize::from(step) == n)
}

/// The slug, moved off the reserved words (S28) and off the ramp names of the Tailwind
/// formats (`primary-500` would be generated twice): both get `-color` appended.
fn key_slug(s: &str) -> String {
    let s = slug(s);
    let ends_in_step = s
        .rsplit_once('-')
        .and_then(|(_, last)| last.parse::<usize>().ok())
        .is_some_and(is_ramp_step);
    if ends_in_step || RESERVED.binary_search(&s.as_str()).is_ok() {
        format!("{s}-color")
    } else {
        s
    }
}

/// One valid input token on its way to a name.
struct Item<'a> {
    token: &'a ExportToken,
    rgb: [u8; 3],
    hex: String,
    base: String,
    /// OKLCH lightness, chroma, hue (degrees).
    lch: [f64; 3],
}

/// A total order on everything an item carries, so results never depend on input order.
fn content_order(a: &Item, b: &Item) -> Ordering {
    a.hex
        .cmp(&b.hex)
        .then_with(|| a.token.name.cmp(&b.token.name))
        .then_with(|| a.token.role.cmp(&b.token.role))
        .then_with(|| {
            let share = |t: &ExportToken| t.share.unwrap_or(-1.0);
            share(a.token).total_cmp(&share(b.token))
        })
}

#[derive(Clone, Copy)]
enum Axis {
    Lightness,
    Chroma,
    Warmth,
}

impl Axis {
    /// Words by rank, most of the quality first, for a group of `k` (>= 2) twins.
    fn words(self, k: usize) -> &'static [&'static str] {
        match (self, k) {
            (Axis::Lightness, 2) => &["lighter", "darker"],
            (Axis::Lightness, 3) => &["lighter", "mid", "darker"],
            (Axis::Lightness, 4) => &["lightest", "lighter", "darker", "darkest"],
            (Axis::Lightness, _) => &["lightest", "lighter", "mid", "darker", "darkest"],
            (Axis::Chroma, 2) => &["vivid", "muted"],
            (Axis::Chroma, 3) => &["vivid", "mid", "muted"],
            (Axis::Chroma, 4) => &["vivid", "rich", "soft", "muted"],
            (Axis::Chroma, _) => &["vivid", "rich", "mid", "soft", "muted"],
            (Axis::Warmth, 2) => &["warm", "cool"],
            (Axis::Warmth, 3) => &["warm", "mid", "cool"],
            (Axis::Warmth, 4) => &["warmest", "warmer", "cooler", "coolest"],
            (Axis::Warmth, _) => &["warmest", "warmer", "mid", "cooler", "coolest"],
        }
    }

    fn value(self, lch: [f64; 3]) -> f64 {
        match self {
            Axis::Lightness => lch[0],
            Axis::Chroma => lch[1],
            // Closeness to orange (hue 50): the warmest hue; its opposite (230) the coolest.
            Axis::Warmth => -angle_between(lch[2], 50.0),
        }
    }
}

/// Unsigned difference of two hue angles, 0..=180 degrees.
fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Below this chroma a hue is noise, not a difference worth a name.
const HUELESS: f64 = 0.02;

/// How far apart a group is on each axis, in OKLab units, and the widest axis; `None` when
/// every twin is the same colour.
fn widest_axis(items: &[&Item]) -> Option<Axis> {
    let range = |f: &dyn Fn(&Item) -> f64| {
        let (lo, hi) = items.iter().fold((f64::MAX, f64::MIN), |(lo, hi), it| {
            (lo.min(f(it)), hi.max(f(it)))
        });
        hi - lo
    };
    let lightness = range(&|it| it.lch[0]);
    let chroma = range(&|it| it.lch[1]);
    // Hue: the smallest arc holding every hue (360 minus the largest gap), as the chord it
    // spans at the group's mean chroma.
    let mut hues: Vec<f64> = items
        .iter()
        .filter(|it| it.lch[1] >= HUELESS)
        .map(|it| it.lch[2])
        .collect();
    let hue = if hues.len() < 2 {
        0.0
    } else {
        hues.sort_by(f64::total_cmp);
        let wrap = hues[0] + 360.0 - hues[hues.len() - 1];
        let gap = hues.windows(2).map(|w| w[1] - w[0]).fold(wrap, f64::max);
        let arc = (360.0 - gap).to_radians().min(std::f64::consts::PI);
        let mean_c = items.iter().map(|it| it.lch[1]).sum::<f64>() / items.len() as f64;
        2.0 * mean_c * (arc / 2.0).sin()
    };
    let best = [
        (Axis::Lightness, lightness),
        (Axis::Chroma, chroma),
        (Axis::Warmth, hue),
    ]
    .into_iter()
    .fold((Axis::Lightness, 0.0), |best, cand| {
        if cand.1 > best.1 { cand } else { best }
    });
    (best.1 > 0.0).then_some(best.0)
}

/// Candidate names for one group of twins, in the group's (content) order.
fn twin_names(base: &str, group: &mut [&Item]) -> Vec<String> {
    let Some(axis) = widest_axis(group) else {
        return vec![base.to_owned(); group.len()];
    };
    // Most of the quality first; equal values keep content order.
    group.sort_by(|a, b| {
        axis.value(b.lch)
            .total_cmp(&axis.value(a.lch))
            .then_with(|| content_order(a, b))
    });
    let k = group.len();
    let words = axis.words(k);
    let mut names = Vec::with_capacity(k);
    let mut previous: Option<(f64, &str)> = None;
    for (rank, item) in group.iter().enumerate() {
        let value = axis.value(item.lch);
        let word = match previous {
            // The same value is not "darker": it shares its neighbour's word.
            Some((v, w)) if (v - value).abs() < 1e-9 => w,
            _ => words[rank * words.len() / k],
        };
        previous = Some((value, word));
        names.push(format!("{base}-{word}"));
    }
    names
}

/// Takes `candidate`, or `candidate-2`, `-3`, ... (never a ramp step) if it is taken. The counter per candidate
/// makes repeated clashes on one name cost O(1) each instead of a rescan from 2.
fn claim(
    candidate: String,
    used: &mut HashSet<String>,
    next: &mut HashMap<String, usize>,
) -> String {
    if used.insert(candidate.clone()) {
        return candidate;
    }
    let n = next.entry(candidate.clone()).or_insert(2);
    loop {
        let suffix = *n;
        *n += 1;
        if is_ramp_step(suffix) {
            continue;
        }
        let name = format!("{candidate}-{suffix}");
        if used.insert(name.clone()) {
            return name;
        }
    }
}

/// Apply the naming rules in the module docs; the result is sorted by name.
pub(crate) fn name_tokens(tokens: &[ExportToken]) -> Vec<Named> {
    let mut groups: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for token in tokens {
        let Some(rgb) = parse_hex(&token.hex) else {
            continue;
        };
        let base = match token.role {
            Some(role) => role.as_str().to_owned(),
            None => key_slug(&token.name),
        };
        groups.entry(base.clone()).or_default().push(Item {
            token,
            rgb,
            hex: to_hex(rgb),
            base,
            lch: to_oklch(rgb),
        });
    }
    // Names no twin may take: every token that is alone on its base keeps it.
    let mut used: HashSet<String> = groups
        .iter()
        .filter(|(_, g)| g.len() == 1)
        .map(|(base, _)| base.clone())
        .collect();
    let mut next = HashMap::new();
    let mut out = Vec::with_capacity(tokens.len());
    for (base, items) in &groups {
        let mut group: Vec<&Item> = items.iter().collect();
        group.sort_by(|a, b| content_order(a, b));
        let names = if group.len() == 1 {
            vec![base.clone()]
        } else {
            twin_names(base, &mut group)
                .into_iter()
                .map(|candidate| claim(candidate, &mut used, &mut next))
                .collect()
        };
        for (item, name) in group.into_iter().zip(names) {
            debug_assert!(name.starts_with(&item.base));
            out.push(Named {
                name,
                rgb: item.rgb,
                hex: item.hex.clone(),
                role: item.token.role,
                share: item.token.share,
                description: describe(&item.token.name, item.rgb, item.token.share),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::Role;

    fn tok(name: &str, hex: &str, role: Option<Role>) -> ExportToken {
        ExportToken::new(name, hex, role)
    }

    fn names(tokens: &[ExportToken]) -> Vec<(String, String)> {
        name_tokens(tokens)
            .into_iter()
            .map(|n| (n.name, n.hex))
            .collect()
    }

    #[test]
    fn slug_rules() {
        assert_eq!(slug("Brand Blue!!"), "brand-blue");
        assert_eq!(slug("  --Über  cool--  "), "ber-cool");
        assert_eq!(slug(""), "color");
        assert_eq!(slug("***"), "color");
        assert_eq!(slug("2nd"), "color-2nd");
        assert_eq!(slug("a*/b</style>"), "a-b-style");
        assert!(slug(&"x".repeat(500)).len() <= 64);
    }

    #[test]
    fn reserved_words_are_sorted_for_binary_search() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn s28_reserved_keys_never_become_names() {
        let got = names(&[
            tok("value", "#111111", None),
            tok("Type", "#222222", None),
            tok("DEFAULT", "#333333", None),
            tok("comment", "#444444", None),
            tok("transparent", "#555555", None),
        ]);
        let got: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            got,
            [
                "comment-color",
                "default-color",
                "transparent-color",
                "type-color",
                "value-color"
            ]
        );
    }

    #[test]
    fn names_never_shadow_a_ramp_step() {
        let mut tokens = vec![
            tok("x", "#2563eb", Some(Role::Primary)),
            tok("Primary 500", "#000000", None),
        ];
        tokens.extend((0..60).map(|_| tok("x", "#2563eb", Some(Role::Secondary))));
        let named = name_tokens(&tokens);
        let got: HashSet<&str> = named.iter().map(|n| n.name.as_str()).collect();
        assert!(got.contains("primary-500-color"));
        assert!(got.contains("secondary-49") && got.contains("secondary-51"));
        assert!(!got.contains("secondary-50"), "50 is a ramp step");
    }

    #[test]
    fn two_twins_are_named_by_how_they_differ() {
        // Same role, one lighter: lightness is the widest difference.
        let got = names(&[
            tok("x", "#1e3a8a", Some(Role::Primary)),
            tok("y", "#93c5fd", Some(Role::Primary)),
        ]);
        assert_eq!(
            got,
            [
                ("primary-darker".into(), "#1e3a8a".into()),
                ("primary-lighter".into(), "#93c5fd".into())
            ]
        );
        // Same name, same lightness and chroma, hue apart: warm (towards red) and cool.
        let warm = crate::color::oklab_to_rgb(crate::color::Oklab::from_lch(0.5, 0.2, 290.0));
        let cool = crate::color::oklab_to_rgb(crate::color::Oklab::from_lch(0.5, 0.2, 270.0));
        let got = names(&[
            tok("vivid indigo", &to_hex(cool), None),
            tok("vivid indigo", &to_hex(warm), None),
        ]);
        assert_eq!(
            got,
            [
                ("vivid-indigo-cool".into(), to_hex(cool)),
                ("vivid-indigo-warm".into(), to_hex(warm))
            ]
        );
        // Same lightness and hue, one greyer.
        let vivid = crate::color::oklab_to_rgb(crate::color::Oklab::from_lch(0.6, 0.15, 150.0));
        let muted = crate::color::oklab_to_rgb(crate::color::Oklab::from_lch(0.6, 0.05, 150.0));
        let got = names(&[
            tok("green", &to_hex(vivid), None),
            tok("green", &to_hex(muted), None),
        ]);
        let got: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(got, ["green-muted", "green-vivid"]);
    }

    #[test]
    fn three_twins_and_identical_twins() {
        let got = names(&[
            tok("a", "#60a5fa", Some(Role::Accent)),
            tok("b", "#1d4ed8", Some(Role::Accent)),
            tok("c", "#bfdbfe", Some(Role::Accent)),
            tok("Sky", "#0ea5e9", None),
            tok("sky", "#0ea5e9", None),
        ]);
        let got: Vec<String> = got.into_iter().map(|(n, h)| format!("{n} {h}")).collect();
        assert_eq!(
            got,
            [
                "accent-darker #1d4ed8",
                "accent-lighter #bfdbfe",
                "accent-mid #60a5fa",
                "sky #0ea5e9",
                "sky-2 #0ea5e9"
            ]
        );
    }

    #[test]
    fn a_generated_name_never_takes_a_name_already_given() {
        let got = names(&[
            tok("x", "#1e3a8a", Some(Role::Primary)),
            tok("y", "#93c5fd", Some(Role::Primary)),
            tok("Primary Darker", "#000000", None),
        ]);
        let got: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            got,
            ["primary-darker", "primary-darker-2", "primary-lighter"]
        );
        let named = name_tokens(&[
            tok("x", "#1e3a8a", Some(Role::Primary)),
            tok("y", "#93c5fd", Some(Role::Primary)),
            tok("Primary Darker", "#000000", None),
        ]);
        assert_eq!(named[0].hex, "#000000", "the plain name keeps its owner");
    }

    #[test]
    fn names_do_not_depend_on_input_order() {
        let mut tokens: Vec<ExportToken> = (0..40u8)
            .map(|i| tok("blue", &to_hex([i * 3, 60, 200]), None))
            .chain((0..10u8).map(|i| tok("x", &to_hex([i, i, i]), Some(Role::Text))))
            // Twins of one colour differ only in what the output carries (name, share).
            .chain((0..6u8).map(|i| ExportToken {
                share: Some(f64::from(i) / 10.0),
                ..tok(["Sky", "sky", "SKY"][usize::from(i % 3)], "#0ea5e9", None)
            }))
            .collect();
        let a = name_tokens(&tokens);
        tokens.reverse();
        assert_eq!(a, name_tokens(&tokens));
        tokens.rotate_left(17);
        assert_eq!(a, name_tokens(&tokens));
    }

    /// The server exports up to 5000 tokens; that many clashing names must come out unique
    /// (in O(n log n): each clash is settled by a counter, not a rescan).
    #[test]
    fn five_thousand_clashing_names_are_unique() {
        let distinct: Vec<ExportToken> = (0..5000u32)
            .map(|i| {
                let [_, g, b, r] = i.to_be_bytes();
                tok("Blue", &to_hex([r.wrapping_mul(40), g, b]), None)
            })
            .collect();
        let same: Vec<ExportToken> = (0..5000).map(|_| tok("Blue", "#2563EB", None)).collect();
        let roles: Vec<ExportToken> = (0..5000u32)
            .map(|i| {
                tok(
                    "",
                    &to_hex([(i % 256) as u8, (i / 256) as u8, 9]),
                    Some(Role::Accent),
                )
            })
            .collect();
        for tokens in [distinct, same, roles] {
            let named = name_tokens(&tokens);
            assert_eq!(named.len(), 5000);
            let unique: HashSet<&str> = named.iter().map(|n| n.name.as_str()).collect();
            assert_eq!(unique.len(), 5000, "names are unique");
            assert!(named.windows(2).all(|w| w[0].name < w[1].name), "sorted");
        }
    }
}
