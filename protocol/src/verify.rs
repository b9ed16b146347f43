//! Server-side verification of F1 reports (seed step 6, "the System checks the history it
//! received automatically"): the second, exact stage of matching.
//!
//! The server keeps two things, both pure data structures here so that the reference server
//! and the simulator share them:
//! - a [`PublicationIndex`]: every RPI it published, with its case, interval, the publication
//!   time of the batch that carried it, and the AEMK of its daily key (to read the sender's
//!   transmit power);
//! - a [`ContactHistoryStore`]: the F0s' contact histories as keyed hashes of the RPIs they
//!   heard (HMAC-SHA256 under a server secret), each kept 14 days.
//!
//! [`verify_report`] turns a report into the rows of the F1 table, or refuses it.

use core::fmt;
use core::hash::{BuildHasher, Hasher};
use std::collections::{BTreeMap, HashMap};

use ring::hmac;

use crate::batch::MATCH_TOLERANCE_SECONDS;
use crate::keys::{AemKey, Metadata, RollingProximityId, derive_aem_key};
use crate::report::{F1Report, ReportId, SealedContactDetails};
use crate::risk::{RiskRule, attenuation_db};
use crate::sighting::Sighting;
use crate::time::INTERVAL_SECONDS;
use crate::time::{
    INTERVALS_PER_DAY, IntervalNumber, RETENTION_INTERVALS, RETENTION_SECONDS, UnixTime,
};
use crate::upload::{CaseId, F0Upload, PublishedEntry, UploadedKey};

/// Most daily keys a [`PublicationIndex`] holds (2^24: 2.4 billion RPIs).
pub const MAX_INDEXED_KEYS: usize = 1 << 24;

/// How much longer than its interval one RPI may be heard, in seconds: a phone changes its RPI
/// at the interval boundary by its own clock (SPEC.md §5), and this covers an operating system
/// that makes the change late and the length of a scan. A sighting of one RPI spans at most
/// `INTERVAL_SECONDS + ROTATION_TOLERANCE_SECONDS` = 660 seconds (SPEC.md §10.4).
pub const ROTATION_TOLERANCE_SECONDS: u64 = 60;

/// Most one-sided rows one published RPI may back (SPEC.md §10.4): a relay that captured one
/// beacon mints at most this many F1 rows with it.
pub const MAX_ONE_SIDED_ROWS_PER_RPI: u32 = 4;

/// Most one-sided rows one case may have (SPEC.md §10.4), however many of its beacons were
/// captured.
pub const MAX_ONE_SIDED_ROWS_PER_CASE: u32 = 64;

/// Why a report, or one sighting of it, does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A report id seen before.
    DuplicateReport(ReportId),
    /// An RPI no published case holds (a filter false positive, or a forgery).
    UnpublishedRpi(RollingProximityId),
    /// A sighting more than two hours away from the interval of its RPI.
    OutsideTolerance {
        /// The RPI.
        rpi: RollingProximityId,
        /// Its interval.
        interval: IntervalNumber,
    },
    /// A sighting first seen after the batch holding its RPI was published: a replay.
    SeenAfterPublication(RollingProximityId),
    /// An AEM that does not decrypt to valid metadata under the F0's key: not what the F0 sent.
    BadMetadata(RollingProximityId),
    /// The verified sightings of a case, rescored with the true transmit power, stay under the
    /// risk rule's threshold.
    BelowRiskThreshold(CaseId),
    /// The index is full ([`MAX_INDEXED_KEYS`]).
    IndexFull,
    /// A sighting that claims more than its RPI allows: a span longer than the RPI is
    /// broadcast ([`ROTATION_TOLERANCE_SECONDS`]), or more scans than its span holds.
    ImplausibleSighting(RollingProximityId),
    /// A sighting an earlier accepted report already claimed.
    ClaimedBefore(RollingProximityId),
    /// A one-sided row the case, or one of its RPIs, has no room for
    /// ([`MAX_ONE_SIDED_ROWS_PER_CASE`], [`MAX_ONE_SIDED_ROWS_PER_RPI`]).
    OneSidedLimit(CaseId),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::DuplicateReport(id) => write!(f, "report {id} was already received"),
            VerifyError::UnpublishedRpi(rpi) => write!(f, "RPI {rpi} was never published"),
            VerifyError::OutsideTolerance { rpi, interval } => write!(
                f,
                "sighting of {rpi} lies more than two hours from its interval {interval}"
            ),
            VerifyError::SeenAfterPublication(rpi) => {
                write!(f, "RPI {rpi} was first seen after it was published")
            }
            VerifyError::BadMetadata(rpi) => {
                write!(f, "the AEM heard with {rpi} is not the F0's")
            }
            VerifyError::BelowRiskThreshold(case) => {
                write!(
                    f,
                    "the contact with case {} is under the risk threshold",
                    case.0
                )
            }
            VerifyError::IndexFull => f.write_str("the publication index is full"),
            VerifyError::ImplausibleSighting(rpi) => write!(
                f,
                "sighting of {rpi} claims more time or scans than one RPI is broadcast for"
            ),
            VerifyError::ClaimedBefore(rpi) => {
                write!(f, "sighting of {rpi} was claimed by an earlier report")
            }
            VerifyError::OneSidedLimit(case) => write!(
                f,
                "case {} (or its RPI) has all the one-sided rows it may have",
                case.0
            ),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<VerifyError> for crate::Error {
    fn from(e: VerifyError) -> crate::Error {
        crate::Error::Verify(e)
    }
}

