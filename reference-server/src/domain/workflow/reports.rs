//! Seed steps 5 and 6: a phone's F1 report is verified exactly and becomes rows of the F1 table.

use bluezone_protocol::{Confirmation, F1Report, VerifyError, verify_report};
use serde::Serialize;

use super::{Principal, Workflow, read};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::metrics::Metrics;
use crate::domain::store::{ConfirmationRecord, F1RowRecord, FollowUp, FollowUpStatus, Seconds};

/// What the phone learns from an accepted report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportOutcome {
    /// Always true: a report that does not verify is an error.
    pub verified: bool,
    /// F1 rows it created (one per F0 case it met).
    pub rows: usize,
}

impl Workflow {
    /// Accept an F1 report (SPEC.md §10): parse, verify exactly against the published keys and
    /// the F0s' contact histories, keep one row per case it verifies for.
    pub fn accept_report(&self, bytes: &[u8], now: Seconds) -> Result<ReportOutcome, ApiError> {
        let result = self.accept_report_inner(bytes, now);
        match &result {
            Ok(_) => Metrics::inc(&self.metrics.reports_verified),
            Err(_) => Metrics::inc(&self.metrics.reports_refused),
        }
        result
    }

    fn accept_report_inner(&self, bytes: &[u8], now: Seconds) -> Result<ReportOutcome, ApiError> {
        let report = F1Report::parse(bytes)
            .map_err(|e| ApiError::new(ErrorCode::MalformedReport, e.to_string()))?;
        if !self
            .settings
            .units
            .iter()
            .any(|u| u.districts.contains(&report.district))
        {
            return Err(ApiError::new(
                ErrorCode::ReportRejected,
                format!("no unit covers district {}", report.district),
            ));
        }
        let seen = self.store.report_seen(&report.report_id.0)?;
        let verification = {
            let index = read(&self.index);
            let history = read(&self.history);
            verify_report(&report, &index, &history, &self.settings.risk_rule, |_| {
                seen
            })
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
        let stored = self.store.record_report(&report.report_id.0, now, rows)?;
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
        Ok(ReportOutcome {
            verified: true,
            rows: stored.len(),
        })
    }

    /// The F1 table of a case (treatment facilities and admins).
    pub fn f1_table(
        &self,
        principal: &Principal,
        case_id: u64,
    ) -> Result<Vec<F1RowRecord>, ApiError> {
        self.case(principal, case_id)?;
        Ok(self.store.f1_rows(case_id)?)
    }
}
