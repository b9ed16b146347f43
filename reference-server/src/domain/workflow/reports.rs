//! Seed steps 5 and 6: a phone's F1 report is verified exactly and becomes rows of the F1 table.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use bluezone_protocol::{
    CaseId, ClaimLedger, Confirmation, F1Report, PublicationIndex, REPORT_SIZE_CLASSES, ReportBody,
    RollingProximityId, Sighting, VerifyError, claim_id, parse_report_body, verify_report,
};
use serde::Serialize;

use super::{Answered, Limit, Principal, Workflow, lock, read};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::metrics::Metrics;
use crate::domain::paging::{Cursor, Page, page_of};
use crate::domain::store::{
    ClaimRecord, ConfirmationRecord, F1Filter, F1RowRecord, FollowUp, FollowUpStatus, Seconds,
    SharedLock, Store,
};

/// What the store holds of earlier reports on the RPIs and cases of one report, read before
/// it is verified: the [`ClaimLedger`] the protocol's rules consult.
#[derive(Default)]
struct StoredClaims {
    claimed: BTreeSet<([u8; 16], [u8; 32])>,
    one_sided_of_rpi: BTreeMap<[u8; 16], u32>,
    one_sided_of_case: BTreeMap<u64, u32>,
}

impl StoredClaims {
    /// The claims on the published RPIs `report` names, and the one-sided rows of their cases.
    fn load(
        store: &dyn Store,
        index: &PublicationIndex,
        report: &F1Report,
    ) -> Result<StoredClaims, ApiError> {
        let mut out = StoredClaims::default();
        let mut cases = BTreeSet::new();
        for s in &report.sightings {
            let Some(published) = index.lookup(&s.rpi) else {
                continue;
            };
            cases.insert(published.case.0);
            for claim in store.claims_of_rpi(&s.rpi.0)? {
                out.claimed.insert((claim.rpi, claim.claim_id));
                if claim.one_sided {
                    *out.one_sided_of_rpi.entry(claim.rpi).or_default() += 1;
                }
            }
        }
        for case in cases {
            let one_sided = store
                .f1_rows(case)?
                .iter()
                .filter(|r| r.confirmation == ConfirmationRecord::OneSided)
                .count();
            out.one_sided_of_case
                .insert(case, u32::try_from(one_sided).unwrap_or(u32::MAX));
        }
        Ok(out)
    }
}

impl ClaimLedger for StoredClaims {
    fn claimed(&self, sighting: &Sighting) -> bool {
        self.claimed.contains(&(sighting.rpi.0, claim_id(sighting)))
    }

    fn one_sided_rows_of_rpi(&self, rpi: &RollingProximityId) -> u32 {
        self.one_sided_of_rpi.get(&rpi.0).copied().unwrap_or(0)
    }

    fn one_sided_rows_of_case(&self, case: CaseId) -> u32 {
        self.one_sided_of_case.get(&case.0).copied().unwrap_or(0)
    }
}

/// What the phone learns from an accepted report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportOutcome {
    /// Always true: a report that does not verify is an error.
    pub verified: bool,
    /// F1 rows it created (one per F0 case it met).
    pub rows: usize,
}

impl Workflow {
    /// Accept an F1 report (SPEC.md §10) from `client`: parse, verify exactly against the
    /// published keys and the F0s' contact histories, keep one row per case it verifies for.
    ///
    /// Every report counts against its client address's budget
    /// ([`ThrottleConfig::reports_per_client`](crate::domain::settings::ThrottleConfig)); while
    /// it is spent, reports are refused with `report_throttled` before they are parsed.
    pub fn accept_report(
        &self,
        bytes: &[u8],
        client: IpAddr,
        now: Seconds,
    ) -> Result<Answered<ReportOutcome>, ApiError> {
        {
            // Every report counts against its client's budget, before it is looked at.
            let shared = self.charge_shared(&[(Limit::ReportClient, client.to_string())], now)?;
            let check = shared.unwrap_or_else(|| {
                let mut t = lock(&self.throttles);
                let check = t.report_client.check(&client, now);
                if check.is_ok() {
                    t.report_client.record_failure(client, now);
                }
                check
            });
            if let Err(wait) = check {
                Metrics::inc(&self.metrics.reports_refused);
                return Err(ApiError {
                    retry_after: Some(wait.seconds),
                    ..ApiError::new(
                        ErrorCode::ReportThrottled,
                        "too many F1 reports from this address; wait",
                    )
                });
            }
        }
        let result = self.accept_report_inner(bytes, now);
        match &result {
            Ok(Answered::Real(_)) => {
                Metrics::inc(&self.metrics.reports_verified);
                if let Some(class) = REPORT_SIZE_CLASSES.iter().position(|&c| c == bytes.len()) {
                    Metrics::inc(&self.metrics.reports_by_size_class[class]);
                }
            }
            Ok(Answered::Decoy) => Metrics::inc(&self.metrics.decoy_reports),
            Err(_) => Metrics::inc(&self.metrics.reports_refused),
        }
        result
    }

