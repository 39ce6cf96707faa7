//! `/whois` for everyone, and the operators' commands: `/kick`, `/ban`, `/unban`, `/bans`,
//! `/mute`, `/unmute`, `/release`. An operator is a connection whose key is on `--ops`;
//! anyone else gets `ERR not-operator`. Every operator action is logged with who did it (their
//! name and key).

use std::net::IpAddr;
use std::time::Duration;

use lanchat_proto::ops::OpCommand;
use lanchat_proto::{ErrCode, Fingerprint, NameKey, ServerMsg};

use super::access::Muted;
use super::{text, LeaveReason, Now, Room};
use crate::identity::{Entry, Target};
use crate::outbox::{ConnId, Outbox};

/// A ban or mute an operator asked for.
struct Setting<'a> {
    /// `banned` or `muted`, for the log.
    verb: &'static str,
    target: Target,
    who: Option<Box<str>>,
    duration: Option<Duration>,
    reason: &'a str,
}

/// Who a ban or mute by name reaches, found from the name.
enum Found {
    /// A member connected under the name.
    Here(ConnId),
    /// Nobody connected under it, but a key owns it.
    Owner(Fingerprint),
}

impl Room {
    /// `/whois <name>`: `WHOIS <name> <key or -> <connected-since> <idle-seconds>`, and for an
    /// operator `INFO` with the address too.
    pub(super) fn whois(&mut self, id: ConnId, name: &str, now: Now, out: &mut impl Outbox) {
        let Some(&target) = self.by_name.get(name) else {
            self.send_err(id, ErrCode::NoSuchUser, &text::no_such_user(name), out);
            return;
        };
        let operator = self.is_operator(id);
        let Some(s) = self.session(target) else {
            return;
        };
        let key = s.who.key().map_or("-".to_owned(), ToString::to_string);
        let idle = now
            .mono
            .saturating_duration_since(s.who.last_line.mono)
            .as_secs();
        let (since_ms, peer, is_op) = (s.who.since_ms, s.who.peer, s.who.operator);
        let shown = s.name.clone().unwrap_or_default();
        self.frame.clear();
        ServerMsg::Whois {
            name: &shown,
            key: &key,
            since_ms,
            idle_secs: idle,
        }
        .encode(&mut self.frame);
        out.send(id, &self.frame);
        if operator {
            if let Some(peer) = peer {
                self.send_info(id, &text::whois_address(&shown, peer), out);
            }
            if is_op {
                self.send_info(id, &text::whois_operator(&shown), out);
            }
        }
    }

    /// An operators' command from `id`.
    pub(super) fn operator(
        &mut self,
        id: ConnId,
        cmd: OpCommand<'_>,
        now: Now,
        out: &mut impl Outbox,
    ) {
        if !self.is_operator(id) {
            let msg = text::not_operator(&cmd);
            self.send_err(id, ErrCode::NotOperator, &msg, out);
            return;
        }
        match cmd {
            OpCommand::Kick { name, reason } => self.op_kick(id, name, reason, out),
            OpCommand::Ban {
                target,
                duration,
                reason,
            } => self.op_ban(id, target, duration, reason, now, out),
            OpCommand::Unban(target) => self.op_unban(id, target, out),
            OpCommand::Bans => self.op_bans(id, now, out),
            OpCommand::Mute {
                name,
                duration,
                reason,
            } => self.op_mute(id, name, duration, reason, now, out),
            OpCommand::Unmute(name) => self.op_unmute(id, name, out),
            OpCommand::Release(name) => self.op_release(id, name, out),
        }
    }

    /// The operator's name and key, for the log.
    fn op_label(&self, id: ConnId) -> String {
        let Some(s) = self.session(id) else {
            return "?".into();
        };
        let name = s.name.as_deref().unwrap_or("?");
        match s.who.key() {
            Some(k) => format!("operator {name} ({k})"),
            None => format!("operator {name}"),
        }
    }

    /// The operator's name, as others see it.
    fn op_name(&self, id: ConnId) -> String {
        self.name_of(id).unwrap_or("?").to_owned()
    }

    fn op_kick(&mut self, id: ConnId, name: &str, reason: &str, out: &mut impl Outbox) {
        let Some(&target) = self.by_name.get(name) else {
            self.send_err(id, ErrCode::NoSuchUser, &text::no_such_user(name), out);
            return;
        };
        let shown = self.name_of(target).unwrap_or(name).to_owned();
        log::info!(
            "{} kicked {shown}: {}",
            self.op_label(id),
            text::or_none(reason)
        );
        let bye = text::kicked(&self.op_name(id), reason);
        self.kick(target, LeaveReason::Kicked, &bye, out);
    }

