//! The real `lanchat` binary in a pseudo-terminal, against the real server: what a person at a
//! terminal sees and can do.
//!
//! [`Pty`] (tests/pty/) runs the client under a pty and waits on what it writes, with
//! deadlines. Clients run with `NO_COLOR=1` and `--no-timestamps` unless a test says
//! otherwise, so lines can be matched exactly. Every client and server is killed when its
//! guard drops, even when a test fails.

mod pty;

use std::net::TcpStream;
use std::time::Duration;

use integration_tests::clock::BinaryClock;
use integration_tests::{Client, ServerProcess};
use lanchat_client::waits::QUIT_VAR;
use pty::{join, printable, Pty};

fn server() -> ServerProcess {
    ServerProcess::start(&["--rate", "0"])
}

/// `lanchat <addr> --name <name> --no-timestamps` on a terminal rustyline cannot drive
/// (`TERM=dumb`), colour off.
#[track_caller]
fn join_dumb(addr: &str, name: &str) -> Pty {
    Pty::spawn_env(
        name,
        &[addr, "--name", name, "--no-timestamps"],
        &[("NO_COLOR", "1"), ("TERM", "dumb")],
    )
}

#[test]
fn two_clients_chat_both_ways_and_see_each_other_come_and_go() {
    let server = server();
    let mut ann = join(&server, "ann");
    let mut bob = join(&server, "bob");
    ann.expect("* bob has joined the chat");
    ann.line("hi bob");
    bob.expect("<ann> hi bob");
    bob.line("hey ann, how are you?");
    ann.expect("<bob> hey ann, how are you?");
    bob.line("<quit>");
    assert_eq!(bob.expect_exit(), 0);
    ann.expect("* bob has left the chat (quit)");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
}

#[test]
fn asks_for_address_and_name_retrying_an_unreachable_address_and_a_taken_name() {
    let server = server();
    let mut bob = Client::join(server.addr(), "bob");
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let mut ann = Pty::spawn("ann", &["--no-timestamps"]);
    ann.expect("Server address: ");
    ann.line(&closed.to_string());
    ann.expect(&format!(
        "cannot connect to {closed}: connection refused (is the lanchat server running there?)"
    ));
    ann.expect("Server address: ");
    ann.line("nohost:x");
    ann.expect("is not an address: port \"x\" is not a number from 1 to 65535");
    ann.expect("Server address: ");
    ann.line(&server.addr().to_string());
    ann.expect("Your name: ");
    ann.line("BOB");
    ann.expect("BOB is already taken; try another name");
    ann.expect("Your name: ");
    ann.line("two words");
    ann.expect("a name may only hold letters, digits");
    ann.expect("Your name: ");
    ann.line("ann");
    ann.expect("* Hi ann! Type <quit> to leave");
    ann.expect("* here now (2): bob, ann");
    bob.expect("JOIN ann");
    bob.send("welcome, ann");
    ann.expect("<bob> welcome, ann");
    ann.line("thanks");
    bob.expect("MSG ann thanks");
}

#[test]
fn a_taken_name_from_the_command_line_is_asked_again() {
    let server = server();
    let _bob = Client::join(server.addr(), "bob");
    let addr = server.addr().to_string();
    let mut other = Pty::spawn("other", &[&addr, "--name", "bob"]);
    other.expect("bob is already taken; try another name");
    other.expect("Your name: ");
    other.line("bobby");
    other.expect("bobby> ");
}

