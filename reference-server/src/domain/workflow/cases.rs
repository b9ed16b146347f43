//! Seed step 2: a treatment facility opens an F0 case and gets its declaration code; who
//! reads which cases (tenancy).

use ring::hmac;

use super::{Principal, Workflow, lock};
use crate::domain::code::IssuedCode;
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::paging::{Cursor, Direction, Page, keyset_page};
use crate::domain::store::{CaseFilter, CaseRecord, CaseScan, CaseStatus, Role, Seconds};

/// Most characters of a case's facility reference.
pub const MAX_REFERENCE_LEN: usize = 64;

/// A newly opened case and its declaration code, shown once to the health worker.
#[derive(Clone, Debug)]
pub struct OpenedCase {
    /// The case.
    pub case: CaseRecord,
    /// The code to give the patient (`XXXX-XXXX-XXXX-C`).
    pub code: String,
}

impl Workflow {
    pub(super) fn code_hash(&self, canonical: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(hmac::sign(&self.code_key, canonical.as_bytes()).as_ref());
        out
    }

    /// The digest an accepted upload is remembered by, to know it again when a phone repeats
    /// it: HMAC-SHA256(code secret, "upload" ‖ 0x00 ‖ the upload's bytes), apart from every
    /// code hash (a code never holds 0x00).
    pub(super) fn upload_digest(&self, upload: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.code_key);
        ctx.update(b"upload\0");
        ctx.update(upload);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Open an F0 case and issue its declaration code (treatment facilities only).
    ///
    /// The store keeps only HMAC-SHA256(server secret, code). An upload's code is looked up by
    /// that keyed hash, so the lookup's timing depends on hash values an attacker cannot
    /// relate to the code typed, never on how many characters of a real code were right.
    pub fn open_case(
        &self,
        principal: &Principal,
        reference: &str,
        now: Seconds,
    ) -> Result<OpenedCase, ApiError> {
        let facility = self.require_facility(principal)?;
        if reference.chars().count() > MAX_REFERENCE_LEN || reference.chars().any(char::is_control)
        {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("reference: at most {MAX_REFERENCE_LEN} characters, no control characters"),
            ));
        }
        let issued = IssuedCode::generate(&mut *lock(&self.rng));
        let code_expires_at = now + self.settings.code_ttl_seconds;
        let mut case = CaseRecord {
            case_id: 0,
            reference: reference.to_owned(),
            opened_by: principal.username.clone(),
            facility: facility.name,
            province: facility.province,
            opened_at: now,
            code_expires_at,
            status: CaseStatus::AwaitingUpload,
            f1_rows: 0,
        };
        case.case_id = self
            .store
            .open_case(&case, &self.code_hash(&issued.canonical()))?;
        self.audit_by(
            principal,
            "case_opened",
            format!("case {}", case.case_id),
            now,
        );
        Ok(OpenedCase {
            case,
            code: issued.display().to_owned(),
        })
    }

    /// The cases `principal` may read: all for an admin, its facility's for a treatment
    /// facility, its province's for oversight.
    pub fn cases(&self, principal: &Principal) -> Result<Vec<CaseRecord>, ApiError> {
        Self::require_case_reader(principal)?;
        let mut cases = self.store.cases()?;
        cases.retain(|c| may_read(principal, c));
        Ok(cases)
    }

    /// One page of the cases `principal` may read that `filter` admits, newest first (by
    /// case number), at most `limit`: read from the store a page at a time, the reader's
    /// tenancy (its facility, or its province) added to the filter. A facility or province
    /// in `filter` other than the reader's own gives an empty page.
    pub fn case_page(
        &self,
        principal: &Principal,
        filter: CaseFilter,
        cursor: &Cursor<u64>,
        limit: usize,
    ) -> Result<Page<CaseRecord, u64>, ApiError> {
        Self::require_case_reader(principal)?;
        let Some(filter) = with_tenancy(principal, filter) else {
            return Ok(Page {
                items: Vec::new(),
                prev: None,
                next: None,
            });
        };
        let page = keyset_page(
            cursor,
            limit,
            |c: &CaseRecord| c.case_id,
            |from, direction, n| {
                self.store.scan_cases(&CaseScan {
                    filter: filter.clone(),
                    from: from.copied(),
                    ascending: direction == Direction::Backward,
                    limit: n,
                })
            },
        )?;
        Ok(page)
    }

    /// One case, if `principal` may read it; a case it may not read is answered as one that
    /// does not exist, so that case numbers tell nothing of other facilities' work.
    pub fn case(&self, principal: &Principal, case_id: u64) -> Result<CaseRecord, ApiError> {
        Self::require_case_reader(principal)?;
        self.store
            .case(case_id)?
            .filter(|c| may_read(principal, c))
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no case {case_id}")))
    }
}

/// Whether `principal` sees `case` (tenancy): admins every case, a treatment facility its own
/// (an account from before facilities, the cases of that time), oversight its province's.
fn may_read(principal: &Principal, case: &CaseRecord) -> bool {
    match &principal.role {
        Role::Admin => true,
        Role::TreatmentFacility { facility } => case.facility == *facility,
        Role::Oversight { province } => case.province == *province,
        Role::PreventiveUnit { .. } => false,
    }
}

/// `filter` narrowed to what `principal` may read, or `None` when it asks for another
/// tenant's cases.
fn with_tenancy(principal: &Principal, mut filter: CaseFilter) -> Option<CaseFilter> {
    match &principal.role {
        Role::Admin => {}
        Role::TreatmentFacility { facility } => {
            if filter.facility.as_ref().is_some_and(|f| f != facility) {
                return None;
            }
            filter.facility = Some(facility.clone());
        }
        Role::Oversight { province } => {
            if filter.province.is_some_and(|p| p != *province) {
                return None;
            }
            filter.province = Some(*province);
        }
        Role::PreventiveUnit { .. } => return None,
    }
    Some(filter)
}
