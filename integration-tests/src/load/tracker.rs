//! The delivery check: every receiver must get every other sender's messages exactly once and in
//! the order they were sent (with rooms, every sender's in its room, and no other). Counts what was delivered, duplicated and reordered; what was lost
//! follows at the end from what was expected.

/// Largest receivers x senders x messages for which each delivery is remembered individually
/// (one bit each, 64 MiB at most). Beyond it only the per-pair high-water mark is kept, and a
/// late message cannot be told from a duplicate: both count as duplicated (either fails a run).
pub const MAX_EXACT_BITS: u64 = 1 << 29;

/// How one delivery compares with what the receiver had from that sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next one expected.
    InOrder,
    /// New, but not the next expected (one before it is missing so far, or it came late).
    Reordered,
    /// Already delivered to this receiver.
    Duplicate,
    /// Not a message of this run for this receiver (unknown sender or sequence, or its own).
    Unexpected,
}

/// Per (receiver, sender) delivery state and the run's totals.
#[derive(Debug)]
pub struct Tracker {
    senders: usize,
    messages: u64,
    /// `next[r * senders + s]`: one past the highest sequence receiver `r` has from sender `s`.
    /// While everything arrives in order this is also how many it has.
    next: Vec<u32>,
    /// One bit per (receiver, sender, sequence), when that fits in [`MAX_EXACT_BITS`].
    seen: Option<Vec<u64>>,
    /// Our messages received, duplicates included.
    pub delivered: u64,
    /// Deliveries of a message the receiver already had.
    pub duplicated: u64,
    /// Deliveries out of per-sender order.
    pub reordered: u64,
    /// Lines that looked like messages but were not ones this run sent to that receiver.
    pub unexpected: u64,
    /// Who shares a room with whom, when the run has rooms.
    plan: Option<super::RoomPlan>,
}

impl Tracker {
    /// Track `receivers` clients getting `messages` messages from each of `senders` (the first
    /// `senders` receivers are the senders themselves; they get no copy of their own).
    ///
    /// `messages` must be below `u32::MAX` (the options check that).
    pub fn new(receivers: usize, senders: usize, messages: u64) -> Tracker {
        let pairs = receivers * senders;
        let bits = pairs as u64 * messages;
        let seen = (bits <= MAX_EXACT_BITS).then(|| vec![0u64; bits.div_ceil(64) as usize]);
        Tracker {
            senders,
            messages,
            next: vec![0; pairs],
            seen,
            delivered: 0,
            duplicated: 0,
            reordered: 0,
            unexpected: 0,
            plan: None,
        }
    }

    /// Receivers get only what senders in their room send ([`super::RoomPlan`]).
    pub fn with_rooms(mut self, plan: Option<super::RoomPlan>) -> Tracker {
        self.plan = plan;
        self
    }

    /// Whether `receiver` is to get what `sender` sends.
    fn owed(&self, receiver: usize, sender: usize) -> bool {
        receiver != sender && self.plan.is_none_or(|p| p.shares(receiver, sender))
    }

    /// True when duplicates and late messages are told apart exactly.
    pub fn is_exact(&self) -> bool {
        self.seen.is_some()
    }

    /// Receiver `receiver` got message `seq` of sender `sender`.
    pub fn record(&mut self, receiver: usize, sender: usize, seq: u64) -> Verdict {
        if sender >= self.senders || seq >= self.messages || !self.owed(receiver, sender) {
            self.unexpected += 1;
            return Verdict::Unexpected;
        }
        let pair = receiver * self.senders + sender;
        let Some(next) = self.next.get_mut(pair) else {
            self.unexpected += 1;
            return Verdict::Unexpected;
        };
        self.delivered += 1;
        let expected = u64::from(*next);
        if let Some(seen) = &mut self.seen {
            let bit = pair as u64 * self.messages + seq;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            if seen[word] & mask != 0 {
                self.duplicated += 1;
                return Verdict::Duplicate;
            }
            seen[word] |= mask;
        } else if seq < expected {
            self.duplicated += 1;
            return Verdict::Duplicate;
        }
        // `seq < MAX_SEQ`, so `seq + 1` fits the u32.
        if seq >= expected {
            *next = (seq + 1) as u32;
        }
        if seq == expected {
            Verdict::InOrder
        } else {
            self.reordered += 1;
            Verdict::Reordered
        }
    }

