//! The publication files: where the server keeps them ([`FileSink`]) and the routes phones
//! and CDNs fetch them from (SPEC.md §13).
//!
//! A batch never changes once written, so it is served `immutable` for its 14 days; an index
//! changes when its list of batches does and is cached for a minute. Both carry a strong `ETag` (their SHA-256)
//! and answer `If-None-Match` with `304`. They are served from memory, hashed once when written
//! ([`FileSink`]). For national scale, put a CDN or an object store in
//! front: the files are static bytes and the same for every phone.
//!
//! Several instances sharing one database also share one publication directory (on one host,
//! or a network file system): whichever instance publishes writes the files, and every
//! instance serves them. A batch missing from an instance's memory is read from its file; the
//! index in memory is checked against the file (inode, length, modification time) at each
//! request, and read again when another instance replaced it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::Call;
use super::respond::{HttpResponse, blocking, parse_id};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::files;
use crate::domain::workflow::{IndexScope, PublicationSink, PublishedFile};

/// The publication files' directory under the data directory: `index.bin`,
/// `regions/<region>/index.bin` and `batches/<id>.bin`.
pub const PUBLICATION_DIR: &str = "publication";

/// Write a publication file atomically, `0600` from its creation (see
/// [`crate::domain::files`] for why the publication files are private too).
use crate::domain::files::write_atomically;

/// At most this many bytes of batches are kept in memory by a [`FileSink`] (the oldest ids
/// are dropped first; a dropped batch is read from its file again when asked for).
pub const BATCH_CACHE_BYTES: usize = 256 << 20;

/// The server's [`PublicationSink`]: files under one directory, written atomically, and
/// served from memory: each file is hashed once, when written (or when first read after a
/// start), so a burst of phones costs no disk read and no hashing. Clones share the files and
/// the memory.
#[derive(Clone, Debug)]
pub struct FileSink {
    dir: PathBuf,
    served: Arc<Mutex<Served>>,
    /// Held from writing (or reading) an index file to keeping it in memory, so that the
    /// index in memory is the last one written.
    index_file: Arc<Mutex<()>>,
}

#[derive(Debug, Default)]
struct Served {
    indexes: BTreeMap<IndexScope, PublishedFile>,
    /// The index files that `indexes` were read from or written to.
    index_stamps: BTreeMap<IndexScope, Stamp>,
    batches: BTreeMap<u64, PublishedFile>,
    batch_bytes: usize,
}

impl Served {
    /// Keep batch `batch_id`, dropping the oldest ids until at most `cap` bytes are kept.
    fn keep_batch(&mut self, batch_id: u64, file: PublishedFile, cap: usize) {
        let len = file.bytes.len();
        if len > cap || self.batches.contains_key(&batch_id) {
            return;
        }
        while self.batch_bytes + len > cap {
            match self.batches.pop_first() {
                Some((_, dropped)) => self.batch_bytes -= dropped.bytes.len(),
                None => break,
            }
        }
        self.batch_bytes += len;
        self.batches.insert(batch_id, file);
    }
}

/// The guard of a mutex, even if a thread panicked holding it (what it guards is a cache
/// whose every state is consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FileSink {
    /// Files under `dir` (created when the first file is written).
    pub fn new(dir: PathBuf) -> FileSink {
        FileSink {
            dir,
            served: Arc::default(),
            index_file: Arc::default(),
        }
    }

    /// Where batch `batch_id` is written.
    pub fn batch_path(&self, batch_id: u64) -> PathBuf {
        self.dir.join("batches").join(format!("{batch_id}.bin"))
    }

    /// Where the batch index `scope` is written.
    pub fn index_path(&self, scope: IndexScope) -> PathBuf {
        match scope {
            IndexScope::All => self.dir.join("index.bin"),
            IndexScope::Region(region) => self
                .dir
                .join("regions")
                .join(region.to_string())
                .join("index.bin"),
        }
    }
}

/// What tells one version of a file from the next one written over it by an atomic rename:
/// inode, length, modification time.
type Stamp = (u64, u64, std::time::SystemTime);

