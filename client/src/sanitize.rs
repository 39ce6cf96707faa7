//! Making received text inert: nothing from the network may drive the user's terminal.
//!
//! Every string that came over the wire (message text, names, reasons, server notices, discovery
//! replies) passes through [`sanitize`] before it is printed. It replaces the characters a
//! terminal acts on instead of showing:
//!
//! - C0 controls (U+0000..U+001F) except tab, and DEL (U+007F): ESC starts every escape
//!   sequence (cursor movement, `ESC[2J` clear screen, OSC window titles), BEL rings, CR and
//!   backspace overwrite what is already on the line. They become their Control Pictures glyph
//!   (`␛`, `␇`, ..., `␡`), so the reader still sees that something was there.
//! - C1 controls (U+0080..U+009F): `U+009B` is a one-character CSI on some terminals, `U+009D`
//!   an OSC. They become `�`.
//! - Bidi overrides, embeddings and isolates (U+202A..U+202E, U+2066..U+2069) and the
//!   direction marks U+200E, U+200F, U+061C: they reorder or hide text ("Trojan Source"), so a
//!   line could read differently from what was sent. They become `�`. So do the Unicode line
//!   and paragraph separators (U+2028, U+2029), which some terminals treat as line breaks.

use std::borrow::Cow;

/// Stand-in for C1 controls and bidi/format characters.
pub const STAND_IN: char = '\u{FFFD}';

/// The visible stand-in for `c`, or `None` when `c` is safe to print as it is.
pub fn stand_in(c: char) -> Option<char> {
    match c {
        '\t' => None,
        // Control Pictures: U+2400 + code for C0, U+2421 for DEL.
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)),
        '\u{7f}' => Some('\u{2421}'),
        // C1, bidi controls, line/paragraph separators: the protocol's one list.
        c if lanchat_proto::is_terminal_control(c) => Some(STAND_IN),
        _ => None,
    }
}

/// `text` with every character a terminal would act on replaced by a visible stand-in.
/// Borrows when nothing needed replacing (the common case).
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let Some(first) = text.char_indices().find(|&(_, c)| stand_in(c).is_some()) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first.0]);
    for c in text[first.0..].chars() {
        out.push(stand_in(c).unwrap_or(c));
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing a terminal acts on survives: no C0 but tab, no DEL, no C1, no bidi controls.
    fn is_inert(s: &str) -> bool {
        s.chars().all(|c| stand_in(c).is_none())
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            ("plain text, ünïcødé 東京 🙂", "plain text, ünïcødé 東京 🙂"),
            ("tab\tstays", "tab\tstays"),
            ("\u{1b}[2Jgone", "␛[2Jgone"),
            ("\u{1b}]0;pwned\u{7}title", "␛]0;pwned␇title"),
            ("\u{1b}]0;pwned\u{1b}\\title", "␛]0;pwned␛\\title"),
            ("ring\u{7}", "ring␇"),
            ("over\rwrite", "over␍write"),
            ("back\u{8}space", "back␈space"),
            ("nul\u{0}", "nul␀"),
            ("del\u{7f}", "del␡"),
            ("c1 \u{9b}2J csi", "c1 �2J csi"),
            ("c1 \u{9d}0;t\u{9c} osc", "c1 �0;t� osc"),
            ("\u{85}nel", "�nel"),
            ("abc\u{202e}fed", "abc�fed"),
            ("\u{2066}iso\u{2069}", "�iso�"),
            ("\u{202a}\u{202b}\u{202c}\u{202d}", "����"),
            ("\u{2067}\u{2068}", "��"),
            ("mark\u{200e}\u{200f}\u{061c}", "mark���"),
            ("line\u{2028}para\u{2029}", "line�para�"),
        ];
        for (input, want) in cases {
            let got = sanitize(input);
            assert_eq!(&got, want, "{input:?}");
            assert!(is_inert(&got), "{got:?}");
        }
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(sanitize("hello there"), Cow::Borrowed(_)));
        assert!(matches!(sanitize("a\u{1b}b"), Cow::Owned(_)));
    }

    #[test]
    fn every_control_char_is_replaced() {
        for cp in (0u32..0x20).chain(0x7f..0xa0) {
            let c = char::from_u32(cp).expect("valid char");
            let s = sanitize(&format!("x{c}y")).into_owned();
            if c == '\t' {
                assert_eq!(s, "x\ty");
            } else {
                assert!(
                    is_inert(&s) && s.starts_with('x') && s.ends_with('y'),
                    "{cp:#x}"
                );
                assert_eq!(s.chars().count(), 3, "one stand-in per character: {cp:#x}");
            }
        }
    }
}
