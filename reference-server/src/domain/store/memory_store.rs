//! A [`Store`] in memory: the same records and the same rules as [`super::SledStore`], kept in
//! ordered maps (the claims in a sorted array and a small map, see `Claims`) behind one mutex
//! and lost when the process ends.
//!
//! For the population simulator, which drives the [`crate::Workflow`] on a virtual clock, and
//! for tests. A [`MemoryStore`] is a cheap handle: clones share the same records, so a caller
//! can keep one after giving another to the workflow and look at what was stored
//! ([`MemoryStore::report`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ring::digest;
use serde::Serialize;

use super::{
    Account, AuditEntry, AuditFilter, BatchRecord, CaseRecord, CaseScan, CaseStatus, ClaimRecord,
    CodeRecord, CodeRefusal, ContactHash, F1RowRecord, FollowUp, ReportRecord, Retention, Seconds,
    SessionRecord, Store, StoreCounts, StoreError, StoredKey, UnitRecord, UploadRecord, check_run,
    claim_retained, contact_retained, key_retained, published_cases,
};

#[derive(Default)]
struct Inner {
    secrets: BTreeMap<String, [u8; 32]>,
    next_case_id: u64,
    next_batch_id: u64,
    accounts: BTreeMap<String, Account>,
    units: BTreeMap<String, UnitRecord>,
    sessions: BTreeMap<[u8; 32], SessionRecord>,
    cases: BTreeMap<u64, CaseRecord>,
    codes: BTreeMap<[u8; 32], CodeRecord>,
    upload_digests: BTreeMap<[u8; 32], ([u8; 32], u64)>,
    uploads: BTreeMap<u64, UploadRecord>,
    contacts: BTreeMap<u64, Vec<ContactHash>>,
    batches: BTreeMap<u64, BatchRecord>,
    reports: BTreeMap<[u8; 16], ReportRecord>,
    claims: Claims,
    f1_rows: BTreeMap<(u64, u32), F1RowRecord>,
    f1_by_district: BTreeMap<(u32, u64, u32), ()>,
    audit: Vec<AuditEntry>,
}

/// A [`ClaimRecord`] less its key (RPI, claim id), which the claims map holds already: 24
/// bytes a claim besides the key instead of 72, which the simulator feels at national scale.
#[derive(Clone, Copy)]
struct Claim {
    case_id: u64,
    one_sided: bool,
    received_at: Seconds,
}

impl Claim {
    fn of(claim: &ClaimRecord) -> Claim {
        Claim {
            case_id: claim.case_id,
            one_sided: claim.one_sided,
            received_at: claim.received_at,
        }
    }

    /// The whole record again, with its key.
    fn record(self, (rpi, claim_id): &([u8; 16], [u8; 32])) -> ClaimRecord {
        ClaimRecord {
            rpi: *rpi,
            claim_id: *claim_id,
            case_id: self.case_id,
            one_sided: self.one_sided,
            received_at: self.received_at,
        }
    }
}

/// A claim's key: (RPI, claim id).
type ClaimKey = ([u8; 16], [u8; 32]);

/// The claims, in key order: most in one sorted array (72 bytes a claim), the newest in a
/// small ordered map that is merged into the array once it holds more than an eighth of it,
/// and a filter of their RPIs (1.5 to 6 bytes a claim). A `BTreeMap` of every claim took about
/// 105 bytes a claim (its nodes are about 70% full), and claims are the store's largest table at
/// national scale: one per verified sighting, kept 14 days.
#[derive(Clone, Default)]
struct Claims {
    settled: Vec<(ClaimKey, Claim)>,
    recent: BTreeMap<ClaimKey, Claim>,
    /// The RPIs that have claims, so that a lookup of an RPI without any (most of them: a
    /// report's sightings are mostly claimed for the first time) reads one cache line instead
    /// of searching both parts.
    rpis: RpiFilter,
}

/// A blocked Bloom filter (Putze, Sanders and Singler, "Cache-, hash- and space-efficient
/// Bloom filters", 2007) of RPIs: each RPI sets 6 bits in one 512-bit block, so a query reads
/// one cache line. It never answers no for an RPI it was given; for one it was not given it
/// answers yes about 1% of the time at 12 bits an insertion, its fullest (about 2 MB for a
/// million), and the caller then searches as it would without it. It is built again, for twice
/// the claims there are, when it is full, and forgets then the RPIs whose claims were purged.
/// RPIs are AES outputs, so their bytes serve as the hash: the first 8 pick the block, the last
/// 8 the bits. RPIs chosen to share blocks (a key grinder's) only make the filter answer yes
/// more often.
#[derive(Clone, Default)]
struct RpiFilter {
    /// The blocks, 8 words each: empty until the first insertion.
    words: Vec<u64>,
    /// Insertions since the filter was last built (an RPI inserted twice counts twice).
    inserted: usize,
}

impl RpiFilter {
    /// Bits an insertion gets at the filter's fullest.
    const BITS_PER_RPI: usize = 12;

