//! What the server keeps, and the storage trait it keeps it behind.
//!
//! The workflow ([`crate::domain::workflow`]) talks to a [`Store`] only. Each method is one unit of
//! work that a relational backend would run as one transaction: the conditional ones
//! ([`Store::accept_upload`], [`Store::record_report`], [`Store::request_trace`],
//! [`Store::record_run`]) check and write atomically, so two server instances sharing a
//! networked backend could not, say, both consume one declaration code. Every method that
//! writes returns only once the write is durable (flushed to disk for [`SledStore`]).
//!
//! Records are plain data ([`serde`] types); [`SledStore`] encodes them with bincode 2. None of
//! them is a protocol message: those have their SPEC.md layouts and live in `bluezone-protocol`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::password::PasswordHash;
use crate::domain::throttle::RetryAfter;
#[cfg(doc)]
use crate::domain::throttle::{KnownClients, Throttle};

#[cfg(test)]
pub(crate) mod conformance;
mod legacy;
mod memory_store;
mod postgres_store;
mod sled_store;

pub use memory_store::MemoryStore;
pub use postgres_store::{MIGRATIONS, Migration, PostgresOptions, PostgresStore};
pub use sled_store::{SCHEMA_VERSION as SLED_SCHEMA_VERSION, SledStore};

/// Seconds since the unix epoch, as the store keeps them.
pub type Seconds = u64;

/// What an account may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Creates accounts, runs publication on demand, reads metrics and the audit log; sees
    /// every case.
    Admin,
    /// A treatment-facility health worker: opens F0 cases, asks for tracing, reads the F1
    /// table of its facility's cases (seed steps 2, 4, 6).
    TreatmentFacility {
        /// The facility, as named in the server configuration. Empty in a deployment that
        /// configures no facility (one tenant: its facility accounts share its cases), and
        /// for an account from before facilities (store schema 2).
        facility: String,
    },
    /// A preventive-medicine unit worker: lists the F1 rows of the unit's districts and records
    /// their follow-up (seed step 7).
    PreventiveUnit {
        /// The unit, as named in the server configuration.
        unit: String,
    },
    /// Read-only oversight of a province (a provincial health department): reads the cases
    /// opened by the province's facilities and their F1 tables, changes nothing.
    Oversight {
        /// The province, by its code (SPEC.md §8.5).
        province: u16,
    },
}

impl Role {
    /// The kind of [`Role::Admin`], as the JSON API and the console's forms spell it.
    pub const ADMIN: &'static str = "admin";
    /// The kind of [`Role::TreatmentFacility`].
    pub const TREATMENT_FACILITY: &'static str = "treatment_facility";
    /// The kind of [`Role::PreventiveUnit`].
    pub const PREVENTIVE_UNIT: &'static str = "preventive_unit";
    /// The kind of [`Role::Oversight`].
    pub const OVERSIGHT: &'static str = "oversight";

    /// The name of the role's kind: [`Role::ADMIN`], [`Role::TREATMENT_FACILITY`],
    /// [`Role::PREVENTIVE_UNIT`] or [`Role::OVERSIGHT`].
    pub fn kind(&self) -> &'static str {
        match self {
            Role::Admin => Role::ADMIN,
            Role::TreatmentFacility { .. } => Role::TREATMENT_FACILITY,
            Role::PreventiveUnit { .. } => Role::PREVENTIVE_UNIT,
            Role::Oversight { .. } => Role::OVERSIGHT,
        }
    }

    /// The role of kind `kind` (as [`Role::kind`] names it) and its scope: `facility` goes
    /// with `treatment_facility` (none: the deployment's only tenant, see
    /// [`Role::TreatmentFacility`]), `unit` with `preventive_unit` and `province` (1 and up)
    /// with `oversight`, both required; each is refused with the other kinds.
    pub fn from_kind(
        kind: &str,
        facility: Option<String>,
        unit: Option<String>,
        province: Option<u16>,
    ) -> Result<Role, ParseNameError> {
        match (kind, facility, unit, province) {
            (Role::ADMIN, None, None, None) => Ok(Role::Admin),
            (Role::TREATMENT_FACILITY, facility, None, None)
                if facility.as_ref().is_none_or(|f| !f.is_empty()) =>
            {
                Ok(Role::TreatmentFacility {
                    facility: facility.unwrap_or_default(),
                })
            }
            (Role::PREVENTIVE_UNIT, None, Some(unit), None) if !unit.is_empty() => {
                Ok(Role::PreventiveUnit { unit })
            }
            (Role::OVERSIGHT, None, None, Some(province)) if province > 0 => {
                Ok(Role::Oversight { province })
            }
            (kind, ..) => Err(ParseNameError {
                what: "role",
                name: kind.to_owned(),
                expected: "admin; treatment_facility, with a facility where the configuration \
                           lists facilities; preventive_unit with a unit; oversight with a \
                           province (1 and up); and no other of facility, unit, province",
            }),
        }
    }
}

/// A name that is not one of a closed set's (a role, a follow-up status, a confirmation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseNameError {
    /// What was named.
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The names that are accepted.
    pub expected: &'static str,
}

impl fmt::Display for ParseNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: one of {}", self.what, self.name, self.expected)
    }
}

impl std::error::Error for ParseNameError {}

