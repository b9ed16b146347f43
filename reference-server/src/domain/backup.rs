//! Online backups: one consistent snapshot of every stored record, and the publication
//! batches phones still fetch, in one self-checking file (`GET /api/v1/admin/backup`,
//! `bluezone-server backup`, `bluezone-server restore`).
//!
//! # Consistency
//!
//! The records come from [`Store::snapshot`]: one `REPEATABLE READ` transaction on
//! PostgreSQL (writers are not held up), and on sled a gate every write holds shared and the
//! snapshot holds alone while it reads the trees (writes wait, reads go on): no write is in
//! the file in part, so a case is never there uploaded without its keys, nor a report without
//! its rows. The batch files are read after the snapshot: a batch file is written before its
//! batch is recorded and never changes, so every batch the snapshot records has its file.
//!
//! # The file (format 1)
//!
//! All integers big-endian.
//!
//! | part | bytes |
//! |---|---|
//! | magic | [`MAGIC`], 16 bytes |
//! | header length | u32 |
//! | header | UTF-8 JSON, [`Header`] |
//! | entries | each: `1` (u8), section name length (u16), section name, key length (u32), key, value length (u32), value |
//! | end | `0` (u8), then the SHA-256 of every byte before this `0` |
//!
//! An entry's section is a store tree ([`DIGESTED_TREES`], then [`AUDIT_TREE`]), its key
//! and value the record's bytes as the store keeps them (bincode of the record types;
//! [`Header::record_schema`] says which layout), in the order [`Store::snapshot`] gives
//! them; then [`BATCH_SECTION`] entries: key the batch id (u64), value the batch file. The
//! format carries records as bytes, so a record type that changes needs no change here; the
//! record schema tells a restoring server whether to convert them.
//!
//! A file is refused unless its magic and format are known, it ends with its end marker
//! and nothing after (a truncated copy has none), the checksum matches, the counts match the
//! header's, and [`RecordDigest`] over its records equals [`Header::digest`], which is
//! [`Store::digest`] of the snapshot: after a restore, `GET /api/v1/admin/store` on the
//! restored server gives that digest.
//!
//! # What is not in it
//!
//! The publisher signing key. Phones pin its public key, it never changes, and with it one
//! can sign batches every phone accepts: it is backed up once, apart, when the server is
//! installed, and never leaves the server over HTTP (a stolen admin password must not give
//! it away). The header carries its public key, and a restore refuses a server whose key is
//! another. The batch indexes are not in it either: a server writes them from the recorded
//! batches when it starts.

use ring::digest;
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use crate::domain::store::{AUDIT_TREE, DIGESTED_TREES};
use crate::domain::store::{
    RawRecord, RecordDigest, SLED_SCHEMA_VERSION, Seconds, Store, StoreError, tree_name,
};

/// The first bytes of a backup file.
pub const MAGIC: &[u8; 16] = b"BLUEZONE-BACKUP\n";
/// The format this server writes and reads.
pub const FORMAT: u32 = 1;
/// The section of the publication batch files.
pub const BATCH_SECTION: &str = "publication/batch";

const ENTRY: u8 = 1;
const END: u8 = 0;
/// Most bytes a header may take.
const MAX_HEADER: usize = 1 << 16;

/// What a backup file says of itself, before its entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`FORMAT`].
    pub format: u32,
    /// The version of the server that wrote it.
    pub server_version: String,
    /// The layout of its records: the sled schema version of the server that wrote it
    /// ([`SLED_SCHEMA_VERSION`]).
    pub record_schema: u32,
    /// When the snapshot was taken.
    pub created_at: Seconds,
    /// How many store records it holds (the audit log's included).
    pub records: u64,
    /// How many publication files it holds.
    pub files: u64,
    /// [`Store::digest`] of the snapshot, hex.
    pub digest: String,
    /// The publisher's public key (Ed25519, hex): the key of the server it must be restored
    /// on.
    pub publisher_key: String,
}

/// A backup file read and checked.
#[derive(Debug)]
pub struct Backup {
    /// Its header.
    pub header: Header,
    /// Its store records, in snapshot order.
    pub records: Vec<RawRecord>,
    /// Its publication batch files: (batch id, bytes).
    pub batches: Vec<(u64, Vec<u8>)>,
}