    /// An empty filter with room for at least `rpis` insertions before it is full.
    fn with_room(rpis: usize) -> Self {
        let blocks = (rpis.max(1) * Self::BITS_PER_RPI)
            .div_ceil(512)
            .next_power_of_two();
        RpiFilter {
            words: vec![0; 8 * blocks],
            inserted: 0,
        }
    }

    /// Whether the filter holds as many RPIs as it has room for.
    fn is_full(&self) -> bool {
        self.inserted * Self::BITS_PER_RPI >= 64 * self.words.len()
    }

    /// The index of `rpi`'s block's first word, and its 6 bits as (word offset, mask).
    fn bits(&self, rpi: &[u8; 16]) -> (usize, [(usize, u64); 6]) {
        let word = |i: usize| u64::from_le_bytes(rpi[i..i + 8].try_into().expect("8 bytes"));
        let blocks = (self.words.len() / 8) as u128;
        let block = ((u128::from(word(0)) * blocks) >> 64) as usize;
        let h = word(8);
        let bits = std::array::from_fn(|i| {
            let bit = (h >> (9 * i)) & 511;
            ((bit >> 6) as usize, 1u64 << (bit & 63))
        });
        (8 * block, bits)
    }

    fn insert(&mut self, rpi: &[u8; 16]) {
        let (at, bits) = self.bits(rpi);
        for (w, mask) in bits {
            self.words[at + w] |= mask;
        }
        self.inserted += 1;
    }

    /// False only if no claim has `rpi`.
    fn may_contain(&self, rpi: &[u8; 16]) -> bool {
        if self.words.is_empty() {
            return false;
        }
        let (at, bits) = self.bits(rpi);
        bits.iter().all(|&(w, mask)| self.words[at + w] & mask != 0)
    }
}

impl Claims {
    /// Most claims `recent` holds before it is merged: an eighth of `settled`, at least 1,024.
    fn recent_limit(settled: usize) -> usize {
        (settled / 8).max(1024)
    }

    fn len(&self) -> usize {
        self.settled.len() + self.recent.len()
    }

    fn contains_key(&self, key: &ClaimKey) -> bool {
        if !self.rpis.may_contain(&key.0) {
            return false;
        }
        if self.recent.contains_key(key) {
            return true;
        }
        // The claims of the key's RPI, then the key among them by bisection: a popular RPI
        // may have many claims.
        let run = &self.settled[self.first_of_rpi(&key.0)..];
        let run = &run[..run.partition_point(|(k, _)| k.0 == key.0)];
        run.binary_search_by(|(k, _)| k.cmp(key)).is_ok()
    }

    /// Index in `settled` of the first claim whose RPI is not below `rpi` (what
    /// `partition_point` gives), by interpolation on the RPIs' first 8 bytes: RPIs are AES
    /// outputs, uniform, so each round's guess lands within about √m of the answer in a range
    /// of m claims, and a second probe that far on usually brings the range down to about √m:
    /// a few rounds, then a binary search in what is left, where a binary search of the whole
    /// array reads log₂ n claims (23 at 10 million, each a cache miss at national scale). On
    /// keys that are not uniform it stops after 6 rounds and searches the rest in halves:
    /// never more than 12 reads more than a binary search.
    fn first_of_rpi(&self, rpi: &[u8; 16]) -> usize {
        let s = &self.settled;
        let prefix = |r: &[u8; 16]| u64::from_be_bytes(r[..8].try_into().expect("8 bytes"));
        let below = |i: usize| s[i].0.0 < *rpi;
        let target = prefix(rpi);
        // Invariant: every claim before `lo` is below `rpi`, none from `hi` on.
        let (mut lo, mut hi) = (0, s.len());
        for _ in 0..6 {
            if hi - lo <= 16 {
                break;
            }
            let (a, b) = (prefix(&s[lo].0.0), prefix(&s[hi - 1].0.0));
            if b <= a {
                break;
            }
            let t = target.clamp(a, b) - a;
            let span = (hi - 1 - lo) as u128;
            let guess = lo + (u128::from(t) * span / u128::from(b - a)) as usize;
            let step = (hi - lo).isqrt();
            if below(guess) {
                lo = guess + 1;
                let far = (guess + step).min(hi - 1);
                if far >= lo {
                    if below(far) {
                        lo = far + 1;
                    } else {
                        hi = far;
                    }
                }
            } else {
                hi = guess;
                let far = guess.saturating_sub(step).max(lo);
                if far < hi {
                    if below(far) {
                        lo = far + 1;
                    } else {
                        hi = far;
                    }
                }
            }
        }
        lo + s[lo..hi].partition_point(|(k, _)| k.0 < *rpi)
    }

    /// Adds a claim whose key is not there yet (the caller checked [`Claims::contains_key`]).
    fn insert(&mut self, key: ClaimKey, claim: Claim) {
        if self.rpis.words.is_empty() || self.rpis.is_full() {
            // Built again for twice the claims: each claim is added again a bounded number of
            // times on average.
            self.rebuild_rpis(2 * (self.len() + 1));
        }
        self.rpis.insert(&key.0);
        self.recent.insert(key, claim);
        if self.recent.len() > Self::recent_limit(self.settled.len()) {
            self.settle();
        }
    }

