//! The room's side of identity ([`crate::identity`]): who a connection is (the key its
//! transport proved, its address), whether it may come in (bans, the allowlist, the password),
//! whether it may take a name (claims), and whether it may speak (mutes).
//!
//! The order a connection goes through:
//! 1. [`Room::connect`] (`HELLO`), [`Room::set_peer`] (its address);
//! 2. [`Room::established`] once its transport is set up, with the key it proved (none over
//!    plaintext): a banned key or address gets `ERR banned`, a key not on the allowlist
//!    `ERR not-allowed`, and both are closed; with a password, `AUTH password` asks for it;
//! 3. with a password, its lines are `/pass <password>` until one is right (the room's
//!    [`Room::gate`]); a wrong one is `ERR bad-password` (the third closes), anything else
//!    `ERR password-required`;
//! 4. a name: one another key owns (or any owned one, without a key) is `ERR name-owned`;
//!    a free one is claimed by the key that takes it ([`Room::took_name`]).

use std::net::{IpAddr, SocketAddr};

use lanchat_proto::{ErrCode, Fingerprint, NameKey, ServerMsg};

use super::{text, LeaveReason, Now, Room, Session};
use crate::identity::{Access, Names, Turn, Verdict};
use crate::limits;
use crate::outbox::{ConnId, Outbox};

/// Whether a connection's key is known yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Key {
    /// Its transport is still being set up.
    Pending,
    /// Set up: the key it proved, or `None` without one. Boxed: a session without a key (a
    /// plaintext one, or a TLS client that shows none) carries 16 bytes for it (the
    /// enum's tag beside the box's pointer), not 40.
    Known(Option<Box<Fingerprint>>),
}

/// Where a connection is with the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Auth {
    /// None is asked (or the right one was given).
    Open,
    /// `AUTH password` was sent; `failures` wrong ones so far.
    Needed { failures: u8 },
    /// A try waits for its turn (its address failed less than a second ago).
    Waiting(Box<Try>),
}

/// A password try waiting for its turn: apart, as few connections ever have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Try {
    typed: Box<str>,
    /// Wrong ones before it.
    failures: u8,
}

/// A mute on a connection, from [`crate::identity::Bans`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Muted {
    /// Not muted.
    No,
    /// Until this time (Unix milliseconds), or until lifted (`None`).
    Until(Option<u64>),
}

/// A connection as identity sees it.
#[derive(Debug)]
pub(super) struct Who {
    /// Where it connected from (`None`: a room driven without sockets, in tests and the
    /// fuzzer, until [`Room::set_peer`]).
    pub(super) peer: Option<SocketAddr>,
    pub(super) key: Key,
    pub(super) auth: Auth,
    /// Its key is on `--ops`.
    pub(super) operator: bool,
    /// When it connected (Unix milliseconds).
    pub(super) since_ms: u64,
    /// When its last line came: `/whois` idle time, and a claim's last use.
    pub(super) last_line: Now,
    pub(super) muted: Muted,
}

impl Who {
    /// A connection made at `now`.
    pub(super) fn new(now: Now) -> Who {
        Who {
            peer: None,
            key: Key::Pending,
            auth: Auth::Open,
            operator: false,
            since_ms: now.unix_ms,
            last_line: now,
            muted: Muted::No,
        }
    }

    /// The key it proved (`None`: none, or not known yet).
    pub(super) fn key(&self) -> Option<&Fingerprint> {
        match &self.key {
            Key::Known(Some(k)) => Some(&**k),
            _ => None,
        }
    }

    /// Its address.
    pub(super) fn ip(&self) -> Option<IpAddr> {
        self.peer.map(|p| p.ip())
    }
}

/// What [`Room::gate`] did with a line from a connection without a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    /// The line is its name (or a quit): go on.
    Name,
    /// The line was the password's business, and is done with.
    Handled,
}

impl Room {
    /// This room, with `access` deciding who comes in, who owns which name and who runs the
    /// place.
    #[must_use]
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Let `access` decide from now on (the server hands it in before anyone connects).
    pub fn set_access(&mut self, access: Access) {
        self.access = access;
    }

    /// Identity's state: claims, bans, the lists.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Identity's state, to change it (a reload) or take what changed (the loop writes the
    /// claims and bans files).
    pub fn access_mut(&mut self) -> &mut Access {
        &mut self.access
    }

    /// Connection `id` comes from `peer` (called right after it is admitted; after
    /// [`Room::connect_from`], with the address given there: the address's count is found
    /// by it).
    pub fn set_peer(&mut self, id: ConnId, peer: SocketAddr) {
        if let Some(s) = self.session_mut(id) {
            s.who.peer = Some(peer);
        }
    }

