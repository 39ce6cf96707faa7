//! Names that pass for someone else, and text that shows as nothing: the real server binary on
//! 127.0.0.1, raw sockets, exact answers.
//!
//! A name that looks like a connected user's (or a reserved one) must be refused, while names
//! in any one script, or in Latin beside Chinese, Japanese or Korean, stay welcome. A line of
//! nothing but invisible characters is blank and never relayed.

use integration_tests::{Client, ServerProcess};

/// Connect, give `name`, then quit, and return the server's first answer: `WELCOME ...`,
/// `ERR ...`, or the `BYE` when it took the name line for a blank one.
#[track_caller]
fn answer_to(server: &ServerProcess, name: &str) -> String {
    let mut c = Client::connect(server.addr());
    c.expect_prefix("HELLO ");
    c.send(name);
    c.send("/quit");
    c.line()
}

/// The ERR code of an answer, `accepted` for a `WELCOME`, `ignored` for a `BYE`.
fn outcome(answer: &str) -> &str {
    match answer.strip_prefix("ERR ") {
        Some(rest) => rest.split(' ').next().unwrap_or(rest),
        None if answer.starts_with("WELCOME ") => "accepted",
        None if answer.starts_with("BYE ") => "ignored",
        None => answer,
    }
}

/// Code points, so a failure message shows what the invisible names were.
fn spelled(name: &str) -> String {
    name.chars()
        .map(|c| format!("U+{:04X}", u32::from(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every look-alike a red-team pass got accepted while `alice` was connected, then a few more
/// of the same kinds (a name all in Cyrillic, upper-case Cyrillic and Greek capitals), each
/// with the answer it must get. A line of nothing but invisible fillers is a blank line, and
/// blank lines are ignored: no name was given.
const LOOK_ALIKES: &[(&str, &str)] = &[
    ("\u{430}lice", "name-invalid"),    // Cyrillic а among Latin letters
    ("alic\u{435}", "name-invalid"),    // Cyrillic е
    ("\u{251}lice", "name-taken"),      // Latin alpha ɑ: one script, same skeleton
    ("𝖺𝗅𝗂𝖼𝖾", "name-taken"),            // mathematical sans-serif
    ("alice\u{1160}", "name-invalid"),  // Hangul jungseong filler
    ("alice\u{ffa0}", "name-invalid"),  // halfwidth Hangul filler
    ("alice\u{640}", "name-invalid"),   // Arabic tatweel
    ("\u{3164}", "ignored"),            // Hangul filler alone
    ("\u{ffa0}\u{ffa0}", "ignored"),    // halfwidth Hangul fillers
    ("\u{115f}", "ignored"),            // Hangul choseong filler
    ("server\u{1160}", "name-invalid"), // a reserved name padded
    ("\u{455}erver", "name-invalid"),   // Cyrillic ѕ
    ("serv\u{435}r", "name-invalid"),   // Cyrillic е
    ("ＳＥＲＶＥＲ", "name-invalid"),   // fullwidth
    ("SYST\u{395}M", "name-invalid"),   // Greek capital epsilon
    ("\u{430}\u{4cf}\u{456}\u{441}\u{435}", "name-taken"), // аӏісе, all Cyrillic
    ("ALICE", "name-taken"),            // the case rule, as before
    ("\u{405}\u{4ae}\u{405}\u{422}\u{415}\u{41c}", "name-invalid"), // ЅҮЅТЕМ, all Cyrillic
    ("\u{392}\u{39f}\u{392}", "name-taken"), // ΒΟΒ in Greek capitals, while BOB is here
    ("\u{412}\u{41e}\u{412}", "name-taken"), // ВОВ in Cyrillic capitals
    ("B0B", "name-taken"),              // a zero for an O
];

#[test]
fn every_look_alike_of_a_connected_or_reserved_name_is_refused() {
    let server = ServerProcess::start(&[]);
    let _alice = Client::join(server.addr(), "alice");
    let _bob = Client::join(server.addr(), "BOB");
    let got: Vec<(&str, String)> = LOOK_ALIKES
        .iter()
        .map(|&(name, _)| (name, answer_to(&server, name)))
        .collect();
    let wrong: Vec<String> = LOOK_ALIKES
        .iter()
        .zip(&got)
        .filter(|((_, want), (_, answer))| outcome(answer) != *want)
        .map(|((name, want), (_, answer))| {
            format!("{name:?} ({}): want {want}, got {answer:?}", spelled(name))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn names_in_one_script_or_latin_beside_cjk_are_welcome_all_at_once() {
    let server = ServerProcess::start(&[]);
    let _alice = Client::join(server.addr(), "alice");
    let mut here = Vec::new();
    for name in [
        "李雷",
        "Ἀθηνᾶ",
        "ann_2",
        "山田Taro",
        "Zoë",
        "Наташа",
        "محمد",
        "김철수",
        "Łukasz",
        "straße",
        "alice2",
        "al1ce", // digits may look like letters: only a whole match of the skeleton clashes
    ] {
        here.push(Client::join(server.addr(), name));
    }
    assert_eq!(here.len(), 12);
}

#[test]
fn a_rename_to_a_look_alike_is_refused_and_a_freed_name_can_be_taken() {
    let server = ServerProcess::start(&[]);
    let mut alice = Client::join(server.addr(), "alice");
    let mut mallory = Client::join(server.addr(), "mallory");
    alice.expect("JOIN mallory");
    mallory.send("/nick \u{251}lice");
    mallory.expect_prefix("ERR name-taken ");
    mallory.send("/nick \u{430}lice");
    mallory.expect_prefix("ERR name-invalid ");
    mallory.send("/nick \u{405}\u{4ae}\u{405}\u{422}\u{415}\u{41c}");
    mallory.expect_prefix("ERR name-invalid ");
    // A look-alike of your own name is yours to take.
    alice.send("/nick \u{251}lice");
    alice.read_until_prefix("NICK alice \u{251}lice");
    mallory.expect("NICK alice \u{251}lice");
    mallory.send("/nick ALICE");
    mallory.expect_prefix("ERR name-taken ");
    // A name left behind is free again, look-alikes and all.
    alice.send("/nick alicia");
    alice.read_until_prefix("NICK \u{251}lice alicia");
    mallory.expect("NICK \u{251}lice alicia");
    mallory.send("/nick ALICE");
    mallory.expect("NICK mallory ALICE");
    alice.expect("NICK mallory ALICE");
}

#[test]
fn a_private_message_to_a_look_alike_spelling_reaches_the_one_it_looks_like() {
    let server = ServerProcess::start(&["--rate", "0"]);
    let mut alice = Client::join(server.addr(), "alice");
    let mut bob = Client::join(server.addr(), "bob");
    alice.expect("JOIN bob");
    bob.send("/msg \u{430}lice psst");
    alice.expect("PRIV bob psst");
    bob.send("/msg 𝖺𝗅𝗂𝖼𝖾 again");
    alice.expect("PRIV bob again");
    bob.send("/msg alice\u{200b} no");
    alice.expect("PRIV bob no");
    bob.send("/msg alicia no");
    bob.expect_prefix("ERR no-such-user ");
}

#[test]
fn a_line_of_only_invisible_characters_is_blank_and_not_relayed() {
    let server = ServerProcess::start(&["--rate", "0"]);
    let mut alice = Client::join(server.addr(), "alice");
    let mut bob = Client::join(server.addr(), "bob");
    alice.expect("JOIN bob");
    for invisible in [
        "\u{200b}",
        "\u{200b}\u{200b}\u{200b}",
        " \u{2060} \u{feff} ",
        "\u{3164}",
        "\u{ad}\u{180e}\u{206a}",
        "\u{e0041}\u{e0042}",
        "/me \u{200b}",
        "/msg bob \u{200b}",
    ] {
        alice.send(invisible);
    }
    alice.send("a\u{200b}b stays as sent");
    bob.expect("MSG alice a\u{200b}b stays as sent");
    assert_eq!(bob.sync(), Vec::<String>::new());
    // Blank commands are refused as such, not relayed.
    let answers = alice.sync();
    assert_eq!(
        answers.iter().map(|a| outcome(a)).collect::<Vec<_>>(),
        ["bad-usage", "bad-usage"],
        "{answers:?}"
    );
}

#[test]
fn a_name_of_only_invisible_characters_is_not_a_name() {
    let server = ServerProcess::start(&[]);
    let mut c = Client::connect(server.addr());
    c.expect_prefix("HELLO ");
    // Blank lines before a name are ignored, invisible ones included.
    c.send("\u{200b}");
    c.send("\u{feff}\u{2060}");
    c.send("zed");
    c.expect_prefix("WELCOME zed ");
}
