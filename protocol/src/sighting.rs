//! The phone's sighting log: what it heard, one [`Sighting`] per RPI.

use crate::advertisement::Advertisement;
use crate::error::{DecodeError, Error};
use crate::keys::{AssociatedEncryptedMetadata, RollingProximityId};
use crate::time::{RETENTION_SECONDS, UnixTime};
use crate::wire::{self, MessageType, Reader};

/// Length of one sighting record on the wire (SPEC.md, "Sighting record").
pub const SIGHTING_RECORD_LEN: usize = 44;

/// Format version of the sighting export message written and read here.
pub const SIGHTING_EXPORT_VERSION: u8 = 1;

/// Largest number of sightings a [`SightingExport`] may hold (about 4.4 MB of records).
pub const MAX_EXPORTED_SIGHTINGS: u32 = 100_000;

/// Default capacity of a [`SightingLog`]: far above what a phone meets in 14 days (a crowded
/// day is a few thousand RPIs), low enough that a flood of forged advertisements cannot take
/// more than about 16 MB.
pub const DEFAULT_SIGHTING_CAPACITY: usize = 200_000;

/// Everything a phone keeps about one RPI it heard.
///
/// RSSI is the received signal strength in dBm as the radio reports it (higher is closer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sighting {
    /// The identifier heard.
    pub rpi: RollingProximityId,
    /// The metadata that came with it, still encrypted (the first one heard for this RPI).
    pub aem: AssociatedEncryptedMetadata,
    /// When it was first heard.
    pub first_seen: UnixTime,
    /// When it was last heard.
    pub last_seen: UnixTime,
    /// How many scans heard it (at least 1).
    pub scans: u32,
    /// Weakest RSSI over those scans, dBm.
    pub rssi_min: i8,
    /// Strongest RSSI over those scans, dBm.
    pub rssi_max: i8,
    /// Mean RSSI over those scans, dBm, rounded down.
    pub rssi_mean: i8,
}

impl Sighting {
    /// Seconds between first and last scan.
    pub fn duration_seconds(&self) -> u64 {
        self.last_seen.0.saturating_sub(self.first_seen.0)
    }

    /// Append the 44-byte record (SPEC.md, "Sighting record").
    pub fn write_record(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.rpi.0);
        out.extend_from_slice(&self.aem.0);
        out.extend_from_slice(&self.first_seen.0.to_le_bytes());
        out.extend_from_slice(&self.last_seen.0.to_le_bytes());
        out.extend_from_slice(&self.scans.to_le_bytes());
        out.push(self.rssi_min as u8);
        out.push(self.rssi_max as u8);
        out.push(self.rssi_mean as u8);
        out.push(0); // reserved
    }

    /// Read one record and check its rules.
    pub(crate) fn read_record(r: &mut Reader<'_>) -> Result<Sighting, DecodeError> {
        let sighting = Sighting {
            rpi: RollingProximityId(r.array()?),
            aem: AssociatedEncryptedMetadata(r.array()?),
            first_seen: UnixTime(r.u64()?),
            last_seen: UnixTime(r.u64()?),
            scans: r.u32()?,
            rssi_min: r.i8()?,
            rssi_max: r.i8()?,
            rssi_mean: r.i8()?,
        };
        r.reserved::<1>("sighting.reserved")?;
        if sighting.scans == 0 {
            return Err(invalid("sighting.scans", "must be at least 1"));
        }
        if sighting.first_seen > sighting.last_seen {
            return Err(invalid(
                "sighting.last_seen",
                "must not be before first_seen",
            ));
        }
        if !(sighting.rssi_min <= sighting.rssi_mean && sighting.rssi_mean <= sighting.rssi_max) {
            return Err(invalid(
                "sighting.rssi_mean",
                "must lie between rssi_min and rssi_max",
            ));
        }
        Ok(sighting)
    }
}

fn invalid(field: &'static str, rule: &'static str) -> DecodeError {
    DecodeError::InvalidField { field, rule }
}

/// What [`SightingLog::record`] did with an advertisement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SightingUpdate {
    /// First time this RPI was heard: a new sighting.
    New,
    /// The RPI was known: its sighting was updated.
    Updated,
    /// The log is at capacity: the advertisement was not kept.
    Dropped,
}

