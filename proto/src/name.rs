//! Name rules: what a user may be called, and when two names are the same.

/// Longest name, in characters (not bytes).
pub const MAX_NAME_CHARS: usize = 24;

/// Names nobody may take, in any case: they would impersonate the server's own notices.
pub const RESERVED_NAMES: [&str; 2] = ["server", "system"];

/// Why a name was refused by [`validate_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name has more than [`MAX_NAME_CHARS`] characters.
    TooLong {
        /// How many characters it had.
        chars: usize,
    },
    /// The name contains a character that is not a letter, a digit, `_`, `-` or `.`.
    BadChar(char),
    /// The name is reserved (`server`, `system`, in any case).
    Reserved,
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameError::Empty => write!(f, "a name needs at least one character"),
            NameError::TooLong { chars } => write!(
                f,
                "a name has at most {MAX_NAME_CHARS} characters (that one has {chars})"
            ),
            // Only plain ASCII is quoted as itself: anything else (controls, bidi overrides,
            // combining marks) is named by code point so it cannot act on the reader's screen.
            NameError::BadChar(c) if !c.is_ascii_graphic() => write!(
                f,
                "a name may only hold letters, digits, '_', '-' and '.' (not U+{:04X})",
                u32::from(*c)
            ),
            NameError::BadChar(c) => write!(
                f,
                "a name may only hold letters, digits, '_', '-' and '.' (not '{c}')"
            ),
            NameError::Reserved => write!(f, "that name is reserved"),
        }
    }
}

impl std::error::Error for NameError {}

/// Whether `c` may appear in a name: a Unicode letter (general category L*), a decimal digit
/// (Nd), or one of `_ - .`. Marks, symbols and other numbers (`½`, `Ⅻ`) are not allowed, so a
/// name cannot be made of combining marks that stick to the text before it.
pub fn is_name_char(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory as G};
    matches!(c, '_' | '-' | '.')
        || matches!(
            get_general_category(c),
            G::UppercaseLetter
                | G::LowercaseLetter
                | G::TitlecaseLetter
                | G::ModifierLetter
                | G::OtherLetter
                | G::DecimalNumber
        )
}

/// Check `name` against the rules: 1 to 24 characters, each a Unicode letter or digit or one
/// of `_ - .`, and not a reserved name in any case.
///
/// # Errors
/// The first rule the name breaks.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    name_key(name).map(drop)
}

/// [`validate_name`], returning the name's [`fold_name`] key when it passes (the check folds
/// it anyway, for the reserved names; a server indexing names needs that key too).
///
/// # Errors
/// The first rule the name breaks.
pub fn name_key(name: &str) -> Result<String, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = name.chars().find(|&c| !is_name_char(c)) {
        return Err(NameError::BadChar(c));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong { chars });
    }
    let folded = fold_name(name);
    if RESERVED_NAMES.contains(&folded.as_str()) {
        return Err(NameError::Reserved);
    }
    Ok(folded)
}

/// The key under which names are compared: two names are the same user when their folds match.
///
/// Plain `to_lowercase` is not enough: it keeps `ſ` (long s) apart from `s` and treats the
/// Greek final sigma by context, so `σασ` and `ΣΑΣ` would be two users and `ſerver` would slip
/// past the reserved names. Mapping every character to upper case and back to lower case,
/// twice, joins everything Unicode case folding joins and is stable after the second pass. It
/// joins one pair more, on purpose: dotless `ı` and `i` (both upper-case to `I`; Unicode's fold
/// keeps them apart), so `lılly` cannot pass for `lilly`. Compared with Python's
/// `str.casefold` (Unicode 14) over every character a name may hold, that is the only
/// difference, apart from characters Unicode 14 did not have yet.
pub fn fold_name(name: &str) -> String {
    let once = |s: &str| -> String {
        s.chars()
            .flat_map(char::to_uppercase)
            .flat_map(char::to_lowercase)
            .collect()
    };
    once(&once(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules_table() {
        let cases: &[(&str, Result<(), NameError>)] = &[
            ("alice", Ok(())),
            ("Bob_2.0-x", Ok(())),
            ("Zoë", Ok(())),
            ("東京", Ok(())),
            ("٣", Ok(())),
            (
                "a234567890123456789012345",
                Err(NameError::TooLong { chars: 25 }),
            ),
            ("éééééééééééééééééééééé24", Ok(())),
            ("", Err(NameError::Empty)),
            ("two words", Err(NameError::BadChar(' '))),
            ("<quit>", Err(NameError::BadChar('<'))),
            ("a\u{1b}[2J", Err(NameError::BadChar('\u{1b}'))),
            ("evil\u{202e}", Err(NameError::BadChar('\u{202e}'))),
            ("server", Err(NameError::Reserved)),
            ("SyStEm", Err(NameError::Reserved)),
            ("servers", Ok(())),
            ("\u{17f}erver", Err(NameError::Reserved)),
            ("\u{17f}y\u{17f}tem", Err(NameError::Reserved)),
            ("½", Err(NameError::BadChar('½'))),
            ("Ⅻ", Err(NameError::BadChar('Ⅻ'))),
            ("\u{345}\u{345}", Err(NameError::BadChar('\u{345}'))),
            ("ǅungla", Ok(())),
            ("ʰi", Ok(())),
        ];
        for (name, want) in cases {
            assert_eq!(&validate_name(name), want, "{name:?}");
        }
    }

    #[test]
    fn folding_ignores_case() {
        assert_eq!(fold_name("ALICE"), fold_name("alice"));
        assert_eq!(fold_name("ÉMILE"), fold_name("émile"));
        assert_ne!(fold_name("bob"), fold_name("bob2"));
        assert_eq!(fold_name("σας"), fold_name("ΣΑΣ"));
        assert_eq!(
            fold_name("lılly"),
            fold_name("lilly"),
            "a look-alike, joined on purpose"
        );
        assert_eq!(fold_name("σασ"), fold_name("ΣΑΣ"));
        assert_eq!(fold_name("\u{17f}erver"), "server");
        assert_eq!(fold_name("straße"), fold_name("STRASSE"));
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            NameError::BadChar(' ').to_string(),
            "a name may only hold letters, digits, '_', '-' and '.' (not U+0020)"
        );
        assert_eq!(NameError::Reserved.to_string(), "that name is reserved");
        assert!(NameError::BadChar('\u{202e}')
            .to_string()
            .ends_with("(not U+202E)"));
        assert!(NameError::BadChar('<').to_string().ends_with("(not '<')"));
    }
}
