//! Joining, decided: which name to offer, what the server's answer means, the password step,
//! and what a connection lost before the welcome means. A state machine fed what the server
//! answered and what the user typed, returning the next thing to do ([`Step`]); no IO, so
//! every branch is tested here without a terminal or a socket. The one driver
//! ([`crate::connect::Target::join_on`]) does each step and feeds its result back.
//!
//! One machine for both ways of joining, told apart when it is made:
//!
//! | | a person at a terminal ([`Join::person`]) | a script, a reconnection ([`Join::script`]) |
//! |---|---|---|
//! | the name | the one given (flag, config), else asked for; a blank answer is asked again; `<quit>` or the end of input gives up | the one given |
//! | a refused name | the server's words, then asked again | fails ([`JoinError::Name`]) |
//! | a password wanted | said; the one given (`--password-file`) first, else asked; no answer gives up | the one given, else asked (nobody answers there): fails ([`JoinError::NoPassword`]) |
//! | a wrong password | said, asked again (as long as the server allows) | the same |
//! | the connection lost before the welcome | connected again once, the same name offered (the server gave up waiting while the name was typed: its handshake timeout) | fails |
//!
//! A person giving up is [`Step::Quit`]: the driver sends `/quit` and stops.

use std::io;

use lanchat_proto::client::is_quit;

use crate::conn::{Ending, NameReply, PassReply};
use crate::connect::JoinError;

/// What a person is told when the server asks for a password.
pub const PASSWORD_ASKED: &str = "This server asks for a password.";

/// Who is joining: what may be asked, and what is worth a second try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Joiner {
    /// At a terminal: asked for names and passwords, told what happens.
    Person,
    /// Nobody to ask: the given name, the given password, or failure.
    Script,
}

/// Which connection this is: an error while reading the server's first words means something
/// else on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    /// The one the front end made.
    First,
    /// One made after the server went away before the welcome.
    Again,
}

/// Whether a connection lost before the welcome may still be made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Yes, once: at the start, and again after each name the user types.
    Left,
    /// Used for this name.
    Spent,
}

/// What to do next, as [`Join`] decides it. The driver does it and feeds the result back
/// through the method named on each variant.
#[derive(Debug)]
pub enum Step {
    /// Ask the user for a name ([`crate::connect::Asker::name`]), then
    /// [`Join::on_typed_name`].
    AskName,
    /// Offer this name ([`crate::conn::Conn::offer_name`]), then [`Join::on_name_reply`].
    Offer(String),
    /// Tell the user this line ([`crate::connect::Asker::note`]), then do the step it holds.
    Say(String, Box<Step>),
    /// Ask the user for the password the server wants (its words), then
    /// [`Join::on_typed_password`].
    AskPassword(String),
    /// Give this password ([`crate::conn::Conn::offer_password`]), then
    /// [`Join::on_password_reply`].
    GivePassword(String),
    /// Connect to the same server again and read its first words, then [`Join::on_connected`].
    ConnectAgain,
    /// The user gave up: send `/quit` and stop.
    Quit,
    /// The server accepted the name: done.
    Joined {
        /// The name as the server accepted it.
        name: String,
        /// The `WELCOME` text.
        welcome: String,
        /// The password the server took on this connection, if it asked (to give again on
        /// reconnecting).
        password: Option<String>,
    },
    /// Joining failed: stop with this.
    Fail(JoinError),
}

/// The decisions of one join, from the greeting to the welcome (see the module's table).
#[derive(Debug)]
pub struct Join {
    joiner: Joiner,
    /// The name to offer next; `None`: ask for one. Kept once offered, so that it goes again
    /// after a password or on a new connection; dropped when refused.
    name: Option<String>,
    /// The password to give when the server asks: the given one, or, on a new connection, the
    /// one the old one took. Used once.
    password: Option<String>,
    /// The password given and not yet answered.
    giving: Option<String>,
    /// The password the server took on this connection.
    taken: Option<String>,
    /// The server's words when it asked for the password being asked for.
    asked: String,
    connection: Connection,
    retry: Retry,
}

impl Join {
    /// A person at a terminal joins: `name` from the flags or the config (`None`: ask),
    /// `password` from `--password-file` (`None`: ask when the server wants one).
    pub fn person(name: Option<String>, password: Option<String>) -> Join {
        Join::new(Joiner::Person, name, password)
    }