    /// `id`'s transport is set up, its peer having proved it holds `key` (`None` over
    /// plaintext, or for a TLS client that showed no certificate). A banned key or address
    /// gets `ERR banned` and one the allowlist does not name `ERR not-allowed`, and is closed;
    /// with a password, `AUTH password` asks for it.
    pub fn established(
        &mut self,
        id: ConnId,
        key: Option<Fingerprint>,
        now: Now,
        out: &mut impl Outbox,
    ) {
        let Some(s) = self.session_mut(id) else {
            return;
        };
        if s.who.key != Key::Pending {
            return;
        }
        s.who.key = Key::Known(key.map(Box::new));
        let ip = s.who.ip();
        let peer = s.who.peer;
        let operator = self.access.is_operator(key.as_ref());
        if let Some(ban) = self.access.bans.banned(key.as_ref(), ip, now.unix_ms) {
            let msg = text::banned(ban, now.unix_ms);
            log::info!("{id} refused: banned ({}, by {})", ban.target, ban.by);
            self.refuse(id, ErrCode::Banned, &msg, out);
            return;
        }
        if !self.access.allows(key.as_ref()) {
            log::info!(
                "{id} refused: not on the allowlist ({} from {})",
                key.map_or("no key".to_owned(), |k| k.to_string()),
                peer.map_or("?".to_owned(), |p| p.to_string())
            );
            let msg = text::not_allowed(key.as_ref());
            self.refuse(id, ErrCode::NotAllowed, &msg, out);
            return;
        }
        let needs_password = self.access.password.is_some();
        if let Some(s) = self.session_mut(id) {
            s.who.operator = operator;
            if needs_password {
                s.who.auth = Auth::Needed { failures: 0 };
            }
        }
        if needs_password {
            self.frame.clear();
            ServerMsg::Auth {
                method: lanchat_proto::ops::AUTH_PASSWORD,
                text: text::AUTH_PASSWORD,
            }
            .encode(&mut self.frame);
            out.send(id, &self.frame);
        }
    }

    /// `ERR <code> <text>` and close, before a name.
    fn refuse(&mut self, id: ConnId, code: ErrCode<'_>, text: &str, out: &mut impl Outbox) {
        self.send_err(id, code, text, out);
        self.disconnect(id, LeaveReason::Disconnected, out);
        out.close(id);
    }

    /// A line from `id` before it has a name: the password's business while one is wanted
    /// (`/pass`, or refused with `password-required`), else it is the name.
    pub(super) fn gate(&mut self, id: ConnId, line: &str, now: Now, out: &mut impl Outbox) -> Gate {
        let Some(s) = self.session(id) else {
            return Gate::Handled;
        };
        let (ip, serial) = (s.who.ip(), s.serial);
        let failures = match &s.who.auth {
            Auth::Open => None,
            Auth::Needed { failures } => Some(*failures),
            Auth::Waiting(_) => {
                self.send_err(id, ErrCode::PasswordRequired, text::PASSWORD_WAIT, out);
                return Gate::Handled;
            }
        };
        match (failures, lanchat_proto::ops::parse_pass(line)) {
            (None, None) => Gate::Name,
            (None, Some(_)) => {
                let text = if self.access.password.is_some() {
                    text::PASSWORD_ALREADY
                } else {
                    text::NO_PASSWORD
                };
                self.send_info(id, text, out);
                Gate::Handled
            }
            (Some(failures), Some(typed)) => {
                match self.access.tries.begin(ip, now.mono) {
                    Turn::Now => self.check_password(id, typed, failures, now, out),
                    Turn::At(at) => {
                        if let Some(s) = self.session_mut(id) {
                            s.who.auth = Auth::Waiting(Box::new(Try {
                                typed: typed.into(),
                                failures,
                            }));
                        }
                        self.access.tries.wait(at, id, serial.0);
                    }
                }
                Gate::Handled
            }
            (Some(_), None) => {
                self.send_err(id, ErrCode::PasswordRequired, text::PASSWORD_REQUIRED, out);
                Gate::Handled
            }
        }
    }

