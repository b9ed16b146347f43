//! Seed step 4: "Trace F1" puts a case into the next signed publication batch, which every
//! phone downloads.
//!
//! The workflow builds and signs the bytes (SPEC.md §8) and hands them to a
//! [`PublicationSink`]; where they go is the sink's business: files under the data directory
//! for the server (the web layer's `FileSink`), memory for the simulator
//! ([`MemorySink`]), an object store or a CDN origin for a deployment that wants one.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bluezone_protocol::{
    BatchIndex, BatchIndexEntry, BatchSpec, CaseId, DailyKey, IntervalNumber, PublicationBatch,
    PublicationIndex, PublishedEntry, PublishedIntervals, RETENTION_SECONDS, UnixTime, UploadedKey,
};

use super::{Principal, Workflow, lock, write};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::metrics::Metrics;
use crate::domain::regions::WHOLE_COUNTRY;
use crate::domain::store::{
    BatchRecord, CaseRecord, Seconds, SharedLock, StoreError, UploadRecord,
};

/// Which batch index a file is (SPEC.md §8.4, §8.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndexScope {
    /// The complete index: every batch of the last 14 days, of every region
    /// (`/publication/v1/index.bin`).
    All,
    /// One region's index: its batches of the last 14 days only
    /// (`/publication/v1/regions/<region>/index.bin`), rewritten only when that list changes,
    /// so that a phone polling it with `If-None-Match` is answered `304` until the region
    /// has a new batch.
    Region(u16),
}

/// Where the signed publication bytes go: the batch indexes (SPEC.md §8.4) and the batches
/// (§8.3), which phones download as static files.
///
/// A batch id is written at most once with bytes that never change afterwards: the workflow
/// takes the id for good in the store ([`crate::domain::store::Store::take_batch_id`]) before
/// it builds the batch, hands the batch to the sink, then records it; a run that dies between
/// two steps burns its id. A sink must also refuse, with
/// [`std::io::ErrorKind::AlreadyExists`], to replace a batch it holds. An index is replaced
/// whole. Both calls must be durable when they return, and a reader must see the old index or
/// the new one, never a part.
pub trait PublicationSink: Send + Sync + std::fmt::Debug {
    /// Keep batch `batch_id`; refused with [`std::io::ErrorKind::AlreadyExists`] if it is
    /// kept already.
    fn put_batch(&self, batch_id: u64, bytes: &[u8]) -> std::io::Result<()>;
    /// Replace the batch index `scope`.
    fn put_index(&self, scope: IndexScope, bytes: &[u8]) -> std::io::Result<()>;
    /// Batch `batch_id`, if it was kept.
    fn batch(&self, batch_id: u64) -> std::io::Result<Option<Vec<u8>>>;
    /// The latest batch index `scope`, if one was kept.
    fn index(&self, scope: IndexScope) -> std::io::Result<Option<Vec<u8>>>;
    /// Batch `batch_id` as served to phones, with its SHA-256. This default reads and hashes
    /// at every call; a sink that serves many phones keeps the answer (a batch never changes).
    fn served_batch(&self, batch_id: u64) -> std::io::Result<Option<PublishedFile>> {
        Ok(self.batch(batch_id)?.map(PublishedFile::new))
    }
    /// The latest batch index `scope` as served to phones, with its SHA-256. This default
    /// reads and hashes at every call; a sink that serves many phones keeps the answer until
    /// [`PublicationSink::put_index`] replaces it.
    fn served_index(&self, scope: IndexScope) -> std::io::Result<Option<PublishedFile>> {
        Ok(self.index(scope)?.map(PublishedFile::new))
    }
}

/// A publication file as served: its bytes, shared without copying, and their SHA-256 (the
/// strong `ETag` of SPEC.md §13), computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedFile {
    /// The file's bytes.
    pub bytes: bytes::Bytes,
    /// Their SHA-256.
    pub sha256: [u8; 32],
}

impl PublishedFile {
    /// `bytes`, hashed.
    pub fn new(bytes: impl Into<bytes::Bytes>) -> PublishedFile {
        let bytes = bytes.into();
        let sha256 = super::sha256(&bytes);
        PublishedFile { bytes, sha256 }
    }
}