    /// Merges `recent` into `settled`, in place from the back, growing `settled` by exactly
    /// what it needs.
    fn settle(&mut self) {
        let recent = std::mem::take(&mut self.recent);
        let mut i = self.settled.len();
        self.settled.reserve_exact(recent.len());
        self.settled.extend(recent.iter().map(|(k, c)| (*k, *c)));
        let mut k = self.settled.len();
        for (key, claim) in recent.iter().rev() {
            while i > 0 && self.settled[i - 1].0 > *key {
                k -= 1;
                i -= 1;
                self.settled[k] = self.settled[i];
            }
            k -= 1;
            self.settled[k] = (*key, *claim);
        }
    }

    /// The claims of `rpi`, in key order.
    fn of_rpi(&self, rpi: &[u8; 16]) -> Vec<ClaimRecord> {
        if !self.rpis.may_contain(rpi) {
            return Vec::new();
        }
        let from = self.first_of_rpi(rpi);
        let settled = self.settled[from..]
            .iter()
            .take_while(|(k, _)| k.0 == *rpi)
            .map(|(k, c)| (k, c));
        let recent = self.recent.range((*rpi, [0; 32])..=(*rpi, [0xff; 32]));
        merged(settled, recent).map(|(k, c)| c.record(k)).collect()
    }

    /// Keeps the claims `keep` is true of; the array gives its room back once it is more than
    /// half empty.
    fn retain(&mut self, mut keep: impl FnMut(&ClaimKey, &Claim) -> bool) {
        self.settled.retain(|(k, c)| keep(k, c));
        if self.settled.capacity() > 2 * self.settled.len() {
            self.settled.shrink_to_fit();
        }
        self.recent.retain(|k, c| keep(k, c));
        // The RPI filter keeps the RPIs of the claims let go, which only makes it answer yes
        // more often until it is next built (when it is full; every insertion counts towards
        // that): building it again here would read every claim that is left, every day.
    }

    /// Builds the RPI filter again over the claims there are, with room for `room` claims.
    fn rebuild_rpis(&mut self, room: usize) {
        let mut rpis = RpiFilter::with_room(room);
        for (key, _) in self.iter() {
            rpis.insert(&key.0);
        }
        self.rpis = rpis;
    }

    /// Every claim, in key order.
    fn iter(&self) -> impl Iterator<Item = (&ClaimKey, &Claim)> {
        merged(self.settled.iter().map(|(k, c)| (k, c)), self.recent.iter())
    }
}

/// Two iterators of distinct keys, each in key order, merged in key order.
fn merged<'a>(
    a: impl Iterator<Item = (&'a ClaimKey, &'a Claim)>,
    b: impl Iterator<Item = (&'a ClaimKey, &'a Claim)>,
) -> impl Iterator<Item = (&'a ClaimKey, &'a Claim)> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y.0 < x.0 => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

/// The in-memory store. See the module documentation.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The accepted report with this identifier: which (case, row) pairs it created.
    pub fn report(&self, report_id: &[u8; 16]) -> Option<ReportRecord> {
        self.lock().reports.get(report_id).cloned()
    }
}

fn hash_record<T: Serialize>(ctx: &mut digest::Context, key: &[u8], value: &T) {
    let bytes =
        bincode::serde::encode_to_vec(value, bincode::config::standard()).unwrap_or_default();
    ctx.update(&(key.len() as u64).to_le_bytes());
    ctx.update(key);
    ctx.update(&(bytes.len() as u64).to_le_bytes());
    ctx.update(&bytes);
}

impl Store for MemoryStore {
    fn secret(
        &self,
        name: &str,
        generate: &mut dyn FnMut() -> [u8; 32],
    ) -> Result<[u8; 32], StoreError> {
        let fresh = generate();
        Ok(*self.lock().secrets.entry(name.to_owned()).or_insert(fresh))
    }

    fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.accounts.contains_key(&account.username) {
            return Err(StoreError::AccountExists);
        }
        inner
            .accounts
            .insert(account.username.clone(), account.clone());
        Ok(())
    }

    fn update_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut inner = self.lock();
        match inner.accounts.get_mut(&account.username) {
            Some(existing) => {
                *existing = account.clone();
                Ok(())
            }
            None => Err(StoreError::NoSuchAccount),
        }
    }

    fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.lock().accounts.get(username).cloned())
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(self.lock().accounts.values().cloned().collect())
    }

    fn insert_unit(&self, unit: &UnitRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.units.contains_key(&unit.name) {
            return Err(StoreError::UnitExists);
        }
        inner.units.insert(unit.name.clone(), unit.clone());
        Ok(())
    }

    fn units(&self) -> Result<Vec<UnitRecord>, StoreError> {
        Ok(self.lock().units.values().cloned().collect())
    }

    fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.lock()
            .sessions
            .insert(session.token_hash, session.clone());
        Ok(())
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.lock().sessions.get(token_hash).cloned())
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.lock().sessions.remove(token_hash);
        Ok(())
    }

    fn delete_sessions_of(
        &self,
        username: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.sessions.len();
        inner
            .sessions
            .retain(|hash, s| s.username != username || Some(hash) == keep);
        Ok((before - inner.sessions.len()) as u64)
    }

    fn open_case(&self, case: &CaseRecord, code_hash: &[u8; 32]) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        if inner.codes.contains_key(code_hash) {
            return Err(StoreError::Backend("declaration code collision".into()));
        }
        inner.next_case_id = inner.next_case_id.max(1);
        let case_id = inner.next_case_id;
        inner.next_case_id += 1;
        inner.cases.insert(
            case_id,
            CaseRecord {
                case_id,
                ..case.clone()
            },
        );
        inner.codes.insert(
            *code_hash,
            CodeRecord {
                case_id,
                expires_at: case.code_expires_at,
                used_at: None,
            },
        );
        Ok(case_id)
    }

    fn reissue_code(
        &self,
        case_id: u64,
        code_hash: &[u8; 32],
        expires_at: Seconds,
    ) -> Result<CaseRecord, StoreError> {
        let mut inner = self.lock();
        let Some(case) = inner.cases.get(&case_id) else {
            return Err(StoreError::NoSuchCase(case_id));
        };
        let case = case.code_reissued(expires_at)?;
        if inner.codes.contains_key(code_hash) {
            return Err(StoreError::Backend("declaration code collision".into()));
        }
        inner.codes.retain(|_, code| code.case_id != case_id);
        inner.codes.insert(
            *code_hash,
            CodeRecord {
                case_id,
                expires_at,
                used_at: None,
            },
        );
        inner.cases.insert(case_id, case.clone());
        Ok(case)
    }

    fn case(&self, case_id: u64) -> Result<Option<CaseRecord>, StoreError> {
        Ok(self.lock().cases.get(&case_id).cloned())
    }

    fn cases(&self) -> Result<Vec<CaseRecord>, StoreError> {
        Ok(self.lock().cases.values().cloned().collect())
    }

    fn scan_cases(&self, scan: &CaseScan) -> Result<Vec<CaseRecord>, StoreError> {
        let inner = self.lock();
        let stretch = inner.cases.range(scan.range()).map(|(_, c)| c);
        let page = |cases: &mut dyn Iterator<Item = &CaseRecord>| {
            cases
                .filter(|c| scan.filter.admits(c))
                .take(scan.limit)
                .cloned()
                .collect()
        };
        Ok(if scan.ascending {
            page(&mut stretch.into_iter())
        } else {
            page(&mut stretch.rev())
        })
    }

    fn accept_upload(
        &self,
        code_hash: &[u8; 32],
        upload_digest: &[u8; 32],
        now: Seconds,
        keys: &[StoredKey],
        contact_hashes: &[ContactHash],
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let Some(code) = inner.codes.get(code_hash) else {
            return Err(StoreError::Code(CodeRefusal::Unknown));
        };
        let code = code.used(now)?;
        let Some(case) = inner.cases.get(&code.case_id) else {
            return Err(StoreError::NoSuchCase(code.case_id));
        };
        let case = case.upload_received(now)?;
        let case_id = case.case_id;
        inner.codes.insert(*code_hash, code);
        inner
            .upload_digests
            .insert(*code_hash, (*upload_digest, case_id));
        inner.cases.insert(case_id, case);
        inner.uploads.insert(
            case_id,
            UploadRecord {
                case_id,
                received_at: now,
                keys: keys.to_vec(),
            },
        );
        inner.contacts.insert(case_id, contact_hashes.to_vec());
        Ok(case_id)
    }

    fn repeated_upload(
        &self,
        code_hash: &[u8; 32],
        upload_digest: &[u8; 32],
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .lock()
            .upload_digests
            .get(code_hash)
            .filter(|(digest, _)| digest == upload_digest)
            .map(|&(_, case_id)| case_id))
    }

    fn request_trace(
        &self,
        case_id: u64,
        by: &str,
        regions: &[u16],
        now: Seconds,
    ) -> Result<CaseRecord, StoreError> {
        let mut inner = self.lock();
        let Some(case) = inner.cases.get_mut(&case_id) else {
            return Err(StoreError::NoSuchCase(case_id));
        };
        if let Some(traced) = case.trace_requested(by, regions, now)? {
            *case = traced;
        }
        Ok(case.clone())
    }

    fn uploads_to_publish(&self) -> Result<Vec<(UploadRecord, Vec<u16>)>, StoreError> {
        let inner = self.lock();
        inner
            .cases
            .values()
            .filter_map(|c| match &c.status {
                CaseStatus::TraceRequested { regions, .. } => Some((c.case_id, regions)),
                _ => None,
            })
            .map(|(case_id, regions)| {
                let upload =
                    inner.uploads.get(&case_id).cloned().ok_or_else(|| {
                        StoreError::Corrupt(format!("case {case_id} has no upload"))
                    })?;
                Ok((upload, regions.clone()))
            })
            .collect()
    }

    fn published_uploads(&self) -> Result<Vec<(UploadRecord, Seconds)>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .cases
            .values()
            .filter_map(|c| match c.status {
                CaseStatus::Published { at, .. } => {
                    inner.uploads.get(&c.case_id).map(|u| (u.clone(), at))
                }
                _ => None,
            })
            .collect())
    }

    fn contact_hashes(&self) -> Result<Vec<(u64, Vec<ContactHash>)>, StoreError> {
        Ok(self
            .lock()
            .contacts
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }

    fn next_batch_id(&self) -> Result<u64, StoreError> {
        Ok(self.lock().next_batch_id.max(1))
    }

    fn take_batch_id(&self) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let id = inner.next_batch_id.max(1);
        inner.next_batch_id = id + 1;
        Ok(id)
    }

    fn record_run(&self, run: &[BatchRecord]) -> Result<(), StoreError> {
        check_run(run)?;
        let mut inner = self.lock();
        let mut next = inner.next_batch_id.max(1);
        let mut ids: Vec<u64> = run.iter().map(|b| b.batch_id).collect();
        ids.sort_unstable();
        for id in ids {
            if id == 0 || id > next || inner.batches.contains_key(&id) {
                return Err(StoreError::Backend(format!(
                    "batch {id} recorded while {next} was next to take"
                )));
            }
            if id == next {
                next += 1;
            }
        }
        let published = published_cases(run);
        if let Some(missing) = published.keys().find(|c| !inner.cases.contains_key(c)) {
            return Err(StoreError::NoSuchCase(*missing));
        }
        inner.next_batch_id = next;
        for batch in run {
            inner.batches.insert(batch.batch_id, batch.clone());
        }
        for (case_id, status) in published {
            if let Some(case) = inner.cases.get_mut(&case_id) {
                case.status = status;
            }
        }
        Ok(())
    }

    fn batches(&self) -> Result<Vec<BatchRecord>, StoreError> {
        Ok(self.lock().batches.values().cloned().collect())
    }

    fn report_seen(&self, report_id: &[u8; 16]) -> Result<bool, StoreError> {
        Ok(self.lock().reports.contains_key(report_id))
    }

    fn record_report(
        &self,
        report_id: &[u8; 16],
        received_at: Seconds,
        rows: Vec<F1RowRecord>,
        claims: &[ClaimRecord],
    ) -> Result<Vec<F1RowRecord>, StoreError> {
        let mut inner = self.lock();
        if inner.reports.contains_key(report_id) {
            return Err(StoreError::DuplicateReport);
        }
        let mut keys: Vec<_> = claims.iter().map(|c| (c.rpi, c.claim_id)).collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.len() != claims.len() || keys.iter().any(|k| inner.claims.contains_key(k)) {
            return Err(StoreError::ClaimedBefore);
        }
        if let Some(row) = rows.iter().find(|r| !inner.cases.contains_key(&r.case_id)) {
            return Err(StoreError::NoSuchCase(row.case_id));
        }
        let mut stored = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(case) = inner.cases.get_mut(&row.case_id) else {
                return Err(StoreError::NoSuchCase(row.case_id));
            };
            let row = case.add_f1_row(&row);
            inner.f1_rows.insert((row.case_id, row.row_no), row.clone());
            inner
                .f1_by_district
                .insert((row.district, row.case_id, row.row_no), ());
            stored.push(row);
        }
        inner.reports.insert(
            *report_id,
            ReportRecord {
                report_id: *report_id,
                received_at,
                rows: stored.iter().map(|r| (r.case_id, r.row_no)).collect(),
            },
        );
        for claim in claims {
            inner
                .claims
                .insert((claim.rpi, claim.claim_id), Claim::of(claim));
        }
        Ok(stored)
    }

    fn claims_of_rpi(&self, rpi: &[u8; 16]) -> Result<Vec<ClaimRecord>, StoreError> {
        Ok(self.lock().claims.of_rpi(rpi))
    }

    fn f1_rows(&self, case_id: u64) -> Result<Vec<F1RowRecord>, StoreError> {
        Ok(self
            .lock()
            .f1_rows
            .range((case_id, 0)..=(case_id, u32::MAX))
            .map(|(_, r)| r.clone())
            .collect())
    }

    fn f1_rows_of_districts(&self, districts: &[u32]) -> Result<Vec<F1RowRecord>, StoreError> {
        let mut districts = districts.to_vec();
        districts.sort_unstable();
        districts.dedup();
        let inner = self.lock();
        let mut out = Vec::new();
        for d in districts {
            for &(_, case_id, row_no) in inner
                .f1_by_district
                .range((d, 0, 0)..=(d, u64::MAX, u32::MAX))
                .map(|(k, _)| k)
            {
                let row = inner
                    .f1_rows
                    .get(&(case_id, row_no))
                    .ok_or_else(|| StoreError::Corrupt("district index names no row".into()))?;
                out.push(row.clone());
            }
        }
        Ok(out)
    }

    fn f1_row(&self, case_id: u64, row_no: u32) -> Result<Option<F1RowRecord>, StoreError> {
        Ok(self.lock().f1_rows.get(&(case_id, row_no)).cloned())
    }

    fn set_follow_up(
        &self,
        case_id: u64,
        row_no: u32,
        follow_up: &FollowUp,
    ) -> Result<F1RowRecord, StoreError> {
        let mut inner = self.lock();
        let Some(row) = inner.f1_rows.get_mut(&(case_id, row_no)) else {
            return Err(StoreError::NoSuchRow { case_id, row_no });
        };
        row.follow_up = follow_up.clone();
        Ok(row.clone())
    }

    fn purge(&self, now: Seconds, retention: &Retention) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let mut removed = 0u64;
        // Cases past retention, and everything of theirs.
        let gone: Vec<u64> = inner
            .cases
            .values()
            .filter(|c| !retention.case_kept(c.opened_at, now))
            .map(|c| c.case_id)
            .collect();
        for case_id in &gone {
            inner.cases.remove(case_id);
            inner.codes.retain(|_, c| c.case_id != *case_id);
            inner.upload_digests.retain(|_, (_, c)| c != case_id);
            inner.uploads.remove(case_id);
            inner.contacts.remove(case_id);
            removed += 1;
        }
        // F1 rows past retention (those of the cases above too), then contact details.
        let rows: Vec<(u64, u32, u32)> = inner
            .f1_rows
            .values()
            .filter(|r| gone.contains(&r.case_id) || !retention.row_kept(r.received_at, now))
            .map(|r| (r.case_id, r.row_no, r.district))
            .collect();
        for (case_id, row_no, district) in rows {
            inner.f1_rows.remove(&(case_id, row_no));
            inner.f1_by_district.remove(&(district, case_id, row_no));
            removed += 1;
        }
        let before = inner.reports.len();
        inner
            .reports
            .retain(|_, r| retention.row_kept(r.received_at, now));
        removed += (before - inner.reports.len()) as u64;
        for row in inner.f1_rows.values_mut() {
            if !row.sealed_contact.is_empty() && !retention.contact_kept(row.received_at, now) {
                // Not `clear`: the bytes' room goes too.
                row.sealed_contact = Vec::new();
                removed += 1;
            }
        }
        let before = inner.sessions.len();
        inner.sessions.retain(|_, s| s.expires_at > now);
        removed += (before - inner.sessions.len()) as u64;
        // Only the histories this purge empties go: one uploaded without contact hashes is
        // no record past retention, and a purge that erases nothing changes nothing.
        inner.contacts.retain(|_, hashes| {
            let before = hashes.len();
            hashes.retain(|h| contact_retained(h, now));
            removed += (before - hashes.len()) as u64;
            before == 0 || !hashes.is_empty()
        });
        let before = inner.claims.len();
        inner
            .claims
            .retain(|key, c| claim_retained(&c.record(key), now));
        removed += (before - inner.claims.len()) as u64;
        for upload in inner.uploads.values_mut() {
            let before = upload.keys.len();
            upload.keys.retain(|key| key_retained(key, now));
            removed += (before - upload.keys.len()) as u64;
        }
        Ok(removed)
    }

    fn append_audit(&self, entry: &AuditEntry) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let seq = inner.audit.len() as u64 + 1;
        inner.audit.push(AuditEntry {
            seq,
            ..entry.clone()
        });
        Ok(seq)
    }

    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .lock()
            .audit
            .iter()
            .rev()
            .filter(|e| filter.admits(e))
            .take(filter.limit)
            .cloned()
            .collect())
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let inner = self.lock();
        Ok(StoreCounts {
            accounts: inner.accounts.len() as u64,
            sessions: inner.sessions.len() as u64,
            cases: inner.cases.len() as u64,
            uploads: inner.uploads.len() as u64,
            batches: inner.batches.len() as u64,
            reports: inner.reports.len() as u64,
            f1_rows: inner.f1_rows.len() as u64,
        })
    }

    fn digest(&self) -> Result<[u8; 32], StoreError> {
        let inner = self.lock();
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"meta");
        hash_record(
            &mut ctx,
            b"counters",
            &(inner.next_case_id, inner.next_batch_id),
        );
        for (k, v) in &inner.secrets {
            hash_record(&mut ctx, k.as_bytes(), v);
        }
        ctx.update(b"accounts");
        for (k, v) in &inner.accounts {
            hash_record(&mut ctx, k.as_bytes(), v);
        }
        ctx.update(b"units");
        for (k, v) in &inner.units {
            hash_record(&mut ctx, k.as_bytes(), v);
        }
        ctx.update(b"sessions");
        for (k, v) in &inner.sessions {
            hash_record(&mut ctx, k, v);
        }
        ctx.update(b"cases");
        for (k, v) in &inner.cases {
            hash_record(&mut ctx, &k.to_be_bytes(), v);
        }
        ctx.update(b"codes");
        for (k, v) in &inner.codes {
            hash_record(&mut ctx, k, v);
        }
        ctx.update(b"upload_digests");
        for (k, v) in &inner.upload_digests {
            hash_record(&mut ctx, k, v);
        }
        ctx.update(b"uploads");
        for (k, v) in &inner.uploads {
            hash_record(&mut ctx, &k.to_be_bytes(), v);
        }
        ctx.update(b"contacts");
        for (k, v) in &inner.contacts {
            hash_record(&mut ctx, &k.to_be_bytes(), v);
        }
        ctx.update(b"batches");
        for (k, v) in &inner.batches {
            hash_record(&mut ctx, &k.to_be_bytes(), v);
        }
        ctx.update(b"reports");
        for (k, v) in &inner.reports {
            hash_record(&mut ctx, k, v);
        }
        ctx.update(b"claims");
        for (k, v) in inner.claims.iter() {
            let mut key = k.0.to_vec();
            key.extend_from_slice(&k.1);
            hash_record(&mut ctx, &key, &v.record(k));
        }
        ctx.update(b"f1_rows");
        for ((case, row), v) in &inner.f1_rows {
            let mut key = case.to_be_bytes().to_vec();
            key.extend_from_slice(&row.to_be_bytes());
            hash_record(&mut ctx, &key, v);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::store::CLAIM_RETENTION_SECONDS;
    use crate::domain::store::conformance::{
        Harness, NOW, claim, row, store_conformance_tests, uploaded_case,
    };

    mod claims_model {
        use super::super::{Claim, ClaimKey, Claims};
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        /// One step: add a claim received at the step's number (RPI and claim id from small
        /// sets, so that RPIs repeat and keys collide), or purge the claims received more than
        /// some steps ago.
        #[derive(Debug, Clone)]
        enum Op {
            Add(u8, u8),
            Purge(u64),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                300 => (0u8..40, any::<u8>()).prop_map(|(r, c)| Op::Add(r, c)),
                1 => (0u64..3_000).prop_map(Op::Purge),
            ]
        }

        fn key(r: u8, c: u8) -> ClaimKey {
            let mut rpi = [0u8; 16];
            rpi[0] = r;
            rpi[15] = r.wrapping_mul(31);
            let mut id = [0u8; 32];
            id[0] = c;
            id[31] = c ^ 0x5a;
            (rpi, id)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]

            /// The two-part table answers as one ordered map would after every step, and its
            /// array stays sorted, across merges (most cases add more than the 1,024 claims
            /// that start the first one) and purges.
            #[test]
            fn claims_answer_as_an_ordered_map(
                ops in proptest::collection::vec(op(), 1..4_000),
            ) {
                let mut claims = Claims::default();
                let mut model: BTreeMap<ClaimKey, Claim> = BTreeMap::new();
                for (i, op) in ops.into_iter().enumerate() {
                    match op {
                        Op::Add(r, c) => {
                            let k = key(r, c);
                            prop_assert_eq!(claims.contains_key(&k), model.contains_key(&k));
                            if let std::collections::btree_map::Entry::Vacant(e) = model.entry(k) {
                                let claim = Claim {
                                    case_id: u64::from(c) + 1,
                                    one_sided: c % 3 == 0,
                                    received_at: i as u64,
                                };
                                claims.insert(k, claim);
                                e.insert(claim);
                            }
                        }
                        Op::Purge(age) => {
                            let t = (i as u64).saturating_sub(age);
                            claims.retain(|_, c| c.received_at >= t);
                            model.retain(|_, c| c.received_at >= t);
                        }
                    }
                    prop_assert!(claims.settled.windows(2).all(|w| w[0].0 < w[1].0));
                    prop_assert!(claims.recent.len() <= Claims::recent_limit(claims.settled.len()));
                    prop_assert_eq!(claims.len(), model.len());
                    if i % 97 == 0 {
                        let all: Vec<_> = claims.iter().map(|(k, c)| c.record(k)).collect();
                        let expected: Vec<_> = model.iter().map(|(k, c)| c.record(k)).collect();
                        prop_assert_eq!(all, expected);
                        for r in [0u8, 7, 39] {
                            let (rpi, _) = key(r, 0);
                            let expected: Vec<_> = model
                                .range((rpi, [0; 32])..=(rpi, [0xff; 32]))
                                .map(|(k, c)| c.record(k))
                                .collect();
                            prop_assert_eq!(claims.of_rpi(&rpi), expected);
                        }
                    }
                }
            }
        }
    }

    mod first_of_rpi {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            // Each case inserts up to 20,000 claims.
            #![proptest_config(ProptestConfig::with_cases(24))]

            /// The RPI filter holds every RPI it was given, through its rebuilds, and answers
            /// no for most others.
            #[test]
            fn the_rpi_filter_never_forgets_and_rarely_errs(
                seed in any::<u64>(),
                count in 1usize..20_000,
            ) {
                // SplitMix64 words, as uniform as the AES outputs RPIs are.
                let rpi = |i: u64| {
                    let mut r = [0u8; 16];
                    for (j, half) in r.chunks_mut(8).enumerate() {
                        let mut z = seed ^ (2 * i + j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                        half.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
                    }
                    r
                };
                let mut claims = Claims::default();
                let claim = Claim { case_id: 1, one_sided: false, received_at: 0 };
                for i in 0..count as u64 {
                    claims.insert((rpi(i), [0; 32]), claim);
                }
                prop_assert!((0..count as u64).all(|i| claims.rpis.may_contain(&rpi(i))));
                let absent = (0..10_000u64)
                    .filter(|&i| claims.rpis.may_contain(&rpi(1_000_000 + i)))
                    .count();
                prop_assert!(absent < 300, "{} of 10,000 absent RPIs pass", absent);
                prop_assert!(!claims.contains_key(&(rpi(1_000_000), [0; 32])));
                // A purge keeps the filter whole for what is left.
                claims.retain(|k, _| k.0[0] % 2 == 0);
                prop_assert!((0..count as u64)
                    .filter(|&i| rpi(i)[0] % 2 == 0)
                    .all(|i| claims.rpis.may_contain(&rpi(i))));
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// The interpolation search finds what a binary search finds, on uniform RPIs (as
            /// AES makes them), on RPIs bunched in a few values and on RPIs that share their
            /// first 8 bytes, for RPIs present and absent.
            #[test]
            fn first_of_rpi_is_the_partition_point(
                seeds in proptest::collection::vec(any::<u64>(), 0..3_000),
                shape in 0u8..3,
                probes in proptest::collection::vec(any::<u64>(), 1..50),
            ) {
                let rpi_of = |x: u64| {
                    let mut r = [0u8; 16];
                    match shape {
                        0 => r[..8].copy_from_slice(&x.to_be_bytes()),
                        1 => r[0] = (x % 5) as u8 * 50,
                        _ => r[8..].copy_from_slice(&x.to_be_bytes()),
                    }
                    r[15] ^= (x >> 60) as u8;
                    r
                };
                let mut claims = Claims::default();
                let mut keys: Vec<ClaimKey> = seeds
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| (rpi_of(x), [i as u8; 32]))
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                let claim = Claim { case_id: 1, one_sided: false, received_at: 0 };
                claims.settled = keys.iter().map(|k| (*k, claim)).collect();
                claims.rebuild_rpis(keys.len());
                let asked = probes
                    .iter()
                    .map(|&x| rpi_of(x))
                    .chain(keys.iter().step_by(37).map(|k| k.0));
                for rpi in asked {
                    let expected = claims.settled.partition_point(|(k, _)| k.0 < rpi);
                    prop_assert_eq!(claims.first_of_rpi(&rpi), expected);
                }
                for k in keys.iter().step_by(29) {
                    prop_assert!(claims.contains_key(k));
                    let mut other = *k;
                    other.1[31] ^= 1;
                    prop_assert_eq!(claims.contains_key(&other), keys.binary_search(&other).is_ok());
                }
            }
        }
    }

    // Clones share the records: reopening hands back another handle on the same ones.
    store_conformance_tests!(
        conformance,
        Harness::new(MemoryStore::new(), MemoryStore::clone)
    );

    /// [`MemoryStore::report`] is this backend's own (the simulator reads it).
    #[test]
    fn report_names_the_rows_a_report_created() {
        let s = MemoryStore::new();
        let a = uploaded_case(&s, 1);
        let b = uploaded_case(&s, 2);
        s.record_report(&[5; 16], NOW, vec![row(a, 3, 5)], &[])
            .unwrap();
        s.record_report(&[6; 16], NOW, vec![row(b, 3, 6), row(a, 3, 6)], &[])
            .unwrap();
        assert_eq!(s.report(&[5; 16]).unwrap().rows, vec![(a, 1)]);
        let report = s.report(&[6; 16]).unwrap();
        assert_eq!(
            (report.report_id, report.received_at, report.rows),
            ([6; 16], NOW, vec![(b, 1), (a, 2)])
        );
        assert_eq!(s.report(&[7; 16]), None);
    }

    /// The claims map holds what is not in its key apart from it: each claim comes back whole
    /// (of a case, one-sided or not, received when it was), goes with its own age, and the
    /// digest hashes the [`ClaimRecord`]s as before (the value pinned was computed when the
    /// map held them whole).
    #[test]
    fn claims_come_back_whole_and_go_each_with_its_own_age() {
        let s = MemoryStore::new();
        let old = ClaimRecord {
            received_at: NOW - 600,
            ..claim(7, 1, 4, true)
        };
        let new = claim(7, 2, 9, false);
        let other = ClaimRecord {
            received_at: NOW - 600,
            ..claim(8, 1, 4, false)
        };
        let claims = [new.clone(), other.clone(), old.clone()];
        s.record_report(&[5; 16], NOW, vec![], &claims).unwrap();
        assert_eq!(
            s.claims_of_rpi(&[7; 16]).unwrap(),
            vec![old.clone(), new.clone()]
        );
        assert_eq!(s.claims_of_rpi(&[8; 16]).unwrap(), vec![other]);
        assert_eq!(
            hex::encode(s.digest().unwrap()),
            "ab1519b2ee101bec22d97cfec55e7f7de6300c330e20ef87e217b358bce165cc"
        );
        s.purge(
            old.received_at + CLAIM_RETENTION_SECONDS,
            &Retention::default(),
        )
        .unwrap();
        assert_eq!(s.claims_of_rpi(&[7; 16]).unwrap(), vec![new]);
        assert_eq!(s.claims_of_rpi(&[8; 16]).unwrap(), vec![]);
    }
}
