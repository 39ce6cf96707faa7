//! File names for state files, safe for any room or user name.
//!
//! A name becomes a file stem an administrator can still read (`#general` → `general.log`):
//! letters and digits of any script, `_` and `-` stay; every other byte is written `%XX`, so
//! `/`, `.` (no `..`, no hidden files), `%`, `~`, controls and spaces never reach the file system
//! as themselves. Long stems are cut. The file name is only where the data lives: whose it is
//! is written in the file's header, so two names that make the same stem (cut, or equal on a
//! case-insensitive file system) simply get `~2`, `~3` ... appended.

/// Longest stem, in bytes: far below every file system's 255-byte name limit with room for a
/// `~N` suffix and the extensions.
pub const MAX_STEM: usize = 80;

/// The readable, file-system-safe stem for `name` (a leading `#` is dropped: every room has one).
pub fn stem(name: &str) -> String {
    let name = name.strip_prefix('#').unwrap_or(name);
    let mut out = String::new();
    for c in name.chars() {
        let mut piece = String::new();
        if c.is_alphanumeric() || c == '_' || c == '-' {
            piece.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                piece.push_str(&format!("%{b:02X}"));
            }
        }
        if out.len() + piece.len() > MAX_STEM {
            break;
        }
        out.push_str(&piece);
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// The file names to try for `stem` with extension `ext`, in order: `stem.ext`, then
/// `stem~2.ext`, `stem~3.ext` ... (`~` never appears in a stem, so these cannot clash with
/// another name's first choice).
pub fn candidates<'a>(stem: &'a str, ext: &'a str) -> impl Iterator<Item = String> + 'a {
    (1..).map(move |n| match n {
        1 => format!("{stem}.{ext}"),
        n => format!("{stem}~{n}.{ext}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        let cases: &[(&str, &str)] = &[
            ("#general", "general"),
            ("#Dev-Ops_2", "Dev-Ops_2"),
            ("#café", "café"),
            ("#東京", "東京"),
            ("#a.b", "a%2Eb"),
            ("#..", "%2E%2E"),
            ("#.hidden", "%2Ehidden"),
            ("#a/b", "a%2Fb"),
            ("../../etc/passwd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"),
            ("#a b", "a%20b"),
            ("#a\0b", "a%00b"),
            ("#a~2", "a%7E2"),
            ("#100%", "100%25"),
            ("##x", "%23x"),
            ("#", "_"),
            ("", "_"),
            ("#\u{202e}x", "%E2%80%AEx"),
        ];
        for (name, want) in cases {
            assert_eq!(stem(name), *want, "{name:?}");
        }
    }

    #[test]
    fn every_stem_is_a_safe_file_name() {
        let long = "#".to_owned() + &"é".repeat(300);
        let escapes = "#".to_owned() + &".".repeat(300);
        for name in [long.as_str(), escapes.as_str(), "#ok", "#/", "#\n"] {
            let s = stem(name);
            assert!(!s.is_empty() && s.len() <= MAX_STEM, "{name:?}: {s}");
            assert!(!s.starts_with('.'), "{s}");
            assert!(
                !s.contains(['/', '\0', '\n', '.', '~']),
                "{name:?} gave {s:?}"
            );
        }
        assert!(
            stem(&escapes).ends_with("%2E"),
            "an escape is never cut in half"
        );
    }

    #[test]
    fn candidates_count_up() {
        let got: Vec<String> = candidates("general", "log").take(3).collect();
        assert_eq!(got, ["general.log", "general~2.log", "general~3.log"]);
    }
}
