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
    pub fn check<T>(&mut self, field: &str, result: Result<T, &'static str>) -> Option<T> {
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

/// Trimmed, lowercased, one `@`, a dotted domain, no spaces or control characters.
pub fn email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return Err("must be an email address of at most 254 characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must be an email address");
    };
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || c == '@';
    if local.is_empty()
        || local.len() > 64
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || email.chars().filter(|c| *c == '@').count() != 1
        || local.chars().any(bad_char)
        || domain.chars().any(bad_char)
    {
        return Err("must be an email address");
    }
    Ok(email)
}

/// A name: trimmed, 1..=255 characters, no control characters.
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
            "", "no-at", "a@b", "a@@b.co", "a b@c.co", "a@.co", "a@b.co.", "@b.co",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
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
        assert_eq!(optional_text(Some("  "), 2000).unwrap(), None);
        assert!(optional_text(Some(&"x".repeat(2001)), 2000).is_err());
        assert!(optional_text(Some("line\nbreak"), 2000).is_ok());
    }
}