fn stamp(path: &Path) -> std::io::Result<Option<Stamp>> {
    use std::os::unix::fs::MetadataExt;
    match fs::metadata(path) {
        Ok(m) => Ok(Some((m.ino(), m.len(), m.modified()?))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_if_present(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl PublicationSink for FileSink {
    fn put_batch(&self, batch_id: u64, bytes: &[u8]) -> std::io::Result<()> {
        // Never over a batch already written (or served): a batch id names one content.
        if lock(&self.served).batches.contains_key(&batch_id) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("batch {batch_id} is already served"),
            ));
        }
        files::write_new_atomically(&self.batch_path(batch_id), bytes)?;
        lock(&self.served).keep_batch(
            batch_id,
            PublishedFile::new(bytes.to_vec()),
            BATCH_CACHE_BYTES,
        );
        Ok(())
    }

    fn put_index(&self, scope: IndexScope, bytes: &[u8]) -> std::io::Result<()> {
        let _one_at_a_time = lock(&self.index_file);
        write_atomically(&self.index_path(scope), bytes)?;
        let written = stamp(&self.index_path(scope))?;
        let mut served = lock(&self.served);
        served
            .indexes
            .insert(scope, PublishedFile::new(bytes.to_vec()));
        match written {
            Some(w) => served.index_stamps.insert(scope, w),
            None => served.index_stamps.remove(&scope),
        };
        Ok(())
    }

    fn batch(&self, batch_id: u64) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.served_batch(batch_id)?.map(|f| f.bytes.to_vec()))
    }

    fn index(&self, scope: IndexScope) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.served_index(scope)?.map(|f| f.bytes.to_vec()))
    }

    fn served_batch(&self, batch_id: u64) -> std::io::Result<Option<PublishedFile>> {
        if let Some(file) = lock(&self.served).batches.get(&batch_id) {
            return Ok(Some(file.clone()));
        }
        let Some(bytes) = read_if_present(&self.batch_path(batch_id))? else {
            return Ok(None);
        };
        let file = PublishedFile::new(bytes);
        lock(&self.served).keep_batch(batch_id, file.clone(), BATCH_CACHE_BYTES);
        Ok(Some(file))
    }

    fn served_index(&self, scope: IndexScope) -> std::io::Result<Option<PublishedFile>> {
        // The index in memory, unless the file is another one now (a file gone from disk
        // leaves the one in memory served).
        let current = |served: &Served, on_disk: &Option<Stamp>| match served.indexes.get(&scope) {
            Some(file)
                if on_disk.is_none() || served.index_stamps.get(&scope) == on_disk.as_ref() =>
            {
                Some(file.clone())
            }
            _ => None,
        };
        let on_disk = stamp(&self.index_path(scope))?;
        if let Some(file) = current(&lock(&self.served), &on_disk) {
            return Ok(Some(file));
        }
        // First read since the start, or another instance replaced the file: no index may
        // be written meanwhile, or an older one could be kept over it.
        let _one_at_a_time = lock(&self.index_file);
        let on_disk = stamp(&self.index_path(scope))?;
        if let Some(file) = current(&lock(&self.served), &on_disk) {
            return Ok(Some(file));
        }
        let Some(bytes) = read_if_present(&self.index_path(scope))? else {
            return Ok(None);
        };
        // Stamped as it was before the read: if it was replaced meanwhile, the next request
        // sees the stamp differ and reads it again.
        let file = PublishedFile::new(bytes);
        let mut served = lock(&self.served);
        served.indexes.insert(scope, file.clone());
        match on_disk {
            Some(d) => served.index_stamps.insert(scope, d),
            None => served.index_stamps.remove(&scope),
        };
        Ok(Some(file))
    }
}

/// `GET /publication/v1/index.bin`: the complete signed batch index (SPEC.md §8.4).
pub async fn index(call: Call) -> Result<HttpResponse, ApiError> {
    serve_index(call, IndexScope::All).await
}

/// `GET /publication/v1/regions/<region>/index.bin`: one region's signed batch index (SPEC.md
/// §8.5); 404 for a region that is neither 0 nor configured.
pub async fn region_index(call: Call) -> Result<HttpResponse, ApiError> {
    let region = call
        .param("region")
        .parse::<u16>()
        .ok()
        .filter(|&r| r == 0 || call.state.workflow.settings().regions.name(r).is_some())
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such region"))?;
    serve_index(call, IndexScope::Region(region)).await
}

async fn serve_index(call: Call, scope: IndexScope) -> Result<HttpResponse, ApiError> {
    let state = Arc::clone(&call.state);
    let file = blocking(move || found(state.workflow.publication().served_index(scope))).await?;
    Ok(cached(&call, file, "public, max-age=60"))
}

/// `GET /publication/v1/batches/<id>.bin`: a signed batch (SPEC.md §8.2).
pub async fn batch(call: Call) -> Result<HttpResponse, ApiError> {
    let file = call.param("file");
    let id: u64 = parse_id(file.strip_suffix(".bin").unwrap_or("x"))?;
    let state = Arc::clone(&call.state);
    let file = blocking(move || found(state.workflow.publication().served_batch(id))).await?;
    Ok(cached(&call, file, "public, max-age=1209600, immutable"))
}

fn found(file: std::io::Result<Option<PublishedFile>>) -> Result<PublishedFile, ApiError> {
    match file {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(ApiError::new(
            ErrorCode::NotFound,
            "no such publication file",
        )),
        Err(e) => Err(ApiError::new(
            ErrorCode::StorageFailure,
            format!("cannot read publication file: {e}"),
        )),
    }
}

