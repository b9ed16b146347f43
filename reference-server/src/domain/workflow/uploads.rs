//! Seed step 3: the F0's phone sends its ID (daily keys) and contact history, authorised by
//! the declaration code.

use std::net::IpAddr;

use bluezone_protocol::{CaseId, RETENTION_SECONDS, UnixTime, UploadBody, parse_upload_body};

use super::{Answered, Limit, Workflow, lock, read, write};
use crate::domain::code;
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::metrics::Metrics;
use crate::domain::store::{CodeRefusal, ContactHash, Seconds, StoreError, StoredKey};

impl Workflow {
    /// Accept an F0 upload (SPEC.md §7) from `client`: parse, validate, consume its declaration
    /// code, keep the daily keys and the contact history's keyed hashes. Returns the case id.
    ///
    /// Wrong codes count against the client's and the global throttle; while either is
    /// exhausted every upload is refused with `declaration_code_throttled` before its code is
    /// looked at.
    ///
    /// The same bytes sent again with their (now used) code are a phone that lost the answer:
    /// they are answered as the first time, with the same case, change nothing and are not a
    /// wrong code. Other bytes with a used code stay `declaration_code_used`, and count.
    pub fn accept_upload(
        &self,
        bytes: &[u8],
        client: IpAddr,
        now: Seconds,
    ) -> Result<Answered<u64>, ApiError> {
        {
            // Check, and count the attempt as a wrong code at once (refunded below unless it
            // is one), under one lock: parallel guesses cannot all pass the check.
            let shared = self.charge_shared(
                &[
                    (Limit::CodeClient, client.to_string()),
                    (Limit::CodeGlobal, String::new()),
                ],
                now,
            )?;
            let checks = shared.unwrap_or_else(|| {
                let mut t = lock(&self.throttles);
                let checks = t
                    .code_client
                    .check(&client, now)
                    .and(t.code_global.check(&(), now));
                if checks.is_ok() {
                    t.code_client.record_failure(client, now);
                    t.code_global.record_failure((), now);
                }
                checks
            });
            if let Err(wait) = checks {
                Metrics::inc(&self.metrics.uploads_refused);
                return Err(ApiError {
                    retry_after: Some(wait.seconds),
                    ..ApiError::new(
                        ErrorCode::DeclarationCodeThrottled,
                        "too many wrong declaration codes; wait",
                    )
                });
            }
        }
        let result = self.accept_upload_inner(bytes, now);
        let wrong_code = matches!(
            &result,
            Err(ApiError {
                code: ErrorCode::DeclarationCodeInvalid
                    | ErrorCode::DeclarationCodeUsed
                    | ErrorCode::DeclarationCodeExpired,
                ..
            })
        );
        if wrong_code {
            Metrics::inc(&self.metrics.code_failures);
        } else if let Some(shared) = self.store.shared_throttles() {
            shared.refund(Limit::CodeClient.name(), &client.to_string())?;
            shared.refund(Limit::CodeGlobal.name(), "")?;
        } else {
            let mut t = lock(&self.throttles);
            t.code_client.refund(&client);
            t.code_global.refund(&());
        }
        match &result {
            Ok(Answered::Real(_)) => Metrics::inc(&self.metrics.uploads_accepted),
            Ok(Answered::Decoy) => Metrics::inc(&self.metrics.decoy_uploads),
            Err(_) => Metrics::inc(&self.metrics.uploads_refused),
        }
        result
    }

    fn accept_upload_inner(&self, bytes: &[u8], now: Seconds) -> Result<Answered<u64>, ApiError> {
        let upload = match parse_upload_body(bytes)
            .map_err(|e| ApiError::new(ErrorCode::MalformedUpload, e.to_string()))?
        {
            UploadBody::F0(upload) => upload,
            UploadBody::Decoy => return Ok(Answered::Decoy),
        };
        let canonical = code::normalize(upload.code.as_str())
            .map_err(|e| ApiError::new(ErrorCode::DeclarationCodeInvalid, e.to_string()))?;
        upload
            .validate(UnixTime(now))
            .map_err(|e| ApiError::new(ErrorCode::UploadRejected, e.to_string()))?;
        let keys: Vec<StoredKey> = upload
            .keys
            .iter()
            .map(|k| StoredKey {
                key: *k.key.key_bytes(),
                rolling_start: k.key.rolling_start().0,
                rolling_period: k.key.rolling_period(),
                published: *k.published.as_bytes(),
            })
            .collect();
        let oldest = now.saturating_sub(RETENTION_SECONDS);
        let hashes: Vec<ContactHash> = {
            let history = read(&self.history);
            upload
                .contact_history
                .iter()
                .filter(|s| s.last_seen.0 > oldest)
                .map(|s| (history.keyed_hash(&s.rpi), s.last_seen.0))
                .collect()
        };
        let code_hash = self.code_hash(&canonical);
        let digest = self.upload_digest(bytes);
        let case_id = match self
            .store
            .accept_upload(&code_hash, &digest, now, &keys, &hashes)
        {
            Err(StoreError::Code(CodeRefusal::Used)) => {
                return match self.store.repeated_upload(&code_hash, &digest)? {
                    Some(case_id) => Ok(Answered::Real(case_id)),
                    None => Err(StoreError::Code(CodeRefusal::Used).into()),
                };
            }
            other => other?,
        };
        write(&self.history).store_hashes(
            CaseId(case_id),
            hashes.into_iter().map(|(h, t)| (h, UnixTime(t))),
        );
        Ok(Answered::Real(case_id))
    }
}