/// A health worker's account (seed step 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Login name: 1 to 64 characters of `a-z 0-9 . _ -`.
    pub username: String,
    /// What the account may do.
    pub role: Role,
    /// PBKDF2-HMAC-SHA256 of the password.
    pub password: PasswordHash,
    /// When the account was created.
    pub created_at: Seconds,
    /// Whether the account can log in.
    pub disabled: bool,
    /// Whether its password was set by someone else (the first start, an admin's reset or
    /// creation): until the owner changes it, a session may only change the password or end.
    pub must_change_password: bool,
}

/// A logged-in session. Only the SHA-256 of its bearer token is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// SHA-256 of the bearer token.
    pub token_hash: [u8; 32],
    /// Whose session it is.
    pub username: String,
    /// When it was opened.
    pub created_at: Seconds,
    /// When it stops being valid.
    pub expires_at: Seconds,
}

/// Where an F0 case is in the workflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseStatus {
    /// The declaration code is issued; the phone has not uploaded yet (step 2).
    AwaitingUpload,
    /// The phone uploaded (step 3).
    UploadReceived {
        /// When.
        at: Seconds,
    },
    /// A health worker pressed "Trace F1": the case goes into the next publication run's
    /// batches, one per region (step 4).
    TraceRequested {
        /// When.
        at: Seconds,
        /// Who.
        by: String,
        /// The regions it is published to, ascending: `[0]` (the whole country) or province
        /// codes (SPEC.md §8.5).
        regions: Vec<u16>,
    },
    /// The case's RPIs are in the batches of one publication run, one per region.
    Published {
        /// When the batches were built.
        at: Seconds,
        /// Its batch in each region it was traced to, by region.
        batches: Vec<RegionBatch>,
    },
}

/// One region's batch of a publication run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionBatch {
    /// The region (0: the whole country).
    pub region: u16,
    /// Its batch.
    pub batch_id: u64,
}

/// An F0 case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Server-assigned, from 1 up.
    pub case_id: u64,
    /// The facility's own reference for the patient (not a name: a file number), at most 64
    /// characters.
    pub reference: String,
    /// The health worker who opened it.
    pub opened_by: String,
    /// The treatment facility it belongs to: its health workers see it (empty in a
    /// deployment that configures no facility, and for a case from before facilities).
    pub facility: String,
    /// The facility's province when the case was opened (0 for a case from before
    /// facilities): the province's oversight accounts see it, and "Trace F1" publishes to it
    /// unless the deployment or the health worker chooses other regions.
    pub province: u16,
    /// When.
    pub opened_at: Seconds,
    /// When its declaration code stops being accepted.
    pub code_expires_at: Seconds,
    /// Where it is in the workflow.
    pub status: CaseStatus,
    /// How many F1 rows it has.
    pub f1_rows: u32,
}

/// What the store knows of a declaration code: only its keyed hash (the key of the record),
/// its case, its expiry and whether it was used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The case it opens.
    pub case_id: u64,
    /// When it stops being accepted.
    pub expires_at: Seconds,
    /// When an upload consumed it.
    pub used_at: Option<Seconds>,
}

/// One daily key of an accepted upload, as kept for publication and verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// The 16 key bytes.
    pub key: [u8; 16],
    /// First interval of validity.
    pub rolling_start: u32,
    /// Intervals of validity.
    pub rolling_period: u32,
    /// Bitmap of the offsets to publish (SPEC.md §7).
    pub published: [u8; 18],
}

/// The daily keys of an accepted upload. Its contact history is kept apart, hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The case.
    pub case_id: u64,
    /// When it was accepted.
    pub received_at: Seconds,
    /// Its keys.
    pub keys: Vec<StoredKey>,
}

/// One keyed hash of an RPI the F0 heard, with the time last heard.
pub type ContactHash = ([u8; 16], Seconds);

/// A publication batch the server built and wrote out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// Its identifier, from 1 up.
    pub batch_id: u64,
    /// Its region (0: the whole country).
    pub region: u16,
    /// When it was built.
    pub created_at: Seconds,
    /// First interval it covers.
    pub first_interval: u32,
    /// Last interval it covers (inclusive).
    pub last_interval: u32,
    /// Filter entries, dummies included.
    pub entry_count: u32,
    /// Real RPIs.
    pub published_rpis: u32,
    /// Length of the batch file.
    pub byte_len: u32,
    /// SHA-256 of the batch file.
    pub sha256: [u8; 32],
    /// The cases it published.
    pub cases: Vec<u64>,
}

/// How an F1 row was confirmed (see [`bluezone_protocol::Confirmation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfirmationRecord {
    /// Each phone heard the other.
    ConfirmedBothWays,
    /// Only the F1 heard the F0.
    OneSided,
}

impl ConfirmationRecord {
    /// Its name in the JSON API and the CSV export.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmationRecord::ConfirmedBothWays => "confirmed_both_ways",
            ConfirmationRecord::OneSided => "one_sided",
        }
    }
}

impl std::str::FromStr for ConfirmationRecord {
    type Err = ParseNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [
            ConfirmationRecord::ConfirmedBothWays,
            ConfirmationRecord::OneSided,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
        .ok_or_else(|| ParseNameError {
            what: "confirmation",
            name: name.to_owned(),
            expected: "confirmed_both_ways, one_sided",
        })
    }
}

/// Where a preventive-medicine unit is with one F1 (seed step 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FollowUpStatus {
    /// Nobody has acted on it yet.
    New,
    /// The F1 was reached.
    Contacted,
    /// The F1 is in quarantine.
    Quarantined,
    /// The F1 was tested.
    Tested,
    /// Follow-up is over.
    Closed,
}