#[test]
fn a_message_arriving_while_typing_does_not_garble_the_line() {
    let server = server();
    let mut ann = join(&server, "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("* bob has joined the chat");
    ann.keys("half of a li");
    ann.expect("half of a li");
    bob.send("incoming while you type");
    // The arrival is printed on its own line, and the half-typed line is drawn again below.
    ann.expect("<bob> incoming while you type\r\n");
    ann.expect("ann> half of a li");
    ann.line("ne, sent whole");
    bob.expect("MSG ann half of a line, sent whole");
    // Ctrl-D on an empty line leaves.
    ann.keys("\x04");
    assert_eq!(ann.expect_exit(), 0);
    bob.expect("LEAVE ann quit");
}

#[test]
fn ctrl_c_clears_the_line_and_on_an_empty_line_quits() {
    let server = server();
    let mut ann = join(&server, "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("* bob has joined the chat");
    ann.keys("oops, not this");
    ann.expect("oops, not this");
    ann.keys("\x03");
    ann.line("this instead");
    bob.expect("MSG ann this instead");
    ann.keys("\x03");
    assert_eq!(ann.expect_exit(), 0);
    bob.expect("LEAVE ann quit");
}

#[test]
fn tab_completes_names() {
    let server = server();
    let mut bobby = Client::join(server.addr(), "bobby");
    let mut ann = join(&server, "ann");
    bobby.expect("JOIN ann");
    ann.keys("hello bo\t");
    ann.expect("hello bobby ");
    ann.line("there");
    bobby.expect("MSG ann hello bobby there");
    // At the start of a line, a name addresses someone.
    ann.keys("b\t");
    ann.expect("bobby: ");
    ann.line("lunch?");
    bobby.expect("MSG ann bobby: lunch?");
}

#[test]
fn escape_sequences_from_the_network_are_shown_inert() {
    let server = server();
    let mut ann = join(&server, "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("* bob has joined the chat");
    bob.send("\x1b[2J\x1b[Hclear \x1b]0;pwned\x07title \u{202e}desrever \u{9b}31mred \x08\x7f");
    ann.expect("<bob> ␛[2J␛[Hclear ␛]0;pwned␇title \u{fffd}desrever \u{fffd}31mred ␈␡");
    bob.send("/me \x1b[5mblinks");
    ann.expect("~ bob ␛[5mblinks");
    let seen = ann.transcript();
    for bad in [
        "\x1b[2J", "\x1b[H", "\x1b]0;", "\x07", "\u{202e}", "\u{9b}", "\x1b[5m", "\x08",
    ] {
        assert!(
            !seen.contains(bad),
            "{bad:?} reached the terminal:\n{}",
            printable(seen.as_bytes())
        );
    }
}

#[test]
fn history_is_shown_under_a_separator_and_mentions_ring_once() {
    let server = server();
    let mut bob = Client::join(server.addr(), "bob");
    bob.send("anyone here?");
    bob.send("/me yawns");
    bob.sync();
    let addr = server.addr().to_string();
    let mut ann = Pty::spawn("ann", &[&addr, "--name", "ann", "--no-timestamps"]);
    let before = ann.expect("* here now (2)");
    // The separator says from when to when: "--- earlier messages (12:00 to 12:00) ---".
    let sep = before.find("--- earlier messages (").expect("separator");
    let first = before.find("<bob> anyone here?").expect("history line");
    let second = before.find("~ bob yawns").expect("history action");
    assert!(sep < first && first < second, "{before}");
    bob.send("ann, are you there?");
    let got = ann.expect("<bob> ann, are you there?");
    assert!(got.ends_with("! <bob> ann, are you there?"), "{got:?}");
    ann.expect("\x07");
    bob.send("/msg ann psst");
    // Marked, but silent: at most one bell every few seconds.
    ann.expect("! [private] <bob> psst");
    bob.send("annie is not you");
    let got = ann.expect("<bob> annie is not you");
    assert!(!got.contains("! <bob> annie"), "{got:?}");
    // A BEL from the network never rings: only the client's own, once per burst of mentions.
    let bells = ann.transcript().matches('\x07').count();
    assert_eq!(bells, 1, "{}", printable(ann.transcript().as_bytes()));
}

#[test]
fn no_bell_and_timestamps_by_default() {
    let server = server();
    let addr = server.addr().to_string();
    let mut ann = Pty::spawn("ann", &[&addr, "--name", "ann", "--no-bell"]);
    ann.expect("* here now (1): ann");
    let mut bob = Client::join(server.addr(), "bob");
    let joined = ann.expect("* bob has joined the chat");
    // [HH:MM] in front.
    let at = joined.rfind("* bob").expect("line");
    let stamp = &joined[at.saturating_sub(8)..at];
    let b = stamp.as_bytes();
    assert!(
        stamp.len() == 8 && b[0] == b'[' && b[3] == b':' && b[6] == b']' && b[7] == b' ',
        "{stamp:?}"
    );
    bob.send("hi ann");
    ann.expect("<bob> hi ann");
    bob.send("/msg ann psst");
    ann.expect("<bob> psst");
    assert!(
        !ann.transcript().contains('\x07'),
        "{}",
        printable(ann.transcript().as_bytes())
    );
}

#[test]
fn colours_are_off_with_no_color_and_on_without() {
    let server = server();
    let addr = server.addr().to_string();
    let mut plain = Pty::spawn("plain", &[&addr, "--name", "plain", "--no-timestamps"]);
    plain.expect("* here now (1): plain");
    let mut coloured = Pty::spawn_env(
        "coloured",
        &[&addr, "--name", "coloured", "--no-timestamps"],
        &[],
    );
    coloured.expect("* here now (2): ");
    let mut bob = Client::join(server.addr(), "bob");
    bob.send("hello");
    plain.expect("<bob> hello");
    // The name is wrapped in a colour of its own, then reset.
    let got = coloured.expect("hello");
    assert!(
        got.contains("<\x1b[") && got.contains("mbob\x1b[0m> hello"),
        "{}",
        printable(got.as_bytes())
    );
}

#[test]
fn a_question_mark_at_the_address_prompt_finds_servers_to_pick_from() {
    let server = ServerProcess::discoverable("testroom");
    let port = server.addr().port().to_string();
    let _bob = Client::join(server.addr(), "bob");
    let mut ann = Pty::spawn(
        "ann",
        &[
            "--discover-to",
            "127.0.0.1",
            "--discover-port",
            &port,
            "--no-timestamps",
        ],
    );
    ann.expect("Server address: ");
    ann.line("?");
    ann.expect(&format!("  1) testroom at 127.0.0.1:{port}, 1 user\r\n"));
    ann.expect("Pick a number, or type an address: ");
    ann.line("2");
    ann.expect("There is no 2 on the list.");
    ann.expect("Pick a number, or type an address: ");
    ann.line("1");
    ann.expect("Your name: ");
    ann.line("ann");
    ann.expect("* here now (2): bob, ann");
}

#[test]
fn discover_with_nothing_answering_says_so_and_asks_for_the_address() {
    let server = server(); // discovery off
    let port = server.addr().port().to_string();
    let mut ann = Pty::spawn(
        "ann",
        &[
            "--discover",
            "--discover-to",
            "127.0.0.1",
            "--discover-port",
            &port,
            "--name",
            "ann",
        ],
    );
    ann.expect("No lanchat server answered.");
    ann.expect("Server address: ");
    ann.line(&server.addr().to_string());
    ann.expect("* here now (1): ann");
}

#[test]
fn ctrl_c_in_a_terminal_rustyline_cannot_drive_quits_cleanly() {
    let server = server();
    let addr = server.addr().to_string();
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join_dumb(&addr, "ann");
    ann.expect("* here now (2): bob, ann");
    bob.expect("JOIN ann");
    ann.raw_line("\x03");
    assert_eq!(ann.expect_exit(), 0);
    bob.expect("LEAVE ann quit");
}

#[test]
fn a_terminal_rustyline_cannot_drive_still_chats() {
    let server = server();
    let addr = server.addr().to_string();
    let mut ann = join_dumb(&addr, "ann");
    ann.expect("* here now (1): ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("* bob has joined the chat");
    // No line editor here: the terminal's own cooked mode echoes and edits.
    ann.raw_line("hi bob");
    bob.expect("MSG ann hi bob");
    bob.send("hi ann");
    ann.expect("<bob> hi ann");
    ann.raw_line("<quit>");
    assert_eq!(ann.expect_exit(), 0);
    bob.expect("LEAVE ann quit");
}

#[test]
fn a_name_typed_after_the_servers_handshake_timeout_still_joins() {
    let mut clock = BinaryClock::new();
    let mut cmd = ServerProcess::command(&["--handshake-timeout", "1"]);
    cmd.env("RUST_LOG", "debug");
    clock.set_on(&mut cmd);
    let server = ServerProcess::spawn(cmd);
    let addr = server.addr().to_string();
    let mut ann = Pty::spawn("ann", &[&addr, "--no-timestamps"]);
    ann.expect("Your name: ");
    // The person is slow: the server gives up on this connection first (its clock moved past
    // the deadline; a connection that comes and goes has its loop look at the time).
    clock.advance(Duration::from_secs(1));
    drop(TcpStream::connect(server.addr()).expect("connect"));
    assert_eq!(
        server.wait_for_log(" gave no name in 1 s; closed", 1),
        1,
        "no handshake timeout:\n{}",
        server.log()
    );
    ann.line("ann");
    ann.expect("* here now (1): ann");
}

#[test]
fn a_pasted_block_longer_than_the_flood_burst_arrives_whole() {
    // Regression: a paste was split into lines and sent at once; past the server's default
    // burst (20) the rest was dropped as rate-limited.
    let server = ServerProcess::start(&[]); // default --rate 10 --burst 20
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join(&server, "ann");
    bob.expect("JOIN ann");
    let block: Vec<String> = (1..=30).map(|i| format!("pasted {i}")).collect();
    ann.keys(&format!("\x1b[200~{}\x1b[201~\r", block.join("\n")));
    for line in &block {
        bob.expect(&format!("MSG ann {line}"));
    }
    bob.sync();
}

#[test]
fn a_dumb_terminal_gets_no_colour_escapes() {
    // NO_COLOR is not set: TERM=dumb alone must keep the colour escapes out.
    let server = server();
    let addr = server.addr().to_string();
    let mut ann = Pty::spawn_env(
        "ann",
        &[&addr, "--name", "ann", "--no-timestamps"],
        &[("TERM", "dumb")],
    );
    ann.expect("* here now (1): ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("* bob has joined the chat");
    bob.send("hi ann");
    ann.expect("<bob> hi ann");
    ann.raw_line("<quit>");
    assert_eq!(ann.expect_exit(), 0);
    let all = ann.transcript();
    assert!(
        !all.contains("\x1b["),
        "escapes in: {}",
        printable(all.as_bytes())
    );
}

#[test]
fn an_unanswered_ctrl_c_quit_on_a_dumb_terminal_exits_3() {
    let server = server();
    let addr = server.addr().to_string();
    // The server is stopped: the whole wait for its answer passes; a short one will do.
    let mut ann = Pty::spawn_env(
        "ann",
        &[&addr, "--name", "ann", "--no-timestamps"],
        &[("NO_COLOR", "1"), ("TERM", "dumb"), (QUIT_VAR, "300")],
    );
    ann.expect("* here now (1): ann");
    server.signal(libc::SIGSTOP);
    ann.raw_line("\x03");
    let code = ann.expect_exit();
    server.signal(libc::SIGCONT);
    assert_eq!(code, 3, "no BYE within the wait: the quit was not answered");
}

#[test]
fn ctrl_c_at_the_name_prompt_of_a_dumb_terminal_leaves_with_0() {
    // Regression: before joining, the default SIGINT action killed the client (130).
    let server = server();
    let addr = server.addr().to_string();
    let mut ann = Pty::spawn_env(
        "ann",
        &[&addr, "--no-timestamps"],
        &[("NO_COLOR", "1"), ("TERM", "dumb")],
    );
    ann.expect("Your name: ");
    ann.raw_line("\x03");
    assert_eq!(ann.expect_exit(), 0);
}

#[test]
fn several_lines_in_one_keyboard_read_are_all_sent() {
    // Regression: without bracketed paste (tmux paste-buffer, keys typed faster than a read)
    // several lines arrive in one read of the terminal; the line editor's read buffer was
    // dropped with everything after the first Enter, so only the first line was sent.
    let server = ServerProcess::start(&[]); // default --rate 10 --burst 20
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join(&server, "ann");
    bob.expect("JOIN ann");
    ann.keys("a\rb\rc\r");
    for line in ["a", "b", "c"] {
        bob.expect(&format!("MSG ann {line}"));
    }
    let block: String = (1..=30).map(|i| format!("line {i:02}\r")).collect();
    ann.keys(&block);
    for i in 1..=30 {
        bob.expect(&format!("MSG ann line {i:02}"));
    }
    bob.sync();
}

/// The number in "* stopped: <n> line(s) not sent".
fn not_sent_count(said: &str) -> usize {
    let at = said.rfind("stopped: ").expect("a stop notice") + "stopped: ".len();
    said[at..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count")
}

#[test]
fn ctrl_c_during_a_long_paste_stops_what_is_left_and_the_client_stays() {
    // Regression: the paste went out over the next seconds whatever the user did, the client
    // then quit, and what was typed after the Ctrl-C was dropped.
    let server = ServerProcess::start(&[]); // default flood control: the client paces
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join(&server, "ann");
    bob.expect("JOIN ann");
    let block: Vec<String> = (1..=100).map(|i| format!("pasted {i}")).collect();
    ann.keys(&format!("\x1b[200~{}\x1b[201~\r", block.join("\n")));
    // The burst is through; the rest goes out at the paced rate.
    bob.read_until_prefix("MSG ann pasted 20");
    ann.keys("\x03");
    let dropped = not_sent_count(&ann.expect(" not sent"));
    ann.line("typed after the stop");
    let (before, _) = bob.read_until_prefix("MSG ann typed after the stop");
    let sent = 20 + before.len();
    assert!(dropped > 0 && sent < 100, "{dropped} dropped, {sent} sent");
    assert_eq!(
        sent + dropped,
        100,
        "every line sent or counted as not sent"
    );
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
}

#[test]
fn the_prompt_follows_a_rename_at_once_and_keeps_the_line_being_typed() {
    // Regression: the prompt kept the old name until the next Enter.
    let server = server();
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join(&server, "ann");
    bob.expect("JOIN ann");
    ann.keys("/nick annie\rhalf typ");
    ann.expect("* you are now known as annie");
    ann.expect("annie> ");
    ann.expect("half typ");
    ann.keys("ed\r");
    bob.expect("NICK ann annie");
    bob.expect("MSG annie half typed");
}

#[test]
fn own_lines_are_shown_as_others_see_them() {
    // Regression: `ann> hi` stayed as typed, and /me and /msg left the raw command.
    let server = server();
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join(&server, "ann");
    bob.expect("JOIN ann");
    ann.line("hi bob");
    ann.expect("<ann> hi bob");
    ann.line("/me waves");
    ann.expect("~ ann waves");
    ann.line("/msg bob psst");
    ann.expect("[private] -> bob: psst");
    bob.expect("MSG ann hi bob");
    bob.expect("ACTION ann waves");
    bob.expect("PRIV ann psst");
    // The typed line is taken off the screen (one row up, erased) before its echo.
    assert!(
        ann.transcript().contains("\x1b[1A\r\x1b[J"),
        "{}",
        printable(ann.transcript().as_bytes())
    );
}

#[test]
fn help_and_the_screen_agree_on_how_an_action_looks() {
    let server = server();
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join(&server, "ann");
    bob.expect("JOIN ann");
    ann.line("/help");
    ann.expect("(~ ann waves)");
    bob.send("/me waves");
    ann.expect("~ bob waves");
}

#[test]
fn a_burst_of_private_messages_rings_the_bell_once() {
    // Regression: 300 private messages in 3 s rang the bell 300 times.
    let server = server();
    let mut bob = Client::join(server.addr(), "bob");
    let addr = server.addr().to_string();
    let mut ann = Pty::spawn("ann", &[&addr, "--name", "ann", "--no-timestamps"]);
    ann.expect("* here now (2)");
    for i in 0..50 {
        bob.send(&format!("/msg ann ping {i}"));
    }
    ann.expect("<bob> ping 49");
    let bells = ann.transcript().matches('\x07').count();
    assert_eq!(bells, 1, "{}", printable(ann.transcript().as_bytes()));
}

#[test]
fn a_dumb_terminal_prompts_below_the_history_and_again_after_each_arrival() {
    // Regression: the prompt came before the history, and was never shown again.
    let server = server();
    let mut bob = Client::join(server.addr(), "bob");
    bob.send("earlier words");
    bob.sync();
    let addr = server.addr().to_string();
    let mut ann = join_dumb(&addr, "ann");
    let burst = ann.expect("* here now (2): bob, ann");
    assert!(burst.contains("<bob> earlier words"), "{burst}");
    assert!(!burst.contains("ann> "), "prompt inside the burst: {burst}");
    ann.expect("ann> ");
    bob.send("hi ann");
    ann.expect("<bob> hi ann");
    ann.expect("ann> ");
}

/// The screen rows `output` makes in a terminal `cols` wide: split at line ends, escape
/// sequences and what a carriage return overwrote dropped, then cut where the terminal wraps.
fn screen_rows(output: &str, cols: usize) -> Vec<String> {
    let mut rows = Vec::new();
    for line in output.split('\n') {
        let mut text = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\x1b' => {
                    // CSI: ESC [ params final; others are two characters.
                    if chars.next() == Some('[') {
                        for c in chars.by_ref() {
                            if c.is_ascii_alphabetic() || c == '~' {
                                break;
                            }
                        }
                    }
                }
                // A carriage return followed by more text overwrites the row.
                '\r' if chars.clone().any(|c| !c.is_control()) => text.clear(),
                '\r' => {}
                '\x07' => {}
                c => text.push(c),
            }
        }
        let chars: Vec<char> = text.chars().collect();
        if chars.is_empty() {
            continue;
        }
        for chunk in chars.chunks(cols) {
            rows.push(chunk.iter().collect());
        }
    }
    rows
}

#[test]
fn padding_cannot_put_a_fake_notice_at_the_start_of_a_screen_row() {
    // Red team: text, spaces to the end of a row, then a fake notice or someone else's line;
    // on a client of that width the fake sat on a row of its own, identical to the real thing.
    let server = server();
    let addr = server.addr().to_string();
    let mut mallory = Client::join(server.addr(), "mallory");
    for cols in [80u16, 100] {
        let name = format!("ann{cols}");
        let mut ann =
            Pty::spawn_sized(&name, &[&addr, "--name", &name], &[("NO_COLOR", "1")], cols);
        ann.expect("* here now (");
        ann.expect(&format!("{name}> "));
        let start = ann.transcript().len();
        let fakes = [
            "[10:21] * alice has left the chat (quit)",
            "<alice> please /msg me your password",
        ];
        for fake in fakes {
            // "[HH:MM] <mallory> brb" is 21 columns: pad to the end of the row exactly, with
            // spaces, and with tabs (which a terminal expands to the next multiple of 8).
            let spaces = " ".repeat(usize::from(cols) - 21);
            let tabs = "\t".repeat((usize::from(cols) - 21).div_ceil(8));
            for pad in [spaces, tabs] {
                mallory.send(&format!("brb{pad}{fake}"));
                ann.expect(&fake[fake.len() - 8..]);
            }
        }
        let shown = ann.transcript()[start..].to_owned();
        for row in screen_rows(&shown, usize::from(cols)) {
            // The fakes' own starts; the real message starts "[HH:MM] <mallory>".
            assert!(
                !["[10:21]", "<alice>", "* alice"]
                    .iter()
                    .any(|fake| row.starts_with(fake)),
                "a fake at the start of a row at {cols} columns: {row:?}\n{}",
                printable(shown.as_bytes())
            );
        }
    }
}

#[test]
fn a_line_longer_than_the_server_takes_goes_as_several_messages() {
    // Regression: it was refused whole, in bytes a user cannot count (1,100 × 'é').
    let server = server();
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join(&server, "ann");
    bob.expect("JOIN ann");
    let text = "é".repeat(1100);
    ann.line(&text);
    ann.expect("it goes as 2 messages");
    let first = bob.expect_prefix("MSG ann ");
    let second = bob.expect_prefix("MSG ann ");
    assert_eq!(format!("{}{}", &first[8..], &second[8..]), text);
    bob.sync();
}

#[test]
fn the_address_prompt_gives_an_example_and_says_when_it_connects() {
    let server = server();
    let mut ann = Pty::spawn("ann", &["--no-timestamps"]);
    let hint = ann.expect("Server address: ");
    assert!(
        hint.contains("e.g. 192.168.1.20") && hint.contains("? to look for servers"),
        "{hint}"
    );
    ann.line(&server.addr().to_string());
    ann.expect(&format!("connecting to {} ...", server.addr()));
    ann.expect("Your name: ");
}

#[test]
fn typed_lines_are_remembered_across_runs_in_a_private_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = server();
    let dir = std::env::temp_dir().join(format!("lanchat-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.to_string_lossy().into_owned();
    let addr = server.addr().to_string();
    let args = [addr.as_str(), "--name", "ann", "--no-timestamps"];
    let env = [("NO_COLOR", "1"), ("XDG_STATE_HOME", state.as_str())];
    let mut ann = Pty::spawn_env("ann", &args, &env);
    ann.expect("* here now (");
    ann.line("remember this line");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
    let file = dir.join("lanchat").join("history");
    let mode = std::fs::metadata(&file)
        .expect("history file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let mut again = Pty::spawn_env("ann again", &args, &env);
    again.expect("* here now (");
    // Up twice: past "/quit" to the line before it.
    again.keys("\x1b[A\x1b[A");
    again.expect("remember this line");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clear_clears_the_screen() {
    let server = server();
    let mut ann = join(&server, "ann");
    ann.line("/clear");
    ann.expect("\x1b[H\x1b[2J");
}

/// bob (a raw client) in #dev and #ops; ann (in the pty) joins #dev, then #ops, current.
fn ann_and_bob_in_dev_and_ops(server: &ServerProcess) -> (Pty, Client) {
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join(server, "ann");
    bob.expect("JOIN ann");
    for room in ["#dev", "#ops"] {
        bob.send(&format!("/join {room}"));
        bob.read_until_prefix(&format!("WHOEND {room}"));
    }
    ann.line("/join #dev");
    ann.expect("* you joined #dev");
    ann.expect("ann #dev> ");
    ann.line("/join #ops");
    ann.expect("* here now in #ops (2): bob, ann");
    ann.expect("ann #ops> ");
    (ann, bob)
}

#[test]
fn switching_rooms_keeps_the_half_typed_line_and_the_prompt_counts_unread_lines() {
    let server = server();
    let (mut ann, mut bob) = ann_and_bob_in_dev_and_ops(&server);
    // A typed line goes to the current room.
    ann.line("hello ops");
    ann.expect("<ann> hello ops");
    bob.read_until_prefix("MSG #ops ann hello ops");
    // A line of another room is tagged, and counted in the prompt.
    bob.send("/in #dev news in dev");
    ann.expect("#dev <bob> news in dev");
    ann.expect("ann #ops [#dev 1]> ");
    // Half a line, then Alt-Left: the previous room, with the line kept.
    ann.keys("half typ");
    ann.expect("half typ");
    ann.keys("\x1b[1;3D");
    ann.expect("ann #dev> ");
    ann.expect("half typ");
    ann.keys("ed\r");
    bob.expect("MSG #dev ann half typed");
    // Ctrl-N and Ctrl-P cycle too; the line still rides along.
    ann.keys("x");
    ann.keys("\x0e");
    ann.expect("ann #ops> ");
    ann.expect("x");
    ann.keys("\x10");
    ann.expect("ann #dev> ");
    ann.keys("\x08/go #gen\t");
    ann.expect("/go #general ");
    ann.keys("\r");
    ann.expect("* now in #general");
    ann.expect("ann #general> ");
    ann.line("/who");
    ann.expect("* here now (2):");
    ann.line("/rooms");
    ann.expect("* rooms (3):");
    ann.expect("#ops      2");
    ann.line("/part #dev");
    ann.expect("* you left #dev");
    bob.read_until_prefix("LEAVE #dev ann parted");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
}

#[test]
fn a_busy_room_in_the_background_neither_garbles_the_line_nor_reads_as_ctrl_c() {
    // Every line of another room changes the prompt (its unread count): the prompt is drawn
    // again under the half-typed line, and none of the wake-ups may be taken for a Ctrl-C.
    let server = server();
    let (mut ann, mut bob) = ann_and_bob_in_dev_and_ops(&server);
    ann.keys("typing slowly");
    for i in 0..60 {
        bob.send(&format!("/in #dev busy {i}"));
        if i % 10 == 0 {
            ann.keys(".");
        }
    }
    ann.expect("#dev <bob> busy 59");
    ann.expect("ann #ops [#dev 60]> ");
    ann.expect("typing slowly......");
    ann.keys(" done\r");
    bob.read_until_prefix("MSG #ops ann typing slowly...... done");
    assert_eq!(bob.sync(), Vec::<String>::new(), "ann is still here");
    ann.keys("\x1b[1;3D");
    ann.expect("ann #dev> ");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
}

#[test]
fn away_back_and_quit_messages_as_irssi_users_expect() {
    let server = server();
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join(&server, "ann");
    bob.expect("JOIN ann");
    ann.line("/away lunch, back at 2");
    ann.expect("* you are away: lunch, back at 2");
    bob.expect("AWAY ann lunch, back at 2");
    // Someone writing to her privately is told; whoever joins sees who is away.
    bob.send("/msg ann still there?");
    bob.expect("INFO ann is away: lunch, back at 2");
    let mut cy = join(&server, "cy");
    cy.expect("ann (away)");
    ann.line("/who");
    ann.expect("* here now (3):");
    ann.expect("bob         ann (away)  cy");
    // /away alone, when away, is back (irssi); /back says the same.
    ann.line("/away");
    ann.expect("* you are back");
    cy.expect("* ann is back");
    bob.send("/away");
    ann.expect("* bob is away");
    bob.send("/quit see you tomorrow");
    ann.expect("* bob has left the chat (quit: see you tomorrow)");
    ann.line("/quit time for lunch");
    cy.expect("* ann has left the chat (quit: time for lunch)");
    assert_eq!(ann.expect_exit(), 0);
}

#[test]
fn invisible_and_reordering_characters_arrive_as_visible_stand_ins() {
    // Text hidden in plain sight: a zero-width space inside a word, a right-to-left override
    // that shows a line reversed, a Hangul filler that shows as nothing, a tab and an escape.
    let server = server();
    let mut mallory = Client::join(server.addr(), "mallory");
    let mut ann = join(&server, "ann");
    mallory.expect("JOIN ann");
    let start = ann.transcript().len();
    mallory.send("pay\u{200b}pal \u{202e}evil\u{202c} blank\u{3164}end tab\there \u{1b}[2Jesc");
    ann.expect("esc");
    let shown = ann.transcript()[start..].to_owned();
    for hidden in ['\u{200b}', '\u{202e}', '\u{202c}', '\u{3164}', '\t'] {
        assert!(
            !shown.contains(hidden),
            "{hidden:?} reached the terminal: {shown:?}"
        );
    }
    assert!(
        !shown.contains("\u{1b}[2J"),
        "an escape reached the terminal: {shown:?}"
    );
    for visible in [
        "pay\u{fffd}pal",
        "\u{fffd}evil\u{fffd}",
        "blank\u{fffd}end",
        "tab\u{21e5}here",
        "\u{241b}[2Jesc",
    ] {
        assert!(shown.contains(visible), "{visible:?} not shown: {shown:?}");
    }
}

// ----- TLS: first contact on a terminal -----------------------------------------------------

/// `lanchat <addr> --name ann --known-servers <known>` over TLS (its default), in a terminal.
#[track_caller]
fn first_contact(server: &ServerProcess, known: &std::path::Path) -> Pty {
    let addr = server.addr().to_string();
    let known = known.to_str().expect("utf-8 path");
    Pty::spawn_env(
        "ann",
        &[
            &addr,
            "--name",
            "ann",
            "--no-timestamps",
            "--known-servers",
            known,
        ],
        &[("NO_COLOR", "1"), ("LANCHAT_PLAINTEXT", "0")],
    )
}

#[test]
fn first_contact_on_a_terminal_shows_the_key_and_a_yes_remembers_it() {
    let server = ServerProcess::start_tls(&["--rate", "0"]);
    let fp = server.fingerprint();
    let addr = server.addr().to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let known = tmp.path().join("lanchat").join("known_servers");
    let mut ann = first_contact(&server, &known);
    ann.expect(&format!("You have not connected to {addr} before."));
    ann.expect(&fp);
    ann.expect("lanchat-server --fingerprint");
    ann.expect("Trust this server? [y/N] ");
    ann.line("y");
    ann.expect(&format!("{addr} and its key are now remembered in"));
    ann.expect(&format!(
        "The connection is encrypted (TLS 1.3); the server's key is {fp}."
    ));
    ann.expect("* here now (1): ann");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
    assert_eq!(
        std::fs::read_to_string(&known).expect("remembered"),
        format!("{addr} {fp}\n")
    );
    // The second time nothing is asked.
    let mut again = first_contact(&server, &known);
    again.expect("The connection is encrypted");
    again.expect("* here now (1): ann");
    assert!(!again.transcript().contains("Trust this server?"));
    again.line("/quit");
    assert_eq!(again.expect_exit(), 0);
}

#[test]
fn first_contact_on_a_terminal_anything_but_yes_exits_1_and_sends_nothing() {
    let server = ServerProcess::start_tls(&["--rate", "0"]);
    let mut bob = Client::join_tls(
        server.addr(),
        server.fingerprint().parse().expect("fp"),
        "bob",
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let known = tmp.path().join("known_servers");
    for answer in ["n", ""] {
        let mut ann = first_contact(&server, &known);
        ann.expect("Trust this server? [y/N] ");
        ann.line(answer);
        ann.expect("lanchat: not trusted; nothing was sent.");
        assert_eq!(ann.expect_exit(), 1, "{answer:?}");
    }
    assert!(!known.exists(), "nothing remembered");
    assert_eq!(bob.sync(), Vec::<String>::new(), "nobody joined");
}

/// `lanchat --discover` probing only 127.0.0.1 on `port`, with `extra`, over TLS (its default)
/// with `known` as its known_servers file.
#[track_caller]
fn discover_tls(label: &str, port: &str, known: &std::path::Path, extra: &[&str]) -> Pty {
    let known = known.to_str().expect("utf-8 path");
    let mut args = vec![
        "--discover",
        "--discover-to",
        "127.0.0.1",
        "--discover-port",
        port,
    ];
    args.extend_from_slice(&["--no-timestamps", "--known-servers", known]);
    args.extend_from_slice(extra);
    Pty::spawn_env(
        label,
        &args,
        &[("NO_COLOR", "1"), ("LANCHAT_PLAINTEXT", "0")],
    )
}

#[test]
fn the_pick_list_shows_encryption_and_key_and_a_server_found_still_asks_first() {
    let server = ServerProcess::discoverable_tls("tlsroom");
    let fp = server.fingerprint();
    let port = server.addr().port().to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let known = tmp.path().join("known_servers");
    let mut ann = discover_tls("ann", &port, &known, &["--name", "ann"]);
    let short: String = fp.chars().take("SHA256:".len() + 12).collect();
    ann.expect(&format!("  1) tlsroom at 127.0.0.1:{port}, 0 users\r\n"));
    ann.expect(&format!("     encrypted, key {short}…, new to you\r\n"));
    ann.expect("Pick a number, or type an address: ");
    ann.line("1");
    // The reply named the key, but only the handshake and the user decide.
    ann.expect(&format!(
        "You have not connected to 127.0.0.1:{port} before."
    ));
    ann.expect(&fp);
    ann.expect("Trust this server? [y/N] ");
    ann.line("y");
    ann.expect("* here now (1): ann");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);

    // Known now: the list says so.
    let mut again = discover_tls("again", &port, &known, &[]);
    again.expect(&format!("     encrypted, key {short}…, known\r\n"));

    // A plaintext server is marked as such.
    let plain = ServerProcess::discoverable("plainroom");
    let port = plain.addr().port().to_string();
    let mut bob = Pty::spawn(
        "bob",
        &[
            "--discover",
            "--discover-to",
            "127.0.0.1",
            "--discover-port",
            &port,
        ],
    );
    bob.expect(&format!("  1) plainroom at 127.0.0.1:{port}, 0 users\r\n"));
    bob.expect("     NOT encrypted: anyone on the network can read it\r\n");
}