    /// A script (or a reconnection) joins as `name`, with `password` if the server asks.
    pub fn script(name: &str, password: Option<String>) -> Join {
        Join::new(Joiner::Script, Some(name.to_owned()), password)
    }

    fn new(joiner: Joiner, name: Option<String>, password: Option<String>) -> Join {
        Join {
            joiner,
            name,
            password,
            giving: None,
            taken: None,
            asked: String::new(),
            connection: Connection::First,
            retry: Retry::Left,
        }
    }

    /// Connected and greeted; `early` is what the server said before any name (a password
    /// wanted, a refusal), `Ok(None)` if nothing.
    pub fn on_connected(&mut self, early: io::Result<Option<NameReply>>) -> Step {
        match early {
            Ok(Some(reply)) => self.on_name_reply(Ok(reply)),
            Ok(None) => self.next_name(),
            // On a connection made again the name goes anyway: its answer says what is wrong.
            Err(_) if self.connection == Connection::Again => self.next_name(),
            Err(e) => Step::Fail(JoinError::Io(e)),
        }
    }

    /// The user's answer to [`Step::AskName`]; `None` when they gave up (end of input,
    /// Ctrl-C).
    pub fn on_typed_name(&mut self, typed: Option<String>) -> Step {
        let Some(typed) = typed else {
            return Step::Quit;
        };
        let name = typed.trim();
        if name.is_empty() {
            return Step::AskName;
        }
        // A name typed anew earns a new try at connecting again.
        self.retry = Retry::Left;
        self.offer(name.to_owned())
    }

    /// The server's answer to [`Step::Offer`] (or to a password, or its first words).
    pub fn on_name_reply(&mut self, reply: io::Result<NameReply>) -> Step {
        let person = self.joiner == Joiner::Person;
        match reply {
            Ok(NameReply::Welcome { name, text }) => Step::Joined {
                name,
                welcome: text,
                password: self.taken.clone(),
            },
            Ok(NameReply::Refused { text, .. }) if person => {
                self.name = None;
                Step::Say(text, Box::new(Step::AskName))
            }
            Ok(NameReply::Refused { why, text }) => Step::Fail(JoinError::Name { why, text }),
            Ok(NameReply::Password { text }) => {
                let next = match self.password.take() {
                    Some(given) => self.give(given),
                    None => self.ask_password(text),
                };
                if person {
                    Step::Say(PASSWORD_ASKED.to_owned(), Box::new(next))
                } else {
                    next
                }
            }
            // Most likely the server stopped waiting while the name was typed (its handshake
            // timeout); a ban, an allowlist or a password is not worth a second knock.
            Ok(NameReply::Closed {
                why: Ending::Other, ..
            })
            | Err(_)
                if person && self.retry == Retry::Left =>
            {
                self.retry = Retry::Spent;
                self.connection = Connection::Again;
                self.password = self.taken.take().or(self.password.take());
                Step::ConnectAgain
            }
            Ok(NameReply::Closed { why, text }) => Step::Fail(JoinError::Closed { why, text }),
            Err(e) => Step::Fail(JoinError::Io(e)),
        }
    }

    /// The user's answer to [`Step::AskPassword`]; `None` when they gave up (or there is
    /// nobody to ask).
    pub fn on_typed_password(&mut self, typed: Option<String>) -> Step {
        let asked = std::mem::take(&mut self.asked);
        match typed {
            Some(password) => self.give(password),
            None if self.joiner == Joiner::Person => Step::Quit,
            None => Step::Fail(JoinError::NoPassword(asked)),
        }
    }

    /// The server's answer to [`Step::GivePassword`].
    pub fn on_password_reply(&mut self, reply: io::Result<PassReply>) -> Step {
        match reply {
            Ok(PassReply::Accepted) => {
                self.taken = self.giving.take();
                self.next_name()
            }
            Ok(PassReply::Wrong { text }) => {
                self.giving = None;
                let said = format!("lanchat: {text}");
                Step::Say(said, Box::new(self.ask_password(text)))
            }
            Ok(PassReply::Closed { why, text }) => Step::Fail(JoinError::Closed { why, text }),
            Err(e) => Step::Fail(JoinError::Io(e)),
        }
    }