impl FollowUpStatus {
    /// Every status, in the order a unit moves through them.
    pub const ALL: [FollowUpStatus; 5] = [
        FollowUpStatus::New,
        FollowUpStatus::Contacted,
        FollowUpStatus::Quarantined,
        FollowUpStatus::Tested,
        FollowUpStatus::Closed,
    ];

    /// Its name in the JSON API, the console's forms and the CSV export.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpStatus::New => "new",
            FollowUpStatus::Contacted => "contacted",
            FollowUpStatus::Quarantined => "quarantined",
            FollowUpStatus::Tested => "tested",
            FollowUpStatus::Closed => "closed",
        }
    }
}

impl std::str::FromStr for FollowUpStatus {
    type Err = ParseNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        FollowUpStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| ParseNameError {
                what: "status",
                name: name.to_owned(),
                expected: "new, contacted, quarantined, tested, closed",
            })
    }
}

/// The latest follow-up of an F1 row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    /// The status.
    pub status: FollowUpStatus,
    /// When it was set.
    pub updated_at: Seconds,
    /// By whom (empty while [`FollowUpStatus::New`]).
    pub updated_by: String,
}

/// One verified F1 of one case: a row of the F1 table (seed step 6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct F1RowRecord {
    /// The case.
    pub case_id: u64,
    /// "No." of the table: 1, 2, ... per case, in order of arrival.
    pub row_no: u32,
    /// The report (the table's "F1 ID").
    pub report_id: [u8; 16],
    /// The F1's district.
    pub district: u32,
    /// When the report arrived.
    pub received_at: Seconds,
    /// Earliest first scan.
    pub first_contact: Seconds,
    /// Latest scan.
    pub last_contact: Seconds,
    /// Time near the F0, seconds.
    pub duration_seconds: u64,
    /// Smallest exact attenuation, dB.
    pub min_attenuation_db: i16,
    /// Exact weighted exposure, minutes.
    pub weighted_minutes: u64,
    /// Both ways or one-sided.
    pub confirmation: ConfirmationRecord,
    /// The F1's contact details, HPKE-sealed to the unit of the district (176 bytes).
    pub sealed_contact: Vec<u8>,
    /// The unit's follow-up.
    pub follow_up: FollowUp,
}

/// A report the server accepted, kept so a second copy is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRecord {
    /// Its identifier.
    pub report_id: [u8; 16],
    /// When it arrived.
    pub received_at: Seconds,
    /// The rows it gave: (case, row number).
    pub rows: Vec<(u64, u32)>,
}

/// A sighting a verified report rests on (SPEC.md §10.4), kept so that no later report claims
/// it again, and to count the one-sided rows each published RPI backs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    /// The published RPI the sighting heard.
    pub rpi: [u8; 16],
    /// [`bluezone_protocol::claim_id`] of the sighting.
    pub claim_id: [u8; 32],
    /// The case whose row it backs.
    pub case_id: u64,
    /// Whether that row is one-sided.
    pub one_sided: bool,
    /// When the report arrived.
    pub received_at: Seconds,
}

/// A preventive-medicine unit an admin registered through the API or the console (units of
/// the configuration file are not stored). The workflow checks it against every other unit
/// before it is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRecord {
    /// Its name (1 to 64 characters of `a-z 0-9 -`).
    pub name: String,
    /// The districts it covers.
    pub districts: Vec<u32>,
    /// Its HPKE public key (X25519).
    pub public_key: [u8; 32],
    /// When it was registered.
    pub registered_at: Seconds,
    /// The admin who registered it.
    pub registered_by: String,
}

/// Claims are kept as long as the daily keys they were verified against: 15 days.
pub const CLAIM_RETENTION_SECONDS: u64 =
    KEY_RETENTION_INTERVALS * bluezone_protocol::INTERVAL_SECONDS;

/// Whether a claim is still within [`CLAIM_RETENTION_SECONDS`] of `now`.
pub fn claim_retained(claim: &ClaimRecord, now: Seconds) -> bool {
    claim.received_at > now.saturating_sub(CLAIM_RETENTION_SECONDS)
}

/// Why a declaration code did not open its case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeRefusal {
    /// No case has this code.
    Unknown,
    /// An upload already consumed it.
    Used,
    /// It expired.
    Expired,
}

