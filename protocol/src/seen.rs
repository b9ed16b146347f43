//! The publication batches a phone matched in the last 14 days, packed.
//!
//! A phone remembers each batch it matched, (batch id, creation time), to refuse matching it
//! twice; at four batches a day that is about 56 of them. Kept as 16-byte pairs they took
//! about 900 bytes a phone, a third of what its sightings take, which a simulator holding
//! millions of phones feels. Here they are a byte string: per batch, in increasing id order,
//! the id's difference from the previous id and the creation time's difference from the
//! previous time (wrapping, zigzag), each as an LEB128 varint. Consecutive batches made six
//! hours apart take 4 bytes. The differences wrap modulo 2⁶⁴, so any values round-trip
//! exactly, whatever a server sent.

use crate::time::UnixTime;

/// Matched batches as (id, creation time), strictly increasing ids, packed (module docs).
/// 24 bytes, as the `Vec` of pairs it replaced: the bytes are exactly as long as they need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SeenBatches {
    bytes: Box<[u8]>,
    len: u32,
}

/// Bytes of `x` as a varint.
fn varint_len(x: u64) -> usize {
    (64 - (x | 1).leading_zeros() as usize).div_ceil(7)
}

fn put(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// The two varints of a pair that follows (`id`, `time`).
fn deltas((id, time): (u64, u64), (next_id, created): (u64, UnixTime)) -> [u64; 2] {
    let d = created.0.wrapping_sub(time) as i64;
    [next_id.wrapping_sub(id), ((d << 1) ^ (d >> 63)) as u64]
}

/// The varint at `bytes[*at..]` (always one [`put`] wrote).
fn get(bytes: &[u8], at: &mut usize) -> u64 {
    let mut x = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*at];
        *at += 1;
        x |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return x;
        }
        shift += 7;
    }
}

impl SeenBatches {
    /// From pairs in strictly increasing id order.
    pub(crate) fn from_sorted(entries: &[(u64, UnixTime)]) -> Self {
        let mut previous = (0, 0);
        let mut size = 0;
        for &e in entries {
            size += deltas(previous, e).map(varint_len).iter().sum::<usize>();
            previous = (e.0, e.1.0);
        }
        let mut bytes = Vec::with_capacity(size);
        previous = (0, 0);
        for &e in entries {
            for x in deltas(previous, e) {
                put(&mut bytes, x);
            }
            previous = (e.0, e.1.0);
        }
        SeenBatches {
            bytes: bytes.into_boxed_slice(),
            len: entries.len() as u32,
        }
    }

    /// How many batches.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The pairs, in increasing id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, UnixTime)> + '_ {
        let (mut at, mut id, mut time) = (0usize, 0u64, 0u64);
        (0..self.len).map(move |_| {
            id = id.wrapping_add(get(&self.bytes, &mut at));
            let z = get(&self.bytes, &mut at);
            let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
            time = time.wrapping_add(d as u64);
            (id, UnixTime(time))
        })
    }

    /// Whether batch `id` is there.
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.iter().any(|(x, _)| x == id)
    }

    /// Adds batch `id` made at `created`; `false` (and nothing changes) if it is there.
    pub(crate) fn insert(&mut self, id: u64, created: UnixTime) -> bool {
        let mut last = None;
        let mut inside = false;
        for (x, t) in self.iter() {
            if x >= id {
                if x == id {
                    return false;
                }
                inside = true;
                break;
            }
            last = Some((x, t.0));
        }
        if inside {
            // Before the end (rare: batches come in id order): unpack and pack again.
            let mut all: Vec<(u64, UnixTime)> = self.iter().collect();
            let place = all.partition_point(|&(y, _)| y < id);
            all.insert(place, (id, created));
            *self = SeenBatches::from_sorted(&all);
            return true;
        }
        // After the last one: only its two varints are added.
        let d = deltas(last.unwrap_or((0, 0)), (id, created));
        let mut bytes =
            Vec::with_capacity(self.bytes.len() + d.map(varint_len).iter().sum::<usize>());
        bytes.extend_from_slice(&self.bytes);
        for x in d {
            put(&mut bytes, x);
        }
        self.bytes = bytes.into_boxed_slice();
        self.len += 1;
        true
    }

    /// Keeps the batches `keep` is true of.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u64, UnixTime) -> bool) {
        let kept: Vec<_> = self.iter().filter(|&(id, t)| keep(id, t)).collect();
        if kept.len() < self.len as usize {
            *self = SeenBatches::from_sorted(&kept);
        }
    }

    /// Bytes on the heap.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn consecutive_batches_six_hours_apart_take_four_bytes_each() {
        let t0 = 1_700_000_000u64;
        let pairs: Vec<_> = (0..56u64)
            .map(|i| (1_000 + i, UnixTime(t0 + i * 21_600)))
            .collect();
        let seen = SeenBatches::from_sorted(&pairs);
        assert_eq!(std::mem::size_of::<SeenBatches>(), 24);
        // The first pair whole (2 + 5 bytes), then 1 + 3 bytes a batch.
        assert_eq!(seen.heap_bytes(), 7 + 55 * 4);
        assert_eq!(seen.len(), 56);
    }

    proptest! {
        /// After any inserts and purges, the packed list holds what a sorted vector of pairs
        /// holds, extreme ids and times (wrapping differences) included.
        #[test]
        fn the_packed_list_holds_what_a_sorted_vector_holds(
            ops in proptest::collection::vec(
                prop_oneof![
                    8 => (prop_oneof![0u64..200, any::<u64>()], prop_oneof![
                        1_700_000_000u64..1_700_100_000, any::<u64>()
                    ]).prop_map(|(id, t)| (true, id, t)),
                    1 => any::<u64>().prop_map(|t| (false, 0, t)),
                ],
                0..300,
            ),
        ) {
            let mut seen = SeenBatches::default();
            let mut model: Vec<(u64, UnixTime)> = Vec::new();
            for (add, id, t) in ops {
                if add {
                    let place = model.binary_search_by_key(&id, |&(x, _)| x);
                    prop_assert_eq!(seen.contains(id), place.is_ok());
                    prop_assert_eq!(seen.insert(id, UnixTime(t)), place.is_err());
                    if let Err(p) = place {
                        model.insert(p, (id, UnixTime(t)));
                    }
                } else {
                    seen.retain(|_, c| c.0 >= t);
                    model.retain(|&(_, c)| c.0 >= t);
                }
                prop_assert_eq!(seen.len(), model.len());
                prop_assert_eq!(seen.iter().collect::<Vec<_>>(), model.clone());
            }
        }
    }
}