/// A [`PublicationSink`] in memory: the simulator's, and the tests'.
#[derive(Debug, Default)]
pub struct MemorySink {
    files: Mutex<MemoryFiles>,
}

#[derive(Debug, Default)]
struct MemoryFiles {
    indexes: BTreeMap<IndexScope, Vec<u8>>,
    batches: BTreeMap<u64, Vec<u8>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// The ids of the batches kept, in order.
    pub fn batch_ids(&self) -> Vec<u64> {
        lock(&self.files).batches.keys().copied().collect()
    }
}

impl PublicationSink for MemorySink {
    fn put_batch(&self, batch_id: u64, bytes: &[u8]) -> std::io::Result<()> {
        match lock(&self.files).batches.entry(batch_id) {
            std::collections::btree_map::Entry::Occupied(_) => Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("batch {batch_id} is already kept"),
            )),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(bytes.to_vec());
                Ok(())
            }
        }
    }

    fn put_index(&self, scope: IndexScope, bytes: &[u8]) -> std::io::Result<()> {
        lock(&self.files).indexes.insert(scope, bytes.to_vec());
        Ok(())
    }

    fn batch(&self, batch_id: u64) -> std::io::Result<Option<Vec<u8>>> {
        Ok(lock(&self.files).batches.get(&batch_id).cloned())
    }

    fn index(&self, scope: IndexScope) -> std::io::Result<Option<Vec<u8>>> {
        Ok(lock(&self.files).indexes.get(&scope).cloned())
    }
}

/// The daily keys of a stored upload, with the intervals the F0 chose to publish.
fn uploaded_keys(upload: &UploadRecord) -> Result<Vec<UploadedKey>, ApiError> {
    upload
        .keys
        .iter()
        .map(|k| {
            let key = DailyKey::new(k.key, IntervalNumber(k.rolling_start), k.rolling_period)
                .map_err(|e| {
                    ApiError::from(StoreError::Corrupt(format!(
                        "case {}: stored key: {e}",
                        upload.case_id
                    )))
                })?;
            Ok(UploadedKey {
                key,
                published: PublishedIntervals::from_bytes(k.published),
            })
        })
        .collect()
}

fn sink_error(what: &str, e: std::io::Error) -> ApiError {
    ApiError::new(
        ErrorCode::StorageFailure,
        format!("cannot keep {what}: {e}"),
    )
}

/// How the audit log names a run: its batches, each with its region.
fn batches_object(run: &[BatchRecord]) -> String {
    let batches: Vec<String> = run
        .iter()
        .map(|b| format!("{} (region {})", b.batch_id, b.region))
        .collect();
    format!("batches {}", batches.join(", "))
}

impl Workflow {
    /// Where the publication bytes go, and where the web layer serves them from.
    pub fn publication(&self) -> &dyn PublicationSink {
        &*self.sink
    }

    /// Rebuild the verification index from what the store says is published.
    pub(super) fn rebuild_index(&self) -> Result<(), ApiError> {
        let mut fresh = PublicationIndex::new(*self.index_key);
        for (upload, published_at) in self.store.published_uploads()? {
            let keys = uploaded_keys(&upload)?;
            fresh
                .publish_keys(&keys, CaseId(upload.case_id), UnixTime(published_at))
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        }
        *write(&self.index) = fresh;
        Ok(())
    }

    /// "Trace F1": put a case whose upload was received into the next publication run, for
    /// the default regions ([`Workflow::trace_default`]).
    pub fn request_trace(
        &self,
        principal: &Principal,
        case_id: u64,
        now: Seconds,
    ) -> Result<CaseRecord, ApiError> {
        self.require_facility(principal)?;
        let case = self.case(principal, case_id)?;
        let regions = self.trace_default(&case);
        self.request_trace_to(principal, case_id, &regions, now)
    }

    /// The regions "Trace F1" publishes `case` to unless the health worker chooses: the
    /// deployment's `default_trace_regions`, or else the case's province.
    pub fn trace_default(&self, case: &CaseRecord) -> Vec<u16> {
        self.settings.regions.trace_default(case.province)
    }