/// A keyed hash for RPIs in the publication index: RPIs come from keys an F0 chose, so the
/// table's bucket of an RPI must not be predictable without the server's secret. Two rounds
/// of 128-bit folded multiplication with secret words (the construction of foldhash and
/// wyhash); not a MAC, only a defence against crafted collisions.
#[derive(Clone, Copy, Debug)]
struct RpiHashBuilder([u64; 4]);

impl BuildHasher for RpiHashBuilder {
    type Hasher = RpiHasher;
    fn build_hasher(&self) -> RpiHasher {
        RpiHasher {
            keys: self.0,
            state: 0,
        }
    }
}

struct RpiHasher {
    keys: [u64; 4],
    state: u64,
}

fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for RpiHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(16) {
            let mut block = [0u8; 16];
            block[..chunk.len()].copy_from_slice(chunk);
            let lo = u64::from_le_bytes(block[..8].try_into().unwrap_or_default());
            let hi = u64::from_le_bytes(block[8..].try_into().unwrap_or_default());
            let first = fold(lo ^ self.keys[0] ^ self.state, hi ^ self.keys[1]);
            self.state = fold(first ^ self.keys[2], self.keys[3] ^ chunk.len() as u64);
        }
    }

    fn write_usize(&mut self, _: usize) {
        // Only fixed-size RPIs are hashed: the slice length prefix carries nothing.
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

/// One daily key whose RPIs were published.
#[derive(Clone, Copy, Debug)]
struct IndexedKey {
    aem_key: [u8; 16],
    case: CaseId,
    rolling_start: IntervalNumber,
    published_at: UnixTime,
}

/// What the index knows of one published RPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishedRpi {
    /// The case it belongs to.
    pub case: CaseId,
    /// The interval the F0 broadcast it in.
    pub interval: IntervalNumber,
    /// Creation time of the batch that published it.
    pub published_at: UnixTime,
    /// AEMK of its daily key, to read the F0's metadata.
    pub aem_key: [u8; 16],
}

/// Every RPI the server published, looked up in constant time.
///
/// Memory: each RPI takes a 16-byte key and a 4-byte reference (daily key number and interval
/// offset) in a hash table kept at most 7/8 full, so about 23 bytes; each daily key takes 40
/// bytes, shared by its up to 144 RPIs.
#[derive(Clone, Debug)]
pub struct PublicationIndex {
    keys: Vec<IndexedKey>,
    entries: HashMap<RollingProximityId, u32, RpiHashBuilder>,
}

impl PublicationIndex {
    /// An empty index whose hash table is keyed with `hash_key` (32 random bytes from the
    /// server's RNG).
    pub fn new(hash_key: [u8; 32]) -> PublicationIndex {
        let mut words = [0u64; 4];
        for (w, chunk) in words.iter_mut().zip(hash_key.chunks(8)) {
            *w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        }
        PublicationIndex {
            keys: Vec::new(),
            entries: HashMap::with_hasher(RpiHashBuilder(words)),
        }
    }

    /// Reserve room for `additional` more RPIs.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Publish an accepted upload of `case` in the batch created at `published_at`: index
    /// its published RPIs and return them, for the batch. An RPI already indexed keeps its
    /// first case.
    pub fn publish(
        &mut self,
        upload: &F0Upload,
        case: CaseId,
        published_at: UnixTime,
    ) -> Result<Vec<PublishedEntry>, VerifyError> {
        self.publish_keys(&upload.keys, case, published_at)
    }