/// Why a backup could not be made or read.
#[derive(Debug)]
pub enum BackupError {
    /// The store failed.
    Store(StoreError),
    /// The file is not a backup this server reads, or is damaged.
    Invalid(String),
    /// A publication file could not be read.
    Io(String),
}

impl std::fmt::Display for BackupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupError::Store(e) => write!(f, "{e}"),
            BackupError::Invalid(what) => write!(f, "not a valid backup: {what}"),
            BackupError::Io(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for BackupError {}

impl From<StoreError> for BackupError {
    fn from(e: StoreError) -> BackupError {
        BackupError::Store(e)
    }
}

fn invalid(what: impl Into<String>) -> BackupError {
    BackupError::Invalid(what.into())
}

/// The file of a batch, by id (`None`: no file), as the workflow's publication sink keeps it.
pub type BatchFiles<'a> = dyn Fn(u64) -> std::io::Result<Option<Vec<u8>>> + 'a;

/// Take a backup of `store` and of the files `batch_file` gives for its batches: the file's
/// bytes and its header.
pub fn take(
    store: &dyn Store,
    batch_file: &BatchFiles<'_>,
    publisher_key: [u8; 32],
    now: Seconds,
) -> Result<(Vec<u8>, Header), BackupError> {
    let mut records: Vec<RawRecord> = Vec::new();
    let mut digest = RecordDigest::new();
    store.snapshot(&mut |tree, key, value| {
        digest.add(tree, key, value)?;
        records.push((tree, key.to_vec(), value.to_vec()));
        Ok(())
    })?;
    let mut batches = Vec::new();
    for (tree, key, _) in &records {
        if *tree != "batches" {
            continue;
        }
        let id = batch_id(key)?;
        match batch_file(id) {
            Ok(Some(bytes)) => batches.push((id, bytes)),
            Ok(None) => tracing::warn!(batch_id = id, "backup: a recorded batch has no file"),
            Err(e) => return Err(BackupError::Io(format!("cannot read batch {id}: {e}"))),
        }
    }
    let header = Header {
        format: FORMAT,
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        record_schema: SLED_SCHEMA_VERSION,
        created_at: now,
        records: records.len() as u64,
        files: batches.len() as u64,
        digest: hex::encode(digest.finish()),
        publisher_key: hex::encode(publisher_key),
    };
    let bytes = write(&header, &records, &batches)?;
    Ok((bytes, header))
}

fn batch_id(key: &[u8]) -> Result<u64, BackupError> {
    let array: [u8; 8] = key
        .try_into()
        .map_err(|_| invalid("a batch id is not 8 bytes"))?;
    Ok(u64::from_be_bytes(array))
}

fn write(
    header: &Header,
    records: &[RawRecord],
    batches: &[(u64, Vec<u8>)],
) -> Result<Vec<u8>, BackupError> {
    let header_json =
        serde_json::to_vec(header).map_err(|e| BackupError::Io(format!("header: {e}")))?;
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&u32_len(header_json.len())?.to_be_bytes());
    out.extend_from_slice(&header_json);
    let entries = records
        .iter()
        .map(|(tree, key, value)| (*tree, key.as_slice(), value.as_slice()));
    let ids: Vec<[u8; 8]> = batches.iter().map(|(id, _)| id.to_be_bytes()).collect();
    let files = batches
        .iter()
        .zip(&ids)
        .map(|((_, bytes), id)| (BATCH_SECTION, id.as_slice(), bytes.as_slice()));
    for (section, key, value) in entries.chain(files) {
        out.push(ENTRY);
        let name_len = u16::try_from(section.len()).map_err(|_| invalid("section name"))?;
        out.extend_from_slice(&name_len.to_be_bytes());
        out.extend_from_slice(section.as_bytes());
        out.extend_from_slice(&u32_len(key.len())?.to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&u32_len(value.len())?.to_be_bytes());
        out.extend_from_slice(value);
    }
    let checksum = digest::digest(&digest::SHA256, &out);
    out.push(END);
    out.extend_from_slice(checksum.as_ref());
    Ok(out)
}

fn u32_len(len: usize) -> Result<u32, BackupError> {
    u32::try_from(len).map_err(|_| BackupError::Io("a record longer than 4 GiB".into()))
}

