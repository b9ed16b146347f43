//! The phone's sighting log: what it heard, one [`Sighting`] per RPI.

use std::collections::BTreeMap;

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

/// The per-RPI state the log keeps. The RPI itself is the map key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SightingStats {
    first_seen: u64,
    last_seen: u64,
    rssi_sum: i64,
    scans: u32,
    aem: AssociatedEncryptedMetadata,
    rssi_min: i8,
    rssi_max: i8,
}

impl SightingStats {
    fn sighting(&self, rpi: RollingProximityId) -> Sighting {
        let mean = self.rssi_sum.div_euclid(i64::from(self.scans.max(1)));
        Sighting {
            rpi,
            aem: self.aem,
            first_seen: UnixTime(self.first_seen),
            last_seen: UnixTime(self.last_seen),
            scans: self.scans,
            rssi_min: self.rssi_min,
            rssi_max: self.rssi_max,
            // The mean of i8 values is an i8; the clamp only guards the arithmetic.
            rssi_mean: mean.clamp(i64::from(i8::MIN), i64::from(i8::MAX)) as i8,
        }
    }
}

/// Bytes of payload one sighting takes in a [`SightingLog`]: the 16-byte RPI key and 40 bytes
/// of state. The B-tree around them adds about 40% at its usual fill, so 30,000 sightings
/// (a busy fortnight) take about 2.4 MB.
pub const SIGHTING_PAYLOAD_BYTES: usize =
    core::mem::size_of::<RollingProximityId>() + core::mem::size_of::<SightingStats>();

/// What the phone heard over the last 14 days: one [`Sighting`] per RPI.
///
/// Keyed by RPI in a B-tree, so iteration order is deterministic (by RPI) and lookups stay
/// O(log n) whatever RPIs an attacker chooses to broadcast. Bounded by a capacity; once full,
/// advertisements of new RPIs are dropped (and counted) until [`purge`](Self::purge) frees
/// room, while known RPIs still update.
#[derive(Clone, Debug)]
pub struct SightingLog {
    entries: BTreeMap<RollingProximityId, SightingStats>,
    capacity: usize,
    dropped: u64,
}

impl Default for SightingLog {
    fn default() -> Self {
        SightingLog::with_capacity(DEFAULT_SIGHTING_CAPACITY)
    }
}

impl SightingLog {
    /// An empty log that holds at most `capacity` sightings.
    pub fn with_capacity(capacity: usize) -> SightingLog {
        SightingLog {
            entries: BTreeMap::new(),
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
        if let Some(stats) = self.entries.get_mut(&advertisement.rpi) {
            stats.first_seen = stats.first_seen.min(now.0);
            stats.last_seen = stats.last_seen.max(now.0);
            if stats.scans < u32::MAX {
                stats.scans += 1;
                stats.rssi_sum += i64::from(rssi_dbm);
            }
            stats.rssi_min = stats.rssi_min.min(rssi_dbm);
            stats.rssi_max = stats.rssi_max.max(rssi_dbm);
            return SightingUpdate::Updated;
        }
        if self.entries.len() >= self.capacity {
            self.dropped += 1;
            return SightingUpdate::Dropped;
        }
        self.entries.insert(
            advertisement.rpi,
            SightingStats {
                first_seen: now.0,
                last_seen: now.0,
                rssi_sum: i64::from(rssi_dbm),
                scans: 1,
                aem: advertisement.aem,
                rssi_min: rssi_dbm,
                rssi_max: rssi_dbm,
            },
        );
        SightingUpdate::New
    }

    /// Erase every sighting last seen 14 days or more before `now`; returns how many.
    pub fn purge(&mut self, now: UnixTime) -> usize {
        let before = self.entries.len();
        let cutoff = now.0.saturating_sub(RETENTION_SECONDS);
        self.entries.retain(|_, s| s.last_seen > cutoff);
        before - self.entries.len()
    }

    /// The sighting of `rpi`, if it was heard.
    pub fn get(&self, rpi: &RollingProximityId) -> Option<Sighting> {
        self.entries.get(rpi).map(|s| s.sighting(*rpi))
    }

    /// Every sighting, in RPI order.
    pub fn iter(&self) -> impl Iterator<Item = Sighting> + '_ {
        self.entries.iter().map(|(rpi, s)| s.sighting(*rpi))
    }

    /// Number of sightings held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most sightings this log holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Advertisements of new RPIs dropped because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
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
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (rpi, s) in &self.entries {
            out.extend_from_slice(&rpi.0);
            out.extend_from_slice(&s.aem.0);
            out.extend_from_slice(&s.first_seen.to_le_bytes());
            out.extend_from_slice(&s.last_seen.to_le_bytes());
            out.extend_from_slice(&s.scans.to_le_bytes());
            out.push(s.rssi_min as u8);
            out.push(s.rssi_max as u8);
            out.extend_from_slice(&s.rssi_sum.to_le_bytes());
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
        let mut entries = BTreeMap::new();
        let mut previous: Option<RollingProximityId> = None;
        for _ in 0..count {
            let rpi = RollingProximityId(r.array()?);
            let stats = SightingStats {
                aem: AssociatedEncryptedMetadata(r.array()?),
                first_seen: r.u64()?,
                last_seen: r.u64()?,
                scans: r.u32()?,
                rssi_min: r.i8()?,
                rssi_max: r.i8()?,
                rssi_sum: i64::from_le_bytes(r.array()?),
            };
            if previous.is_some_and(|p| p >= rpi) {
                return Err(invalid("state.sighting.rpi", "strictly ascending"));
            }
            previous = Some(rpi);
            if stats.scans == 0 {
                return Err(invalid("state.sighting.scans", "must be at least 1"));
            }
            if stats.first_seen > stats.last_seen {
                return Err(invalid(
                    "state.sighting.last_seen",
                    "must not be before first_seen",
                ));
            }
            let scans = i64::from(stats.scans);
            let (low, high) = (
                scans * i64::from(stats.rssi_min),
                scans * i64::from(stats.rssi_max),
            );
            if stats.rssi_min > stats.rssi_max || stats.rssi_sum < low || stats.rssi_sum > high {
                return Err(invalid(
                    "state.sighting.rssi_sum",
                    "between scans × rssi_min and scans × rssi_max",
                ));
            }
            entries.insert(rpi, stats);
        }
        Ok(SightingLog {
            entries,
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

    #[test]
    fn documented_memory_per_sighting() {
        assert_eq!(SIGHTING_PAYLOAD_BYTES, 56);
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