/// The RSSI summary of a sighting in one word: the exact sum of its scans' RSSI in the high 48
/// bits, the weakest RSSI in bits 8 to 15 and the strongest in bits 0 to 7. The sum fits with
/// room to spare: at most `u32::MAX` scans of at least −128 dBm each make less than 2^39.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RssiSummary(i64);

impl RssiSummary {
    fn new(sum: i64, min: i8, max: i8) -> RssiSummary {
        RssiSummary((sum << 16) | (i64::from(min as u8) << 8) | i64::from(max as u8))
    }

    fn sum(self) -> i64 {
        self.0 >> 16
    }

    fn min(self) -> i8 {
        (self.0 >> 8) as u8 as i8
    }

    fn max(self) -> i8 {
        self.0 as u8 as i8
    }

    fn add(self, rssi_dbm: i8) -> RssiSummary {
        RssiSummary::new(
            self.sum() + i64::from(rssi_dbm),
            self.min().min(rssi_dbm),
            self.max().max(rssi_dbm),
        )
    }
}

/// One sighting as the log holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    rpi: RollingProximityId,
    first_seen: u64,
    last_seen: u64,
    rssi: RssiSummary,
    scans: u32,
    aem: AssociatedEncryptedMetadata,
}

impl Entry {
    fn sighting(&self) -> Sighting {
        let mean = self.rssi.sum().div_euclid(i64::from(self.scans.max(1)));
        Sighting {
            rpi: self.rpi,
            aem: self.aem,
            first_seen: UnixTime(self.first_seen),
            last_seen: UnixTime(self.last_seen),
            scans: self.scans,
            rssi_min: self.rssi.min(),
            rssi_max: self.rssi.max(),
            // The mean of i8 values is an i8; the clamp only guards the arithmetic.
            rssi_mean: mean.clamp(i64::from(i8::MIN), i64::from(i8::MAX)) as i8,
        }
    }
}

/// Bytes one sighting takes in a [`SightingLog`]: the 16-byte RPI and 32 bytes of state, in an
/// array sorted by RPI with no per-entry overhead, so 30,000 sightings (a busy fortnight) take
/// about 1.4 MB, and [`SightingLog::heap_bytes`] tells the exact figure.
pub const SIGHTING_PAYLOAD_BYTES: usize = core::mem::size_of::<Entry>();

/// Most sightings [`SightingLog`] holds in its small array before merging it into the large
/// one: the bound on what one new RPI moves in memory.
const MAX_RECENT: usize = 1024;

/// Size the small array may reach before a merge, for a large array of `settled` entries: an
/// eighth of it, between 8 and [`MAX_RECENT`].
fn recent_limit(settled: usize) -> usize {
    (settled / 8).clamp(8, MAX_RECENT)
}

/// What the phone heard over the last 14 days: one [`Sighting`] per RPI.
///
/// Held in two arrays sorted by RPI, with no RPI in both: a large one, and a small one that
/// takes new RPIs and is merged into the large one when it outgrows an eighth of it or
/// [`MAX_RECENT`] entries. Iteration order is deterministic (by RPI); lookups are two binary
/// searches, O(log n) whatever RPIs an attacker chooses to broadcast. A new RPI moves at most
/// [`MAX_RECENT`] entries in the small array; a merge moves the large array once and may copy
/// it once more to grow it, so that, amortized over the RPIs that filled the small array, a new
/// RPI costs at most 18 more moves while the log holds up to 8,192 entries and 2n / 1,024
/// beyond (about 400 at the default capacity, the worst a flood of forged RPIs can cause;
/// `cargo bench --bench sighting_log` measures it). Entries take
/// [`SIGHTING_PAYLOAD_BYTES`] each, with nothing per entry besides; spare room is what the small
/// array has grown to and, after a purge, less than the large array's length
/// ([`heap_bytes`](Self::heap_bytes) counts it). Bounded by a capacity; once full,
/// advertisements of new RPIs are dropped (and counted) until [`purge`](Self::purge) frees
/// room, while known RPIs still update.
#[derive(Clone, Debug)]
pub struct SightingLog {
    settled: Vec<Entry>,
    recent: Vec<Entry>,
    capacity: usize,
    dropped: u64,
}