    /// [`publish`](Self::publish) for the keys of an upload the server kept without its
    /// contact history (a server reloading its store).
    pub fn publish_keys(
        &mut self,
        keys: &[UploadedKey],
        case: CaseId,
        published_at: UnixTime,
    ) -> Result<Vec<PublishedEntry>, VerifyError> {
        if self.keys.len() + keys.len() > MAX_INDEXED_KEYS {
            return Err(VerifyError::IndexFull);
        }
        let published: usize = keys.iter().map(|k| k.published.len()).sum();
        let mut entries = Vec::with_capacity(published);
        for uploaded in keys {
            if uploaded.published.is_empty() {
                continue;
            }
            let key_number = self.keys.len() as u32;
            self.keys.push(IndexedKey {
                aem_key: derive_aem_key(uploaded.key.key_bytes()),
                case,
                rolling_start: uploaded.key.rolling_start(),
                published_at,
            });
            let rpis = uploaded.key.expand();
            for offset in uploaded.published.iter() {
                let interval = uploaded.key.rolling_start().plus(offset);
                let rpi = rpis[offset as usize];
                self.entries
                    .entry(rpi)
                    .or_insert((key_number << 8) | offset);
                entries.push(PublishedEntry {
                    rpi,
                    case,
                    interval,
                });
            }
        }
        Ok(entries)
    }

    /// What the index knows of `rpi`, if it was published.
    pub fn lookup(&self, rpi: &RollingProximityId) -> Option<PublishedRpi> {
        let reference = *self.entries.get(rpi)?;
        let key = self.keys.get((reference >> 8) as usize)?;
        Some(PublishedRpi {
            case: key.case,
            interval: key.rolling_start.plus(reference & 0xff),
            published_at: key.published_at,
            aem_key: key.aem_key,
        })
    }

    /// Drop the RPIs of intervals older than 14 days before `now`: no phone keeps a sighting
    /// that could match them. Returns how many were dropped.
    pub fn expire(&mut self, now: UnixTime) -> usize {
        let oldest = now
            .interval()
            .minus(RETENTION_INTERVALS + INTERVALS_PER_DAY);
        let before = self.entries.len();
        let keys = &self.keys;
        self.entries.retain(|_, reference| {
            keys[(*reference >> 8) as usize]
                .rolling_start
                .plus(*reference & 0xff)
                >= oldest
        });
        before - self.entries.len()
    }

    /// Number of RPIs indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no RPI is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Approximate heap bytes held: the hash table (16-byte RPI, 4-byte reference and one
    /// control byte per slot) and the key table.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * (16 + 4 + 1) + self.keys.capacity() * size_of::<IndexedKey>()
    }
}

/// The F0s' contact histories, as keyed hashes only.
///
/// For each case, the HMAC-SHA256 (under a server secret, truncated to 16 bytes) of every RPI
/// the F0's phone heard, with the time it was last heard. A hash is erased 14 days after that
/// time. Without the secret the stored hashes tell nothing; with it they answer one question:
/// did this F0 hear this RPI?
pub struct ContactHistoryStore {
    secret: hmac::Key,
    cases: BTreeMap<CaseId, BTreeMap<[u8; 16], UnixTime>>,
}

impl fmt::Debug for ContactHistoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContactHistoryStore")
            .field("cases", &self.cases.len())
            .finish_non_exhaustive()
    }
}

impl ContactHistoryStore {
    /// An empty store whose hashes are keyed with `secret`.
    pub fn new(secret: &[u8; 32]) -> ContactHistoryStore {
        ContactHistoryStore {
            secret: hmac::Key::new(hmac::HMAC_SHA256, secret),
            cases: BTreeMap::new(),
        }
    }

    /// HMAC-SHA256(secret, RPI), truncated to 16 bytes.
    pub fn keyed_hash(&self, rpi: &RollingProximityId) -> [u8; 16] {
        let tag = hmac::sign(&self.secret, &rpi.0);
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        out
    }