    /// "Trace F1" to `regions`: 0 (the whole country) or configured province codes, at least
    /// one (SPEC.md §8.5). A case already traced keeps the regions it was traced to.
    pub fn request_trace_to(
        &self,
        principal: &Principal,
        case_id: u64,
        regions: &[u16],
        now: Seconds,
    ) -> Result<CaseRecord, ApiError> {
        self.require_facility(principal)?;
        let regions = self
            .settings
            .regions
            .chosen(regions)
            .map_err(|e| ApiError::new(ErrorCode::UnknownRegion, e.0))?;
        // Its own facility's case only; another's is answered as no case.
        self.case(principal, case_id)?;
        let case = self
            .store
            .request_trace(case_id, &principal.username, &regions, now)?;
        let listed: Vec<String> = regions.iter().map(u16::to_string).collect();
        let object = format!("case {case_id} regions {}", listed.join(","));
        self.audit_by(principal, "trace_requested", object, now);
        Ok(case)
    }

    /// A publication run: for every region some waiting case is traced to, build a batch of
    /// the RPIs of those cases, hand the batches and the indexes to the sink, and record the
    /// run (SPEC.md §8.5). Returns the batches, by region; none when no case is waiting. One
    /// run at a time.
    pub fn publish(&self, now: Seconds) -> Result<Vec<BatchRecord>, ApiError> {
        let run = self.publish_run(now)?;
        if !run.is_empty() {
            self.audit("-", None, "publication_run", batches_object(&run), now);
        }
        Ok(run)
    }

    fn publish_run(&self, now: Seconds) -> Result<Vec<BatchRecord>, ApiError> {
        let _one_at_a_time = lock(&self.publication);
        // One run at a time across every process sharing the store, on an index that holds
        // what the others published.
        let _one_in_all_processes = self.exclusive(SharedLock::Publication)?;
        self.catch_up(false)?;
        let waiting = self.store.uploads_to_publish()?;
        if waiting.is_empty() {
            return Ok(Vec::new());
        }
        // Each case's RPIs once, into the verification index; then into each of its regions.
        let mut by_region: BTreeMap<u16, (Vec<PublishedEntry>, Vec<u64>)> = BTreeMap::new();
        {
            let mut index = write(&self.index);
            for (upload, regions) in &waiting {
                let published = uploaded_keys(upload).and_then(|keys| {
                    index
                        .publish_keys(&keys, CaseId(upload.case_id), UnixTime(now))
                        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
                });
                let entries = match published {
                    Ok(entries) => entries,
                    Err(e) => {
                        drop(index);
                        self.rebuild_index()?;
                        return Err(e);
                    }
                };
                for region in regions {
                    let (into, cases) = by_region.entry(*region).or_default();
                    into.extend_from_slice(&entries);
                    cases.push(upload.case_id);
                }
            }
        }
        let result = self.build_run(&by_region, now);
        if result.is_err() {
            // The index holds RPIs of batches that were never recorded: start it again from
            // what the store says is published.
            self.rebuild_index()?;
        }
        let run = result?;
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        for record in &run {
            Metrics::inc(&self.metrics.batches);
            self.metrics
                .published_rpis
                .fetch_add(u64::from(record.published_rpis), relaxed);
            self.metrics
                .last_batch_bytes
                .store(u64::from(record.byte_len), relaxed);
            self.metrics
                .last_batch_entries
                .store(u64::from(record.entry_count), relaxed);
            tracing::info!(
                batch_id = record.batch_id,
                region = record.region,
                cases = record.cases.len(),
                rpis = record.published_rpis,
                bytes = record.byte_len,
                "publication batch built"
            );
        }
        if let Err(e) = self.write_publication_index(now) {
            tracing::error!(error = %e, "batches recorded but indexes not written; retried at the next run");
        }
        Ok(run)
    }

