//! Identity as the loop drives it: the room given its [`Access`] at start, the claims and bans
//! files written when they change (once per round at most, the write in two steps so the loop
//! never waits for the disk, see [`crate::persist::snapshot`]), written once more at shutdown,
//! and the flags' files read again on request (SIGHUP).

use std::time::Instant;

use super::Server;
use crate::clock::Now;
use crate::identity::{Reloaded, Setup, Sources, StateFiles};
use crate::persist::snapshot::SnapshotHealth;

/// The state files and where the flags' files are.
#[derive(Debug, Default)]
pub(super) struct IdentityState {
    files: Option<StateFiles>,
    sources: Sources,
}

impl Server {
    /// Who comes in, who owns which name, who runs the place, as `setup` says; its start-up
    /// lines are logged. Without this the server has no allowlist, password or operators, and
    /// names are first come, first served. Call before [`Server::run`].
    #[must_use]
    pub fn with_identity(mut self, setup: Setup) -> Server {
        for line in &setup.report {
            log::info!("{line}");
        }
        self.room.set_access(setup.access);
        self.identity = IdentityState {
            files: setup.files,
            sources: setup.sources,
        };
        self
    }

    /// Read `--allow`, `--ops` and `--password-file` again (what SIGHUP does): nobody is
    /// dropped; who is an operator follows the new list; what changed is logged and returned.
    /// A file that cannot be read keeps its old contents (and says so).
    pub fn reload_identity(&mut self) -> Reloaded {
        let reloaded = crate::identity::reload(&self.identity.sources, self.room.access_mut());
        let operators = self.room.refresh_operators();
        for line in &reloaded.lines {
            log::info!("reload: {line}");
        }
        if operators > 0 {
            log::info!("reload: {operators} connected user(s) became or stopped being operators");
        }
        reloaded
    }

    /// Write the claims and bans files if what they hold changed; put written versions in
    /// place once they settled.
    pub(super) fn identity_tick(&mut self, now: Now) {
        let Some(files) = &mut self.identity.files else {
            return;
        };
        note_changes(files, self.room.access_mut(), now);
        let access = self.room.access();
        let due = |at: Option<Instant>| at.is_some_and(|t| t <= now.mono);
        if due(files.claims.next_tick()) {
            let change = files
                .claims
                .tick(now.mono, &mut |buf| access.claims.encode(buf));
            log_health(change);
        }
        if due(files.bans.next_tick()) {
            let change = files
                .bans
                .tick(now.mono, &mut |buf| access.bans.encode(buf));
            log_health(change);
        }
    }

    /// When the state files have work next.
    pub(super) fn identity_due(&self) -> Option<Instant> {
        let files = self.identity.files.as_ref()?;
        [files.claims.next_tick(), files.bans.next_tick()]
            .into_iter()
            .flatten()
            .min()
    }

    /// At shutdown: both files written and in place now (the loop has nobody left to keep
    /// waiting).
    pub(super) fn identity_flush(&mut self, now: Now) {
        let Some(files) = &mut self.identity.files else {
            return;
        };
        note_changes(files, self.room.access_mut(), now);
        let access = self.room.access();
        if let Err(e) = files.claims.write_now(&mut |buf| access.claims.encode(buf)) {
            log::warn!("claims not saved at exit: {e}");
        }
        if let Err(e) = files.bans.write_now(&mut |buf| access.bans.encode(buf)) {
            log::warn!("bans not saved at exit: {e}");
        }
    }
}

/// Tell the state files what changed in the claims and bans since the last call.
fn note_changes(files: &mut StateFiles, access: &mut crate::identity::Access, now: Now) {
    if access.claims.take_changed() {
        files.claims.changed(now.mono);
    }
    if access.bans.take_changed() {
        files.bans.changed(now.mono);
    }
}

fn log_health(change: Option<SnapshotHealth>) {
    match change {
        Some(SnapshotHealth::Failing(e)) => log::warn!(
            "state file failing ({e}); claims and bans are kept in memory and written once the \
             disk takes them"
        ),
        Some(SnapshotHealth::Recovered) => log::info!("state file written again"),
        None => {}
    }
}
