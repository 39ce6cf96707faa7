//! Room names: what a room may be called, when two room names are the same room, and the room
//! everyone is in.
//!
//! A room name is `#` and then what a user name may be (the characters, the length, no filler
//! letters, one script: [`crate::name`]); the reserved user names are fine as rooms. Two room
//! names are the same room when their names after the `#` would clash as user names: case and
//! look-alikes do not tell rooms apart, so nobody can open `#ОPS` (Cyrillic) beside `#ops`.
//! Since a user name never starts with `#`, a `#` field on the wire is never mistaken for one.

use crate::name::{name_shape, NameError, NameKey};

/// The room every named connection is in from `WELCOME` on, which cannot be left. Every line
/// without a room field is about it.
pub const GENERAL: &str = "#general";

/// What starts a room name.
pub const ROOM_PREFIX: char = '#';

/// The reason word of `LEAVE #room <name> parted`: the user left that room by `/part` (and is
/// still on the server).
pub const PARTED: &str = "parted";

/// Why a room name was refused by [`room_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomNameError {
    /// It does not start with `#`.
    NoPrefix,
    /// What follows the `#` breaks the name rules.
    Name(NameError),
}

impl std::fmt::Display for RoomNameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoomNameError::NoPrefix => write!(f, "a room name starts with # (as in #general)"),
            // The name rules' own words, about the part after the `#`.
            RoomNameError::Name(e) => write!(f, "after the # of a room name, {e}"),
        }
    }
}

impl std::error::Error for RoomNameError {}

/// True for a wire field that names a room rather than a user.
pub fn is_room_field(field: &str) -> bool {
    field.starts_with(ROOM_PREFIX)
}

/// Check a room name (with its `#`) and return the key it is told apart by: the [`NameKey`]
/// of the part after the `#`.
///
/// # Errors
/// [`RoomNameError::NoPrefix`] without the `#`, else the first name rule the rest breaks.
pub fn room_key(room: &str) -> Result<NameKey, RoomNameError> {
    let name = room
        .strip_prefix(ROOM_PREFIX)
        .ok_or(RoomNameError::NoPrefix)?;
    name_shape(name).map_err(RoomNameError::Name)
}

/// True when `room` names `#general`, in any spelling (case, look-alikes).
pub fn is_general(room: &str) -> bool {
    match room_key(room) {
        Ok(key) => key.clashes(&general_key()),
        Err(_) => false,
    }
}

fn general_key() -> NameKey {
    NameKey::of(&GENERAL[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_name_rules_table() {
        let ok = |r: &str| room_key(r).is_ok();
        for good in [
            "#general",
            "#dev",
            "#Ops-2",
            "#a",
            "#東京",
            "#server",
            "#l.u_n-ch",
        ] {
            assert!(ok(good), "{good}");
        }
        let cases: &[(&str, RoomNameError)] = &[
            ("dev", RoomNameError::NoPrefix),
            ("", RoomNameError::NoPrefix),
            ("#", RoomNameError::Name(NameError::Empty)),
            ("##dev", RoomNameError::Name(NameError::BadChar('#'))),
            ("#a b", RoomNameError::Name(NameError::BadChar(' '))),
            (
                "#abcdefghijklmnopqrstuvwxy",
                RoomNameError::Name(NameError::TooLong { chars: 25 }),
            ),
            ("#d\u{435}v", RoomNameError::Name(NameError::MixedScripts)),
            (
                "#dev\u{3164}",
                RoomNameError::Name(NameError::Filler('\u{3164}')),
            ),
        ];
        for (room, want) in cases {
            assert_eq!(room_key(room).as_ref().err(), Some(want), "{room:?}");
        }
        assert_eq!(
            RoomNameError::NoPrefix.to_string(),
            "a room name starts with # (as in #general)"
        );
        assert_eq!(
            RoomNameError::Name(NameError::BadChar(' ')).to_string(),
            "after the # of a room name, a name may only hold letters, digits, '_', '-' and '.' \
             (not U+0020)"
        );
    }

    #[test]
    fn general_in_any_spelling() {
        assert!(is_general("#general"));
        assert!(is_general("#GENERAL"));
        assert!(
            !is_general("#g\u{435}neral"),
            "mixed scripts: no room at all"
        );
        assert!(!is_general("general"));
        assert!(!is_general("#generals"));
        assert!(is_room_field("#x") && !is_room_field("x#"));
    }
}
