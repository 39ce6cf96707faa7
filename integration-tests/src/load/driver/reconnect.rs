//! The `restart` scenario's last phase: with every client settled, the server is restarted
//! ([`crate::load::relaunch`]) and each client comes back as the interactive client does: on
//! `BYE server shutting down` (or EOF, or a reset) it closes, waits as the client's own
//! [`Backoff`](lanchat_client::backoff::Backoff) says (1 s less up to a quarter at random,
//! doubling to at most 30 s), connects again (a refused connect is an attempt too) and rejoins
//! with its name. The phase ends when every client is back and knows every member again, or at
//! the restart's deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::time::{Duration, Instant};

use lanchat_client::backoff::random_unit;
use mio::Events;

use super::{Driver, State, TICK};
use crate::load::procfs;
use crate::load::relaunch::{self, Relaunched, Restart};
use crate::load::report::RestartFigures;

/// While the stopping server has not exited yet, how often the loop looks (its exit frees the
/// port; the new one is started the moment it has).
const EXIT_POLL: Duration = Duration::from_millis(2);

/// How a client's connection ended during the restart.
pub(super) enum Cut {
    /// The server said `BYE server shutting down`.
    Bye,
    /// Nobody listening (the server is down): an attempt that failed.
    Refused,
    /// Anything else: EOF, a reset, a failed handshake.
    Other(String),
}

impl Cut {
    /// A connect that failed with `e`.
    pub(super) fn of_connect(e: &io::Error) -> Cut {
        if e.kind() == io::ErrorKind::ConnectionRefused {
            Cut::Refused
        } else {
            Cut::Other(format!("connect: {e}"))
        }
    }
}

/// The reconnects under way, and what their attempts met.
#[derive(Debug, Default)]
pub(super) struct Redial {
    /// When each lost client tries next, soonest first.
    due: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Attempts that were refused.
    refused: u64,
    /// Attempts that failed otherwise.
    failed: u64,
    /// Why the first of those failed.
    first_failure: Option<String>,
}