impl Default for SightingLog {
    fn default() -> Self {
        SightingLog::with_capacity(DEFAULT_SIGHTING_CAPACITY)
    }
}

/// The entries of two arrays sorted by RPI, in RPI order.
struct Merged<'a> {
    a: &'a [Entry],
    b: &'a [Entry],
}

impl<'a> Iterator for Merged<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        let take_a = match (self.a.first(), self.b.first()) {
            (Some(a), Some(b)) => a.rpi < b.rpi,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let side = if take_a { &mut self.a } else { &mut self.b };
        let (first, rest) = side.split_first()?;
        *side = rest;
        Some(first)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.a.len() + self.b.len();
        (n, Some(n))
    }
}

impl SightingLog {
    /// An empty log that holds at most `capacity` sightings.
    pub fn with_capacity(capacity: usize) -> SightingLog {
        SightingLog {
            settled: Vec::new(),
            recent: Vec::new(),
            capacity,
            dropped: 0,
        }
    }

    /// Ingest one received advertisement payload (exactly 20 bytes) heard at `now` with
    /// `rssi_dbm`.
    pub fn ingest(
        &mut self,
        payload: &[u8],
        rssi_dbm: i8,
        now: UnixTime,
    ) -> Result<SightingUpdate, Error> {
        Ok(self.record(&Advertisement::parse(payload)?, rssi_dbm, now))
    }

    /// Record one scan of `advertisement` at `now` with `rssi_dbm`.
    ///
    /// A repeated RPI widens its sighting's time span (first seen is the earliest scan and last
    /// seen the latest, whatever order scans arrive in), counts the scan and updates the RSSI
    /// summary. The AEM of the first scan is kept.
    pub fn record(
        &mut self,
        advertisement: &Advertisement,
        rssi_dbm: i8,
        now: UnixTime,
    ) -> SightingUpdate {
        let rpi = advertisement.rpi;
        let found = match search(&self.settled, &rpi) {
            Ok(i) => Some(&mut self.settled[i]),
            Err(_) => match search(&self.recent, &rpi) {
                Ok(i) => Some(&mut self.recent[i]),
                Err(_) => None,
            },
        };
        if let Some(entry) = found {
            entry.first_seen = entry.first_seen.min(now.0);
            entry.last_seen = entry.last_seen.max(now.0);
            if entry.scans < u32::MAX {
                entry.scans += 1;
                entry.rssi = entry.rssi.add(rssi_dbm);
            } else {
                // The sum stops with the count, so the mean stays exact; the extremes go on.
                let r = entry.rssi;
                entry.rssi =
                    RssiSummary::new(r.sum(), r.min().min(rssi_dbm), r.max().max(rssi_dbm));
            }
            return SightingUpdate::Updated;
        }
        if self.len() >= self.capacity {
            self.dropped += 1;
            return SightingUpdate::Dropped;
        }
        let at = search(&self.recent, &rpi).unwrap_or_else(|i| i);
        self.recent.insert(
            at,
            Entry {
                rpi,
                first_seen: now.0,
                last_seen: now.0,
                rssi: RssiSummary::new(i64::from(rssi_dbm), rssi_dbm, rssi_dbm),
                scans: 1,
                aem: advertisement.aem,
            },
        );
        if self.recent.len() > recent_limit(self.settled.len()) {
            self.settle();
        }
        SightingUpdate::New
    }

    /// Merge the small array into the large one, in place from the back, growing the large one
    /// by exactly what it needs.
    fn settle(&mut self) {
        let recent = core::mem::take(&mut self.recent);
        let mut i = self.settled.len();
        self.settled.reserve_exact(recent.len());
        self.settled.extend_from_slice(&recent);
        let mut k = self.settled.len();
        for r in recent.iter().rev() {
            while i > 0 && self.settled[i - 1].rpi > r.rpi {
                k -= 1;
                i -= 1;
                self.settled[k] = self.settled[i];
            }
            k -= 1;
            self.settled[k] = *r;
        }
    }

    /// Erase every sighting last seen 14 days or more before `now`; returns how many.
    pub fn purge(&mut self, now: UnixTime) -> usize {
        let before = self.len();
        let cutoff = now.0.saturating_sub(RETENTION_SECONDS);
        for entries in [&mut self.settled, &mut self.recent] {
            entries.retain(|e| e.last_seen > cutoff);
            if entries.capacity() > 2 * entries.len() {
                entries.shrink_to_fit();
            }
        }
        // The large array may have shrunk below eight times the small one.
        if self.recent.len() > recent_limit(self.settled.len()) {
            self.settle();
        }
        before - self.len()
    }