    fn accept_report_inner(
        &self,
        bytes: &[u8],
        now: Seconds,
    ) -> Result<Answered<ReportOutcome>, ApiError> {
        let report = match parse_report_body(bytes)
            .map_err(|e| ApiError::new(ErrorCode::MalformedReport, e.to_string()))?
        {
            ReportBody::F1(report) => *report,
            ReportBody::Decoy => return Ok(Answered::Decoy),
        };
        if self.unit_of_district(report.district).is_none() {
            return Err(ApiError::new(
                ErrorCode::ReportRejected,
                format!("no unit covers district {}", report.district),
            ));
        }
        let _serial = lock(&self.reports);
        let _serial_in_all_processes = self.exclusive(SharedLock::Reports)?;
        self.catch_up(false)?;
        let seen = self.store.report_seen(&report.report_id.0)?;
        let verification = {
            let index = read(&self.index);
            let history = read(&self.history);
            let claims = StoredClaims::load(&*self.store, &index, &report)?;
            verify_report(
                &report,
                &index,
                &history,
                &self.settings.risk_rule,
                &claims,
                |_| seen,
            )
        };
        let verification = verification.map_err(|e| match e {
            VerifyError::DuplicateReport(_) => {
                ApiError::new(ErrorCode::ReportDuplicate, e.to_string())
            }
            other => ApiError::new(ErrorCode::ReportRejected, other.to_string()),
        })?;
        let rows: Vec<F1RowRecord> = verification
            .rows
            .iter()
            .map(|row| F1RowRecord {
                case_id: row.case.0,
                row_no: 0,
                report_id: row.report_id.0,
                district: row.district,
                received_at: now,
                first_contact: row.first_contact.0,
                last_contact: row.last_contact.0,
                duration_seconds: row.duration_seconds,
                min_attenuation_db: row.min_attenuation_db,
                weighted_minutes: row.weighted_minutes,
                confirmation: match row.confirmation {
                    Confirmation::ConfirmedBothWays => ConfirmationRecord::ConfirmedBothWays,
                    Confirmation::OneSided => ConfirmationRecord::OneSided,
                },
                sealed_contact: row.contact.0.to_vec(),
                follow_up: FollowUp {
                    status: FollowUpStatus::New,
                    updated_at: now,
                    updated_by: String::new(),
                },
            })
            .collect();
        let claims: Vec<ClaimRecord> = verification
            .rows
            .iter()
            .flat_map(|row| {
                row.sightings.iter().map(move |s| ClaimRecord {
                    rpi: s.rpi.0,
                    claim_id: claim_id(s),
                    case_id: row.case.0,
                    one_sided: row.confirmation == Confirmation::OneSided,
                    received_at: now,
                })
            })
            .collect();
        let stored = self
            .store
            .record_report(&report.report_id.0, now, rows, &claims)?;
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        self.metrics.f1_rows.fetch_add(stored.len() as u64, relaxed);
        self.metrics
            .sightings_unverified
            .fetch_add(verification.rejected.len() as u64, relaxed);
        for row in &stored {
            match row.confirmation {
                ConfirmationRecord::ConfirmedBothWays => {
                    Metrics::inc(&self.metrics.confirmed_both_ways)
                }
                ConfirmationRecord::OneSided => Metrics::inc(&self.metrics.one_sided),
            }
        }
        Ok(Answered::Real(ReportOutcome {
            verified: true,
            rows: stored.len(),
        }))
    }

    /// The F1 table of a case, for whoever may read the case ([`Workflow::case`]).
    pub fn f1_table(
        &self,
        principal: &Principal,
        case_id: u64,
        now: Seconds,
    ) -> Result<Vec<F1RowRecord>, ApiError> {
        self.case(principal, case_id)?;
        let rows = self.store.f1_rows(case_id)?;
        self.audit_by(principal, "f1_table_read", format!("case {case_id}"), now);
        Ok(rows)
    }

    /// One page of the F1 table of a case that `filter` admits (its `case_id` is ignored), in
    /// the table's order: the rows confirmed both ways, then the one-sided ones, each part by
    /// row number; the key of a row is (1 if one-sided else 0, row number). The rows of one
    /// case are read whole from the store (a case has at most a few thousand) and paged here.
    pub fn f1_table_page(
        &self,
        principal: &Principal,
        case_id: u64,
        filter: &F1Filter,
        cursor: &Cursor<(u64, u32)>,
        limit: usize,
        now: Seconds,
    ) -> Result<Page<F1RowRecord, (u64, u32)>, ApiError> {
        let mut rows = self.f1_table(principal, case_id, now)?;
        let filter = F1Filter {
            case_id: None,
            ..filter.clone()
        };
        rows.retain(|r| filter.admits(r));
        rows.sort_by_key(f1_table_key);
        Ok(page_of(&rows, cursor, limit, f1_table_key))
    }
}

/// Where a row stands in a case's F1 table: the rows confirmed both ways first, then the
/// one-sided ones, each part by row number.
pub fn f1_table_key(row: &F1RowRecord) -> (u64, u32) {
    (
        u64::from(row.confirmation == ConfirmationRecord::OneSided),
        row.row_no,
    )
}