/// Why the store refused or failed an operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The declaration code did not open its case.
    Code(CodeRefusal),
    /// An account with this name exists.
    AccountExists,
    /// No such account.
    NoSuchAccount,
    /// A unit with this name was registered before.
    UnitExists,
    /// No such case.
    NoSuchCase(u64),
    /// No such F1 row.
    NoSuchRow {
        /// The case.
        case_id: u64,
        /// The row.
        row_no: u32,
    },
    /// The case is not in a state that allows the operation.
    WrongCaseState {
        /// The case.
        case_id: u64,
        /// What it is.
        status: CaseStatus,
    },
    /// A report with this identifier was accepted before.
    DuplicateReport,
    /// A sighting the report rests on was claimed by an earlier report.
    ClaimedBefore,
    /// A stored record does not decode: the data directory is damaged or from another version.
    Corrupt(String),
    /// The backend failed (disk, I/O).
    Backend(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Code(CodeRefusal::Unknown) => write!(f, "unknown declaration code"),
            StoreError::Code(CodeRefusal::Used) => write!(f, "declaration code already used"),
            StoreError::Code(CodeRefusal::Expired) => write!(f, "declaration code expired"),
            StoreError::AccountExists => write!(f, "an account with this name exists"),
            StoreError::NoSuchAccount => write!(f, "no such account"),
            StoreError::UnitExists => write!(f, "a unit with this name is registered"),
            StoreError::NoSuchCase(id) => write!(f, "no case {id}"),
            StoreError::NoSuchRow { case_id, row_no } => {
                write!(f, "case {case_id} has no F1 row {row_no}")
            }
            StoreError::WrongCaseState { case_id, status } => {
                write!(f, "case {case_id} is {status:?}")
            }
            StoreError::DuplicateReport => write!(f, "report already received"),
            StoreError::ClaimedBefore => write!(f, "a sighting was claimed by an earlier report"),
            StoreError::Corrupt(what) => write!(f, "stored record does not decode: {what}"),
            StoreError::Backend(what) => write!(f, "storage failed: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

// ---- The record rules every backend applies (a backend only adds storage and atomicity) ----

/// Intervals of 10 minutes in 15 days: uploaded keys are kept one day past the phones' 14-day
/// retention.
pub const KEY_RETENTION_INTERVALS: u64 =
    bluezone_protocol::RETENTION_INTERVALS as u64 + bluezone_protocol::INTERVALS_PER_DAY as u64;
/// Contact hashes are kept 14 days after the sighting was last heard.
pub const CONTACT_RETENTION_SECONDS: u64 = bluezone_protocol::RETENTION_SECONDS;

impl CodeRecord {
    /// The code after an upload used it at `now`, if it is unused and not expired.
    pub fn used(&self, now: Seconds) -> Result<CodeRecord, StoreError> {
        if self.used_at.is_some() {
            return Err(StoreError::Code(CodeRefusal::Used));
        }
        if now >= self.expires_at {
            return Err(StoreError::Code(CodeRefusal::Expired));
        }
        Ok(CodeRecord {
            used_at: Some(now),
            ..self.clone()
        })
    }
}

impl CaseRecord {
    /// The case after its upload arrived at `now`; only a case awaiting its upload takes one.
    pub fn upload_received(&self, now: Seconds) -> Result<CaseRecord, StoreError> {
        if self.status != CaseStatus::AwaitingUpload {
            return Err(StoreError::WrongCaseState {
                case_id: self.case_id,
                status: self.status.clone(),
            });
        }
        Ok(CaseRecord {
            status: CaseStatus::UploadReceived { at: now },
            ..self.clone()
        })
    }

    /// The case with a reissued declaration code, valid until `expires_at`; only a case
    /// awaiting its upload gets one.
    pub fn code_reissued(&self, expires_at: Seconds) -> Result<CaseRecord, StoreError> {
        if self.status != CaseStatus::AwaitingUpload {
            return Err(StoreError::WrongCaseState {
                case_id: self.case_id,
                status: self.status.clone(),
            });
        }
        Ok(CaseRecord {
            code_expires_at: expires_at,
            ..self.clone()
        })
    }

    /// The case after "Trace F1" to `regions` by `by` at `now`: `Some` when that changes it,
    /// `None` when it was already requested or published; refused before its upload.
    pub fn trace_requested(
        &self,
        by: &str,
        regions: &[u16],
        now: Seconds,
    ) -> Result<Option<CaseRecord>, StoreError> {
        match self.status {
            CaseStatus::UploadReceived { .. } => Ok(Some(CaseRecord {
                status: CaseStatus::TraceRequested {
                    at: now,
                    by: by.to_owned(),
                    regions: regions.to_vec(),
                },
                ..self.clone()
            })),
            CaseStatus::TraceRequested { .. } | CaseStatus::Published { .. } => Ok(None),
            CaseStatus::AwaitingUpload => Err(StoreError::WrongCaseState {
                case_id: self.case_id,
                status: self.status.clone(),
            }),
        }
    }

    /// Number `row` as this case's next F1 row (counting it in `f1_rows`).
    pub fn add_f1_row(&mut self, row: &F1RowRecord) -> F1RowRecord {
        self.f1_rows += 1;
        F1RowRecord {
            row_no: self.f1_rows,
            ..row.clone()
        }
    }
}

/// The cases of a publication run, each with the status recording it in `run` sets: its batch
/// in every region of the run that publishes it, by region (used by every [`Store::record_run`]).
pub fn published_cases(run: &[BatchRecord]) -> BTreeMap<u64, CaseStatus> {
    let mut cases: BTreeMap<u64, (Seconds, Vec<RegionBatch>)> = BTreeMap::new();
    for batch in run {
        for case_id in &batch.cases {
            let (at, batches) = cases.entry(*case_id).or_default();
            *at = (*at).max(batch.created_at);
            batches.push(RegionBatch {
                region: batch.region,
                batch_id: batch.batch_id,
            });
        }
    }
    cases
        .into_iter()
        .map(|(case_id, (at, mut batches))| {
            batches.sort_by_key(|b| (b.region, b.batch_id));
            (case_id, CaseStatus::Published { at, batches })
        })
        .collect()
}

/// Refuse a run with no batch, or two batches with one id or one region.
pub fn check_run(run: &[BatchRecord]) -> Result<(), StoreError> {
    if run.is_empty() {
        return Err(StoreError::Backend(
            "a publication run with no batch".into(),
        ));
    }
    let mut ids: Vec<u64> = run.iter().map(|b| b.batch_id).collect();
    let mut regions: Vec<u16> = run.iter().map(|b| b.region).collect();
    ids.sort_unstable();
    regions.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) || regions.windows(2).any(|w| w[0] == w[1]) {
        return Err(StoreError::Backend(
            "a publication run names one batch id or one region twice".into(),
        ));
    }
    Ok(())
}

/// Whether a stored key still has an interval within [`KEY_RETENTION_INTERVALS`] at `now`.
pub fn key_retained(key: &StoredKey, now: Seconds) -> bool {
    let oldest_interval =
        (now / bluezone_protocol::INTERVAL_SECONDS).saturating_sub(KEY_RETENTION_INTERVALS);
    u64::from(key.rolling_start) + u64::from(key.rolling_period) > oldest_interval
}

/// Whether a contact hash was last heard within [`CONTACT_RETENTION_SECONDS`] of `now`.
pub fn contact_retained(hash: &ContactHash, now: Seconds) -> bool {
    hash.1 > now.saturating_sub(CONTACT_RETENTION_SECONDS)
}

/// One entry of the audit log: who did what, when, from where, to which object. Entries are
/// only ever appended (there is no method to change or remove one), numbered from 1 in the
/// order they were appended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its number, from 1 up, assigned by [`Store::append_audit`] (0 before).
    pub seq: u64,
    /// When.
    pub at: Seconds,
    /// The account that acted (for a failed login, the name that was tried; `-` for the
    /// server itself, as for a scheduled publication run or a retention purge).
    pub account: String,
    /// The client address it came from, when known.
    pub client: Option<String>,
    /// What was done: one of [`AuditEntry::ACTIONS`].
    pub action: String,
    /// What it was done to (`case 12`, `account bs.hung`, `unit hanoi-cdc`, …), or empty.
    pub object: String,
}

