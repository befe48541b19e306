//! Free text that reaches someone's screen (a citizen's name shown to a
//! hotel clerk, an RP's name in a citizen's history): trimmed, in Unicode
//! NFC, within a length, and free of anything that could rewrite the
//! screen — control characters (NUL, ESC sequences, newlines, DEL, C1) and
//! bidirectional overrides, embeddings, isolates and marks.

use unicode_normalization::UnicodeNormalization as _;

/// Why a text was refused. The messages never repeat the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextFault {
    #[error("is empty")]
    Empty,
    #[error("is longer than {0} characters")]
    TooLong(usize),
    #[error("contains a control character")]
    Control,
    #[error("contains a bidirectional-text control (override, embedding, isolate or mark)")]
    Bidi,
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The text, trimmed and normalised to NFC, or why it cannot be shown.
pub fn display_text(raw: &str, max_chars: usize) -> Result<String, TextFault> {
    let text: String = raw.trim().nfc().collect();
    if text.is_empty() {
        return Err(TextFault::Empty);
    }
    if text.chars().count() > max_chars {
        return Err(TextFault::TooLong(max_chars));
    }
    if text.chars().any(char::is_control) {
        return Err(TextFault::Control);
    }
    if text.chars().any(is_bidi_control) {
        return Err(TextFault::Bidi);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_text_is_checked() {
        assert_eq!(display_text("  周伟 ", 10).unwrap(), "周伟");
        // Decomposed é (e + combining acute) comes out composed.
        assert_eq!(display_text("Jose\u{301}", 10).unwrap(), "Jos\u{e9}");
        assert_eq!(display_text("   ", 10), Err(TextFault::Empty));
        assert_eq!(display_text("一二三四五六", 5), Err(TextFault::TooLong(5)));
        for bad in ["周\0伟", "a\u{1b}[2Jb", "周\n伟", "a\u{7f}", "a\u{85}b"] {
            assert_eq!(display_text(bad, 50), Err(TextFault::Control), "{bad:?}");
        }
        for bad in ["abc\u{202E}fed", "a\u{2067}b", "a\u{200F}b"] {
            assert_eq!(display_text(bad, 50), Err(TextFault::Bidi), "{bad:?}");
        }
        // Names with middle dots and ethnic-minority spellings pass.
        assert!(display_text("阿依古丽·买买提", 20).is_ok());
    }
}