impl Driver<'_> {
    /// Client `i`'s connection ended (`cut`) while the server restarts: close it, and try
    /// again when its back-off says. A client that was back already and loses the new server
    /// too is a problem (and stays away).
    pub(super) fn lose(&mut self, i: usize, cut: Cut) {
        let client = &mut self.clients[i];
        if client.stream.is_none() && client.state == State::Lost {
            return; // lost already, and waiting
        }
        if let Some(mut stream) = client.stream.take() {
            let _ = self.poll.registry().deregister(stream.socket());
        }
        client.decoder.reset();
        client.out = Vec::new();
        client.out_pos = 0;
        client.known = 0;
        client.room_known.iter_mut().for_each(|k| *k = 0);
        let was = std::mem::replace(&mut client.state, State::Lost);
        // Attempts are counted from the loss of the first server: none yet means this is it.
        let first_loss = client.backoff.attempts() == 0;
        if !first_loss && matches!(was, State::Named | State::Syncing) {
            client.state = State::Closed;
            let why = match cut {
                Cut::Bye => "was told BYE".to_owned(),
                Cut::Refused => "was refused".to_owned(),
                Cut::Other(why) => why,
            };
            return self
                .rx
                .problem(|| format!("l{i} lost the restarted server after coming back: {why}"));
        }
        if !first_loss {
            let failure = match cut {
                Cut::Refused => None,
                Cut::Bye => Some(format!("l{i} was told BYE while coming back")),
                Cut::Other(why) => Some(format!("l{i} {why}")),
            };
            match failure {
                None => self.redial.refused += 1,
                Some(why) => {
                    self.redial.failed += 1;
                    self.redial.first_failure.get_or_insert(why);
                }
            }
        }
        let (_, wait) = client.backoff.next(random_unit());
        self.redial.due.push(Reverse((Instant::now() + wait, i)));
    }

    /// Client `i`'s wait is over: connect again (the name goes once connected).
    fn redial(&mut self, i: usize) {
        self.clients[i].dialed_ns = self.now_ns();
        if let Err(e) = self.start_connect(i) {
            self.connect_failed(i, &e);
        }
    }

    /// Restart the server under the settled clients and wait until every one is back and
    /// settled again. Returns how it went, and the figures (also when it failed: how many
    /// came back, and when).
    pub(super) fn restart_phase(
        &mut self,
        events: &mut Events,
        how: &Restart,
    ) -> (Result<(), String>, RestartFigures) {
        let n = self.clients.len();
        let Some(old) = self.opts.server_pid else {
            return (
                Err("a restart needs the server's pid".into()),
                RestartFigures::default(),
            );
        };
        self.rx.restarting = true;
        self.rx.named = 0;
        self.rx.settled = 0;
        let term = Instant::now();
        if let Err(e) = relaunch::terminate(old) {
            let why = format!("could not send SIGTERM to the server (pid {old}): {e}");
            return (Err(why), RestartFigures::default());
        }
        let deadline = (term + how.deadline).min(self.deadline);
        let (mut exited, mut listening) = (None, None);
        let outcome = loop {
            let now = Instant::now();
            if exited.is_none() && procfs::has_exited(old) {
                exited = Some(now);
            }
            let start_at = exited.map(|at: Instant| at + how.down);
            if self.relaunched.is_none() && start_at.is_some_and(|at| at <= now) {
                match Relaunched::start(how) {
                    Ok(server) => self.relaunched = Some(server),
                    Err(e) => break Err(format!("could not start the server again: {e}")),
                }
            }
            if listening.is_none() {
                match self.relaunched.as_ref().and_then(Relaunched::listening) {
                    Some(Ok((_, addr))) if addr != self.opts.addr => {
                        break Err(format!(
                            "the restarted server listens on {addr}, not {}: give it the same \
                             port",
                            self.opts.addr
                        ))
                    }
                    Some(Ok((at, _))) => listening = Some(at),
                    Some(Err(why)) => break Err(why),
                    None => {}
                }
            }
            while let Some(&Reverse((at, i))) = self.redial.due.peek() {
                if at > now {
                    break;
                }
                self.redial.due.pop();
                self.redial(i);
            }
            let (back, settled) = (self.rx.named, self.rx.settled);
            if self.rx.problems > 0 {
                break Err(format!(
                    "stopped during the restart: {back} of {n} back; first problem: {}",
                    self.rx.first_problem.as_deref().unwrap_or("?")
                ));
            }
            if back == n && settled == n {
                break Ok(());
            }
            if now >= deadline {
                break Err(format!(
                    "not back within {:?} of the SIGTERM: {back} of {n} back, {settled} settled",
                    deadline.duration_since(term)
                ));
            }
            self.progress.show(now, || {
                format!(
                    "[{:6.1} s restart] {back} of {n} back, {settled} settled",
                    now.duration_since(term).as_secs_f64()
                )
            });
            let mut timeout = TICK;
            if let Some(Reverse((at, _))) = self.redial.due.peek() {
                timeout = timeout.min(at.saturating_duration_since(now));
            }
            match start_at {
                None => timeout = timeout.min(EXIT_POLL),
                Some(at) if self.relaunched.is_none() => {
                    timeout = timeout.min(at.saturating_duration_since(now));
                }
                Some(_) => {}
            }
            if let Err(e) = self.turn(events, timeout) {
                break Err(e);
            }
        };
        let figures = self.restart_figures(term, exited, listening);
        (outcome, figures)
    }

    /// What the restart took: times from the SIGTERM at `term`; the old server gone at
    /// `exited`, the new one listening at `listening`.
    fn restart_figures(
        &self,
        term: Instant,
        exited: Option<Instant>,
        listening: Option<Instant>,
    ) -> RestartFigures {
        let n = self.clients.len();
        let since = |at: Instant| at.saturating_duration_since(term).as_secs_f64();
        let term_ns = u64::try_from(term.duration_since(self.start).as_nanos()).unwrap_or(0);
        let after_term = |ns: u64| ns.saturating_sub(term_ns) as f64 / 1e9;
        let back: Vec<u64> = self.rx.back.iter().map(|&(ns, _)| ns).collect();
        // From the start of each client's last attempt until it was back: connect, handshake
        // and admission, without the back-off's wait.
        let mut dial: Vec<u64> = self
            .rx
            .back
            .iter()
            .map(|&(ns, i)| ns.saturating_sub(self.clients[i].dialed_ns))
            .collect();
        dial.sort_unstable();
        let new = self.relaunched.as_ref();
        let sample = new.and_then(|s| procfs::sample(s.pid()).ok());
        let attempts = self.clients.iter().map(|c| c.backoff.attempts());
        RestartFigures {
            told_bye: self.rx.told_bye,
            back: self.rx.named,
            settled: self.rx.settled,
            old_exit_s: exited.map(since),
            listening_s: listening.map(since),
            first_back_s: back.first().copied().map(after_term),
            median_back_s: back.get(back.len() / 2).copied().map(after_term),
            dial_to_back_median_s: dial.get(dial.len() / 2).map(|&ns| ns as f64 / 1e9),
            dial_to_back_max_s: dial.last().map(|&ns| ns as f64 / 1e9),
            back_s: if back.len() == n {
                back.last().copied().map(after_term)
            } else {
                None
            },
            settled_s: (self.rx.settled == n).then(|| after_term(self.rx.last_settle_ns)),
            attempts: attempts.clone().map(u64::from).sum(),
            max_attempts: attempts.max().unwrap_or(0),
            refused: self.redial.refused,
            failed: self.redial.failed,
            first_failure: self.redial.first_failure.clone(),
            server_pid: new.map(Relaunched::pid),
            server_cpu_s: sample.map(|s| s.cpu_s),
            server_rss: sample.map(|s| s.rss),
        }
    }
}