impl AuditEntry {
    /// The actions recorded, as the API and the console name them.
    pub const ACTIONS: [&'static str; 21] = [
        "login",
        "login_failed",
        "password_changed",
        "account_created",
        "account_disabled",
        "account_enabled",
        "password_reset",
        "role_changed",
        "unit_registered",
        "case_opened",
        "code_reissued",
        "trace_requested",
        "publication_run",
        "f1_table_read",
        "f1_export",
        "unit_rows_read",
        "follow_up_changed",
        "audit_read",
        "retention_purge",
        "store_read",
        "store_backup",
    ];
}

/// Which audit entries to read: every condition given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries of this account.
    pub account: Option<String>,
    /// Entries of this action.
    pub action: Option<String>,
    /// Entries at or after this time.
    pub from: Option<Seconds>,
    /// Entries before this time.
    pub to: Option<Seconds>,
    /// Entries numbered below this one (to page backwards).
    pub before_seq: Option<u64>,
    /// At most this many, the newest first.
    pub limit: usize,
}

impl AuditFilter {
    /// Whether `entry` meets every condition (the limit aside).
    pub fn admits(&self, entry: &AuditEntry) -> bool {
        self.account.as_ref().is_none_or(|a| &entry.account == a)
            && self.action.as_ref().is_none_or(|a| &entry.action == a)
            && self.from.is_none_or(|t| entry.at >= t)
            && self.to.is_none_or(|t| entry.at < t)
            && self.before_seq.is_none_or(|s| entry.seq < s)
    }
}

/// How long the records about people are kept (the `[retention]` table of the
/// configuration). The protocol's own retention (keys, contact hashes and claims: 14 to 15
/// days) is fixed by SPEC.md and applies whatever these say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Days after an F1 row arrived that its sealed contact details (the F1's phone number
    /// and name) are erased, the row kept: 28 by default, the 14 days of quarantine and 14 of
    /// self-monitoring Vietnam asked of F1s through most of 2021, after which the unit has no
    /// call to make.
    pub sealed_contact_days: u32,
    /// Days after an F1 row arrived that the row goes, with its follow-up: 90 by default, a
    /// quarter for the units' and the ministry's reporting on the outbreak.
    pub f1_row_days: u32,
    /// Days after a case was opened that it goes, with its code, its upload and whatever of
    /// its F1 rows is left: 90 by default, as the rows.
    pub case_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            sealed_contact_days: 28,
            f1_row_days: 90,
            case_days: 90,
        }
    }
}

impl Retention {
    /// Check the periods: each at least one day, contact details erased no later than their
    /// row, and cases kept at least the 15 days the protocol may still need them.
    pub fn validate(&self) -> Result<(), String> {
        if self.sealed_contact_days == 0 || self.f1_row_days == 0 {
            return Err("retention: every period is at least one day".into());
        }
        if self.sealed_contact_days > self.f1_row_days {
            return Err("retention: sealed_contact_days cannot be longer than f1_row_days".into());
        }
        if self.case_days < 15 {
            return Err("retention: case_days is at least 15 (the protocol's 14-day window and a day of publication)".into());
        }
        Ok(())
    }

    /// Whether a row received at `received_at` still has its contact details at `now`.
    pub fn contact_kept(&self, received_at: Seconds, now: Seconds) -> bool {
        received_at + u64::from(self.sealed_contact_days) * 86_400 > now
    }

    /// Whether a row received at `received_at` is kept at `now`.
    pub fn row_kept(&self, received_at: Seconds, now: Seconds) -> bool {
        received_at + u64::from(self.f1_row_days) * 86_400 > now
    }