    /// Keep the contact history of `case`, hashed. Sightings already older than 14 days are
    /// not kept.
    pub fn store(&mut self, case: CaseId, history: &[Sighting], now: UnixTime) {
        let oldest = now.minus_seconds(RETENTION_SECONDS);
        let hashes: Vec<([u8; 16], UnixTime)> = history
            .iter()
            .filter(|s| s.last_seen > oldest)
            .map(|s| (self.keyed_hash(&s.rpi), s.last_seen))
            .collect();
        self.store_hashes(case, hashes);
    }

    /// Keep already hashed entries of `case` (a server reloading its store).
    pub fn store_hashes(
        &mut self,
        case: CaseId,
        hashes: impl IntoIterator<Item = ([u8; 16], UnixTime)>,
    ) {
        let entry = self.cases.entry(case).or_default();
        for (hash, last_seen) in hashes {
            let kept = entry.entry(hash).or_insert(last_seen);
            *kept = (*kept).max(last_seen);
        }
    }

    /// Whether the F0 of `case` heard `rpi`.
    pub fn heard(&self, case: CaseId, rpi: &RollingProximityId) -> bool {
        self.cases
            .get(&case)
            .is_some_and(|hashes| hashes.contains_key(&self.keyed_hash(rpi)))
    }

    /// Erase every hash whose sighting was last seen 14 days or more before `now`.
    pub fn purge(&mut self, now: UnixTime) -> usize {
        let cutoff = now.minus_seconds(RETENTION_SECONDS);
        let mut removed = 0;
        for hashes in self.cases.values_mut() {
            let before = hashes.len();
            hashes.retain(|_, last_seen| *last_seen > cutoff);
            removed += before - hashes.len();
        }
        self.cases.retain(|_, hashes| !hashes.is_empty());
        removed
    }

    /// Number of hashes held.
    pub fn len(&self) -> usize {
        self.cases.values().map(BTreeMap::len).sum()
    }

    /// Whether no hash is held.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }
}

/// What the server remembers of earlier accepted reports, for the rules that keep one captured
/// beacon from minting rows (SPEC.md §10.4, rules 5 and 6).
pub trait ClaimLedger {
    /// Whether an accepted report already claimed exactly this sighting (see [`claim_id`]).
    fn claimed(&self, sighting: &Sighting) -> bool;
    /// How many one-sided rows the published RPI `rpi` already backs.
    fn one_sided_rows_of_rpi(&self, rpi: &RollingProximityId) -> u32;
    /// How many one-sided rows `case` already has.
    fn one_sided_rows_of_case(&self, case: CaseId) -> u32;
}

/// A [`ClaimLedger`] with nothing in it: the first report a server sees, or a benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoClaims;

impl ClaimLedger for NoClaims {
    fn claimed(&self, _: &Sighting) -> bool {
        false
    }
    fn one_sided_rows_of_rpi(&self, _: &RollingProximityId) -> u32 {
        0
    }
    fn one_sided_rows_of_case(&self, _: CaseId) -> u32 {
        0
    }
}

/// The identity of a claimed sighting: SHA-256 of its 44-byte record (SPEC.md §11.3). Two
/// reports claim the same sighting when their records are the same bytes.
pub fn claim_id(sighting: &Sighting) -> [u8; 32] {
    let mut record = Vec::with_capacity(crate::sighting::SIGHTING_RECORD_LEN);
    sighting.write_record(&mut record);
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &record).as_ref());
    out
}

/// Whether the contact was heard from both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Confirmation {
    /// The F0's contact history holds one of the F1's own RPIs for the intervals of the
    /// contact: each phone heard the other.
    ConfirmedBothWays,
    /// Only the F1 heard the F0. A relayed or replayed beacon can only ever be this.
    OneSided,
}

/// A row of the F1 table of one case (seed step 6): "No. | F1 ID | phone number | time of
/// contact with F0", the phone number still sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct F1Row {
    /// The report the row comes from (the F1 ID of the table).
    pub report_id: ReportId,
    /// The F0 case.
    pub case: CaseId,
    /// The F1's district, which picks the unit that follows up (seed step 7).
    pub district: u32,
    /// First contact: earliest first scan of the case's verified sightings.
    pub first_contact: UnixTime,
    /// Last contact: latest scan.
    pub last_contact: UnixTime,
    /// Time near the F0 by the risk rule's count (scans × scan period, bounded by spans).
    pub duration_seconds: u64,
    /// Smallest exact attenuation over the sightings, dB (with the F0's true transmit power).
    pub min_attenuation_db: i16,
    /// Exact weighted exposure, minutes.
    pub weighted_minutes: u64,
    /// Heard from both sides, or one.
    pub confirmation: Confirmation,
    /// The F1's contact details, sealed to the unit.
    pub contact: SealedContactDetails,
    /// The verified sightings the row rests on, which the server remembers as claimed.
    pub sightings: Vec<Sighting>,
}