    /// Build and sign one batch per region, hand each to the sink, then record them all as
    /// one run. Every id is taken for good before its bytes exist: a run that dies after the
    /// sink kept a batch and before the store recorded the run burns its ids; they are never
    /// reused for other bytes, which CDNs would otherwise serve as immutable for 14 days.
    fn build_run(
        &self,
        by_region: &BTreeMap<u16, (Vec<PublishedEntry>, Vec<u64>)>,
        now: Seconds,
    ) -> Result<Vec<BatchRecord>, ApiError> {
        let mut run = Vec::with_capacity(by_region.len());
        for (&region, (entries, cases)) in by_region {
            let batch_id = self.store.take_batch_id()?;
            let spec = BatchSpec {
                batch_id,
                region,
                created_at: UnixTime(now),
                target_fp_rate: self.settings.filter_target_fp_rate,
                filter_kind: self.settings.filter_kind,
                dummy_quantum: self.settings.dummy_quantum,
            };
            let (batch, bytes) =
                PublicationBatch::build(entries, &spec, &self.publisher, &mut *lock(&self.rng))
                    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
            self.sink
                .put_batch(batch_id, &bytes)
                .map_err(|e| sink_error(&format!("batch {batch_id}"), e))?;
            let described = BatchIndexEntry::describe(&batch, &bytes);
            run.push(BatchRecord {
                batch_id,
                region,
                created_at: now,
                first_interval: batch.first_interval.0,
                last_interval: batch.last_interval.0,
                entry_count: batch.entry_count,
                published_rpis: entries.len() as u32,
                byte_len: described.byte_len,
                sha256: described.sha256,
                cases: cases.clone(),
            });
        }
        self.store.record_run(&run)?;
        Ok(run)
    }

    /// Sign the indexes of the batches of the last 14 days and hand them to the sink: the
    /// complete index every time, and each region's index (region 0 and every configured
    /// province) when its list of batches differs from the one it holds.
    pub fn write_publication_index(&self, now: Seconds) -> Result<(), ApiError> {
        // One writer at a time, from reading the batches to the sink: the last index written
        // is then built from the latest batches.
        let _one_at_a_time = lock(&self.index_file);
        // And one in all processes sharing the store, whose publication directory is shared:
        // an index built before another process's run must not replace the one it wrote.
        let _one_in_all_processes = self.exclusive(SharedLock::IndexFiles)?;
        let oldest = now.saturating_sub(RETENTION_SECONDS);
        let entries: Vec<BatchIndexEntry> = self
            .store
            .batches()?
            .into_iter()
            .filter(|b| b.created_at >= oldest)
            .map(|b| BatchIndexEntry {
                batch_id: b.batch_id,
                region: b.region,
                created_at: UnixTime(b.created_at),
                first_interval: IntervalNumber(b.first_interval),
                last_interval: IntervalNumber(b.last_interval),
                byte_len: b.byte_len,
                entry_count: b.entry_count,
                sha256: b.sha256,
            })
            .collect();
        let regions = std::iter::once(WHOLE_COUNTRY)
            .chain(self.settings.regions.regions.iter().map(|r| r.code));
        for region in regions {
            let listed: Vec<BatchIndexEntry> = entries
                .iter()
                .filter(|e| e.region == region)
                .cloned()
                .collect();
            let scope = IndexScope::Region(region);
            let held = self
                .sink
                .index(scope)
                .map_err(|e| sink_error(&format!("the index of region {region}"), e))?
                .and_then(|bytes| BatchIndex::open(&bytes, &self.publisher.public_key()).ok());
            if held.is_some_and(|held| held.entries == listed) {
                continue;
            }
            self.put_index(scope, listed, now)?;
        }
        self.put_index(IndexScope::All, entries, now)
    }

    fn put_index(
        &self,
        scope: IndexScope,
        entries: Vec<BatchIndexEntry>,
        now: Seconds,
    ) -> Result<(), ApiError> {
        let index = BatchIndex {
            generated_at: UnixTime(now),
            entries,
        };
        let bytes = index
            .to_bytes(&self.publisher)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        self.sink
            .put_index(scope, &bytes)
            .map_err(|e| sink_error("a batch index", e))
    }

    /// Admin: run publication now.
    pub fn publish_on_demand(
        &self,
        principal: &Principal,
        now: Seconds,
    ) -> Result<Vec<BatchRecord>, ApiError> {
        Self::require_admin(principal)?;
        let run = self.publish_run(now)?;
        self.audit_by(principal, "publication_run", batches_object(&run), now);
        Ok(run)
    }
}