    /// Check `typed`, the try after `failures` wrong ones.
    fn check_password(
        &mut self,
        id: ConnId,
        typed: &str,
        failures: u8,
        now: Now,
        out: &mut impl Outbox,
    ) {
        let right = self
            .access
            .password
            .as_ref()
            .is_some_and(|p| p.matches(typed));
        if right {
            if let Some(s) = self.session_mut(id) {
                s.who.auth = Auth::Open;
            }
            self.send_info(id, text::PASSWORD_ACCEPTED, out);
            return;
        }
        let failures = failures.saturating_add(1);
        let ip = self.session(id).and_then(|s| s.who.ip());
        self.access.tries.failed(ip, now.mono);
        log::info!(
            "{id} wrong password from {} ({failures} of {})",
            ip.map_or("?".to_owned(), |ip| ip.to_string()),
            limits::PASSWORD_TRIES
        );
        if failures >= limits::PASSWORD_TRIES {
            self.refuse(id, ErrCode::BadPassword, &text::bad_password(failures), out);
            return;
        }
        if let Some(s) = self.session_mut(id) {
            s.who.auth = Auth::Needed { failures };
        }
        self.send_err(id, ErrCode::BadPassword, &text::bad_password(failures), out);
    }

    /// Password tries whose turn has come by `now` are checked.
    pub(super) fn password_turns(&mut self, now: Now, out: &mut impl Outbox) {
        while let Some((id, serial)) = self.access.tries.pop_due(now.mono) {
            let Some(s) = self.session_mut(id) else {
                continue;
            };
            if s.serial.0 != serial {
                continue;
            }
            if let Auth::Waiting(waiting) = std::mem::replace(&mut s.who.auth, Auth::Open) {
                let Try { typed, failures } = *waiting;
                s.who.auth = Auth::Needed { failures };
                self.check_password(id, &typed, failures, now, out);
            }
        }
    }

    /// Whether `id` may take the name whose keys are `key`: not when another key owns it (nor,
    /// for a connection without a key, when anyone does), which is `ERR name-owned`.
    pub(super) fn may_take(
        &mut self,
        id: ConnId,
        name: &str,
        key: &NameKey,
        now: Now,
        out: &mut impl Outbox,
    ) -> bool {
        if self.access.names == Names::FirstCome {
            return true;
        }
        let who = self.session(id).and_then(|s| s.who.key().copied());
        match self.access.claims.check(key, who.as_ref(), now.unix_ms) {
            Verdict::Free | Verdict::Own => true,
            Verdict::Owned(owner) => {
                let msg = text::name_owned(name, &owner, who.is_some());
                self.send_err(id, ErrCode::NameOwned, &msg, out);
                false
            }
        }
    }

    /// `id` took `name` (after `old`, on `/nick`): its key claims the name (or uses its
    /// claim), lets go of `old`, and a mute on it applies.
    pub(super) fn took_name(
        &mut self,
        id: ConnId,
        old: Option<&str>,
        name: &str,
        key: NameKey,
        now: Now,
        out: &mut impl Outbox,
    ) {
        let Some(s) = self.session(id) else {
            return;
        };
        let fp = s.who.key().copied();
        if old.is_none() && s.who.operator {
            self.frame.clear();
            ServerMsg::Operator {
                text: text::OPERATOR,
            }
            .encode(&mut self.frame);
            out.send(id, &self.frame);
        }
        let muted = self
            .access
            .bans
            .muted(fp.as_ref(), name, now.unix_ms)
            .map_or(Muted::No, |m| Muted::Until(m.until_ms));
        if let Some(s) = self.session_mut(id) {
            s.who.muted = muted;
        }
        let (Names::Claimed, Some(fp)) = (self.access.names, fp) else {
            return;
        };
        if let Some(old) = old {
            self.access.claims.let_go(old, &fp, now.unix_ms);
        }
        let taken = self.access.claims.take(name, key, fp, now.unix_ms);
        if taken.new {
            log::info!("{id} {name} is claimed by {fp}");
            self.send_info(id, &text::claimed(name), out);
        }
        if let Some(dropped) = taken.dropped {
            log::info!("{id} the claim on {dropped} went to make room for {name}");
            self.send_info(id, &text::claim_dropped(&dropped), out);
        }
        if taken.full {
            log::warn!(
                "{id} {name} not claimed: the server holds {} claims",
                limits::MAX_CLAIMS
            );
            self.send_info(id, text::CLAIMS_FULL, out);
        }
    }

