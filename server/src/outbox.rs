//! The seam between the chat logic and the sockets: [`ConnId`] and the [`Outbox`] the room
//! writes its decisions into.
//!
//! The room never touches a socket. It hands the outbox already-encoded frames: to one
//! connection ([`Outbox::send`]), to many ([`Outbox::broadcast`], encoded once, and stored once
//! by the server's outbox however many get it), or a block that many connections get unchanged
//! ([`Outbox::send_block`]: the history, the member list's full lines). [`Outbox::close`] ends a
//! connection. The event loop's outbox queues into connections' write queues (`conn::Delivery`);
//! tests use [`Recorder`].

/// A connection's identity: the key of its slot in the server's connection table, which is also
/// its poll token. Slots are reused after a connection is gone, so the room forgets an id when
/// told the connection ended. Logs name connections by their [`Serial`], never by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub usize);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "slot {}", self.0)
    }
}

/// A connection's number in the log (`#17`): counted up from 1 as connections are accepted and
/// never reused, so one number is one connection for the whole life of a server, where a
/// [`ConnId`]'s slot goes to the next connection as soon as this one is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(pub u64);

impl std::fmt::Display for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a block sent with [`Outbox::send_block`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Block {
    /// A room's history as `HIST` lines.
    History,
    /// A room's member list's full `WHO` lines.
    Members,
    /// The list of rooms: `ROOMLIST` lines and `ROOMLISTEND`.
    RoomList,
}

/// Names a block's content: the same key means the same bytes, so an outbox may reuse what it
/// stored for an earlier recipient instead of asking for the bytes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockKey {
    /// Which block.
    pub block: Block,
    /// Whose: the serial of the room it belongs to, never reused by another room (0 for a
    /// block of the whole server, the room list).
    pub owner: u64,
    /// Changes whenever the block's content does.
    pub version: u64,
}

/// Where the room puts what it decided.
pub trait Outbox {
    /// Queue `frame` (one or more complete lines, each ending in `\n`) for connection `to`.
    fn send(&mut self, to: ConnId, frame: &[u8]);

    /// Queue `frame` for every connection in `to` except `except`, in that order.
    fn broadcast(&mut self, to: &[ConnId], except: Option<ConnId>, frame: &[u8]) {
        for &id in to {
            if Some(id) != except {
                self.send(id, frame);
            }
        }
    }

    /// Queue the block named `key` for `to`; `encode` appends its bytes (complete lines) to a
    /// buffer, and is only called when the outbox does not already hold that block.
    fn send_block(&mut self, to: ConnId, key: BlockKey, encode: &mut dyn FnMut(&mut Vec<u8>)) {
        let _ = key;
        let mut bytes = Vec::new();
        encode(&mut bytes);
        if !bytes.is_empty() {
            self.send(to, &bytes);
        }
    }

    /// End connection `id` once what is queued for it has been flushed (bounded by the write
    /// timeout). The room has already forgotten `id` when it calls this.
    fn close(&mut self, id: ConnId);

    /// Connections the server holds open besides the one being connected, counting those the
    /// room has already let go that are still flushing a goodbye or lingering: each holds a file
    /// descriptor, so they count toward `max_clients` ([`crate::Room::connect`]). An outbox
    /// that holds nothing of its own (a test's) leaves the count to the room.
    fn held(&self) -> usize {
        0
    }
}

/// An [`Outbox`] that remembers everything, line by line: for unit tests and fuzzing.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    /// Every line sent, in order, without its `\n`.
    pub sent: Vec<(ConnId, String)>,
    /// Every connection closed, in order.
    pub closed: Vec<ConnId>,
}

impl Recorder {
    /// The lines sent to `id`, in order.
    pub fn to(&self, id: ConnId) -> Vec<&str> {
        self.sent
            .iter()
            .filter(|(to, _)| *to == id)
            .map(|(_, l)| l.as_str())
            .collect()
    }

    /// Forget what was recorded so far.
    pub fn clear(&mut self) {
        self.sent.clear();
        self.closed.clear();
    }

    /// Take what was recorded so far.
    pub fn take(&mut self) -> Recorder {
        std::mem::take(self)
    }
}

impl Outbox for Recorder {
    fn send(&mut self, to: ConnId, frame: &[u8]) {
        let text = String::from_utf8_lossy(frame);
        for line in text.split_terminator('\n') {
            self.sent.push((to, line.to_owned()));
        }
    }

    fn close(&mut self, id: ConnId) {
        self.closed.push(id);
    }
}