    /// The lowest high-water mark any receiver has for `sender`: every message before it has
    /// reached every receiver (when all is in order). Senders use it as their in-flight window.
    pub fn slowest(&self, sender: usize) -> u64 {
        let receivers = self.next.len() / self.senders.max(1);
        (0..receivers)
            .filter(|&r| self.owed(r, sender))
            .map(|r| u64::from(self.next[r * self.senders + sender]))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Different messages delivered (duplicates not counted).
    pub fn unique(&self) -> u64 {
        self.delivered - self.duplicated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed (receiver, sender, seq) deliveries; return the verdicts and the final counts.
    fn run(exact: bool, deliveries: &[(usize, usize, u64)]) -> (Vec<Verdict>, [u64; 4]) {
        let mut t = Tracker::new(3, 2, 4);
        if !exact {
            t.seen = None;
        }
        let verdicts = deliveries
            .iter()
            .map(|&(r, s, q)| t.record(r, s, q))
            .collect();
        (
            verdicts,
            [t.delivered, t.duplicated, t.reordered, t.unexpected],
        )
    }

    /// Deliveries, their verdicts, then delivered/duplicated/reordered/unexpected.
    type Case = (&'static [(usize, usize, u64)], &'static [Verdict], [u64; 4]);

    #[test]
    fn verdicts() {
        use Verdict::*;
        let cases: &[Case] = &[
            (
                &[(1, 0, 0), (1, 0, 1), (2, 0, 0)],
                &[InOrder, InOrder, InOrder],
                [3, 0, 0, 0],
            ),
            (&[(1, 0, 0), (1, 0, 0)], &[InOrder, Duplicate], [2, 1, 0, 0]),
            (
                &[(1, 0, 1), (1, 0, 0)],
                &[Reordered, Reordered],
                [2, 0, 2, 0],
            ),
            (
                &[(0, 0, 0), (1, 2, 0), (1, 0, 4)],
                &[Unexpected; 3],
                [0, 0, 0, 3],
            ),
            (&[(2, 1, 0), (2, 1, 2)], &[InOrder, Reordered], [2, 0, 1, 0]),
        ];
        for (deliveries, want, counts) in cases {
            assert_eq!(
                run(true, deliveries),
                (want.to_vec(), *counts),
                "{deliveries:?}"
            );
        }
    }

    #[test]
    fn without_the_bitset_a_late_message_counts_as_a_duplicate() {
        use Verdict::*;
        let (v, counts) = run(false, &[(1, 0, 1), (1, 0, 0), (1, 0, 1)]);
        assert_eq!(v, [Reordered, Duplicate, Duplicate]);
        assert_eq!(counts, [3, 2, 1, 0]);
    }

    #[test]
    fn slowest_receiver_sets_the_window() {
        let mut t = Tracker::new(3, 2, 10);
        assert_eq!(t.slowest(0), 0);
        for q in 0..5 {
            t.record(1, 0, q);
        }
        t.record(2, 0, 0);
        assert_eq!(
            t.slowest(0),
            1,
            "receiver 2 has only one; the sender itself does not count"
        );
        assert_eq!(t.unique(), 6);
    }

    #[test]
    fn with_rooms_only_roommates_are_owed_and_count_for_the_window() {
        // Four clients, two rooms: 0 and 2 in #r0, 1 and 3 in #r1; senders 0 and 1.
        let plan = super::super::RoomPlan {
            clients: 4,
            rooms: 2,
            each: 1,
        };
        let mut t = Tracker::new(4, 2, 10).with_rooms(Some(plan));
        assert_eq!(t.record(2, 0, 0), Verdict::InOrder);
        assert_eq!(t.record(3, 0, 0), Verdict::Unexpected, "not in #r0");
        assert_eq!(
            t.record(1, 0, 0),
            Verdict::Unexpected,
            "another room's sender"
        );
        assert_eq!(t.slowest(0), 1, "only receiver 2 counts");
        assert_eq!(t.slowest(1), 0, "receiver 3 has nothing yet");
    }
}