    /// Whether a case opened at `opened_at` is kept at `now`.
    pub fn case_kept(&self, opened_at: Seconds, now: Seconds) -> bool {
        opened_at + u64::from(self.case_days) * 86_400 > now
    }
}

/// The trees of the record layout every backend shares (sled's own; PostgreSQL's tables give
/// the same records in it, [`PostgresStore`]), in the order [`Store::digest`] hashes them.
pub const DIGESTED_TREES: [&str; 14] = [
    "meta",
    "accounts",
    "units",
    "sessions",
    "cases",
    "codes",
    "upload_digests",
    "uploads",
    "contacts",
    "batches",
    "reports",
    "claims",
    "f1_rows",
    "f1_by_district",
];

/// The audit log's tree: in a [`Store::snapshot`] (after [`DIGESTED_TREES`]), outside the
/// digest. Its key is the entry number (u64 BE), its value the [`AuditEntry`].
pub const AUDIT_TREE: &str = "audit";

/// The tree called `name`, if it is one of [`DIGESTED_TREES`] or [`AUDIT_TREE`] (a name read
/// from a backup file becomes the static name the stores take).
pub fn tree_name(name: &str) -> Option<&'static str> {
    DIGESTED_TREES
        .into_iter()
        .chain([AUDIT_TREE])
        .find(|t| *t == name)
}

