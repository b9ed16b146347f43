//! Failure throttling: login attempts per account and client address, per account and per
//! client, wrong declaration-code guesses per client and globally; and the [`KnownClients`] of
//! each account, which the account-wide and per-client login limits spare.
//!
//! A [`Throttle`] counts failures per key in a fixed window that opens at the key's first
//! failure and lasts `window_seconds`; once the count reaches `limit`, attempts are refused
//! until the window closes. Windows do not overlap, so any span of `window_seconds` holds at
//! most 2 × `limit` failures. A global counter is a `Throttle<()>`.
//!
//! Time is a parameter (seconds since the Unix epoch); nothing here reads a clock. A caller
//! serving requests in parallel holds one lock over [`Throttle::check`], the attempt and
//! [`Throttle::record_failure`], or parallel attempts all pass the check.
//!
//! Memory is bounded by `max_keys`. When the table is full, a new key first drops the expired
//! entries, then the entry whose window opened first. An attacker who fills the table with
//! keys of its own (client addresses, account names) can therefore only make the throttle
//! forget other keys' failures, giving those keys a fresh `limit`; it can neither grow the
//! table nor make the throttle refuse a key that has not failed `limit` times. A per-key
//! throttle thus bounds guessing only while its table is not flooded: size `max_keys` well
//! above honest traffic, and keep a global throttle (one key, never evicted) as the backstop.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;

/// An attempt was refused: the caller may retry after `seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    /// Seconds until the key's window closes (at least 1).
    pub seconds: u64,
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "too many failures: retry after {} seconds", self.seconds)
    }
}

impl std::error::Error for RetryAfter {}

/// One key's failures in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// When the window opened: the time of its first failure.
    start: u64,
    /// Tie-breaker among windows opened in the same second, for the eviction order.
    seq: u64,
    /// Failures recorded in the window.
    failures: u32,
}

/// At most `limit` failures per key in a fixed window of `window_seconds`, over at most
/// `max_keys` keys (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct Throttle<K: Eq + Hash + Clone> {
    limit: u32,
    window_seconds: u64,
    max_keys: usize,
    windows: HashMap<K, Window>,
    /// The same keys, ordered by window start: the eviction order.
    by_start: BTreeMap<(u64, u64), K>,
    next_seq: u64,
}