    /// The sighting of `rpi`, if it was heard.
    pub fn get(&self, rpi: &RollingProximityId) -> Option<Sighting> {
        [&self.settled, &self.recent]
            .into_iter()
            .find_map(|entries| search(entries, rpi).ok().map(|i| entries[i].sighting()))
    }

    /// Every entry, in RPI order.
    fn entries(&self) -> Merged<'_> {
        Merged {
            a: &self.settled,
            b: &self.recent,
        }
    }

    /// Every sighting, in RPI order.
    pub fn iter(&self) -> impl Iterator<Item = Sighting> + '_ {
        self.entries().map(Entry::sighting)
    }

    /// Number of sightings held.
    pub fn len(&self) -> usize {
        self.settled.len() + self.recent.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most sightings this log holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Advertisements of new RPIs dropped because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Heap bytes the log has allocated for its entries (room reserved but not yet used
    /// included): what a simulator holding millions of phones counts.
    pub fn heap_bytes(&self) -> usize {
        (self.settled.capacity() + self.recent.capacity()) * SIGHTING_PAYLOAD_BYTES
    }
}

/// Where `rpi` is in `entries` (sorted by RPI), or where it would go.
fn search(entries: &[Entry], rpi: &RollingProximityId) -> Result<usize, usize> {
    entries.binary_search_by(|e| e.rpi.cmp(rpi))
}

/// Bytes of one sighting in the phone's saved state (SPEC.md, appendix A.2). Not the 44-byte
/// record of §11.3: that keeps the rounded mean RSSI, and a restored phone must go on
/// exactly as the original would, so the state keeps the exact sum.
pub(crate) const STATE_SIGHTING_LEN: usize = 50;

impl SightingLog {
    /// Write the log as the phone's saved state holds it: `dropped`, the count, then each
    /// sighting in RPI order (SPEC.md, appendix A.2).
    pub(crate) fn write_state(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dropped.to_le_bytes());
        // The caller has checked the count against the state's limit.
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        for e in self.entries() {
            out.extend_from_slice(&e.rpi.0);
            out.extend_from_slice(&e.aem.0);
            out.extend_from_slice(&e.first_seen.to_le_bytes());
            out.extend_from_slice(&e.last_seen.to_le_bytes());
            out.extend_from_slice(&e.scans.to_le_bytes());
            out.push(e.rssi.min() as u8);
            out.push(e.rssi.max() as u8);
            out.extend_from_slice(&e.rssi.sum().to_le_bytes());
        }
    }

    /// Read a log written by [`SightingLog::write_state`], holding at most `capacity` new
    /// sightings from now on (a restored log may hold more than that, as a full one does).
    pub(crate) fn read_state(
        r: &mut Reader<'_>,
        capacity: usize,
        limit: u32,
    ) -> Result<SightingLog, DecodeError> {
        let dropped = r.u64()?;
        let count = r.count("sightings", limit, STATE_SIGHTING_LEN)?;
        let mut settled = Vec::with_capacity(count);
        for _ in 0..count {
            let rpi = RollingProximityId(r.array()?);
            let aem = AssociatedEncryptedMetadata(r.array()?);
            let first_seen = r.u64()?;
            let last_seen = r.u64()?;
            let scans = r.u32()?;
            let rssi_min = r.i8()?;
            let rssi_max = r.i8()?;
            let rssi_sum = i64::from_le_bytes(r.array()?);
            if settled.last().is_some_and(|p: &Entry| p.rpi >= rpi) {
                return Err(invalid("state.sighting.rpi", "strictly ascending"));
            }
            if scans == 0 {
                return Err(invalid("state.sighting.scans", "must be at least 1"));
            }
            if first_seen > last_seen {
                return Err(invalid(
                    "state.sighting.last_seen",
                    "must not be before first_seen",
                ));
            }
            let (low, high) = (
                i64::from(scans) * i64::from(rssi_min),
                i64::from(scans) * i64::from(rssi_max),
            );
            if rssi_min > rssi_max || rssi_sum < low || rssi_sum > high {
                return Err(invalid(
                    "state.sighting.rssi_sum",
                    "between scans × rssi_min and scans × rssi_max",
                ));
            }
            settled.push(Entry {
                rpi,
                first_seen,
                last_seen,
                // In range: checked against scans × rssi_min and scans × rssi_max just above.
                rssi: RssiSummary::new(rssi_sum, rssi_min, rssi_max),
                scans,
                aem,
            });
        }
        Ok(SightingLog {
            settled,
            recent: Vec::new(),
            capacity,
            dropped,
        })
    }
}

