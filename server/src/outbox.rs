//! The seam between the chat logic and the sockets: [`ConnId`] and the [`Outbox`] the room
//! writes its decisions into.
//!
//! The room never touches a socket. It calls [`Outbox::send`] with an already-encoded frame
//! (a broadcast is encoded once and handed to `send` once per recipient) and [`Outbox::close`]
//! when a connection should end. The event loop implements `Outbox` by appending to each
//! connection's write buffer; tests use [`Recorder`].

/// A connection's identity: the key of its slot in the server's slab, which is also its poll
/// token. Slots are reused after a connection is gone, so the room forgets an id when told the
/// connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub usize);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where the room puts what it decided.
pub trait Outbox {
    /// Queue `frame` (one or more complete lines, each ending in `\n`) for connection `to`.
    fn send(&mut self, to: ConnId, frame: &[u8]);

    /// End connection `id` once what is queued for it has been flushed (bounded by the write
    /// timeout). The room has already forgotten `id` when it calls this.
    fn close(&mut self, id: ConnId);
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