    /// What a name reaches: the member connected under it, or the key that owns it.
    fn find(&self, name: &str) -> Option<Found> {
        if let Some(&id) = self.by_name.get(name) {
            return Some(Found::Here(id));
        }
        self.access.claims.get(name).map(|c| Found::Owner(c.key))
    }

    fn op_ban(
        &mut self,
        id: ConnId,
        what: &str,
        duration: Option<Duration>,
        reason: &str,
        now: Now,
        out: &mut impl Outbox,
    ) {
        let typed = match parse_target(what) {
            Ok(t) => t,
            Err(e) => {
                self.send_err(id, ErrCode::BadUsage, &e, out);
                return;
            }
        };
        let (target, who) = match typed {
            Some(t) => (t, None),
            None => match self.find(what) {
                Some(Found::Here(member)) => {
                    let Some(s) = self.session(member) else {
                        return;
                    };
                    let shown = s.name.as_deref().map(Into::into);
                    match (s.who.key(), s.who.ip()) {
                        (Some(k), _) => (Target::Key(*k), shown),
                        (None, Some(ip)) => (Target::addr(ip), shown),
                        (None, None) => {
                            self.send_info(id, text::NOTHING_TO_BAN, out);
                            return;
                        }
                    }
                }
                Some(Found::Owner(key)) => (Target::Key(key), self.claim_name(what)),
                None => {
                    self.send_err(id, ErrCode::NoSuchUser, &text::no_such_user(what), out);
                    return;
                }
            },
        };
        let set = Setting {
            verb: "banned",
            target: target.clone(),
            who,
            duration,
            reason,
        };
        let Some(entry) = self.entry(id, set, now, out) else {
            return;
        };
        let confirm = text::ban_set(&entry, now.unix_ms);
        let bye = text::banned_bye(&self.op_name(id), duration, reason);
        self.access.bans.ban(entry);
        for member in self.reached(&target) {
            self.kick(member, LeaveReason::Banned, &bye, out);
        }
        self.send_info(id, &confirm, out);
    }

    fn op_unban(&mut self, id: ConnId, what: &str, out: &mut impl Outbox) {
        let typed = match parse_target(what) {
            Ok(t) => t,
            Err(e) => {
                self.send_err(id, ErrCode::BadUsage, &e, out);
                return;
            }
        };
        let mut lifted = match typed {
            Some(t) => self.access.bans.unban(Some(&t), None),
            None => {
                let key = NameKey::of(what);
                let owner = self.access.claims.get(what).map(|c| Target::Key(c.key));
                self.access.bans.unban(owner.as_ref(), Some(&key))
            }
        };
        if lifted.is_empty() {
            self.send_info(id, &text::not_banned(what), out);
            return;
        }
        lifted.sort_by_key(|e| e.set_ms);
        for e in &lifted {
            log::info!(
                "{} lifted the ban on {}",
                self.op_label(id),
                text::entry_what(e)
            );
            self.send_info(id, &text::unbanned(e), out);
        }
    }

    fn op_bans(&mut self, id: ConnId, now: Now, out: &mut impl Outbox) {
        let bans: Vec<String> = self
            .access
            .bans
            .bans(now.unix_ms)
            .into_iter()
            .map(|e| text::ban_line("ban", e, now.unix_ms))
            .chain(
                self.access
                    .bans
                    .mutes(now.unix_ms)
                    .into_iter()
                    .map(|e| text::ban_line("mute", e, now.unix_ms)),
            )
            .collect();
        if bans.is_empty() {
            self.send_info(id, text::NO_BANS, out);
        }
        for line in bans {
            self.send_info(id, &line, out);
        }
    }

    fn op_mute(
        &mut self,
        id: ConnId,
        name: &str,
        duration: Option<Duration>,
        reason: &str,
        now: Now,
        out: &mut impl Outbox,
    ) {
        let (target, shown) = match self.find(name) {
            Some(Found::Here(member)) => {
                let Some(s) = self.session(member) else {
                    return;
                };
                let shown: Box<str> = s.name.as_deref().unwrap_or_default().into();
                let target = match s.who.key() {
                    Some(k) => Target::Key(*k),
                    None => Target::name(&shown),
                };
                (target, shown)
            }
            Some(Found::Owner(key)) => (
                Target::Key(key),
                self.claim_name(name).unwrap_or_else(|| name.into()),
            ),
            None => {
                self.send_err(id, ErrCode::NoSuchUser, &text::no_such_user(name), out);
                return;
            }
        };
        let set = Setting {
            verb: "muted",
            target: target.clone(),
            who: Some(shown.clone()),
            duration,
            reason,
        };
        let Some(entry) = self.entry(id, set, now, out) else {
            return;
        };
        let until_ms = entry.until_ms;
        let confirm = text::mute_set(&shown, until_ms, now.unix_ms);
        let told = text::you_are_muted(&self.op_name(id), until_ms, now.unix_ms, reason);
        self.access.bans.mute(entry);
        for member in self.reached(&target) {
            if let Some(s) = self.session_mut(member) {
                s.who.muted = Muted::Until(until_ms);
            }
            self.send_info(member, &told, out);
        }
        self.send_info(id, &confirm, out);
    }

