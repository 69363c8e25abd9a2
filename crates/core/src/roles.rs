//! Suggests a semantic role for each palette colour from its share, lightness, chroma and contrast.
//! Heuristics, not truth: each rule is listed below and carries a confidence the UI can show.
//!
//! The rules, applied in this order to a share-descending palette:
//! 1. **background**: the largest colour, when it is neutral (OKLCH chroma < 0.05) or
//!    covers at least 15% of the image. Confidence grows with its share.
//! 2. **text**: the neutral colour (chroma < 0.05, share >= 0.2%) with the highest contrast
//!    against the background, if that contrast is at least 3:1 (WCAG AA for large text).
//!    Confidence grows from 0.4 at 3:1 to 1.0 at 7:1 (AAA).
//! 3. **surface**: the largest remaining neutral close to the background (contrast < 1.6:1,
//!    share >= 1%): cards and panels sit just off the page colour.
//! 4. Chromatic colours (chroma >= 0.05) by prominence (share x chroma): the first is
//!    **primary**. Each later one whose hue is a status hue takes that status role if still
//!    free: **error** red (hue < 45 or >= 345), **warning** orange-yellow (55..110),
//!    **success** green (125..170), **info** cyan-sky (195..250, only if it is at least 25°
//!    from the primary hue, so a blue brand is not mistaken for info). Otherwise it becomes
//!    **secondary** (once), then **accent**.
//! 5. Remaining neutrals: very light ones become surface and very dark ones text if those
//!    roles are still free; the rest get no role.

use crate::color::contrast_ratio;
use crate::tokens::{ColorToken, Role};

const NEUTRAL_CHROMA: f64 = 0.05;

fn chroma(t: &ColorToken) -> f64 {
    t.oklch[1]
}

fn hue_distance(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// The status role a hue suggests, if any (see rule 4).
fn status_for(hue: f64, primary_hue: Option<f64>) -> Option<Role> {
    if !(45.0..345.0).contains(&hue) {
        Some(Role::Error)
    } else if (55.0..110.0).contains(&hue) {
        Some(Role::Warning)
    } else if (125.0..170.0).contains(&hue) {
        Some(Role::Success)
    } else if (195.0..250.0).contains(&hue)
        && primary_hue.is_none_or(|p| hue_distance(p, hue) >= 25.0)
    {
        Some(Role::Info)
    } else {
        None
    }
}

fn set(t: &mut ColorToken, role: Role, confidence: f64) {
    t.role = Some(role);
    t.confidence = crate::color::round_to(confidence.clamp(0.0, 1.0), 3);
}

/// Assign suggested roles in place (see the module docs for the rules).
pub fn assign_roles(tokens: &mut [ColorToken]) {
    for t in tokens.iter_mut() {
        t.role = None;
        t.confidence = 0.0;
    }
    if tokens.is_empty() {
        return;
    }
    let taken = |tokens: &[ColorToken], r: Role| tokens.iter().any(|t| t.role == Some(r));

    // 1. background
    let mut background: Option<[u8; 3]> = None;
    {
        let t = &mut tokens[0];
        if chroma(t) < NEUTRAL_CHROMA || t.share >= 0.15 {
            let conf = 0.4 + 0.6 * (t.share / 0.5).min(1.0);
            set(t, Role::Background, conf);
            background = Some(t.rgb);
        }
    }
    let bg = background.unwrap_or([255, 255, 255]);

    // 2. text
    let text = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| t.role.is_none() && chroma(t) < NEUTRAL_CHROMA && t.share >= 0.002)
        .map(|(i, t)| (i, contrast_ratio(t.rgb, bg)))
        .filter(|&(_, c)| c >= 3.0)
        .fold(None, |best: Option<(usize, f64)>, x| match best {
            Some(b) if b.1 >= x.1 => Some(b),
            _ => Some(x),
        });
    if let Some((i, c)) = text {
        set(
            &mut tokens[i],
            Role::Text,
            0.4 + 0.6 * ((c - 3.0) / 4.0).min(1.0),
        );
    }

    // 3. surface
    if let Some(t) = tokens.iter_mut().find(|t| {
        t.role.is_none()
            && chroma(t) < NEUTRAL_CHROMA
            && t.share >= 0.01
            && contrast_ratio(t.rgb, bg) < 1.6
    }) {
        let conf = 0.4 + 0.5 * (t.share / 0.2).min(1.0);
        set(t, Role::Surface, conf);
    }

    // 4. chromatic colours by prominence
    let mut chromatic: Vec<usize> = (0..tokens.len())
        .filter(|&i| tokens[i].role.is_none() && chroma(&tokens[i]) >= NEUTRAL_CHROMA)
        .collect();
    chromatic.sort_by(|&a, &b| {
        let pa = tokens[a].share * chroma(&tokens[a]);
        let pb = tokens[b].share * chroma(&tokens[b]);
        pb.total_cmp(&pa).then(a.cmp(&b))
    });
    let mut primary_hue = None;
    for i in chromatic {
        let hue = tokens[i].oklch[2];
        // Vivid colours make more convincing brand/status colours than muted ones.
        let vividness = (chroma(&tokens[i]) / 0.15).min(1.0);
        if primary_hue.is_none() && !taken(tokens, Role::Primary) {
            primary_hue = Some(hue);
            set(&mut tokens[i], Role::Primary, 0.5 + 0.4 * vividness);
            continue;
        }
        if let Some(status) = status_for(hue, primary_hue)
            && !taken(tokens, status)
        {
            set(&mut tokens[i], status, 0.4 + 0.4 * vividness);
        } else if !taken(tokens, Role::Secondary) {
            set(&mut tokens[i], Role::Secondary, 0.4 + 0.3 * vividness);
        } else {
            set(&mut tokens[i], Role::Accent, 0.3 + 0.3 * vividness);
        }
    }

    // 5. leftover neutrals
    for i in 0..tokens.len() {
        if tokens[i].role.is_some() {
            continue;
        }
        let l = tokens[i].oklch[0];
        if l >= 0.9 && !taken(tokens, Role::Surface) {
            set(&mut tokens[i], Role::Surface, 0.3);
        } else if l <= 0.35 && !taken(tokens, Role::Text) {
            set(&mut tokens[i], Role::Text, 0.3);
        }
    }
}