/// A list of sightings as one message (SPEC.md, "Sighting export"): what a phone hands over
/// when it shares its contact history, and the form the log takes in a backup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SightingExport {
    /// The sightings, in the order they are written.
    pub sightings: Vec<Sighting>,
}

impl SightingExport {
    /// Every sighting of `log` (in RPI order).
    pub fn from_log(log: &SightingLog) -> SightingExport {
        SightingExport {
            sightings: log.iter().collect(),
        }
    }

    /// The message bytes. Fails only if there are more than [`MAX_EXPORTED_SIGHTINGS`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let count = u32::try_from(self.sightings.len())
            .ok()
            .filter(|&n| n <= MAX_EXPORTED_SIGHTINGS)
            .ok_or(DecodeError::TooMany {
                what: "sightings",
                limit: MAX_EXPORTED_SIGHTINGS.into(),
                found: self.sightings.len() as u64,
            })?;
        let mut out =
            Vec::with_capacity(wire::HEADER_LEN + 4 + self.sightings.len() * SIGHTING_RECORD_LEN);
        wire::write_header(
            &mut out,
            MessageType::SightingExport,
            SIGHTING_EXPORT_VERSION,
        );
        out.extend_from_slice(&count.to_le_bytes());
        for sighting in &self.sightings {
            sighting.write_record(&mut out);
        }
        Ok(out)
    }

    /// Parse a sighting export. Each RPI may appear once.
    pub fn parse(bytes: &[u8]) -> Result<SightingExport, DecodeError> {
        let mut r = Reader::new(bytes);
        r.header(MessageType::SightingExport, SIGHTING_EXPORT_VERSION)?;
        let count = r.count("sightings", MAX_EXPORTED_SIGHTINGS, SIGHTING_RECORD_LEN)?;
        let mut sightings = Vec::with_capacity(count);
        for _ in 0..count {
            sightings.push(Sighting::read_record(&mut r)?);
        }
        r.finish()?;
        let mut rpis: Vec<_> = sightings.iter().map(|s| s.rpi).collect();
        rpis.sort_unstable();
        if rpis.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("sighting.rpi", "each RPI appears at most once"));
        }
        Ok(SightingExport { sightings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(byte: u8) -> Advertisement {
        Advertisement {
            rpi: RollingProximityId([byte; 16]),
            aem: AssociatedEncryptedMetadata([byte, 1, 2, 3]),
        }
    }

    #[test]
    fn repeated_scans_update_one_sighting() {
        let mut log = SightingLog::default();
        let t = UnixTime(1_600_000_000);
        assert_eq!(log.record(&adv(1), -60, t), SightingUpdate::New);
        assert_eq!(
            log.record(&adv(1), -70, t.plus_seconds(300)),
            SightingUpdate::Updated
        );
        assert_eq!(
            log.record(&adv(1), -51, t.minus_seconds(10)),
            SightingUpdate::Updated
        );
        assert_eq!(log.record(&adv(2), -80, t), SightingUpdate::New);
        assert_eq!(log.len(), 2);
        let s = log.get(&adv(1).rpi).unwrap();
        assert_eq!(s.first_seen, t.minus_seconds(10));
        assert_eq!(s.last_seen, t.plus_seconds(300));
        assert_eq!(s.scans, 3);
        assert_eq!((s.rssi_min, s.rssi_max), (-70, -51));
        // (-60 - 70 - 51) / 3 = -60.33, rounded down.
        assert_eq!(s.rssi_mean, -61);
        assert_eq!(s.duration_seconds(), 310);
        assert_eq!(s.aem, adv(1).aem);
    }

    #[test]
    fn sightings_are_purged_after_fourteen_days() {
        let mut log = SightingLog::default();
        let t = UnixTime(1_600_000_000);
        log.record(&adv(1), -60, t);
        log.record(&adv(2), -60, t.plus_seconds(1));
        assert_eq!(log.purge(t.plus_seconds(RETENTION_SECONDS - 1)), 0);
        assert_eq!(log.purge(t.plus_seconds(RETENTION_SECONDS)), 1);
        assert!(log.get(&adv(1).rpi).is_none());
        assert!(log.get(&adv(2).rpi).is_some());
    }

    #[test]
    fn a_full_log_drops_new_rpis_but_updates_known_ones() {
        let mut log = SightingLog::with_capacity(2);
        let t = UnixTime(1_600_000_000);
        log.record(&adv(1), -60, t);
        log.record(&adv(2), -60, t);
        assert_eq!(log.record(&adv(3), -60, t), SightingUpdate::Dropped);
        assert_eq!(
            log.record(&adv(1), -50, t.plus_seconds(5)),
            SightingUpdate::Updated
        );
        assert_eq!(log.dropped(), 1);
        assert_eq!(log.len(), 2);
    }

    #[test]
    fn ingest_rejects_payloads_of_the_wrong_length() {
        let mut log = SightingLog::default();
        let t = UnixTime(1_600_000_000);
        for len in [0, 19, 21, 31] {
            assert_eq!(
                log.ingest(&vec![0u8; len], -60, t),
                Err(Error::Decode(DecodeError::WrongLength {
                    expected: 20,
                    found: len
                }))
            );
        }
        assert!(log.is_empty());
        assert_eq!(log.ingest(&[9u8; 20], -60, t), Ok(SightingUpdate::New));
    }

    /// What the log must equal: one sighting per RPI in a `BTreeMap`, updated as SPEC.md §6
    /// says, with the capacity and the purge rule.
    #[derive(Default)]
    struct Model {
        sightings: std::collections::BTreeMap<RollingProximityId, Sighting>,
        sums: std::collections::BTreeMap<RollingProximityId, i64>,
        dropped: u64,
    }

    impl Model {
        fn record(&mut self, a: &Advertisement, rssi: i8, now: UnixTime, capacity: usize) {
            if let Some(s) = self.sightings.get_mut(&a.rpi) {
                let sum = self.sums.get_mut(&a.rpi).unwrap();
                s.first_seen = s.first_seen.min(now);
                s.last_seen = s.last_seen.max(now);
                s.scans += 1;
                *sum += i64::from(rssi);
                s.rssi_min = s.rssi_min.min(rssi);
                s.rssi_max = s.rssi_max.max(rssi);
                s.rssi_mean = sum.div_euclid(i64::from(s.scans)) as i8;
            } else if self.sightings.len() >= capacity {
                self.dropped += 1;
            } else {
                self.sightings.insert(
                    a.rpi,
                    Sighting {
                        rpi: a.rpi,
                        aem: a.aem,
                        first_seen: now,
                        last_seen: now,
                        scans: 1,
                        rssi_min: rssi,
                        rssi_max: rssi,
                        rssi_mean: rssi,
                    },
                );
                self.sums.insert(a.rpi, i64::from(rssi));
            }
        }

        fn purge(&mut self, now: UnixTime) {
            let cutoff = now.0.saturating_sub(RETENTION_SECONDS);
            self.sightings.retain(|_, s| s.last_seen.0 > cutoff);
            let kept = &self.sightings;
            self.sums.retain(|rpi, _| kept.contains_key(rpi));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Scans of RPIs drawn from a few thousand (so that both arrays fill, merge and hit
        /// known RPIs), purges, and a capacity that is sometimes reached: the log always holds
        /// what the model holds, in RPI order, and its two arrays stay sorted, disjoint and
        /// within their bound.
        #[test]
        fn the_log_holds_what_a_map_of_sightings_holds(
            capacity in proptest::prop_oneof![1usize..40, 3_000usize..5_000],
            ops in proptest::collection::vec(
                (0u16..4_000, proptest::num::i8::ANY, 0u64..40 * 86_400, proptest::bool::weighted(0.002)),
                1..6_000,
            ),
        ) {
            let mut log = SightingLog::with_capacity(capacity);
            let mut model = Model::default();
            for (i, &(id, rssi, offset, purge)) in ops.iter().enumerate() {
                let now = UnixTime(1_600_000_000 + offset);
                if purge {
                    log.purge(now);
                    model.purge(now);
                } else {
                    let mut rpi = [0u8; 16];
                    // Spread the ids over the RPI space, low bytes varying most.
                    rpi[..2].copy_from_slice(&id.wrapping_mul(40_503).to_be_bytes());
                    rpi[15] = id as u8;
                    let a = Advertisement {
                        rpi: RollingProximityId(rpi),
                        aem: AssociatedEncryptedMetadata([i as u8, 1, 2, 3]),
                    };
                    let expected = if model.sightings.contains_key(&a.rpi) {
                        SightingUpdate::Updated
                    } else if model.sightings.len() >= capacity {
                        SightingUpdate::Dropped
                    } else {
                        SightingUpdate::New
                    };
                    proptest::prop_assert_eq!(log.record(&a, rssi, now), expected);
                    model.record(&a, rssi, now, capacity);
                    proptest::prop_assert_eq!(log.get(&a.rpi), model.sightings.get(&a.rpi).copied());
                }
                proptest::prop_assert!(log.recent.len() <= recent_limit(log.settled.len()));
                if i % 64 == 0 || i + 1 == ops.len() {
                    proptest::prop_assert!(log.settled.windows(2).all(|w| w[0].rpi < w[1].rpi));
                    proptest::prop_assert!(log.recent.windows(2).all(|w| w[0].rpi < w[1].rpi));
                    proptest::prop_assert!(
                        log.recent.iter().all(|e| search(&log.settled, &e.rpi).is_err())
                    );
                }
            }
            proptest::prop_assert_eq!(log.len(), model.sightings.len());
            proptest::prop_assert_eq!(log.dropped(), model.dropped);
            let held: Vec<Sighting> = log.iter().collect();
            let expected: Vec<Sighting> = model.sightings.values().copied().collect();
            proptest::prop_assert_eq!(held, expected);
            proptest::prop_assert!(log.heap_bytes() >= log.len() * SIGHTING_PAYLOAD_BYTES);
        }
    }

    #[test]
    fn the_rssi_summary_keeps_its_extremes_and_the_largest_sum() {
        for (sum, min, max) in [
            (0, 0, 0),
            (-128 * i64::from(u32::MAX), -128, -128),
            (127 * i64::from(u32::MAX), 127, 127),
            (-5, -128, 127),
            (1, -1, 1),
        ] {
            let r = RssiSummary::new(sum, min, max);
            assert_eq!((r.sum(), r.min(), r.max()), (sum, min, max));
        }
    }

    #[test]
    fn documented_memory_per_sighting() {
        assert_eq!(SIGHTING_PAYLOAD_BYTES, 48);
    }

    #[test]
    fn export_rejects_duplicates_and_bad_fields() {
        let mut log = SightingLog::default();
        log.record(&adv(1), -60, UnixTime(100));
        let good = SightingExport::from_log(&log).to_bytes().unwrap();
        assert_eq!(good.len(), 8 + SIGHTING_RECORD_LEN);

        let mut twice = SightingExport::from_log(&log);
        twice.sightings.push(twice.sightings[0]);
        let twice = twice.to_bytes().unwrap();
        assert!(matches!(
            SightingExport::parse(&twice),
            Err(DecodeError::InvalidField {
                field: "sighting.rpi",
                ..
            })
        ));

        let mut reserved = good.clone();
        *reserved.last_mut().unwrap() = 1;
        assert!(matches!(
            SightingExport::parse(&reserved),
            Err(DecodeError::InvalidField {
                field: "sighting.reserved",
                ..
            })
        ));

        let mut no_scans = good.clone();
        no_scans[8 + 36..8 + 40].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            SightingExport::parse(&no_scans),
            Err(DecodeError::InvalidField {
                field: "sighting.scans",
                ..
            })
        ));

        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            SightingExport::parse(&huge),
            Err(DecodeError::TooMany { .. })
        ));

        let mut v2 = good;
        v2[3] = 2;
        assert_eq!(
            SightingExport::parse(&v2),
            Err(DecodeError::UnsupportedVersion {
                message_type: 1,
                found: 2
            })
        );
    }
}
