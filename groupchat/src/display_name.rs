//! Display names: 1 to 30 characters, no control characters.

use core::fmt;

/// The most characters (Unicode scalar values) a display name may have.
pub const MAX_DISPLAY_NAME_CHARS: usize = 30;

/// Why a string is not a valid display name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    /// The empty string.
    #[error("name is empty")]
    Empty,
    /// More characters than allowed.
    #[error("name has {0} characters, too many")]
    TooLong(usize),
    /// A control character (line breaks, escapes, bidi overrides are not names).
    #[error("name contains the control character U+{0:04X}")]
    ControlCharacter(u32),
}

/// A checked display name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DisplayName(String);

impl DisplayName {
    /// Checks `name`: 1 to 30 characters, none of them a control or bidirectional-override
    /// character.
    pub fn new(name: impl Into<String>) -> Result<Self, DisplayNameError> {
        let name = name.into();
        check_label(&name, MAX_DISPLAY_NAME_CHARS)?;
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a label shown to users (a display name, a group name): 1 to `max_chars` characters,
/// none of them a control or bidirectional-override character.
pub fn check_label(label: &str, max_chars: usize) -> Result<(), DisplayNameError> {
    let chars = label.chars().count();
    if chars == 0 {
        return Err(DisplayNameError::Empty);
    }
    if chars > max_chars {
        return Err(DisplayNameError::TooLong(chars));
    }
    if let Some(c) = label.chars().find(|c| is_forbidden(*c)) {
        return Err(DisplayNameError::ControlCharacter(c as u32));
    }
    Ok(())
}

/// Control characters, and the invisible formatting characters that reorder or hide text.
fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_of_one_to_thirty_characters() {
        assert_eq!(DisplayName::new("a").unwrap().as_str(), "a");
        assert!(DisplayName::new("Zoë ✨").is_ok());
        assert!(
            DisplayName::new("é".repeat(30)).is_ok(),
            "counted in characters, not bytes"
        );
    }

    #[test]
    fn refuses_empty_long_and_control_characters() {
        assert_eq!(DisplayName::new("").unwrap_err(), DisplayNameError::Empty);
        assert_eq!(
            DisplayName::new("x".repeat(31)).unwrap_err(),
            DisplayNameError::TooLong(31)
        );
        assert_eq!(
            DisplayName::new("a\nb").unwrap_err(),
            DisplayNameError::ControlCharacter(0x0a)
        );
        assert_eq!(
            DisplayName::new("\u{1b}[31m").unwrap_err(),
            DisplayNameError::ControlCharacter(0x1b)
        );
        assert_eq!(
            DisplayName::new("ab\u{202E}cd").unwrap_err(),
            DisplayNameError::ControlCharacter(0x202e)
        );
    }
}