    /// The name to offer now, or ask for one.
    fn next_name(&mut self) -> Step {
        match self.name.clone() {
            Some(name) => self.offer(name),
            None => Step::AskName,
        }
    }

    fn offer(&mut self, name: String) -> Step {
        // A script's first line is its name whatever it says; a person typing `<quit>` leaves.
        if self.joiner == Joiner::Person && is_quit(&name) {
            return Step::Quit;
        }
        self.name = Some(name.clone());
        Step::Offer(name)
    }

    fn give(&mut self, password: String) -> Step {
        self.giving = Some(password.clone());
        Step::GivePassword(password)
    }

    fn ask_password(&mut self, asked: String) -> Step {
        self.asked.clone_from(&asked);
        Step::AskPassword(asked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::Refusal;

    /// A step in a few words, so that a whole exchange reads as a table.
    fn show(step: Step) -> String {
        match step {
            Step::AskName => "ask name".into(),
            Step::Offer(n) => format!("offer {n}"),
            Step::Say(text, then) => format!("say {text:?}; {}", show(*then)),
            Step::AskPassword(text) => format!("ask password ({text})"),
            Step::GivePassword(p) => format!("give {p}"),
            Step::ConnectAgain => "connect again".into(),
            Step::Quit => "quit".into(),
            Step::Joined {
                name,
                welcome,
                password,
            } => format!("joined {name} ({welcome}) password {password:?}"),
            Step::Fail(e) => format!("fail: {e}"),
        }
    }

    fn welcome(name: &str) -> io::Result<NameReply> {
        Ok(NameReply::Welcome {
            name: name.into(),
            text: "hi".into(),
        })
    }

    fn taken() -> io::Result<NameReply> {
        Ok(NameReply::Refused {
            why: Refusal::Taken,
            text: "someone has it".into(),
        })
    }

    fn password_wanted() -> io::Result<NameReply> {
        Ok(NameReply::Password {
            text: "say the word".into(),
        })
    }

    fn closed(why: Ending) -> io::Result<NameReply> {
        Ok(NameReply::Closed {
            why,
            text: "bye".into(),
        })
    }

    fn reset<T>() -> io::Result<T> {
        Err(io::Error::from(io::ErrorKind::ConnectionReset))
    }

    fn wrong() -> io::Result<PassReply> {
        Ok(PassReply::Wrong {
            text: "wrong password".into(),
        })
    }

    const NOTHING: io::Result<Option<NameReply>> = Ok(None);

    /// The server takes the password: what comes next.
    fn accepted(j: &mut Join) -> String {
        show(j.on_password_reply(Ok(PassReply::Accepted)))
    }

    /// The server welcomes `ann`.
    fn welcomed(j: &mut Join) -> String {
        show(j.on_name_reply(welcome("ann")))
    }

    #[test]
    fn a_person_with_a_given_name_offers_it_at_once() {
        let mut j = Join::person(Some("ann".into()), None);
        assert_eq!(show(j.on_connected(NOTHING)), "offer ann");
        assert_eq!(
            show(j.on_name_reply(welcome("Ann"))),
            "joined Ann (hi) password None"
        );
    }

    #[test]
    fn a_person_without_a_name_is_asked_and_a_blank_answer_is_asked_again() {
        let mut j = Join::person(None, None);
        assert_eq!(show(j.on_connected(NOTHING)), "ask name");
        assert_eq!(show(j.on_typed_name(Some(String::new()))), "ask name");
        assert_eq!(show(j.on_typed_name(Some("   ".into()))), "ask name");
        assert_eq!(show(j.on_typed_name(Some(" bob ".into()))), "offer bob");
    }

    #[test]
    fn a_person_who_gives_up_at_the_name_quits() {
        for typed in [None, Some("<quit>".to_owned()), Some("/quit".to_owned())] {
            let mut j = Join::person(None, None);
            j.on_connected(NOTHING);
            assert_eq!(show(j.on_typed_name(typed.clone())), "quit", "{typed:?}");
        }
        // A quit given as the name (flag, config) quits too.
        let mut j = Join::person(Some("<quit>".into()), None);
        assert_eq!(show(j.on_connected(NOTHING)), "quit");
    }

    #[test]
    fn a_refused_name_is_said_and_asked_again_at_a_terminal_and_fails_a_script() {
        let mut j = Join::person(Some("ann".into()), None);
        j.on_connected(NOTHING);
        assert_eq!(
            show(j.on_name_reply(taken())),
            "say \"someone has it\"; ask name"
        );
        assert_eq!(show(j.on_typed_name(Some("ann2".into()))), "offer ann2");

        let mut s = Join::script("ann", None);
        assert_eq!(show(s.on_connected(NOTHING)), "offer ann");
        assert_eq!(
            show(s.on_name_reply(taken())),
            "fail: the name was refused: someone has it"
        );
    }

    #[test]
    fn a_script_offers_its_name_as_it_is_even_a_quit() {
        let mut s = Join::script("<quit>", None);
        assert_eq!(show(s.on_connected(NOTHING)), "offer <quit>");
    }

    #[test]
    fn the_given_password_goes_first_then_the_name_again() {
        for mut j in [
            Join::person(Some("ann".into()), Some("pw".into())),
            Join::script("ann", Some("pw".into())),
        ] {
            let person = j.joiner == Joiner::Person;
            j.on_connected(NOTHING);
            let asked = show(j.on_name_reply(password_wanted()));
            let want = if person {
                format!("say {PASSWORD_ASKED:?}; give pw")
            } else {
                "give pw".to_owned()
            };
            assert_eq!(asked, want);
            assert_eq!(accepted(&mut j), "offer ann");
            assert_eq!(welcomed(&mut j), "joined ann (hi) password Some(\"pw\")");
        }
    }

    #[test]
    fn a_password_asked_before_the_name_comes_before_asking_the_name() {
        let mut j = Join::person(None, None);
        assert_eq!(
            show(j.on_connected(Ok(Some(NameReply::Password {
                text: "say the word".into()
            })))),
            format!("say {PASSWORD_ASKED:?}; ask password (say the word)")
        );
        assert_eq!(show(j.on_typed_password(Some("pw".into()))), "give pw");
        assert_eq!(accepted(&mut j), "ask name");
        assert_eq!(show(j.on_typed_name(Some("ann".into()))), "offer ann");
        assert_eq!(welcomed(&mut j), "joined ann (hi) password Some(\"pw\")");
    }

    #[test]
    fn no_password_to_give_gives_up_at_a_terminal_and_fails_a_script() {
        // Asked at once (none given), or asked again after a wrong one; no answer either time.
        for (given, asked) in [(None, "say the word"), (Some("bad"), "wrong password")] {
            for joiner in [Joiner::Person, Joiner::Script] {
                let mut j = Join::new(joiner, Some("ann".into()), given.map(str::to_owned));
                j.on_connected(NOTHING);
                let mut step = show(j.on_name_reply(password_wanted()));
                if given.is_some() {
                    step = show(j.on_password_reply(wrong()));
                }
                let context = format!("{joiner:?}, {given:?}: {step}");
                assert!(
                    step.ends_with(&format!("ask password ({asked})")),
                    "{context}"
                );
                let want = match joiner {
                    Joiner::Person => "quit".to_owned(),
                    Joiner::Script => format!(
                        "fail: the server asks for a password ({asked}); without a terminal, \
                         give it with --password-file FILE"
                    ),
                };
                assert_eq!(show(j.on_typed_password(None)), want, "{context}");
            }
        }
    }

    #[test]
    fn a_wrong_password_is_said_and_asked_again_and_the_right_one_is_kept() {
        let mut j = Join::script("ann", Some("bad".into()));
        j.on_connected(NOTHING);
        assert_eq!(show(j.on_name_reply(password_wanted())), "give bad");
        assert_eq!(
            show(j.on_password_reply(wrong())),
            "say \"lanchat: wrong password\"; ask password (wrong password)"
        );
        assert_eq!(show(j.on_typed_password(Some("good".into()))), "give good");
        assert_eq!(accepted(&mut j), "offer ann");
        assert_eq!(welcomed(&mut j), "joined ann (hi) password Some(\"good\")");
    }

    #[test]
    fn the_last_wrong_password_or_a_lost_connection_while_giving_it_fails() {
        for joiner in [Joiner::Person, Joiner::Script] {
            let mut j = Join::new(joiner, Some("ann".into()), Some("bad".into()));
            j.on_connected(NOTHING);
            j.on_name_reply(password_wanted());
            let closed = j.on_password_reply(Ok(PassReply::Closed {
                why: Ending::BadPassword,
                text: "no more tries".into(),
            }));
            assert_eq!(
                show(closed),
                "fail: wrong password; the server closed the connection (no more tries)",
                "{joiner:?}"
            );
            let mut j = Join::new(joiner, Some("ann".into()), Some("pw".into()));
            j.on_connected(NOTHING);
            j.on_name_reply(password_wanted());
            let lost = j.on_password_reply(reset());
            assert_eq!(show(lost), "fail: connection reset", "{joiner:?}");
        }
    }

    #[test]
    fn a_person_whose_server_gave_up_waiting_connects_again_once_with_the_same_name() {
        for lost in [closed(Ending::Other), reset()] {
            let mut j = Join::person(None, None);
            j.on_connected(NOTHING);
            assert_eq!(show(j.on_typed_name(Some("ann".into()))), "offer ann");
            assert_eq!(show(j.on_name_reply(lost)), "connect again");
            assert_eq!(show(j.on_connected(NOTHING)), "offer ann");
            // Not twice for the same name.
            assert_eq!(
                show(j.on_name_reply(closed(Ending::Other))),
                "fail: the server closed the connection: bye"
            );
        }
        let mut j = Join::person(Some("ann".into()), None);
        j.on_connected(NOTHING);
        assert_eq!(show(j.on_name_reply(reset())), "connect again");
        j.on_connected(NOTHING);
        assert_eq!(show(j.on_name_reply(reset())), "fail: connection reset");
    }

    #[test]
    fn a_name_typed_anew_earns_a_new_try_at_connecting_again() {
        let mut j = Join::person(Some("ann".into()), None);
        j.on_connected(NOTHING);
        j.on_name_reply(closed(Ending::Other));
        j.on_connected(NOTHING);
        assert_eq!(
            show(j.on_name_reply(taken())),
            "say \"someone has it\"; ask name"
        );
        assert_eq!(show(j.on_typed_name(Some("bob".into()))), "offer bob");
        assert_eq!(show(j.on_name_reply(reset())), "connect again");
        assert_eq!(show(j.on_connected(NOTHING)), "offer bob");
    }

    #[test]
    fn a_password_taken_before_the_connection_was_lost_is_given_again() {
        let mut j = Join::person(Some("ann".into()), None);
        j.on_connected(NOTHING);
        j.on_name_reply(password_wanted());
        j.on_typed_password(Some("typed".into()));
        j.on_password_reply(Ok(PassReply::Accepted));
        assert_eq!(show(j.on_name_reply(reset())), "connect again");
        assert_eq!(
            show(j.on_connected(Ok(Some(NameReply::Password {
                text: "again".into()
            })))),
            format!("say {PASSWORD_ASKED:?}; give typed")
        );
        j.on_password_reply(Ok(PassReply::Accepted));
        assert_eq!(welcomed(&mut j), "joined ann (hi) password Some(\"typed\")");
    }

    #[test]
    fn being_kept_out_is_never_worth_a_second_knock() {
        for why in [Ending::Banned, Ending::NotAllowed, Ending::BadPassword] {
            let mut j = Join::person(Some("ann".into()), None);
            let step = j.on_connected(Ok(Some(NameReply::Closed {
                why,
                text: "no".into(),
            })));
            assert!(
                matches!(step, Step::Fail(JoinError::Closed { why: w, .. }) if w == why),
                "{why:?}: {step:?}"
            );
        }
    }

    #[test]
    fn a_script_never_connects_again() {
        for (lost, failed) in [
            (
                closed(Ending::Other),
                "fail: the server closed the connection: bye",
            ),
            (reset(), "fail: connection reset"),
        ] {
            let mut s = Join::script("ann", None);
            s.on_connected(NOTHING);
            assert_eq!(show(s.on_name_reply(lost)), failed);
        }
    }

    #[test]
    fn a_read_error_before_the_name_fails_the_first_connection_only() {
        let mut j = Join::person(Some("ann".into()), None);
        assert_eq!(show(j.on_connected(reset())), "fail: connection reset");

        let mut j = Join::person(Some("ann".into()), None);
        j.on_connected(NOTHING);
        j.on_name_reply(closed(Ending::Other));
        // On the connection made again the name goes anyway: its answer tells.
        assert_eq!(show(j.on_connected(reset())), "offer ann");
    }
}