impl<K: Eq + Hash + Clone> Throttle<K> {
    /// An empty throttle. A `limit` or `max_keys` of 0 is taken as 1.
    pub fn new(limit: u32, window_seconds: u64, max_keys: usize) -> Throttle<K> {
        Throttle {
            limit: limit.max(1),
            window_seconds,
            max_keys: max_keys.max(1),
            windows: HashMap::new(),
            by_start: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Whether an attempt for `key` may proceed at `now`: refused while the key's window is
    /// open and holds `limit` failures.
    pub fn check(&self, key: &K, now: u64) -> Result<(), RetryAfter> {
        match self.windows.get(key) {
            Some(w) if w.failures >= self.limit => {
                let end = w.start.saturating_add(self.window_seconds);
                if now < end {
                    Err(RetryAfter { seconds: end - now })
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Count a failure for `key` at `now`, opening a new window if the key has none open.
    pub fn record_failure(&mut self, key: K, now: u64) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if let Some(w) = self.windows.get_mut(&key) {
            if now < w.start.saturating_add(self.window_seconds) {
                w.failures = w.failures.saturating_add(1);
            } else {
                self.by_start.remove(&(w.start, w.seq));
                *w = Window {
                    start: now,
                    seq,
                    failures: 1,
                };
                self.by_start.insert((now, seq), key);
            }
            return;
        }
        self.make_room(now);
        self.by_start.insert((now, seq), key.clone());
        self.windows.insert(
            key,
            Window {
                start: now,
                seq,
                failures: 1,
            },
        );
    }

    /// Take back one failure of `key`: an attempt is counted as a failure before it is made
    /// (so that parallel attempts cannot all pass [`check`](Self::check) before any is
    /// counted), and refunded when it turns out not to be one.
    pub fn refund(&mut self, key: &K) {
        if let Some(w) = self.windows.get_mut(key) {
            w.failures = w.failures.saturating_sub(1);
        }
    }

    /// Forget `key`'s failures (after a successful login).
    pub fn clear(&mut self, key: &K) {
        if let Some(w) = self.windows.remove(key) {
            self.by_start.remove(&(w.start, w.seq));
        }
    }

    /// Keys held, expired or not.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// If the table is full, drop the expired windows, then the oldest ones until a key fits.
    fn make_room(&mut self, now: u64) {
        if self.windows.len() < self.max_keys {
            return;
        }
        while let Some(entry) = self.by_start.first_entry() {
            let (start, _) = *entry.key();
            if now < start.saturating_add(self.window_seconds) {
                break;
            }
            let key = entry.remove();
            self.windows.remove(&key);
        }
        while self.windows.len() >= self.max_keys {
            let Some((_, key)) = self.by_start.pop_first() else {
                break;
            };
            self.windows.remove(&key);
        }
    }
}

/// The client addresses that logged in successfully to each account, remembered so that the
/// login limits a stranger can exhaust (per account over all addresses, per address over all
/// accounts) do not lock the account's owner out: from a known address only the limit of that
/// (account, address) pair applies, and only someone at that address can exhaust it.
///
/// At most `max_entries` pairs are kept; a new pair beyond that forgets the pair whose last
/// success is oldest. A restart forgets them all, like the throttles.
#[derive(Debug, Clone)]
pub struct KnownClients<K: Eq + Hash + Clone> {
    max_entries: usize,
    last_success: HashMap<K, (u64, u64)>,
    /// The same keys, ordered by last success: the eviction order.
    by_time: BTreeMap<(u64, u64), K>,
    next_seq: u64,
}

impl<K: Eq + Hash + Clone> KnownClients<K> {
    /// An empty set holding at most `max_entries` (0 is taken as 1).
    pub fn new(max_entries: usize) -> KnownClients<K> {
        KnownClients {
            max_entries: max_entries.max(1),
            last_success: HashMap::new(),
            by_time: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Remember a successful login of `key` at `now`.
    pub fn insert(&mut self, key: K, now: u64) {
        let stamp = (now, self.next_seq);
        self.next_seq = self.next_seq.wrapping_add(1);
        if let Some(old) = self.last_success.insert(key.clone(), stamp) {
            self.by_time.remove(&old);
        }
        self.by_time.insert(stamp, key);
        while self.last_success.len() > self.max_entries {
            let Some((_, oldest)) = self.by_time.pop_first() else {
                break;
            };
            self.last_success.remove(&oldest);
        }
    }

    /// Whether `key` logged in successfully (and is still remembered).
    pub fn contains(&self, key: &K) -> bool {
        self.last_success.contains_key(key)
    }

    /// Pairs remembered.
    pub fn len(&self) -> usize {
        self.last_success.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.last_success.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_consistent<K: Eq + Hash + Clone + fmt::Debug>(t: &Throttle<K>) {
        assert!(t.windows.len() <= t.max_keys);
        assert_eq!(t.windows.len(), t.by_start.len());
        for ((start, seq), key) in &t.by_start {
            let w = &t.windows[key];
            assert_eq!((w.start, w.seq), (*start, *seq));
        }
    }

    #[test]
    fn limit_reached_is_refused_with_the_time_left() {
        let mut t = Throttle::new(3, 60, 100);
        assert_eq!(t.check(&"alice", 100), Ok(()));
        t.record_failure("alice", 100);
        t.record_failure("alice", 110);
        assert_eq!(t.check(&"alice", 110), Ok(()));
        t.record_failure("alice", 120);
        assert_eq!(t.check(&"alice", 120), Err(RetryAfter { seconds: 40 }));
        assert_eq!(t.check(&"alice", 159), Err(RetryAfter { seconds: 1 }));
        assert_eq!(t.check(&"bob", 120), Ok(()));
        // Failures while refused do not extend the window.
        t.record_failure("alice", 130);
        assert_eq!(t.check(&"alice", 130), Err(RetryAfter { seconds: 30 }));
        assert_consistent(&t);
    }

    #[test]
    fn allowed_again_after_the_window() {
        let mut t = Throttle::new(2, 60, 100);
        t.record_failure("alice", 1_000);
        t.record_failure("alice", 1_059);
        assert!(t.check(&"alice", 1_059).is_err());
        assert_eq!(t.check(&"alice", 1_060), Ok(()));
        // The next failure opens a new window with a count of 1.
        t.record_failure("alice", 1_070);
        assert_eq!(t.check(&"alice", 1_070), Ok(()));
        t.record_failure("alice", 1_071);
        assert_eq!(t.check(&"alice", 1_071), Err(RetryAfter { seconds: 59 }));
        assert_eq!(t.len(), 1);
        assert_consistent(&t);
    }

    #[test]
    fn a_refunded_attempt_does_not_count() {
        let mut t = Throttle::new(2, 60, 10);
        for _ in 0..5 {
            t.record_failure("k", 100);
            t.refund(&"k");
        }
        assert!(t.check(&"k", 101).is_ok());
        t.record_failure("k", 102);
        t.record_failure("k", 103);
        assert_eq!(t.check(&"k", 104), Err(RetryAfter { seconds: 56 }));
        t.refund(&"k");
        assert!(t.check(&"k", 104).is_ok());
        t.refund(&"absent");
    }

    #[test]
    fn clear_resets_the_key_only() {
        let mut t = Throttle::new(1, 60, 100);
        t.record_failure("alice", 0);
        t.record_failure("bob", 0);
        assert!(t.check(&"alice", 1).is_err());
        t.clear(&"alice");
        assert_eq!(t.check(&"alice", 1), Ok(()));
        assert!(t.check(&"bob", 1).is_err());
        t.clear(&"carol");
        assert_eq!(t.len(), 1);
        assert_consistent(&t);
    }

    #[test]
    fn max_keys_holds_under_ten_times_as_many_keys() {
        let mut t = Throttle::new(5, 600, 100);
        for i in 0..1_000u32 {
            t.record_failure(i, u64::from(i / 10));
            assert!(t.len() <= 100);
        }
        assert_eq!(t.len(), 100);
        assert_consistent(&t);
        // The newest keys survive, the oldest were forgotten.
        assert!(t.windows.contains_key(&999));
        assert!(!t.windows.contains_key(&0));
    }

    #[test]
    fn a_full_table_drops_expired_windows_before_open_ones() {
        let mut t = Throttle::new(1, 60, 4);
        t.record_failure("old-1", 0);
        t.record_failure("old-2", 1);
        t.record_failure("live-1", 50);
        t.record_failure("live-2", 55);
        // At 61 the windows of old-1 and old-2 have closed; live-1 and live-2 are open.
        t.record_failure("new", 61);
        assert_eq!(t.len(), 3);
        assert!(t.check(&"live-1", 61).is_err());
        assert!(t.check(&"live-2", 61).is_err());
        assert!(t.check(&"new", 61).is_err());
        assert_consistent(&t);
    }

    #[test]
    fn a_full_table_of_open_windows_forgets_the_oldest() {
        let mut t = Throttle::new(1, 60, 3);
        t.record_failure("a", 10);
        t.record_failure("b", 10);
        t.record_failure("c", 20);
        t.record_failure("d", 30);
        // "a" opened first (same second as "b", but earlier): forgotten, so allowed again.
        assert_eq!(t.check(&"a", 30), Ok(()));
        for key in ["b", "c", "d"] {
            assert!(t.check(&key, 30).is_err(), "{key}");
        }
        assert_consistent(&t);
    }

    #[test]
    fn a_restarted_window_moves_to_the_back_of_the_eviction_order() {
        let mut t = Throttle::new(1, 60, 2);
        t.record_failure("a", 0);
        t.record_failure("b", 30);
        t.record_failure("a", 70); // a's window closed at 60: a new one opens at 70.
        t.record_failure("c", 80); // evicts b (opened at 30, still open), not a.
        assert!(t.check(&"a", 80).is_err());
        assert_eq!(t.check(&"b", 80), Ok(()));
        assert!(t.check(&"c", 80).is_err());
        assert_consistent(&t);
    }

    #[test]
    fn global_throttle_is_a_unit_keyed_throttle() {
        let mut t: Throttle<()> = Throttle::new(1_000, 60, 1);
        for s in 0..1_000 {
            assert_eq!(t.check(&(), s / 20), Ok(()));
            t.record_failure((), s / 20);
        }
        assert_eq!(t.check(&(), 49), Err(RetryAfter { seconds: 11 }));
        assert_eq!(t.check(&(), 60), Ok(()));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn zero_parameters_and_extreme_times_do_not_panic() {
        let mut t = Throttle::new(0, u64::MAX, 0);
        t.record_failure(1u8, u64::MAX);
        assert_eq!(t.check(&1, u64::MAX), Ok(())); // The window ends at u64::MAX.
        t.record_failure(1u8, u64::MAX - 5);
        t.record_failure(2u8, 0);
        assert_eq!(t.len(), 1);
        assert_eq!(t.check(&2, 0), Err(RetryAfter { seconds: u64::MAX }));
        let mut z = Throttle::new(1, 0, 2);
        z.record_failure("a", 5);
        assert_eq!(z.check(&"a", 5), Ok(()));
        assert_consistent(&t);
        assert_consistent(&z);
    }

    #[test]
    fn known_clients_forget_the_oldest_success_first() {
        let mut k = KnownClients::new(2);
        k.insert("a", 10);
        k.insert("b", 20);
        k.insert("a", 30); // a's success is now the newest.
        k.insert("c", 40); // forgets b.
        assert!(k.contains(&"a") && k.contains(&"c"));
        assert!(!k.contains(&"b"));
        assert_eq!(k.len(), 2);
        assert!(KnownClients::<u8>::new(0).is_empty());
    }

    #[test]
    fn retry_after_displays_its_seconds() {
        assert!(RetryAfter { seconds: 42 }.to_string().contains("42"));
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// A failure of a key, after a time step (saturating).
        Fail(u8, u64),
        Clear(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..40, prop_oneof![20 => 0u64..100, 1 => Just(u64::MAX)])
                .prop_map(|(k, dt)| Op::Fail(k, dt)),
            1 => (0u8..40).prop_map(Op::Clear),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold_under_any_sequence(
            limit in 0u32..5,
            window in 0u64..200,
            max_keys in 0usize..16,
            ops in proptest::collection::vec(op(), 0..300),
        ) {
            let mut t = Throttle::new(limit, window, max_keys);
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Fail(k, dt) => {
                        now = now.saturating_add(dt);
                        t.record_failure(k, now);
                        if let Err(r) = t.check(&k, now) {
                            prop_assert!(r.seconds >= 1 && r.seconds <= window);
                        }
                    }
                    Op::Clear(k) => {
                        t.clear(&k);
                        prop_assert_eq!(t.check(&k, now), Ok(()));
                    }
                }
                assert_consistent(&t);
            }
        }
    }
}