    /// `/msg <to> <text>` from `id` when nobody called `to` is here: if a key owns the name,
    /// the message is kept for its owner (`INFO kept for ...`, or `ERR mailbox-full`). False
    /// when the name is nobody's (the caller says `no-such-user`).
    pub(super) fn keep_note(
        &mut self,
        id: ConnId,
        to: &str,
        text: &str,
        now: Now,
        out: &mut impl Outbox,
    ) -> bool {
        if self.access.names == Names::FirstCome {
            return false;
        }
        let key = NameKey::of(to);
        let owner = match self.access.claims.check(&key, None, now.unix_ms) {
            Verdict::Owned(owner) => owner,
            Verdict::Free | Verdict::Own => return false,
        };
        if self.refuse_muted(id, now, out) {
            return true;
        }
        let from = self.name_of(id).unwrap_or_default().to_owned();
        let mailbox = NameKey::of(&owner);
        match self
            .store
            .keep_note(&mailbox, &owner, &from, text, now.unix_ms)
        {
            Ok(_) => self.send_info(id, &text::kept_for(&owner), out),
            Err(full) => self.send_err(id, ErrCode::MailboxFull, &full.to_string(), out),
        }
        true
    }

    /// `id` just took `name`: if its key owns the name, the notes kept for it go now, oldest
    /// first, each as `HIST <unix-millis> PRIV <from> <text>`.
    pub(super) fn deliver_notes(
        &mut self,
        id: ConnId,
        name: &str,
        now: Now,
        out: &mut impl Outbox,
    ) {
        if self.access.names == Names::FirstCome {
            return;
        }
        let Some(fp) = self.session(id).and_then(|s| s.who.key().copied()) else {
            return;
        };
        let Some(claim) = self.access.claims.get(name).filter(|c| c.key == fp) else {
            return;
        };
        let mailbox = NameKey::of(&claim.name);
        let notes = self.store.take_notes(&mailbox, now.unix_ms);
        if notes.is_empty() {
            return;
        }
        self.frame.clear();
        for note in &notes {
            note.encode(&mut self.frame);
        }
        out.send(id, &self.frame);
    }

    /// `session` is leaving: the claim on its name was last used at its last line.
    pub(super) fn let_go(&mut self, session: &Session) {
        if let (Some(name), Some(fp)) = (&session.name, session.who.key()) {
            self.access
                .claims
                .let_go(name, fp, session.who.last_line.unix_ms);
        }
    }

    /// Whether `id` is muted at `now` (a mute that ended is forgotten on the way).
    pub(super) fn is_muted(&mut self, id: ConnId, now: Now) -> bool {
        let Some(s) = self.session_mut(id) else {
            return false;
        };
        match s.who.muted {
            Muted::No => false,
            Muted::Until(Some(t)) if now.unix_ms >= t => {
                s.who.muted = Muted::No;
                false
            }
            Muted::Until(_) => true,
        }
    }

    /// `ERR muted` for `id`'s line, if it is muted; true when refused.
    pub(super) fn refuse_muted(&mut self, id: ConnId, now: Now, out: &mut impl Outbox) -> bool {
        if !self.is_muted(id, now) {
            return false;
        }
        let until = match self.session(id).map(|s| s.who.muted) {
            Some(Muted::Until(t)) => t,
            _ => None,
        };
        self.send_err(id, ErrCode::Muted, &text::muted(until, now.unix_ms), out);
        true
    }

    /// Whether `id` is an operator.
    pub(super) fn is_operator(&self, id: ConnId) -> bool {
        self.session(id).is_some_and(|s| s.who.operator)
    }

    /// `INFO <text>` to every named operator connected (the state directory failing or
    /// working again, say). Nobody else hears it.
    pub fn tell_operators(&mut self, text: &str, out: &mut impl Outbox) {
        self.frame.clear();
        ServerMsg::Info { text }.encode(&mut self.frame);
        let operators: Vec<ConnId> = self
            .sessions
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref()?;
                (s.who.operator && s.name.is_some()).then_some(ConnId(i))
            })
            .collect();
        for id in operators {
            out.send(id, &self.frame);
        }
    }

    /// `INFO <text>` to `id`.
    pub(super) fn send_info(&mut self, id: ConnId, text: &str, out: &mut impl Outbox) {
        self.frame.clear();
        ServerMsg::Info { text }.encode(&mut self.frame);
        out.send(id, &self.frame);
    }

    /// After `--ops` was read again: each connection is an operator as the new list says
    /// (nobody is dropped, nobody's name changes). Returns how many changed.
    pub fn refresh_operators(&mut self) -> usize {
        let mut changed = 0;
        for s in self.sessions.iter_mut().flatten() {
            let now = match (&self.access.ops, s.who.key()) {
                (Some(ops), Some(k)) => ops.contains(k),
                _ => false,
            };
            if s.who.operator != now {
                s.who.operator = now;
                changed += 1;
            }
        }
        changed
    }
}
