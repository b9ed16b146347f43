//! The publication files: where the server keeps them ([`FileSink`]) and the routes phones
//! and CDNs fetch them from (SPEC.md §13).
//!
//! A batch never changes once written, so it is served `immutable` for its 14 days; the index
//! changes at every run and is cached for a minute. Both carry a strong `ETag` (their SHA-256)
//! and answer `If-None-Match` with `304`. For national scale, put a CDN or an object store in
//! front: the files are static bytes and the same for every phone.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::Call;
use super::respond::{HttpResponse, blocking, parse_id};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::workflow::PublicationSink;

/// The publication files' directory under the data directory: `index.bin` and
/// `batches/<id>.bin`.
pub const PUBLICATION_DIR: &str = "publication";

/// Write `bytes` to `path` so that a reader sees the old file or the new one, never a part:
/// a temporary file, synced, renamed over the old one, and the directory synced. Each call has
/// a temporary file of its own, so parallel writers of one path never mix their bytes: the
/// last rename wins.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

/// The server's [`PublicationSink`]: files under one directory, written atomically.
#[derive(Clone, Debug)]
pub struct FileSink {
    dir: PathBuf,
}

impl FileSink {
    /// Files under `dir` (created when the first file is written).
    pub fn new(dir: PathBuf) -> FileSink {
        FileSink { dir }
    }

    /// Where batch `batch_id` is written.
    pub fn batch_path(&self, batch_id: u64) -> PathBuf {
        self.dir.join("batches").join(format!("{batch_id}.bin"))
    }

    /// Where the batch index is written.
    pub fn index_path(&self) -> PathBuf {
        self.dir.join("index.bin")
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
        write_atomically(&self.batch_path(batch_id), bytes)
    }

    fn put_index(&self, bytes: &[u8]) -> std::io::Result<()> {
        write_atomically(&self.index_path(), bytes)
    }

    fn batch(&self, batch_id: u64) -> std::io::Result<Option<Vec<u8>>> {
        read_if_present(&self.batch_path(batch_id))
    }

    fn index(&self) -> std::io::Result<Option<Vec<u8>>> {
        read_if_present(&self.index_path())
    }
}

/// `GET /publication/v1/index.bin`: the signed batch index (SPEC.md §8.3).
pub async fn index(call: Call) -> Result<HttpResponse, ApiError> {
    let state = std::sync::Arc::clone(&call.state);
    let bytes = blocking(move || read(state.workflow.publication().index())).await?;
    Ok(cached(&call, bytes, "public, max-age=60"))
}

/// `GET /publication/v1/batches/<id>.bin`: a signed batch (SPEC.md §8.2).
pub async fn batch(call: Call) -> Result<HttpResponse, ApiError> {
    let file = call.param("file");
    let id: u64 = parse_id(file.strip_suffix(".bin").unwrap_or("x"))?;
    let state = std::sync::Arc::clone(&call.state);
    let bytes = blocking(move || read(state.workflow.publication().batch(id))).await?;
    Ok(cached(&call, bytes, "public, max-age=1209600, immutable"))
}

fn read(found: std::io::Result<Option<Vec<u8>>>) -> Result<Vec<u8>, ApiError> {
    match found {
        Ok(Some(bytes)) => Ok(bytes),
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

/// `bytes` with a strong ETag (their SHA-256) and `Cache-Control`, or `304` when the client's
/// `If-None-Match` names that ETag.
fn cached(call: &Call, bytes: Vec<u8>, cache_control: &'static str) -> HttpResponse {
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let etag = format!("\"{}\"", hex::encode(digest.as_ref()));
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
        let mut r = Response::new(Full::new(Bytes::from(bytes)));
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
    use std::sync::atomic::AtomicBool;

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
                    let bytes = fs::read(sink.index_path()).unwrap_or_default();
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
        BatchIndex::open(&sink.index().unwrap().unwrap(), &publisher).unwrap();
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
