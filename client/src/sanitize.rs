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
//! - Characters that show as nothing ([`is_invisible`]): zero-width space, word joiner, BOM,
//!   soft hyphen, U+180E, the deprecated format controls U+206A..U+206F, tag characters, the
//!   interlinear annotation controls U+FFF9..U+FFFB, the Hangul fillers. They hide text in
//!   plain sight (`pay\u{200b}pal`, ASCII smuggled as tag characters) or make a message look
//!   empty. They become `�` too. The joiners and selectors that shape visible text (ZWJ,
//!   ZWNJ, variation selectors, the combining grapheme joiner) stay: emoji and Indic,
//!   Persian or Mongolian text need them, and they add nothing on their own.

use std::borrow::Cow;

/// Stand-in for C1 controls, bidi controls and invisible characters.
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
        c if is_invisible(c) => Some(STAND_IN),
        _ => None,
    }
}

/// True for a character that shows as nothing and does not shape the text around it: the
/// protocol's default-ignorables (which the server also counts as blank) and the interlinear
/// annotation controls U+FFF9..U+FFFB (format characters some renderers hide text with), but
/// not ZWJ, ZWNJ, the combining grapheme joiner or variation selectors, which emoji and
/// several scripts need to show right.
pub fn is_invisible(c: char) -> bool {
    let shapes_text = matches!(
        c,
        '\u{200c}' // ZWNJ
            | '\u{200d}' // ZWJ
            | '\u{34f}' // combining grapheme joiner
            | '\u{180b}'..='\u{180d}' // Mongolian free variation selectors
            | '\u{180f}'
            | '\u{fe00}'..='\u{fe0f}' // variation selectors
            | '\u{e0100}'..='\u{e01ef}' // variation selectors supplement
    );
    let annotation = matches!(c, '\u{fff9}'..='\u{fffb}');
    annotation || (lanchat_proto::is_default_ignorable(c) && !shapes_text)
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
            // Invisible characters.
            ("\u{200b}", "�"),
            ("pay\u{200b}pal", "pay�pal"),
            ("word\u{2060}joiner", "word�joiner"),
            ("\u{feff}bom", "�bom"),
            ("soft\u{ad}hyphen", "soft�hyphen"),
            ("mongolian\u{180e}vs", "mongolian�vs"),
            ("\u{206a}\u{206b}\u{206c}\u{206d}\u{206e}\u{206f}", "������"),
            ("\u{fff9}note\u{fffa}ruby\u{fffb}", "�note�ruby�"),
            ("tag\u{e0001}\u{e0068}\u{e0069}\u{e007f}", "tag����"),
            ("\u{3164}\u{ffa0}\u{115f}\u{1160}", "����"),
            // What shapes visible text stays.
            ("👨\u{200d}👩\u{200d}👧", "👨\u{200d}👩\u{200d}👧"),
            ("❤\u{fe0f}", "❤\u{fe0f}"),
            ("می\u{200c}خواهم", "می\u{200c}خواهم"),
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
