//! Name rules: what a user may be called, and when two names are the same.

/// Longest name, in characters (not bytes).
pub const MAX_NAME_CHARS: usize = 24;

/// Names nobody may take, in any case or look-alike spelling: they would impersonate the
/// server's own notices.
pub const RESERVED_NAMES: [&str; 2] = ["server", "system"];

/// Arabic tatweel (kashida): a letter only in name, it stretches the joins between the letters
/// around it, so `محـمد` is `محمد` drawn longer, and after Latin letters it is a bare line. Not
/// default-ignorable, so named here; UTS #39 restricts it from identifiers too.
const TATWEEL: char = '\u{640}';

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
    /// The name contains a letter that shows as nothing (a Hangul filler) or only pads the
    /// letters around it (tatweel).
    Filler(char),
    /// The name mixes scripts beyond UTS #39's "highly restrictive" level: `аlice` with a
    /// Cyrillic `а`. One script is fine, and so is Latin beside Chinese, Japanese or Korean.
    MixedScripts,
    /// The name is reserved (`server`, `system`), in any case or look-alike spelling.
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
            NameError::Filler(c) => write!(
                f,
                "a name may not hold U+{:04X}, which shows as nothing or only pads a name",
                u32::from(*c)
            ),
            NameError::MixedScripts => write!(
                f,
                "a name may not mix scripts, such as Latin and Cyrillic letters \
                 (Latin beside Chinese, Japanese or Korean is fine)"
            ),
            NameError::Reserved => write!(f, "that name is reserved"),
        }
    }
}

impl std::error::Error for NameError {}

/// Whether `c` may appear in a name: a Unicode letter (general category L*), a decimal digit
/// (Nd), or one of `_ - .`. Marks, symbols and other numbers (`½`, `Ⅻ`) are not allowed, so a
/// name cannot be made of combining marks that stick to the text before it. (A letter can
/// still be refused as a [`NameError::Filler`].)
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
/// of `_ - .`; no letter that shows as nothing; no mix of scripts beyond UTS #39's "highly
/// restrictive"; and not a reserved name in any case or look-alike spelling.
///
/// # Errors
/// The first rule the name breaks.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    name_key(name).map(drop)
}

/// [`validate_name`], returning the name's [`NameKey`] when it passes (the check needs it
/// anyway, for the reserved names; a server indexing names needs it too).
///
/// # Errors
/// The first rule the name breaks.
pub fn name_key(name: &str) -> Result<NameKey, NameError> {
    let key = name_shape(name)?;
    if RESERVED_NAMES.iter().any(|r| key.clashes(&NameKey::of(r))) {
        return Err(NameError::Reserved);
    }
    Ok(key)
}

/// Every rule but the reserved names: what the part of a room name after its `#` must be too
/// ([`crate::room::room_key`]). Returns the key.
pub(crate) fn name_shape(name: &str) -> Result<NameKey, NameError> {
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
    if let Some(c) = name
        .chars()
        .find(|&c| c == TATWEEL || crate::is_default_ignorable(c))
    {
        return Err(NameError::Filler(c));
    }
    if !is_highly_restrictive(name) {
        return Err(NameError::MixedScripts);
    }
    Ok(NameKey::of(name))
}

/// UTS #39 restriction level "highly restrictive" or stricter, by script alone: every
/// character shares one script (digits and `_ - .` go with any), or the letters that are not
/// Latin are all Chinese, all Japanese or all Korean (`山田Taro`).
///
/// The crate's own `detect_restriction_level` also demands UTS #39's identifier profile,
/// which refuses polytonic Greek (`Ἀθηνᾶ`) and scripts it counts as of limited use; here the
/// character rules are ours and only the mixing is UTS #39's.
fn is_highly_restrictive(name: &str) -> bool {
    use unicode_security::mixed_script::AugmentedScriptSet;
    let latin = AugmentedScriptSet::for_char('a');
    // Both start as "every script" (Common): intersecting narrows them.
    let mut all = AugmentedScriptSet::default();
    let mut not_latin = AugmentedScriptSet::default();
    for c in name.chars() {
        let scripts = AugmentedScriptSet::for_char(c);
        all.intersect_with(scripts);
        let mut with_latin = scripts;
        with_latin.intersect_with(latin);
        if with_latin.is_empty() {
            not_latin.intersect_with(scripts);
        }
    }
    !all.is_empty() || not_latin.hanb || not_latin.jpan || not_latin.kore
}

