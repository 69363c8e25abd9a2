//! A project's tokens are a palette, not a log of extractions: a colour an extraction finds
//! within a just-noticeable difference of a token the project holds updates that token
//! instead of adding a twin, and every token's name is unique in its project — a new token
//! whose colour name is taken says how it differs (lighter, darker, warmer...).
//!
//! Pure functions over the tokens a project holds; the store calls them inside the
//! transaction that holds the project's lock, so concurrent extractions cannot race them.

use std::collections::HashSet;

use crate::store::ColorTokenRecord;

/// OKLab distance under which two colours look the same (a just-noticeable difference).
pub const JUST_NOTICEABLE: f64 = 0.02;

/// What to do with each colour of an extraction.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// The project has this colour: update the token with this id.
    Merge { into: uuid::Uuid },
    /// A new colour: store it under this unique name.
    Insert { name: String },
}

fn oklab(token: &ColorTokenRecord) -> [f64; 3] {
    let [l, c, h] = token.oklch.0;
    let h = h.to_radians();
    [l, c * h.cos(), c * h.sin()]
}

/// OKLab distance between two tokens.
pub fn distance(a: &ColorTokenRecord, b: &ColorTokenRecord) -> f64 {
    let (x, y) = (oklab(a), oklab(b));
    ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2) + (x[2] - y[2]).powi(2)).sqrt()
}

/// The nearest held token within [`JUST_NOTICEABLE`] of `token`, if any.
pub fn twin_of<'a>(
    held: &'a [ColorTokenRecord],
    token: &ColorTokenRecord,
) -> Option<&'a ColorTokenRecord> {
    held.iter()
        .map(|h| (distance(h, token), h))
        .filter(|(d, _)| *d <= JUST_NOTICEABLE)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, h)| h)
}

/// Decides, for each incoming colour in order, whether it merges into a held token or is
/// inserted, and under which name. Incoming colours are also compared with each other, so
/// one extraction never adds two tokens that look the same.
pub fn place(held: &[ColorTokenRecord], incoming: &[ColorTokenRecord]) -> Vec<Placement> {
    let mut names: HashSet<String> = held.iter().map(|t| t.name.to_lowercase()).collect();
    let mut seen: Vec<ColorTokenRecord> = held.to_vec();
    let mut out = Vec::with_capacity(incoming.len());
    for token in incoming {
        if let Some(twin) = twin_of(&seen, token) {
            out.push(Placement::Merge { into: twin.id });
            continue;
        }
        let name = unique_name(&seen, &names, token);
        names.insert(name.to_lowercase());
        let mut placed = token.clone();
        placed.name = name.clone();
        seen.push(placed);
        out.push(Placement::Insert { name });
    }
    out
}

/// `token.name` if no token of the project has it, else the name qualified by how the colour
/// differs from the token that holds the name: `indigo (lighter)`, `indigo (warmer)`...
pub fn unique_name(
    held: &[ColorTokenRecord],
    names: &HashSet<String>,
    token: &ColorTokenRecord,
) -> String {
    let base = token.name.trim();
    if !names.contains(&base.to_lowercase()) {
        return base.to_owned();
    }
    let holder = held
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(base))
        .or_else(|| {
            held.iter()
                .find(|h| h.name.to_lowercase().starts_with(&base.to_lowercase()))
        });
    let qualifier = holder.map_or("other", |h| how_it_differs(h, token));
    let first = format!("{base} ({qualifier})");
    if !names.contains(&first.to_lowercase()) {
        return first;
    }
    (2..)
        .map(|n| format!("{base} ({qualifier} {n})"))
        .find(|candidate| !names.contains(&candidate.to_lowercase()))
        .unwrap_or(first)
}

/// The largest perceptual difference of `token` from `from`, in a word: lightness first,
/// then chroma, then hue (warmer: towards red-yellow).
fn how_it_differs(from: &ColorTokenRecord, token: &ColorTokenRecord) -> &'static str {
    let [l1, c1, h1] = from.oklch.0;
    let [l2, c2, h2] = token.oklch.0;
    let dl = l2 - l1;
    let dc = c2 - c1;
    // Hue difference weighted by chroma, as it appears in OKLab.
    let mut dh = (h2 - h1).rem_euclid(360.0);
    if dh > 180.0 {
        dh -= 360.0;
    }
    let dh_visible = 2.0 * (c1 * c2).sqrt() * (dh.to_radians() / 2.0).sin();
    let (al, ac, ah) = (dl.abs(), dc.abs(), dh_visible.abs());
    if al >= ac && al >= ah {
        if dl > 0.0 { "lighter" } else { "darker" }
    } else if ac >= ah {
        if dc > 0.0 { "more vivid" } else { "more muted" }
    } else if warmth(h2) > warmth(h1) {
        "warmer"
    } else {
        "cooler"
    }
}

/// How warm a hue looks: highest near orange (60 degrees in OKLCH), lowest near blue.
fn warmth(hue: f64) -> f64 {
    (hue - 60.0).to_radians().cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::types::Json;

    fn token(name: &str, oklch: [f64; 3]) -> ColorTokenRecord {
        ColorTokenRecord {
            id: uuid::Uuid::now_v7(),
            project_id: uuid::Uuid::nil(),
            session_id: uuid::Uuid::nil(),
            position: 0,
            hex: "#000000".into(),
            rgb: Json([0, 0, 0]),
            hsl: Json([0.0, 0.0, 0.0]),
            oklch: Json(oklch),
            name: name.into(),
            share: 0.1,
            confidence: 1.0,
            role: None,
            contrast_white: 1.0,
            contrast_black: 1.0,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_colour_within_a_jnd_merges_and_a_distinct_one_is_inserted() {
        let held = vec![token("indigo", [0.5, 0.2, 270.0])];
        let same = token("indigo", [0.505, 0.2, 270.5]);
        let lighter = token("indigo", [0.62, 0.2, 270.0]);
        let placed = place(&held, &[same, lighter]);
        assert_eq!(placed[0], Placement::Merge { into: held[0].id });
        assert_eq!(
            placed[1],
            Placement::Insert {
                name: "indigo (lighter)".into()
            }
        );
    }

    #[test]
    fn names_say_how_twins_differ_and_stay_unique() {
        let held = vec![token("indigo", [0.5, 0.15, 270.0])];
        let incoming = [
            token("indigo", [0.38, 0.15, 270.0]),
            token("indigo", [0.5, 0.25, 270.0]),
            token("indigo", [0.5, 0.15, 300.0]),
            token("indigo", [0.5, 0.15, 240.0]),
            token("indigo", [0.25, 0.15, 270.0]),
        ];
        let names: Vec<String> = place(&held, &incoming)
            .into_iter()
            .map(|p| match p {
                Placement::Insert { name } => name,
                Placement::Merge { .. } => panic!("distinct colours merged"),
            })
            .collect();
        assert_eq!(
            names,
            [
                "indigo (darker)",
                "indigo (more vivid)",
                "indigo (warmer)",
                "indigo (cooler)",
                "indigo (darker 2)"
            ]
        );
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn one_extraction_never_adds_two_tokens_that_look_the_same() {
        let a = token("teal", [0.6, 0.1, 190.0]);
        let b = token("teal", [0.601, 0.1, 190.0]);
        let placed = place(&[], &[a.clone(), b]);
        assert_eq!(
            placed[0],
            Placement::Insert {
                name: "teal".into()
            }
        );
        assert_eq!(placed[1], Placement::Merge { into: a.id });
    }
}
