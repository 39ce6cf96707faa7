//! Protocol v1 end to end: the in-process server on 127.0.0.1:0, raw sockets, exact lines.

use integration_tests::{Client, TestServer};
use lanchat_server::Config;

#[test]
fn hello_then_welcome_and_member_list() {
    let server = TestServer::start();
    let mut ann = Client::connect(server.addr());
    ann.expect("HELLO Welcome to lanchat! What is your name?");
    ann.send("ann");
    ann.expect("WELCOME ann Hi ann! Type <quit> to leave, /help for commands.");
    ann.expect("WHO ann");
    ann.expect("WHOEND 1");
}

#[test]
fn join_and_leave_are_seen_by_others() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::connect(server.addr());
    bob.expect_prefix("HELLO ");
    bob.send("bob");
    bob.expect_prefix("WELCOME bob ");
    bob.expect("WHO ann bob");
    bob.expect("WHOEND 2");
    ann.expect("JOIN bob");
    bob.send("<quit>");
    bob.expect("BYE Goodbye!");
    assert_eq!(bob.expect_eof(), Vec::<String>::new());
    ann.expect("LEAVE bob quit");
}

#[test]
fn a_message_reaches_every_other_client_but_not_the_sender() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    let mut cid = Client::join(server.addr(), "cid");
    ann.read_until_prefix("JOIN cid");
    bob.read_until_prefix("JOIN cid");
    ann.send("hello, world");
    bob.expect("MSG ann hello, world");
    cid.expect("MSG ann hello, world");
    assert_eq!(ann.sync(), Vec::<String>::new(), "no echo to the sender");
}

#[test]
fn a_name_taken_in_another_case_then_a_retry_that_works() {
    let server = TestServer::start();
    let _ann = Client::join(server.addr(), "Ann");
    let mut other = Client::connect(server.addr());
    other.expect_prefix("HELLO ");
    other.send("aNN");
    other.expect("ERR name-taken aNN is already taken; try another name");
    other.send("ann2");
    other.expect_prefix("WELCOME ann2 ");
}

#[test]
fn invalid_names_are_refused_and_the_connection_stays() {
    let server = TestServer::start();
    let mut c = Client::connect(server.addr());
    c.expect_prefix("HELLO ");
    for bad in [
        "has space",
        "semi;colon",
        "server",
        "SYSTEM",
        "abcdefghijklmnopqrstuvwxyz",
        "esc\u{1b}[2J",
    ] {
        c.send(bad);
        c.expect_prefix("ERR name-invalid ");
    }
    c.send("Zoë_1.x-y");
    c.expect_prefix("WELCOME Zoë_1.x-y ");
}

#[test]
fn overlong_line_and_invalid_utf8_are_answered_and_the_connection_keeps_working() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.read_until_prefix("JOIN bob");
    let long = "x".repeat(2049);
    ann.send(&long);
    ann.expect("ERR line-too-long lines are limited to 2048 bytes; that line was dropped");
    ann.send_raw(b"caf\xe9 au lait\n");
    ann.expect("ERR bad-utf8 lines must be UTF-8 text; that line was dropped");
    let exact = "y".repeat(2048);
    ann.send(&exact);
    bob.expect(&format!("MSG ann {exact}"));
    ann.send("still here");
    bob.expect("MSG ann still here");
}

#[test]
fn crlf_and_blank_lines() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.read_until_prefix("JOIN bob");
    ann.send_raw(b"\r\n\n   \nwindows line\r\n");
    bob.expect("MSG ann windows line");
    assert_eq!(bob.sync(), Vec::<String>::new());
}

#[test]
fn quit_and_slash_quit() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    for (name, quit) in [("bob", "<quit>"), ("cid", "/quit")] {
        let mut c = Client::join(server.addr(), name);
        ann.expect(&format!("JOIN {name}"));
        c.send(quit);
        c.expect("BYE Goodbye!");
        c.expect_eof();
        ann.expect(&format!("LEAVE {name} quit"));
    }
}

#[test]
fn who_msg_me_nick_slashslash_and_unknown_commands() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");

    ann.send("/who");
    ann.expect("WHO ann bob");
    ann.expect("WHOEND 2");

    ann.send("/msg BOB just between us");
    bob.expect("PRIV ann just between us");
    ann.send("/msg carol hi");
    ann.expect_prefix("ERR no-such-user ");

    ann.send("/me waves");
    bob.expect("ACTION ann waves");

    ann.send("//usr/bin is a path");
    bob.expect("MSG ann /usr/bin is a path");

    ann.send("/dance");
    ann.expect_prefix("ERR unknown-command ");

    ann.send("/nick anna");
    ann.read_until_prefix("NICK ann anna");
    bob.expect("NICK ann anna");
    bob.send("/nick ANNA");
    bob.expect_prefix("ERR name-taken ");
    bob.send("/msg anna hi anna");
    ann.read_until_prefix("PRIV bob hi anna");
}

#[test]
fn help_lists_commands_as_info_lines() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    ann.send("/help");
    let lines = ann.sync();
    assert!(lines.len() >= 5, "{lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("INFO ")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("<quit>")));
}

