//! Seed step 2: a treatment facility opens an F0 case and gets its declaration code; who
//! reads which cases (tenancy).

use ring::{aead, digest, hmac};

use super::{Principal, Workflow, lock};
use crate::domain::code::IssuedCode;
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::store::{CaseRecord, CaseStatus, Role, Seconds, StoreError};

/// Most characters of a case's facility reference.
pub const MAX_REFERENCE_LEN: usize = 64;

/// How long after it was issued a declaration code may be shown again to the session it was
/// issued to ([`Workflow::seal_code`]): ten minutes, long enough to read it to the patient
/// and let the phone scan it, after which only a reissue gives a code again.
pub const CODE_SHOWN_SECONDS: u64 = 600;

/// What a sealed code is bound to, before the session and the case.
const SEALED_CODE_LABEL: &[u8] = b"bluezone shown code v1\0";

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

    /// Issue a new declaration code for a case still awaiting its upload, revoking the old
    /// one (an upload with it is then refused as with an unknown code): for the F0 who lost
    /// the code or let it expire. Its facility's health workers only; another facility's case
    /// is answered as one that does not exist. After the upload there is no code to reissue:
    /// `declaration_code_used`. The new code has the full validity from `now`.
    pub fn reissue_code(
        &self,
        principal: &Principal,
        case_id: u64,
        now: Seconds,
    ) -> Result<OpenedCase, ApiError> {
        self.require_facility(principal)?;
        let used = || {
            ApiError::new(
                ErrorCode::DeclarationCodeUsed,
                format!(
                    "case {case_id} received its upload: its declaration code was used, and \
                     there is none to reissue"
                ),
            )
        };
        if self.case(principal, case_id)?.status != CaseStatus::AwaitingUpload {
            return Err(used());
        }
        let issued = IssuedCode::generate(&mut *lock(&self.rng));
        let expires_at = now + self.settings.code_ttl_seconds;
        let case = self
            .store
            .reissue_code(case_id, &self.code_hash(&issued.canonical()), expires_at)
            .map_err(|e| match e {
                StoreError::WrongCaseState { .. } => used(),
                e => e.into(),
            })?;
        self.audit_by(principal, "code_reissued", format!("case {case_id}"), now);
        Ok(OpenedCase {
            case,
            code: issued.display().to_owned(),
        })
    }

    /// The AES-256-GCM key of sealed codes: HMAC-SHA256(code secret, "shown code" ‖ 0x00),
    /// apart from every code hash and upload digest.
    fn sealed_code_key(&self) -> aead::LessSafeKey {
        let tag = hmac::sign(&self.code_key, b"shown code\0");
        let key = aead::UnboundKey::new(&aead::AES_256_GCM, tag.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC-SHA256 gives 32 bytes, an AES-256 key"));
        aead::LessSafeKey::new(key)
    }

    fn sealed_code_aad(session_token: &str, case_id: u64) -> Vec<u8> {
        let mut aad = SEALED_CODE_LABEL.to_vec();
        aad.extend_from_slice(digest::digest(&digest::SHA256, session_token.as_bytes()).as_ref());
        aad.extend_from_slice(&case_id.to_be_bytes());
        aad
    }

    /// Seal a just-issued `code` of case `case_id` for the session whose token is
    /// `session_token`, to be shown again until [`CODE_SHOWN_SECONDS`] after `now`: hex of
    /// a random nonce and the AES-256-GCM encryption of the deadline and the code, bound to
    /// the session and the case. The console keeps it in a cookie of that session, so that
    /// the code page can be reloaded (and reached by a redirect after the form) without the
    /// server keeping the code or putting it in a URL; no other session, case or server can
    /// open it.
    pub fn seal_code(&self, session_token: &str, case_id: u64, code: &str, now: Seconds) -> String {
        let mut nonce = [0u8; aead::NONCE_LEN];
        lock(&self.rng).fill_bytes(&mut nonce);
        let mut data = (now + CODE_SHOWN_SECONDS).to_be_bytes().to_vec();
        data.extend_from_slice(code.as_bytes());
        let aad = Self::sealed_code_aad(session_token, case_id);
        self.sealed_code_key()
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(&aad),
                &mut data,
            )
            .unwrap_or_else(|_| unreachable!("a few bytes are far below AES-GCM's limit"));
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        hex::encode(sealed)
    }

    /// The code [`Workflow::seal_code`] sealed for this session and case, if `sealed` is such
    /// a seal and its time is not over at `now`.
    pub fn open_code(
        &self,
        session_token: &str,
        case_id: u64,
        sealed: &str,
        now: Seconds,
    ) -> Option<String> {
        let bytes = hex::decode(sealed).ok()?;
        let (nonce, data) = bytes.split_at_checked(aead::NONCE_LEN)?;
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let aad = Self::sealed_code_aad(session_token, case_id);
        let plain = self
            .sealed_code_key()
            .open_in_place(nonce, aead::Aad::from(&aad), &mut data)
            .ok()?;
        let (until, code) = plain.split_at_checked(8)?;
        let until = u64::from_be_bytes(until.try_into().ok()?);
        (now < until).then(|| String::from_utf8(code.to_vec()).ok())?
    }

    /// The cases `principal` may read: all for an admin, its facility's for a treatment
    /// facility, its province's for oversight.
    pub fn cases(&self, principal: &Principal) -> Result<Vec<CaseRecord>, ApiError> {
        Self::require_case_reader(principal)?;
        let mut cases = self.store.cases()?;
        cases.retain(|c| may_read(principal, c));
        Ok(cases)
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