/// The outcome of a report that verified: its rows (one per F0 case it met) and the
/// sightings that did not verify (filter false positives, mostly), with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportVerification {
    /// One row per case.
    pub rows: Vec<F1Row>,
    /// Sightings or cases that did not verify.
    pub rejected: Vec<VerifyError>,
}

#[derive(Default)]
struct CaseContact {
    first: Option<UnixTime>,
    last: UnixTime,
    exposure_seconds: u64,
    weighted: u64,
    min_attenuation: i16,
    intervals: Vec<(IntervalNumber, IntervalNumber)>,
    sightings: Vec<Sighting>,
}

/// Verify an F1 report (seed step 6).
///
/// For each sighting: its RPI must be published (`index`), the sighting must lie within two
/// hours of the RPI's interval, it must have been first seen before the batch holding the RPI
/// was published, its AEM must decrypt under the F0's key to valid metadata, whose transmit
/// power rescores the attenuation exactly, it must claim no more time and scans than one RPI is
/// broadcast for, and no earlier report may have claimed it (`claims`). Verified sightings are
/// grouped by case; each case whose exact weighted exposure passes `rule` gives a row,
/// `ConfirmedBothWays` when the F0's contact history (`history`) holds one of the reporter's
/// own RPIs of the contact's intervals. A one-sided row is refused when its case already has
/// [`MAX_ONE_SIDED_ROWS_PER_CASE`], or one of its RPIs already backs
/// [`MAX_ONE_SIDED_ROWS_PER_RPI`], one-sided rows.
///
/// `is_duplicate` tells whether the report id was seen before (the server's store). A report
/// with at least one row verifies, listing what did not; one with none is refused with the
/// first reason.
pub fn verify_report(
    report: &F1Report,
    index: &PublicationIndex,
    history: &ContactHistoryStore,
    rule: &RiskRule,
    claims: &dyn ClaimLedger,
    is_duplicate: impl FnOnce(&ReportId) -> bool,
) -> Result<ReportVerification, VerifyError> {
    if is_duplicate(&report.report_id) {
        return Err(VerifyError::DuplicateReport(report.report_id));
    }
    let mut rejected = Vec::new();
    let mut cases: BTreeMap<CaseId, CaseContact> = BTreeMap::new();
    for s in &report.sightings {
        match verify_sighting(s, index, rule, claims) {
            Ok((published, tx_power)) => {
                let c = cases.entry(published.case).or_default();
                let attenuation = attenuation_db(tx_power, s.rssi_mean, report.rssi_correction_db);
                c.first = Some(c.first.map_or(s.first_seen, |f| f.min(s.first_seen)));
                c.last = c.last.max(s.last_seen);
                c.exposure_seconds += rule.exposure_seconds(s);
                c.weighted += rule.weighted_exposure(s, tx_power, report.rssi_correction_db);
                c.min_attenuation = if c.intervals.is_empty() {
                    attenuation
                } else {
                    c.min_attenuation.min(attenuation)
                };
                c.intervals
                    .push((s.first_seen.interval(), s.last_seen.interval()));
                c.sightings.push(*s);
            }
            Err(e) => rejected.push(e),
        }
    }
    let mut rows = Vec::new();
    for (case, contact) in cases {
        if !rule.passes(contact.weighted) {
            rejected.push(VerifyError::BelowRiskThreshold(case));
            continue;
        }
        let mutual = report.own_rpis.iter().any(|own| {
            contact
                .intervals
                .iter()
                .any(|&(from, to)| from <= own.interval && own.interval <= to)
                && history.heard(case, &own.rpi)
        });
        let one_sided_full = claims.one_sided_rows_of_case(case) >= MAX_ONE_SIDED_ROWS_PER_CASE
            || contact
                .sightings
                .iter()
                .any(|s| claims.one_sided_rows_of_rpi(&s.rpi) >= MAX_ONE_SIDED_ROWS_PER_RPI);
        if !mutual && one_sided_full {
            rejected.push(VerifyError::OneSidedLimit(case));
            continue;
        }
        let first_contact = contact.first.unwrap_or_default();
        rows.push(F1Row {
            report_id: report.report_id,
            case,
            district: report.district,
            first_contact,
            last_contact: contact.last,
            duration_seconds: contact.exposure_seconds,
            min_attenuation_db: contact.min_attenuation,
            weighted_minutes: contact.weighted / (60 * 100),
            confirmation: if mutual {
                Confirmation::ConfirmedBothWays
            } else {
                Confirmation::OneSided
            },
            contact: report.contact.clone(),
            sightings: contact.sightings,
        });
    }
    if rows.is_empty() {
        return Err(rejected
            .into_iter()
            .next()
            .unwrap_or(VerifyError::UnpublishedRpi(RollingProximityId::default())));
    }
    Ok(ReportVerification { rows, rejected })
}

