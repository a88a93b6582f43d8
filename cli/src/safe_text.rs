//! Text from elsewhere made safe for a terminal: [`safe`] shows every character that a
//! terminal would act on, rather than print, as a visible `\u{..}` escape.
//!
//! Peers choose texts, file names, reasons and (through errors) parts of problem messages; a
//! terminal treats some characters in them as commands: ESC starts sequences that clear the
//! screen, move the cursor or set the window title; CR and BS overwrite what is already on the
//! line; a newline starts a line that looks like one of ours; the bidirectional controls
//! reorder what follows them. Every human line of the CLI passes each such string through
//! [`safe`]. `--json` output keeps the exact text: JSON escapes control characters itself.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether a terminal would act on `c` rather than print it: the C0 controls (U+0000 to
/// U+001F: NUL, BS, TAB, LF, CR, ESC, ...), DEL, the C1 controls (U+0080 to U+009F), the line
/// and paragraph separators (U+2028, U+2029), and the bidirectional marks, embeddings,
/// overrides and isolates (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069).
pub fn is_unsafe(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `text` with each character of [`is_unsafe`] written as a Rust-style escape of its code point
/// in lowercase hex (ESC as `\u{1b}`, a newline as `\u{a}`, U+202E as `\u{202e}`); everything
/// else as it is. Borrows when nothing needs escaping.
pub fn safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`safe`] in double quotes, for a name or a text quoted inside a line.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", safe(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_passes_unchanged_and_borrowed() {
        for t in [
            "hello",
            "grüße, 你好 👋",
            "tab-free \\ back\\slash \"quoted\"",
            "",
        ] {
            assert!(matches!(safe(t), Cow::Borrowed(s) if s == t), "{t}");
        }
    }

    #[test]
    fn every_control_and_bidi_character_is_escaped_visibly() {
        let cases = [
            ("\u{1b}[2J", "\\u{1b}[2J"),
            ("\u{1b}]0;x\u{7}", "\\u{1b}]0;x\\u{7}"),
            ("a\rb", "a\\u{d}b"),
            ("a\u{8}b", "a\\u{8}b"),
            ("line\nfake", "line\\u{a}fake"),
            ("\t", "\\u{9}"),
            ("\u{0}", "\\u{0}"),
            ("\u{7f}", "\\u{7f}"),
            ("\u{85}\u{9b}", "\\u{85}\\u{9b}"),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            (
                "\u{202a}\u{202b}\u{202c}\u{202d}",
                "\\u{202a}\\u{202b}\\u{202c}\\u{202d}",
            ),
            (
                "\u{2066}\u{2067}\u{2068}\u{2069}",
                "\\u{2066}\\u{2067}\\u{2068}\\u{2069}",
            ),
            ("\u{200e}\u{200f}\u{61c}", "\\u{200e}\\u{200f}\\u{61c}"),
            ("\u{2028}\u{2029}", "\\u{2028}\\u{2029}"),
        ];
        for (raw, shown) in cases {
            assert_eq!(safe(raw), shown, "{raw:?}");
            assert!(!safe(raw).chars().any(is_unsafe));
        }
    }

    #[test]
    fn the_characters_around_the_ranges_are_printed() {
        for c in [
            ' ', '~', '\u{a0}', '\u{200d}', '\u{2027}', '\u{202f}', '\u{206a}',
        ] {
            assert!(!is_unsafe(c), "{c:?}");
        }
    }

    #[test]
    fn quoted_wraps_the_safe_text() {
        assert_eq!(quoted("a\u{1b}b"), "\"a\\u{1b}b\"");
    }
}