/// One record in the shared layout: its tree, its key bytes, its value bytes.
pub type RawRecord = (&'static str, Vec<u8>, Vec<u8>);

/// [`Store::digest`] computed from records given in the shared layout, tree by tree in the
/// order of [`DIGESTED_TREES`] and each tree in key order (as [`Store::snapshot`] gives them):
/// SHA-256 over, for every tree (empty ones too), its name, then each record's key and value,
/// each of the four preceded by its length (u64 LE). Audit records are skipped.
pub struct RecordDigest {
    ctx: ring::digest::Context,
    /// How many of [`DIGESTED_TREES`] have been started.
    started: usize,
}

impl Default for RecordDigest {
    fn default() -> Self {
        RecordDigest::new()
    }
}

impl RecordDigest {
    /// Nothing hashed yet.
    pub fn new() -> RecordDigest {
        RecordDigest {
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
            started: 0,
        }
    }

    /// Hash the names of the trees up to and including `tree`.
    fn start(&mut self, tree: &str) -> Result<(), StoreError> {
        while self.started == 0 || DIGESTED_TREES[self.started - 1] != tree {
            let Some(next) = DIGESTED_TREES.get(self.started) else {
                return Err(StoreError::Corrupt(format!(
                    "records of tree {tree:?} out of the trees' order"
                )));
            };
            self.ctx.update(&(next.len() as u64).to_le_bytes());
            self.ctx.update(next.as_bytes());
            self.started += 1;
        }
        Ok(())
    }

    /// Add one record; refused when its tree comes before one already added.
    pub fn add(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if tree == AUDIT_TREE {
            return Ok(());
        }
        self.start(tree)?;
        self.ctx.update(&(key.len() as u64).to_le_bytes());
        self.ctx.update(key);
        self.ctx.update(&(value.len() as u64).to_le_bytes());
        self.ctx.update(value);
        Ok(())
    }

    /// The digest, the trees not seen hashed as empty.
    pub fn finish(mut self) -> [u8; 32] {
        for name in &DIGESTED_TREES[self.started..] {
            self.ctx.update(&(name.len() as u64).to_le_bytes());
            self.ctx.update(name.as_bytes());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(self.ctx.finish().as_ref());
        out
    }
}

/// What [`Store::snapshot`] calls with each record: its tree, key and value.
pub type SnapshotVisitor<'a> = dyn FnMut(&'static str, &[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// Counts of what the store holds (for `/metrics` and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreCounts {
    /// Accounts.
    pub accounts: u64,
    /// Open sessions.
    pub sessions: u64,
    /// F0 cases.
    pub cases: u64,
    /// Accepted uploads.
    pub uploads: u64,
    /// Publication batches.
    pub batches: u64,
    /// Accepted reports.
    pub reports: u64,
    /// F1 rows.
    pub f1_rows: u64,
}

/// A section of the workflow that at most one caller runs at a time, across every server
/// process sharing the store ([`Store::exclusive`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedLock {
    /// A publication run: taking a batch id, building, signing and recording the batch.
    Publication,
    /// Verifying a report against the claims of earlier ones and recording it, so that
    /// parallel reports cannot together pass the bound on one-sided rows.
    Reports,
    /// Building the batch indexes from the recorded batches and handing them to the sink, so
    /// that an index built before another process's run never replaces the one it wrote.
    IndexFiles,
}

/// Where the workflow keeps its records.
///
/// Implementations must make each method atomic and durable before it returns.
pub trait Store: Send + Sync + 'static {
    /// The named 32-byte server secret, drawn with `generate` and stored the first time it is
    /// asked for. Every later call (and every instance sharing the store) gets the same bytes.
    fn secret(
        &self,
        name: &str,
        generate: &mut dyn FnMut() -> [u8; 32],
    ) -> Result<[u8; 32], StoreError>;

    /// Add an account; refused if the name is taken.
    fn insert_account(&self, account: &Account) -> Result<(), StoreError>;
    /// Replace an existing account.
    fn update_account(&self, account: &Account) -> Result<(), StoreError>;
    /// One account.
    fn account(&self, username: &str) -> Result<Option<Account>, StoreError>;
    /// Every account, by name.
    fn accounts(&self) -> Result<Vec<Account>, StoreError>;

    /// Add a registered unit; refused with [`StoreError::UnitExists`] if the name is taken.
    fn insert_unit(&self, unit: &UnitRecord) -> Result<(), StoreError>;
    /// Every registered unit, by name.
    fn units(&self) -> Result<Vec<UnitRecord>, StoreError>;

    /// Keep a session.
    fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The session whose token hashes to `token_hash`.
    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    /// End a session.
    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError>;
    /// End every session of `username` but the one whose token hashes to `keep` (after a
    /// password change, the session that made it). Returns how many ended.
    fn delete_sessions_of(
        &self,
        username: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<u64, StoreError>;

    /// Open a case (its `case_id` is assigned here and returned) with the declaration code
    /// whose keyed hash is `code_hash`.
    fn open_case(&self, case: &CaseRecord, code_hash: &[u8; 32]) -> Result<u64, StoreError>;
    /// Replace the declaration code of a case still awaiting its upload: every code of the
    /// case is removed (so an upload with one is refused as with an unknown code) and the code
    /// whose keyed hash is `code_hash` opens it until `expires_at`, which becomes the case's
    /// `code_expires_at`; in one step, so that an upload with the old code either came first
    /// (and the case is refused with [`StoreError::WrongCaseState`]) or finds its code gone.
    /// Returns the case as changed.
    fn reissue_code(
        &self,
        case_id: u64,
        code_hash: &[u8; 32],
        expires_at: Seconds,
    ) -> Result<CaseRecord, StoreError>;
    /// One case.
    fn case(&self, case_id: u64) -> Result<Option<CaseRecord>, StoreError>;
    /// Every case, by id.
    fn cases(&self) -> Result<Vec<CaseRecord>, StoreError>;
    /// Accept an upload with the code whose keyed hash is `code_hash`, if that code is known,
    /// unused and not expired at `now`: mark it used, keep `keys` and `contact_hashes` and the
    /// upload's digest `upload_digest` (for [`Store::repeated_upload`]), and move the case to
    /// [`CaseStatus::UploadReceived`]. Returns the case id.
    fn accept_upload(
        &self,
        code_hash: &[u8; 32],
        upload_digest: &[u8; 32],
        now: Seconds,
        keys: &[StoredKey],
        contact_hashes: &[ContactHash],
    ) -> Result<u64, StoreError>;
    /// The case of the upload accepted with the code whose keyed hash is `code_hash`, if that
    /// upload's digest was `upload_digest`: a phone repeating an upload whose answer it lost.
    fn repeated_upload(
        &self,
        code_hash: &[u8; 32],
        upload_digest: &[u8; 32],
    ) -> Result<Option<u64>, StoreError>;
    /// Move a case whose upload was received to [`CaseStatus::TraceRequested`] for `regions`
    /// (a case already requested or published is returned unchanged).
    fn request_trace(
        &self,
        case_id: u64,
        by: &str,
        regions: &[u16],
        now: Seconds,
    ) -> Result<CaseRecord, StoreError>;
    /// The uploads of the cases waiting for publication, each with the regions it was traced
    /// to, by case id.
    fn uploads_to_publish(&self) -> Result<Vec<(UploadRecord, Vec<u16>)>, StoreError>;
    /// The uploads of published cases, with the creation time of their batch (to rebuild the
    /// verification index at start).
    fn published_uploads(&self) -> Result<Vec<(UploadRecord, Seconds)>, StoreError>;
    /// Every case's contact hashes (to rebuild the contact-history store at start).
    fn contact_hashes(&self) -> Result<Vec<(u64, Vec<ContactHash>)>, StoreError>;

    /// The identifier the next [`Store::take_batch_id`] gives.
    fn next_batch_id(&self) -> Result<u64, StoreError>;
    /// Take the next batch identifier for good, before the batch's bytes exist: no later call
    /// gives it again, even after a crash, so a run that dies before [`Store::record_run`]
    /// burns its id instead of leaving it to a later batch with other bytes (a batch id never
    /// names two contents). Durable when it returns.
    fn take_batch_id(&self) -> Result<u64, StoreError>;
    /// Record the batches of one publication run (one per region), all written out, and move
    /// their cases to [`CaseStatus::Published`] with each case's batch in every region: all of
    /// it or nothing. Each id must be taken ([`Store::take_batch_id`]) and not recorded yet,
    /// or be the next id (then taken and recorded at once), and each case must exist;
    /// anything else is refused and changes nothing.
    fn record_run(&self, batches: &[BatchRecord]) -> Result<(), StoreError>;
    /// Every batch, oldest first.
    fn batches(&self) -> Result<Vec<BatchRecord>, StoreError>;

    /// Whether a report with this identifier was accepted.
    fn report_seen(&self, report_id: &[u8; 16]) -> Result<bool, StoreError>;
    /// Accept a verified report, its rows (their `row_no` is assigned here, per case) and the
    /// sightings they rest on (`claims`); refused with [`StoreError::DuplicateReport`] if its
    /// identifier was accepted before, with [`StoreError::ClaimedBefore`] if a claim with the
    /// same RPI and claim id was kept before.
    fn record_report(
        &self,
        report_id: &[u8; 16],
        received_at: Seconds,
        rows: Vec<F1RowRecord>,
        claims: &[ClaimRecord],
    ) -> Result<Vec<F1RowRecord>, StoreError>;
    /// The claims kept on a published RPI.
    fn claims_of_rpi(&self, rpi: &[u8; 16]) -> Result<Vec<ClaimRecord>, StoreError>;
    /// The F1 table of a case, by row number.
    fn f1_rows(&self, case_id: u64) -> Result<Vec<F1RowRecord>, StoreError>;
    /// The F1 rows of these districts, by district, case and row.
    fn f1_rows_of_districts(&self, districts: &[u32]) -> Result<Vec<F1RowRecord>, StoreError>;
    /// One F1 row.
    fn f1_row(&self, case_id: u64, row_no: u32) -> Result<Option<F1RowRecord>, StoreError>;
    /// Record a follow-up on a row.
    fn set_follow_up(
        &self,
        case_id: u64,
        row_no: u32,
        follow_up: &FollowUp,
    ) -> Result<F1RowRecord, StoreError>;

    /// Erase what retention no longer allows at `now`: sessions past expiry, contact hashes
    /// last heard 14 days or more ago, the daily keys of uploads whose every interval is
    /// older than 15 days, claims received 15 days or more ago; and, as `retention` says, the
    /// sealed contact details of F1 rows (the rows kept), F1 rows with their follow-up and
    /// their reports, and cases with their code, upload digest, upload, contact hashes and
    /// rows. Returns how many records went (a row whose contact details are erased counts
    /// one).
    fn purge(&self, now: Seconds, retention: &Retention) -> Result<u64, StoreError>;

    /// Append an entry to the audit log, numbering it (its `seq` is ignored); returns its
    /// number. Durable when it returns.
    fn append_audit(&self, entry: &AuditEntry) -> Result<u64, StoreError>;
    /// The audit entries `filter` admits, the newest first, at most `filter.limit`.
    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;

    /// How many records of each kind the store holds.
    fn counts(&self) -> Result<StoreCounts, StoreError>;
    /// SHA-256 over every stored record of the workflow, in a fixed order: equal digests mean
    /// equal contents. The audit log is left out: every request may add to it, refused ones
    /// too, while the digest tells whether the workflow's state changed.
    fn digest(&self) -> Result<[u8; 32], StoreError>;

    /// Every record in the shared layout, one consistent state of the store (no write is seen
    /// in part): the trees of [`DIGESTED_TREES`] in order, each in key order, then the audit
    /// log ([`AUDIT_TREE`]), handed to `visit` one by one; for backups
    /// ([`crate::domain::backup`]). [`RecordDigest`] over them is [`Store::digest`] of that
    /// state. A store without the shared layout (memory) refuses.
    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<(), StoreError> {
        let _ = visit;
        Err(StoreError::Backend(
            "this store cannot be backed up (it is not sled or PostgreSQL)".into(),
        ))
    }

    /// Enter `lock`'s section, which then excludes every other caller sharing the store (in
    /// this process and in others) until the returned guard is dropped. A store only one
    /// process opens (memory, sled) needs no lock beyond the workflow's own mutexes, and
    /// returns a guard that holds nothing.
    fn exclusive(&self, lock: SharedLock) -> Result<Box<dyn Send>, StoreError> {
        let _ = lock;
        Ok(Box::new(()))
    }

    /// For a store that other server processes share: a number that changes whenever any of
    /// them accepts an upload or records a batch, so that a process knows when to reload what
    /// it keeps in memory from those records (the verification index and the contact
    /// histories). `None` for a store only this process writes (memory, sled).
    fn shared_generation(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// The failure throttles of every process sharing the store, or `None` for a store only
    /// this process opens: the workflow then keeps its throttles in memory
    /// ([`crate::domain::throttle`]).
    fn shared_throttles(&self) -> Option<&dyn SharedThrottles> {
        None
    }
}

// ---- Throttles several processes share ----

/// One throttle an attempt counts against, in [`SharedThrottles::charge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    /// Which throttle (`"code_client"`, `"login_pair"`, …).
    pub throttle: &'static str,
    /// The key it counts (a client address, an account name, …).
    pub key: String,
    /// Failures a window may hold.
    pub limit: u32,
    /// How long a window lasts.
    pub window_seconds: u64,
}

/// Throttles kept in a store that several server processes share, with the figures and the
/// fixed-window semantics of [`Throttle`] (and of [`KnownClients`] for the login limits), so
/// that a limit counts every process's attempts. Unlike [`Throttle`] no key is ever evicted
/// to make room (a flood of keys cannot make it forget one); windows that have closed are
/// erased by [`SharedThrottles::purge_throttles`].
pub trait SharedThrottles: Send + Sync {
    /// As [`Throttle::check`] on every charge, in order, then, if none refused,
    /// [`Throttle::record_failure`] on every one, all atomically: the first refusal, or `Ok`.
    fn charge(&self, charges: &[Charge], now: u64) -> Result<Result<(), RetryAfter>, StoreError>;
    /// As [`Throttle::refund`].
    fn refund(&self, throttle: &str, key: &str) -> Result<(), StoreError>;
    /// As [`Throttle::clear`].
    fn clear(&self, throttle: &str, key: &str) -> Result<(), StoreError>;
    /// As [`KnownClients::insert`] (`key` names the account and the address).
    fn remember_client(&self, key: &str, now: u64) -> Result<(), StoreError>;
    /// As [`KnownClients::contains`].
    fn known_client(&self, key: &str) -> Result<bool, StoreError>;
    /// Erase the windows closed at `now`; returns how many went.
    fn purge_throttles(&self, now: u64) -> Result<u64, StoreError>;
}