/// The checks of one sighting; its publication record and the F0's transmit power.
fn verify_sighting(
    s: &Sighting,
    index: &PublicationIndex,
    rule: &RiskRule,
    claims: &dyn ClaimLedger,
) -> Result<(PublishedRpi, i8), VerifyError> {
    let published = index
        .lookup(&s.rpi)
        .ok_or(VerifyError::UnpublishedRpi(s.rpi))?;
    let earliest = published
        .interval
        .start()
        .minus_seconds(MATCH_TOLERANCE_SECONDS);
    let latest = published
        .interval
        .end()
        .plus_seconds(MATCH_TOLERANCE_SECONDS);
    if s.first_seen < earliest || s.last_seen >= latest {
        return Err(VerifyError::OutsideTolerance {
            rpi: s.rpi,
            interval: published.interval,
        });
    }
    if s.first_seen >= published.published_at {
        return Err(VerifyError::SeenAfterPublication(s.rpi));
    }
    let metadata = AemKey::from_key_bytes(published.aem_key).decrypt(&s.rpi, &s.aem);
    let metadata = Metadata::parse(&metadata).map_err(|_| VerifyError::BadMetadata(s.rpi))?;
    if !plausible(s, rule) {
        return Err(VerifyError::ImplausibleSighting(s.rpi));
    }
    if claims.claimed(s) {
        return Err(VerifyError::ClaimedBefore(s.rpi));
    }
    Ok((published, metadata.tx_power_dbm))
}

/// Whether a sighting of one RPI claims no more than that RPI allows (SPEC.md §10.4, rule 5):
/// a span of at most [`INTERVAL_SECONDS`] + [`ROTATION_TOLERANCE_SECONDS`], and at most
/// `ceil(span / scan_period) + 1` scans.
pub fn plausible(s: &Sighting, rule: &RiskRule) -> bool {
    let span = s.duration_seconds();
    let period = u64::from(rule.scan_period_seconds.max(1));
    span <= INTERVAL_SECONDS + ROTATION_TOLERANCE_SECONDS
        && u64::from(s.scans) <= span.div_ceil(period) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AssociatedEncryptedMetadata;

    fn sighting(span: u64, scans: u32) -> Sighting {
        Sighting {
            rpi: RollingProximityId([1; 16]),
            aem: AssociatedEncryptedMetadata([0; 4]),
            first_seen: UnixTime(6_000),
            last_seen: UnixTime(6_000 + span),
            scans,
            rssi_min: -70,
            rssi_max: -70,
            rssi_mean: -70,
        }
    }

    #[test]
    fn a_sighting_claims_at_most_one_broadcast_and_the_scans_its_span_holds() {
        let rule = RiskRule::default();
        assert!(plausible(&sighting(660, 4), &rule));
        assert!(!plausible(&sighting(661, 1), &rule));
        assert!(!plausible(&sighting(660, 5), &rule));
        assert!(plausible(&sighting(0, 1), &rule));
        assert!(!plausible(&sighting(0, 2), &rule));
        assert!(plausible(&sighting(301, 3), &rule));
        assert!(!plausible(&sighting(300, 3), &rule));
        // The claim: four hours and fifty scans of one beacon.
        assert!(!plausible(&sighting(14_000, 50), &rule));
        // With the defaults, one sighting stands for at most 960 seconds.
        assert_eq!(rule.exposure_seconds(&sighting(660, 4)), 960);
    }

    #[test]
    fn claim_ids_differ_with_any_byte_of_the_record() {
        let a = sighting(300, 2);
        let mut b = a;
        b.rssi_max = -69;
        assert_eq!(claim_id(&a), claim_id(&a));
        assert_ne!(claim_id(&a), claim_id(&b));
    }
}