    fn op_unmute(&mut self, id: ConnId, name: &str, out: &mut impl Outbox) {
        let key = NameKey::of(name);
        let target = match self.find(name) {
            Some(Found::Here(member)) => self.session(member).map(|s| match s.who.key() {
                Some(k) => Target::Key(*k),
                None => Target::name(s.name.as_deref().unwrap_or(name)),
            }),
            Some(Found::Owner(k)) => Some(Target::Key(k)),
            None => None,
        };
        let lifted = self.access.bans.unmute(target.as_ref(), Some(&key));
        if lifted.is_empty() {
            self.send_info(id, &text::not_muted(name), out);
            return;
        }
        for e in &lifted {
            log::info!("{} unmuted {}", self.op_label(id), text::entry_what(e));
            for member in self.reached(&e.target) {
                if let Some(s) = self.session_mut(member) {
                    s.who.muted = Muted::No;
                }
                self.send_info(member, text::UNMUTED_YOU, out);
            }
        }
        self.send_info(id, &text::unmuted(name), out);
    }

    fn op_release(&mut self, id: ConnId, name: &str, out: &mut impl Outbox) {
        match self.access.claims.release(name) {
            Some(claim) => {
                log::info!(
                    "{} released the claim of {} on {}",
                    self.op_label(id),
                    claim.key,
                    claim.name
                );
                self.send_info(id, &text::released(&claim.name, &claim.key), out);
            }
            None => self.send_info(id, &text::not_claimed(name), out),
        }
    }

    /// The ban or mute operator `id` sets, logged with who set it; `None` (and `INFO` saying
    /// so) when it would reach the operator themselves.
    fn entry(
        &mut self,
        id: ConnId,
        set: Setting<'_>,
        now: Now,
        out: &mut impl Outbox,
    ) -> Option<Entry> {
        if self.reaches(&set.target, id) {
            self.send_info(id, text::NOT_YOURSELF, out);
            return None;
        }
        let until_ms = set.duration.map(|d| now.unix_ms.saturating_add(millis(d)));
        let entry = Entry {
            target: set.target,
            who: set.who,
            by: self.op_name(id).into(),
            set_ms: now.unix_ms,
            until_ms,
            reason: set.reason.into(),
        };
        log::info!(
            "{} {} {}{}: {}",
            self.op_label(id),
            set.verb,
            text::entry_what(&entry),
            text::until_words(until_ms, now.unix_ms),
            text::or_none(set.reason)
        );
        Some(entry)
    }

    /// The name as claimed, for a claim `name` (any spelling) falls under.
    fn claim_name(&self, name: &str) -> Option<Box<str>> {
        self.access.claims.get(name).map(|c| c.name.clone())
    }

    /// The connections `target` reaches.
    fn reached(&self, target: &Target) -> Vec<ConnId> {
        self.sessions
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref()?;
                let hit = match target {
                    Target::Key(k) => s.who.key() == Some(k),
                    Target::Addr(ip) => s.who.ip().map(|a| a.to_canonical()) == Some(*ip),
                    Target::Name(folded) => {
                        s.who.key().is_none()
                            && s.name
                                .as_deref()
                                .is_some_and(|n| NameKey::of(n).folded() == folded)
                    }
                };
                hit.then_some(ConnId(i))
            })
            .collect()
    }

    /// Whether `target` reaches `id` itself (an operator does not ban or mute themselves).
    fn reaches(&self, target: &Target, id: ConnId) -> bool {
        self.reached(target).contains(&id)
    }
}

/// A ban's target typed as a key or an address; `Ok(None)` for a name.
///
/// # Errors
/// It starts like a key but is not one: why.
fn parse_target(what: &str) -> Result<Option<Target>, String> {
    if what.starts_with(lanchat_proto::fingerprint::PREFIX) {
        return what
            .parse()
            .map(|k| Some(Target::Key(k)))
            .map_err(|e: lanchat_proto::FingerprintError| e.to_string());
    }
    Ok(what.parse::<IpAddr>().ok().map(Target::addr))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