/// Reads the parts of a file in order, saying where one is missing.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], BackupError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(invalid(format!(
                "truncated: the file ends at byte {} inside {what} (an incomplete copy?)",
                self.bytes.len()
            )));
        };
        let part = &self.bytes[self.at..end];
        self.at = end;
        Ok(part)
    }

    fn u8(&mut self, what: &str) -> Result<u8, BackupError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<usize, BackupError> {
        let b = self.take(2, what)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self, what: &str) -> Result<usize, BackupError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

impl Backup {
    /// Read a backup file and check it whole (see the module documentation): anything
    /// truncated, damaged or of an unknown format is refused, naming what is wrong.
    pub fn read(bytes: &[u8]) -> Result<Backup, BackupError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(MAGIC.len(), "the magic").ok() != Some(&MAGIC[..]) {
            return Err(invalid("it does not start as a Bluezone backup file does"));
        }
        let header_len = r.u32("the header length")?;
        if header_len > MAX_HEADER {
            return Err(invalid(format!("a header of {header_len} bytes")));
        }
        let header_bytes = r.take(header_len, "the header")?;
        let format: serde_json::Value = serde_json::from_slice(header_bytes)
            .map_err(|e| invalid(format!("the header: {e}")))?;
        if format["format"] != serde_json::json!(FORMAT) {
            return Err(invalid(format!(
                "format {}, this server reads format {FORMAT}",
                format["format"]
            )));
        }
        let header: Header =
            serde_json::from_value(format).map_err(|e| invalid(format!("the header: {e}")))?;
        let mut records = Vec::new();
        let mut batches = Vec::new();
        loop {
            let entry = records.len() + batches.len() + 1;
            let what = format!("entry {entry}");
            match r.u8(&what)? {
                END => break,
                ENTRY => {}
                other => return Err(invalid(format!("{what}: tag {other} (damaged)"))),
            }
            let name_len = r.u16(&what)?;
            let name = r.take(name_len, &what)?;
            let key_len = r.u32(&what)?;
            let key = r.take(key_len, &what)?.to_vec();
            let value_len = r.u32(&what)?;
            let value = r.take(value_len, &what)?.to_vec();
            if name == BATCH_SECTION.as_bytes() {
                batches.push((batch_id(&key)?, value));
            } else if !batches.is_empty() {
                return Err(invalid(format!("{what}: a record after the files")));
            } else {
                let tree = std::str::from_utf8(name)
                    .ok()
                    .and_then(tree_name)
                    .ok_or_else(|| {
                        invalid(format!(
                            "{what}: unknown section {:?}",
                            String::from_utf8_lossy(name)
                        ))
                    })?;
                records.push((tree, key, value));
            }
        }
        let body_end = r.at - 1;
        let checksum = r.take(32, "the checksum")?;
        if r.at != bytes.len() {
            return Err(invalid(format!(
                "{} bytes after its end",
                bytes.len() - r.at
            )));
        }
        if digest::digest(&digest::SHA256, &bytes[..body_end]).as_ref() != checksum {
            return Err(invalid("the checksum does not match (the file is damaged)"));
        }
        if header.records != records.len() as u64 || header.files != batches.len() as u64 {
            return Err(invalid(format!(
                "the header counts {} records and {} files, the file holds {} and {}",
                header.records,
                header.files,
                records.len(),
                batches.len()
            )));
        }
        let digest = Backup::digest_of(&records)?;
        if hex::encode(digest) != header.digest {
            return Err(invalid(format!(
                "its records' digest {} is not the header's {}",
                hex::encode(digest),
                header.digest
            )));
        }
        Ok(Backup {
            header,
            records,
            batches,
        })
    }

    /// [`Store::digest`] of a store holding `records`.
    pub fn digest_of(records: &[RawRecord]) -> Result<[u8; 32], BackupError> {
        let mut digest = RecordDigest::new();
        for (tree, key, value) in records {
            digest.add(tree, key, value)?;
        }
        Ok(digest.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::store::conformance::{NOW, account, batch, uploaded_case};
    use crate::domain::store::{AuditEntry, AuditFilter, SledStore};

    /// The batch files: batch 1's.
    fn batch_file(id: u64) -> std::io::Result<Option<Vec<u8>>> {
        Ok((id == 1).then(|| b"the bytes of batch 1".to_vec()))
    }

    /// A sled store with an account, two uploaded cases, one published in batch 1, and an
    /// audit entry.
    fn filled(dir: &tempfile::TempDir) -> SledStore {
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        store.insert_account(&account("admin")).unwrap();
        let case_id = uploaded_case(&store, 1);
        uploaded_case(&store, 2);
        store
            .request_trace(case_id, "doctor", &[0], NOW + 120)
            .unwrap();
        store.record_run(&[batch(1, vec![case_id])]).unwrap();
        let entry = AuditEntry {
            seq: 0,
            at: NOW,
            account: "admin".into(),
            client: None,
            action: "login".into(),
            object: String::new(),
        };
        store.append_audit(&entry).unwrap();
        store
    }

    fn audit_log(store: &SledStore) -> Vec<AuditEntry> {
        store
            .audit(&AuditFilter {
                limit: 100,
                ..AuditFilter::default()
            })
            .unwrap()
    }

    #[test]
    fn a_backup_restores_to_its_digest_and_any_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(&dir);
        let (bytes, header) = take(&store, &batch_file, [7; 32], NOW).unwrap();
        assert_eq!(header.digest, hex::encode(store.digest().unwrap()));
        assert_eq!(header.publisher_key, hex::encode([7; 32]));
        let backup = Backup::read(&bytes).unwrap();
        assert_eq!(backup.header, header);
        assert_eq!(backup.batches, vec![(1, b"the bytes of batch 1".to_vec())]);

        // Restored: the same digest, the same audit log, which goes on numbering after it.
        let other = tempfile::tempdir().unwrap();
        let records = backup.records.iter().cloned().map(Ok);
        let (restored, written) =
            SledStore::import(&other.path().join("store"), header.record_schema, records).unwrap();
        assert_eq!(written, header.records);
        assert_eq!(restored.digest().unwrap(), store.digest().unwrap());
        assert_eq!(restored.counts().unwrap(), store.counts().unwrap());
        assert_eq!(audit_log(&restored), audit_log(&store));
        let next = restored.append_audit(&audit_log(&store)[0]).unwrap();
        assert_eq!(next, 2);
        // Never into a store with records, which stays as it was.
        let before = restored.digest().unwrap();
        drop(restored);
        let again = backup.records.iter().cloned().map(Ok);
        let refused = SledStore::import(&other.path().join("store"), header.record_schema, again);
        assert!(
            matches!(&refused, Err(e) if e.to_string().contains("holds records")),
            "{refused:?}"
        );
        let reopened = SledStore::open(&other.path().join("store")).unwrap();
        assert_eq!(reopened.digest().unwrap(), before);

        // Every truncation, every flipped byte and any trailing byte is refused.
        for len in 0..bytes.len() {
            assert!(Backup::read(&bytes[..len]).is_err(), "cut to {len} bytes");
        }
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x01;
            assert!(Backup::read(&damaged).is_err(), "byte {i} flipped");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Backup::read(&longer).is_err());
        let cut = Backup::read(&bytes[..bytes.len() - 40])
            .unwrap_err()
            .to_string();
        assert!(cut.contains("truncated"), "{cut}");
    }

    /// A file whose header digest does not match its records is refused even with a valid
    /// checksum (a writer's bug, not damage in transit).
    #[test]
    fn a_header_digest_that_is_not_the_records_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(&dir);
        let (bytes, mut header) = take(&store, &batch_file, [7; 32], NOW).unwrap();
        let backup = Backup::read(&bytes).unwrap();
        header.digest = hex::encode([0u8; 32]);
        let lying = write(&header, &backup.records, &backup.batches).unwrap();
        let refused = Backup::read(&lying).unwrap_err().to_string();
        assert!(refused.contains("digest"), "{refused}");
        // A newer format is refused by its number.
        let mut newer = header.clone();
        newer.format = FORMAT + 1;
        let newer = write(&newer, &backup.records, &backup.batches).unwrap();
        let refused = Backup::read(&newer).unwrap_err().to_string();
        assert!(refused.contains("format 2"), "{refused}");
    }
}
