//! Text as a reader sees it: the one place where strings become the quoted text of an Expected
//! or Actual, and where a transcript line gets its invisible characters marked.
//!
//! Invisible characters (zero-width spaces, direction marks, byte order marks, controls) and
//! combining ones (an accent that lands on the letter before it) look like nothing, or like
//! something else, when printed. They are shown by code point and name, e.g.
//! `<U+0301 COMBINING ACUTE ACCENT>`, instead of Rust's `\u{301}` escapes; a character without a
//! name in [`NAMED`] is shown as `<U+XXXX>`.

use std::fmt::Write as _;

/// The names of the invisible and combining characters most often met in chat text.
const NAMED: &[(char, &str)] = &[
    ('\u{0000}', "NULL"),
    ('\u{007F}', "DELETE"),
    ('\u{00A0}', "NO-BREAK SPACE"),
    ('\u{00AD}', "SOFT HYPHEN"),
    ('\u{0300}', "COMBINING GRAVE ACCENT"),
    ('\u{0301}', "COMBINING ACUTE ACCENT"),
    ('\u{0302}', "COMBINING CIRCUMFLEX ACCENT"),
    ('\u{0303}', "COMBINING TILDE"),
    ('\u{0308}', "COMBINING DIAERESIS"),
    ('\u{030A}', "COMBINING RING ABOVE"),
    ('\u{0327}', "COMBINING CEDILLA"),
    ('\u{034F}', "COMBINING GRAPHEME JOINER"),
    ('\u{061C}', "ARABIC LETTER MARK"),
    ('\u{180E}', "MONGOLIAN VOWEL SEPARATOR"),
    ('\u{200B}', "ZERO WIDTH SPACE"),
    ('\u{200C}', "ZERO WIDTH NON-JOINER"),
    ('\u{200D}', "ZERO WIDTH JOINER"),
    ('\u{200E}', "LEFT-TO-RIGHT MARK"),
    ('\u{200F}', "RIGHT-TO-LEFT MARK"),
    ('\u{2028}', "LINE SEPARATOR"),
    ('\u{2029}', "PARAGRAPH SEPARATOR"),
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{2060}', "WORD JOINER"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
    ('\u{FE0E}', "VARIATION SELECTOR-15"),
    ('\u{FE0F}', "VARIATION SELECTOR-16"),
    ('\u{FEFF}', "ZERO WIDTH NO-BREAK SPACE"),
];

/// `text` in double quotes, as an Expected or Actual shows it: `"` and `\` escaped, line feed,
/// carriage return and tab as `\n`, `\r`, `\t`, every invisible or combining character named.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => push_visible(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// Several texts, each [`quoted`], as `["a", "b"]`.
pub fn quoted_list<T: AsRef<str>>(texts: impl IntoIterator<Item = T>) -> String {
    let shown: Vec<String> = texts.into_iter().map(|t| quoted(t.as_ref())).collect();
    format!("[{}]", shown.join(", "))
}

/// A JSON value as an Expected or Actual shows it: a string [`quoted`], anything else as JSON
/// with its invisible characters marked.
pub fn quoted_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => quoted(text),
        other => mark_invisible(&other.to_string()),
    }
}

/// `text` with every invisible or combining character named, and nothing else changed (line
/// breaks, carriage returns and tabs stay): for transcript lines, which show frames as they came.
pub fn mark_invisible(text: &str) -> String {
    if !text
        .chars()
        .any(|c| !matches!(c, '\n' | '\r' | '\t') && is_invisible(c))
    {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 32);
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(c),
            c => push_visible(&mut out, c),
        }
    }
    out
}

/// Whether `c` shows as nothing or merges into its neighbour: named in [`NAMED`], or a character
/// Rust's own escaping would not print as itself (controls, format characters, combining marks).
fn is_invisible(c: char) -> bool {
    NAMED.iter().any(|(named, _)| *named == c)
        || (!matches!(c, '"' | '\'' | '\\') && c.escape_debug().nth(1).is_some())
}

/// Pushes `c`, or its code point and name when it is invisible.
fn push_visible(out: &mut String, c: char) {
    if !is_invisible(c) {
        out.push(c);
        return;
    }
    match NAMED.iter().find(|(named, _)| *named == c) {
        Some((_, name)) => {
            let _ = write!(out, "<U+{:04X} {name}>", u32::from(c));
        }
        None => {
            let _ = write!(out, "<U+{:04X}>", u32::from(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_and_invisible_characters_are_named_by_code_point() {
        assert_eq!(
            quoted("cafe\u{301}"),
            "\"cafe<U+0301 COMBINING ACUTE ACCENT>\""
        );
        assert_eq!(
            quoted("a\u{200B}b\u{FEFF}"),
            "\"a<U+200B ZERO WIDTH SPACE>b<U+FEFF ZERO WIDTH NO-BREAK SPACE>\""
        );
        assert_eq!(quoted("\u{202E}x"), "\"<U+202E RIGHT-TO-LEFT OVERRIDE>x\"");
        assert_eq!(
            quoted("no\u{a0}break"),
            "\"no<U+00A0 NO-BREAK SPACE>break\""
        );
    }

    #[test]
    fn characters_without_a_name_here_show_their_code_point() {
        // U+0489 COMBINING CYRILLIC MILLIONS SIGN and U+0007 (bell) are not in the table.
        assert_eq!(quoted("\u{489}\u{7}"), "\"<U+0489><U+0007>\"");
    }

    #[test]
    fn visible_text_stays_as_written() {
        assert_eq!(quoted("héllo 👋 日本"), "\"héllo 👋 日本\"");
        assert_eq!(quoted("it's"), "\"it's\"");
        assert_eq!(quoted("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
        assert_eq!(quoted("a\nb\tc\r"), "\"a\\nb\\tc\\r\"");
        assert!(!quoted("e\u{301}").contains("\\u{"));
    }

    #[test]
    fn lists_quote_each_text() {
        let texts = ["a".to_owned(), "e\u{301}".to_owned()];
        assert_eq!(
            quoted_list(&texts),
            "[\"a\", \"e<U+0301 COMBINING ACUTE ACCENT>\"]"
        );
    }

    #[test]
    fn transcripts_mark_invisible_characters_and_keep_line_breaks() {
        assert_eq!(
            mark_invisible("{\"text\":\"a\u{200D}b\"}\n  next"),
            "{\"text\":\"a<U+200D ZERO WIDTH JOINER>b\"}\n  next"
        );
        assert_eq!(mark_invisible("plain \"json\"\\n"), "plain \"json\"\\n");
    }
}
