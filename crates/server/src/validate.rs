//! Validation at the edge (S11): values are checked and normalised once, here, into the
//! plain types the store takes.

use crate::error::{ApiError, FieldError};

pub const MAX_NAME_CHARS: usize = 255;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
const MAX_EMAIL_LEN: usize = 254;

/// Collects field errors so one response can report all of them.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn check<T, M: Into<String>>(&mut self, field: &str, result: Result<T, M>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.0.push(FieldError::new(field, message));
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// Trimmed and lowercased, then held to the plain shape every mail system agrees on:
/// an ASCII local part of RFC 5322 `atext` and dots, and an ASCII domain of dotted
/// labels (international domains in their `xn--` form). No quoting, comments, angle
/// brackets, look-alike (fullwidth) or invisible characters: an address is shown back in
/// lists and audit logs and must read as what it is.
pub fn email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return Err("must be an email address of at most 254 characters");
    }
    if !email.is_ascii() {
        return Err(
            "must be an email address in ASCII (use the xn-- form for an international domain)",
        );
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must be an email address");
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(atext));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| tld.len() >= 2);
    if !local_ok || !domain_ok {
        return Err("must be an email address");
    }
    Ok(email)
}

/// Characters that render as nothing or rearrange the text around them: zero-width and
/// bidirectional controls (the "Trojan Source" family), separators that break lines where
/// none is expected, every other format character, the blank braille pattern, tag
/// characters, private-use code points and noncharacters. The zero-width joiner and the
/// emoji variation selectors stay allowed: emoji sequences and Indic scripts need them.
fn is_invisible_or_deceptive(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        // The rest of Unicode's format characters (Cf): prepended marks, invisible
        // Egyptian, shorthand and musical format controls.
        | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}' | '\u{0890}' | '\u{0891}'
        | '\u{08E2}' | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{2800}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}' | '\u{200C}' | '\u{200E}' | '\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0D}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFB}'
        | '\u{FDD0}'..='\u{FDEF}'
        | '\u{E000}'..='\u{F8FF}'
        | '\u{E0000}'..='\u{E0FFF}'
        | '\u{F0000}'..='\u{10FFFF}'
    ) || (c as u32 & 0xFFFE) == 0xFFFE
}

/// A name: trimmed, 1..=255 characters, no control, invisible or direction-changing
/// characters.
/// S11: a colour as `#rrggbb` (either case), nothing else.
pub fn hex(raw: &str) -> Result<[u8; 3], &'static str> {
    let valid =
        raw.len() == 7 && raw.starts_with('#') && raw[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err("must be a colour written #rrggbb");
    }
    copythat_core::parse_hex(raw).ok_or("must be a colour written #rrggbb")
}

pub fn name(raw: &str) -> Result<String, &'static str> {
    let value = raw.trim();
    if value.is_empty() {
        return Err("must not be empty");
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err("must be at most 255 characters");
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    if value.chars().any(is_invisible_or_deceptive) {
        return Err("must not contain invisible or text-direction characters");
    }
    Ok(value.to_owned())
}

/// Optional free text up to `max` characters; blank becomes `None`. Newlines and tabs
/// are allowed, other control characters are not.
pub fn optional_text(raw: Option<&str>, max: usize) -> Result<Option<String>, &'static str> {
    let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(if max == MAX_DESCRIPTION_CHARS {
            "must be at most 2000 characters"
        } else {
            "must be at most 255 characters"
        });
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err("must not contain control characters");
    }
    if value.chars().any(is_invisible_or_deceptive) {
        return Err("must not contain invisible or text-direction characters");
    }
    Ok(Some(value.to_owned()))
}

/// `limit` (1..=100, default 50) and `offset` (>= 0) for every list.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl Paging {
    pub fn page(self) -> Result<crate::store::Page, ApiError> {
        let mut checks = Checks::default();
        let limit = checks.check(
            "limit",
            match self.limit.unwrap_or(50) {
                l @ 1..=100 => Ok(l),
                _ => Err("must be between 1 and 100"),
            },
        );
        let offset = checks.check(
            "offset",
            match self.offset.unwrap_or(0) {
                o @ 0..=10_000_000 => Ok(o),
                _ => Err("must be between 0 and 10000000"),
            },
        );
        checks.finish()?;
        Ok(crate::store::Page {
            limit: limit.unwrap_or(50),
            offset: offset.unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s11_emails_are_normalised_and_checked() {
        assert_eq!(email("  Alice@Example.COM ").unwrap(), "alice@example.com");
        for bad in [
            "",
            "no-at",
            "a@b",
            "a@@b.co",
            "a b@c.co",
            "a@.co",
            "a@b.co.",
            "@b.co",
            "a..b@c.co",
            ".a@c.co",
            "a.@c.co",
            "a@-b.co",
            "a@b-.co",
            "a@b.c",
            "\"quoted\"@b.co",
            "<a>@b.co",
            "a(comment)@b.co",
            "a,b@c.co",
            "a\\b@c.co",
            "ａlice@example.com",
            "alice@exａmple.com",
            "a\u{200B}b@c.co",
            "a@b\u{FEFF}.co",
            "alice@bücher.de",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        for good in [
            "o'brien@example.com",
            "first.last+tag@sub.example.co.uk",
            "a@xn--bcher-kva.de",
        ] {
            assert_eq!(email(good).unwrap(), good);
        }
    }

    #[test]
    fn s11_names_are_trimmed_bounded_and_printable() {
        assert_eq!(name("  Brand  ").unwrap(), "Brand");
        assert!(name("   ").is_err());
        assert!(name(&"x".repeat(256)).is_err());
        assert!(name(&"é".repeat(255)).is_ok(), "characters, not bytes");
        assert!(name("a\u{0}b").is_err());
        assert!(name("a\nb").is_err());
        for deceptive in [
            "a\u{200B}b",
            "evil\u{202E}gnp.exe",
            "a\u{2066}b",
            "\u{FEFF}x",
            "a\u{2029}b",
            "tag\u{E0041}",
            "pua\u{E000}",
            "hangul\u{3164}filler",
            "non\u{FFFF}char",
            "arabic\u{0600}mark",
            "music\u{1D173}al",
            "short\u{1BCA0}hand",
            "blank\u{2800}braille",
        ] {
            assert!(name(deceptive).is_err(), "{deceptive:?}");
            assert!(
                optional_text(Some(deceptive), 2000).is_err(),
                "{deceptive:?}"
            );
        }
        assert_eq!(
            name("Brand 🎨 ❤\u{FE0F} 👩\u{200D}💻").unwrap(),
            "Brand 🎨 ❤\u{FE0F} 👩\u{200D}💻"
        );
        assert_eq!(
            name("Ünïcödé 日本語 Ελληνικά").unwrap(),
            "Ünïcödé 日本語 Ελληνικά"
        );
        assert_eq!(optional_text(Some("  "), 2000).unwrap(), None);
        assert!(optional_text(Some(&"x".repeat(2001)), 2000).is_err());
        assert!(optional_text(Some("line\nbreak"), 2000).is_ok());
    }
}
