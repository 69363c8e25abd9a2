//! The token model shared by the quantizer, the exporters and the server.
//! Plain serde data: snake_case fields, lowercase role names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Semantic role a colour is suggested (or assigned) to play in a design system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Secondary,
    Accent,
    Success,
    Error,
    Warning,
    Info,
    Background,
    Surface,
    Text,
}

impl Role {
    /// Every role, in the order exporters and documentation list them.
    pub const ALL: [Role; 10] = [
        Role::Primary,
        Role::Secondary,
        Role::Accent,
        Role::Success,
        Role::Error,
        Role::Warning,
        Role::Info,
        Role::Background,
        Role::Surface,
        Role::Text,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
            Role::Accent => "accent",
            Role::Success => "success",
            Role::Error => "error",
            Role::Warning => "warning",
            Role::Info => "info",
            Role::Background => "background",
            Role::Surface => "surface",
            Role::Text => "text",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned by `Role::from_str` for anything but an exact lowercase role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    /// Exact lowercase names only: the API validates, it does not guess.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownRole)
    }
}

/// WCAG 2.x pass/fail flags for text of this colour on white and on black.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WcagFlags {
    pub on_white: WcagLevels,
    pub on_black: WcagLevels,
}

/// Thresholds: AA normal 4.5, AA large 3, AAA normal 7, AAA large 4.5 (WCAG 2.x 1.4.3/1.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WcagLevels {
    pub aa_normal: bool,
    pub aa_large: bool,
    pub aaa_normal: bool,
    pub aaa_large: bool,
}

impl WcagLevels {
    /// Judged on the unrounded ratio: WCAG forbids rounding up (4.499 fails AA).
    pub fn from_ratio(ratio: f64) -> Self {
        Self {
            aa_normal: ratio >= 4.5,
            aa_large: ratio >= 3.0,
            aaa_normal: ratio >= 7.0,
            aaa_large: ratio >= 4.5,
        }
    }
}

impl WcagFlags {
    pub fn from_ratios(contrast_white: f64, contrast_black: f64) -> Self {
        Self {
            on_white: WcagLevels::from_ratio(contrast_white),
            on_black: WcagLevels::from_ratio(contrast_black),
        }
    }
}

/// One colour of a palette, fully annotated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColorToken {
    /// `#rrggbb`, lowercase.
    pub hex: String,
    pub rgb: [u8; 3],
    /// h 0..360, s and l 0..100.
    pub hsl: [f64; 3],
    /// l 0..1, c (0..~0.37), h 0..360.
    pub oklch: [f64; 3],
    pub name: String,
    /// Fraction of the (non-transparent) pixels this colour stands for, 0..1.
    pub share: f64,
    /// Confidence of the suggested role, 0..1 (0 when there is none).
    pub confidence: f64,
    pub role: Option<Role>,
    pub contrast_white: f64,
    pub contrast_black: f64,
    pub wcag: WcagFlags,
}

/// A palette, sorted by share descending (ties: hex ascending).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Palette {
    pub colors: Vec<ColorToken>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip_exactly() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        assert!("Primary".parse::<Role>().is_err());
        assert!(" primary".parse::<Role>().is_err());
    }

    #[test]
    fn wcag_thresholds_are_not_rounded_up() {
        let l = WcagLevels::from_ratio(4.499);
        assert!(!l.aa_normal && l.aa_large && !l.aaa_large);
        let l = WcagLevels::from_ratio(4.5);
        assert!(l.aa_normal && l.aaa_large && !l.aaa_normal);
        let l = WcagLevels::from_ratio(7.0);
        assert!(l.aaa_normal);
        let l = WcagLevels::from_ratio(2.99);
        assert_eq!(l, WcagLevels::default());
    }
}