/// The case fold of a name: two names that differ only in case fold the same
/// ([`NameKey`] builds on it; the client sorts and completes names by it).
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

/// What a name is told apart by: two names clash when any key of one equals any key of the
/// other. A server lets no two connected users' names clash ([`crate::NameIndex`]).
///
/// Each key is a UTS #39 confusable skeleton taken after the case fold (and folded once more,
/// since a skeleton can hold capitals: `0` becomes `O`), so `ALICE`, `ɑlice` (Latin alpha),
/// `𝖺𝗅𝗂𝖼𝖾` (mathematical sans-serif) and `аӏісе` (all Cyrillic) share one key with `alice`.
/// That alone misses look-alikes that only capitals have: `ВОВ` in Cyrillic folds to `вов`,
/// which looks nothing like `bob`, yet shows as `BOB`. So a name has a second key, the same
/// taken from its skeleton as written (`ВОВ` → `BOB` → `bob`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameKey {
    /// The key of the name's case fold: equal for names that differ only in case.
    folded: String,
    /// The key of the name's skeleton as written: catches capitals that look alike.
    as_written: String,
}

impl NameKey {
    /// The keys of `name` (any string: a `/msg` target is looked up by them too).
    pub fn of(name: &str) -> NameKey {
        let key = |s: &str| -> String {
            let skeleton: String = unicode_security::skeleton(&fold_name(s)).collect();
            fold_name(&skeleton)
        };
        let written: String = unicode_security::skeleton(name).collect();
        NameKey {
            folded: key(name),
            as_written: key(&written),
        }
    }

    /// Whether a user called by these keys and one called by `other`'s could be taken for
    /// each other.
    pub fn clashes(&self, other: &NameKey) -> bool {
        self.keys().iter().any(|k| other.keys().contains(k))
    }

    /// Both keys, the case-fold one first.
    pub fn keys(&self) -> [&str; 2] {
        [&self.folded, &self.as_written]
    }