#[test]
fn an_abrupt_disconnect_gives_leave() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    let bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    drop(bob);
    ann.expect("LEAVE bob disconnected");
}

#[test]
fn a_reset_connection_gives_leave() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    // SO_LINGER 0 makes close() send RST instead of FIN; a half-typed line goes with it.
    bob.send_raw(b"half a li");
    socket2::SockRef::from(bob.stream())
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    drop(bob);
    ann.expect("LEAVE bob disconnected");
    assert_eq!(
        ann.sync(),
        Vec::<String>::new(),
        "the partial line is never relayed"
    );
}

#[test]
fn server_full_refuses_with_err_and_closes() {
    let server = TestServer::with(Config {
        max_clients: 2,
        ..TestServer::config()
    });
    let _a = Client::join(server.addr(), "a");
    let _b = Client::join(server.addr(), "b");
    let mut c = Client::connect(server.addr());
    c.expect("ERR server-full the server is full (2 users); try again later");
    c.expect_eof();
}

#[test]
fn names_free_up_when_people_leave() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    ann.send("<quit>");
    ann.expect_eof();
    // The slot and the name are both reusable.
    let _again = Client::join(server.addr(), "ANN");
}

/// 200 clients x 50 messages: every client gets every other client's messages exactly once,
/// each sender's in order.
#[test]
fn two_hundred_clients_fifty_messages_each() {
    const CLIENTS: usize = 200;
    const MESSAGES: usize = 50;
    let server = TestServer::start();
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|i| Client::join(server.addr(), &format!("c{i}")))
        .collect();
    // Everyone is in; make sure each has seen every JOIN so no message can precede a join.
    for (i, c) in clients.iter_mut().enumerate() {
        for j in i + 1..CLIENTS {
            c.expect(&format!("JOIN c{j}"));
        }
    }
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                let mut batch = String::new();
                for m in 0..MESSAGES {
                    batch.push_str(&format!("{i} {m}\n"));
                }
                c.send_raw(batch.as_bytes());
                let mut next = vec![0usize; CLIENTS];
                let mut got = 0;
                while got < (CLIENTS - 1) * MESSAGES {
                    let line = c.line();
                    let rest = line
                        .strip_prefix("MSG ")
                        .unwrap_or_else(|| panic!("c{i}: unexpected {line:?}"));
                    let (from, text) = rest.split_once(' ').unwrap();
                    let (s, m) = text.split_once(' ').unwrap();
                    let (s, m): (usize, usize) = (s.parse().unwrap(), m.parse().unwrap());
                    assert_eq!(from, format!("c{s}"));
                    assert_ne!(s, i, "c{i} got its own message back");
                    assert_eq!(m, next[s], "c{i}: from c{s} out of order or duplicated");
                    next[s] += 1;
                    got += 1;
                }
                assert!(next
                    .iter()
                    .enumerate()
                    .all(|(s, &n)| n == if s == i { 0 } else { MESSAGES }));
                // Clients that finished first leave; anything else would be extra.
                let extra: Vec<String> = c
                    .sync()
                    .into_iter()
                    .filter(|l| !l.starts_with("LEAVE "))
                    .collect();
                assert_eq!(extra, Vec::<String>::new(), "c{i}: nothing extra");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
}

/// Input still arriving after `<quit>` must not turn the close into a reset that destroys the
/// `BYE` before the client reads it: the server half-closes and drains until the client's EOF.
#[test]
fn bye_survives_input_sent_after_quit() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    let mut burst = b"<quit>\n".to_vec();
    burst.extend(std::iter::repeat_n(b'x', 8 << 20));
    burst.push(b'\n');
    ann.send_raw(&burst);
    ann.expect("BYE Goodbye!");
    assert_eq!(ann.expect_eof(), Vec::<String>::new());
}

#[test]
fn a_quit_message_follows_the_reason_word() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    bob.send("/quit see you  tomorrow");
    bob.expect("BYE Goodbye!");
    ann.expect("LEAVE bob quit see you  tomorrow");
}

#[test]
fn away_back_and_the_member_list_that_marks_who_is_away() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    ann.send("/away lunch, back at 2");
    ann.expect("AWAY ann lunch, back at 2");
    bob.expect("AWAY ann lunch, back at 2");
    bob.send("/msg ann are you there?");
    ann.expect("PRIV bob are you there?");
    bob.expect("INFO ann is away: lunch, back at 2");
    // A newcomer's member list: WHOAWAY lines first, then WHO lines and WHOEND as ever.
    let mut cy = Client::connect(server.addr());
    cy.expect_prefix("HELLO ");
    cy.send("cy");
    cy.expect_prefix("WELCOME cy ");
    cy.expect("WHOAWAY ann lunch, back at 2");
    cy.expect("WHO ann bob cy");
    cy.expect("WHOEND 3");
    ann.send("/back");
    for c in [&mut ann, &mut bob, &mut cy] {
        c.read_until_prefix("BACK ann");
    }
    cy.send("/who");
    cy.expect("WHO ann bob cy");
    cy.expect("WHOEND 3");
}
