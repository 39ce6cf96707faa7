//! The history ring: the last N public frames, replayed to newcomers as `HIST` lines.

/// A fixed ring of the last `capacity` public frames (`MSG ...`/`ACTION ...` lines with their
/// `\n`), each with the time the server received it.
///
/// Slots are allocated once and reused, so keeping history costs no allocation per message once
/// the ring has filled. Memory is at most `capacity x (max_line + overhead)`.
#[derive(Debug, Clone, Default)]
pub struct History {
    slots: Vec<(u64, Vec<u8>)>,
    capacity: usize,
    /// Index of the oldest entry once the ring is full; the next slot to overwrite.
    head: usize,
    /// Changes with every push: names the content (see [`crate::outbox::BlockKey`]).
    version: u64,
}

impl History {
    /// A ring keeping `capacity` frames; 0 keeps none.
    pub const fn new(capacity: usize) -> Self {
        History {
            slots: Vec::new(),
            capacity,
            head: 0,
            version: 0,
        }
    }

    /// Remember `frame` (one line with its `\n`) received at `at_ms`.
    pub fn push(&mut self, at_ms: u64, frame: &[u8]) {
        if self.capacity == 0 {
            return;
        }
        self.version += 1;
        if self.slots.len() < self.capacity {
            self.slots.push((at_ms, frame.to_vec()));
            return;
        }
        let slot = &mut self.slots[self.head];
        slot.0 = at_ms;
        slot.1.clear();
        slot.1.extend_from_slice(frame);
        // A slot that once held a huge line should not keep that memory forever.
        slot.1.shrink_to(frame.len().max(256));
        self.head = (self.head + 1) % self.capacity;
    }

    /// Changes whenever the kept frames do.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of frames kept.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The kept frames, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let (newer, older) = self.slots.split_at(self.head.min(self.slots.len()));
        older
            .iter()
            .chain(newer.iter())
            .map(|(t, f)| (*t, f.as_slice()))
    }

    /// Append every kept frame as `HIST <millis> <frame>` to `out`, oldest first.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for (at, frame) in self.iter() {
            lanchat_proto::server::encode_hist_prefix(at, out);
            out.extend_from_slice(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_n_in_order() {
        let mut h = History::new(3);
        for i in 0..5u64 {
            h.push(i, format!("MSG a m{i}\n").as_bytes());
        }
        let got: Vec<(u64, String)> = h
            .iter()
            .map(|(t, f)| (t, String::from_utf8(f.to_vec()).unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "MSG a m2\n".into()),
                (3, "MSG a m3\n".into()),
                (4, "MSG a m4\n".into())
            ]
        );
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, b"HIST 2 MSG a m2\nHIST 3 MSG a m3\nHIST 4 MSG a m4\n");
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut h = History::new(0);
        h.push(1, b"MSG a b\n");
        assert!(h.is_empty());
    }
}