    /// The key shared by every case spelling of the name: the identity a name index files it
    /// under.
    pub fn folded(&self) -> &str {
        &self.folded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
            // One script, or Latin beside Chinese, Japanese or Korean.
            ("李雷", Ok(())),
            ("Ἀθηνᾶ", Ok(())),
            ("ann_2", Ok(())),
            ("山田Taro", Ok(())),
            ("ひらがなKanji漢字", Ok(())),
            ("한국abc", Ok(())),
            ("Наташа", Ok(())),
            ("محمد", Ok(())),
            // Look-alikes of nobody in particular are fine until someone holds the original.
            ("\u{251}lice", Ok(())),
            ("𝖺𝗅𝗂𝖼𝖾", Ok(())),
            // Mixed scripts.
            ("\u{430}lice", Err(NameError::MixedScripts)),
            ("alic\u{435}", Err(NameError::MixedScripts)),
            ("SYST\u{395}M", Err(NameError::MixedScripts)),
            ("\u{455}erver", Err(NameError::MixedScripts)),
            ("Ελλάδαabc", Err(NameError::MixedScripts)),
            ("한국ひらがな", Err(NameError::MixedScripts)),
            // Letters that show as nothing or only pad.
            ("alice\u{1160}", Err(NameError::Filler('\u{1160}'))),
            ("alice\u{ffa0}", Err(NameError::Filler('\u{ffa0}'))),
            ("alice\u{640}", Err(NameError::Filler('\u{640}'))),
            ("\u{3164}", Err(NameError::Filler('\u{3164}'))),
            ("\u{115f}", Err(NameError::Filler('\u{115f}'))),
            ("محـمد", Err(NameError::Filler('\u{640}'))),
            ("server\u{1160}", Err(NameError::Filler('\u{1160}'))),
            // Invisible non-letters were refused already.
            ("ali\u{200d}ce", Err(NameError::BadChar('\u{200d}'))),
            ("ali\u{200c}ce", Err(NameError::BadChar('\u{200c}'))),
            ("alice\u{fe0f}", Err(NameError::BadChar('\u{fe0f}'))),
            ("alice\u{e0041}", Err(NameError::BadChar('\u{e0041}'))),
            ("alice\u{200b}", Err(NameError::BadChar('\u{200b}'))),
            // Reserved, in look-alike spellings too.
            ("ＳＥＲＶＥＲ", Err(NameError::Reserved)),
            (
                "\u{405}\u{4ae}\u{405}\u{422}\u{415}\u{41c}",
                Err(NameError::Reserved),
            ),
            ("5erver", Ok(())),
            ("systems", Ok(())),
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
    fn look_alikes_clash() {
        let clash = |a: &str, b: &str| NameKey::of(a).clashes(&NameKey::of(b));
        let cases: &[(&str, &str, bool)] = &[
            ("alice", "ALICE", true),
            ("alice", "\u{251}lice", true),
            ("alice", "𝖺𝗅𝗂𝖼𝖾", true),
            ("alice", "\u{430}\u{4cf}\u{456}\u{441}\u{435}", true),
            ("alice", "\u{430}lice", true),
            ("alice", "alice\u{1160}", true),
            ("BOB", "\u{412}\u{41e}\u{412}", true),
            ("bob", "\u{412}\u{41e}\u{412}", true),
            ("bob", "\u{392}\u{39f}\u{392}", true),
            ("bob", "\u{432}\u{43e}\u{432}", false),
            ("bob", "B0B", true),
            ("mary", "rnary", true),
            ("Ian", "lan", true),
            ("ill", "i11", true),
            ("alice", "al1ce", false),
            ("alice", "alice2", false),
            ("alice", "alicia", false),
            ("李雷", "李雷", true),
            ("李雷", "李電", false),
            ("straße", "STRASSE", true),
            ("lılly", "lilly", true),
            ("σας", "ΣΑΣ", true),
        ];
        for &(a, b, want) in cases {
            assert_eq!(clash(a, b), want, "{a:?} / {b:?}");
            assert_eq!(clash(b, a), want, "{b:?} / {a:?}");
        }
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
        assert_eq!(
            NameError::Filler('\u{3164}').to_string(),
            "a name may not hold U+3164, which shows as nothing or only pads a name"
        );
        assert!(NameError::MixedScripts
            .to_string()
            .starts_with("a name may not mix scripts"));
    }

    /// Random names in a few scripts, with digits and punctuation.
    fn mixed_name() -> impl Strategy<Value = String> {
        "[a-zA-Zа-яА-Яα-ωΑ-Ω李雷山田ひらカタ한국0-9_.-]{1,8}"
    }

    proptest! {
        /// Where every character is in UTS #39's identifier profile, the mixing rule is the
        /// crate's own restriction level.
        #[test]
        fn script_mixing_matches_the_crates_restriction_level(name in mixed_name()) {
            use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};
            prop_assume!(name.chars().all(char::identifier_allowed));
            let crate_says = name.as_str().check_restriction_level(RestrictionLevel::HighlyRestrictive);
            prop_assert_eq!(is_highly_restrictive(&name), crate_says);
        }

        /// The case rule holds under the look-alike rule: names that differ only in case clash,
        /// and clashing is symmetric.
        #[test]
        fn case_spellings_clash(name in mixed_name(), upper in proptest::collection::vec(any::<bool>(), 8)) {
            let other: String = name
                .chars()
                .zip(upper.iter().cycle())
                .flat_map(|(c, &up)| if up { c.to_uppercase().collect::<Vec<_>>() } else { vec![c] })
                .collect();
            let (a, b) = (NameKey::of(&name), NameKey::of(&other));
            prop_assert!(a.clashes(&b));
            prop_assert_eq!(a.folded(), b.folded());
        }
    }
}