/// `file` with a strong ETag (its SHA-256, computed when it was written) and `Cache-Control`,
/// or `304` when the client's `If-None-Match` names that ETag.
fn cached(call: &Call, file: PublishedFile, cache_control: &'static str) -> HttpResponse {
    let etag = format!("\"{}\"", hex::encode(file.sha256));
    let matches = call
        .req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if matches {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Full::new(file.bytes));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        r
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    r
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use bluezone_protocol::{BatchIndex, PublisherKeyPair};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::domain::settings::Settings;
    use crate::domain::store::SledStore;
    use crate::domain::workflow::Workflow;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn parallel_index_writes_never_leave_a_torn_index() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path().join(PUBLICATION_DIR));
        let settings = Settings {
            code_ttl_seconds: 86_400,
            session_ttl_seconds: 3600,
            filter_target_fp_rate: bluezone_protocol::DEFAULT_TARGET_FP_RATE,
            filter_kind: bluezone_protocol::FilterKind::default(),
            dummy_quantum: 0,
            throttle: Default::default(),
            units: Vec::new(),
            facilities: Vec::new(),
            regions: Default::default(),
            retention: Default::default(),
            risk_rule: Default::default(),
        };
        let (workflow, _) = Workflow::open(
            Box::new(SledStore::open(&dir.path().join("store")).unwrap()),
            settings,
            PublisherKeyPair::from_seed([7; 32]).unwrap(),
            Arc::new(sink.clone()),
            Box::new(ChaCha20Rng::seed_from_u64(1)),
            NOW,
        )
        .unwrap();
        let publisher = workflow.publisher_key();
        let done = AtomicBool::new(false);
        let (torn, failed) = std::thread::scope(|s| {
            // A phone fetching the index while it is rewritten.
            let reader = s.spawn(|| {
                let mut torn = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let bytes = fs::read(sink.index_path(IndexScope::All)).unwrap_or_default();
                    if let Err(e) = BatchIndex::open(&bytes, &publisher) {
                        torn.push(format!("{} bytes: {e}", bytes.len()));
                    }
                }
                torn
            });
            // The hourly purge writes the index while a publication run may write it too.
            let writers: Vec<_> = (0..2u64)
                .map(|w| {
                    let workflow = &workflow;
                    s.spawn(move || {
                        (0..50)
                            .filter_map(|i| workflow.write_publication_index(NOW + 2 * i + w).err())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let failed: Vec<ApiError> = writers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect();
            done.store(true, Ordering::Relaxed);
            (reader.join().unwrap_or_default(), failed)
        });
        assert!(failed.is_empty(), "index writes failed: {failed:?}");
        assert!(torn.is_empty(), "torn index read: {torn:?}");
        BatchIndex::open(&sink.index(IndexScope::All).unwrap().unwrap(), &publisher).unwrap();
    }

    #[test]
    fn files_are_served_from_memory_and_the_newest_index_wins() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path().join(PUBLICATION_DIR));
        sink.put_batch(1, b"one").unwrap();
        sink.put_index(IndexScope::All, b"index 1").unwrap();
        fs::remove_file(sink.batch_path(1)).unwrap();
        fs::remove_file(sink.index_path(IndexScope::All)).unwrap();
        let batch = sink.served_batch(1).unwrap().unwrap();
        assert_eq!(batch, PublishedFile::new(&b"one"[..]));
        assert_eq!(
            sink.served_index(IndexScope::All).unwrap().unwrap().bytes,
            &b"index 1"[..]
        );
        // A batch is never replaced; the index is, in memory too.
        let refused = sink.put_batch(1, b"other").unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
        sink.put_index(IndexScope::All, b"index 2").unwrap();
        assert_eq!(
            sink.served_index(IndexScope::All).unwrap().unwrap().bytes,
            &b"index 2"[..]
        );
        // A fresh sink (a restart) reads the files, once.
        let restarted = FileSink::new(dir.path().join(PUBLICATION_DIR));
        assert_eq!(restarted.served_batch(1).unwrap(), None);
        assert_eq!(
            restarted.index(IndexScope::All).unwrap().unwrap(),
            b"index 2"
        );
        fs::remove_file(sink.index_path(IndexScope::All)).unwrap();
        assert_eq!(
            restarted.index(IndexScope::All).unwrap().unwrap(),
            b"index 2"
        );
        // Another instance sharing the directory writes a new index: both serve it.
        sink.put_index(IndexScope::All, b"index 3").unwrap();
        assert_eq!(
            restarted.index(IndexScope::All).unwrap().unwrap(),
            b"index 3"
        );
        restarted.put_index(IndexScope::All, b"index 4").unwrap();
        assert_eq!(sink.index(IndexScope::All).unwrap().unwrap(), b"index 4");
    }

    #[test]
    fn the_oldest_batches_leave_memory_first() {
        let mut served = Served::default();
        for id in 1..=3 {
            served.keep_batch(id, PublishedFile::new(vec![0u8; 4]), 10);
        }
        assert_eq!(
            served.batches.keys().copied().collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(served.batch_bytes, 8);
        served.keep_batch(9, PublishedFile::new(vec![0u8; 11]), 10);
        assert!(!served.batches.contains_key(&9));
    }

    #[test]
    fn parallel_writers_of_one_file_never_mix_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.bin");
        std::thread::scope(|s| {
            for fill in 0..4u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..25 {
                        write_atomically(path, &[fill; 4096]).unwrap();
                    }
                });
            }
        });
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(bytes.iter().all(|&b| b == bytes[0]), "mixed bytes");
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
