//! Seed step 7: F1 rows are routed to the preventive-medicine unit of their district, which
//! records its follow-up.

use super::{Principal, Workflow};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::paging::{Cursor, Page, page_of};
use crate::domain::settings::Unit;
use crate::domain::store::{F1Filter, F1RowRecord, FollowUp, FollowUpStatus, Seconds};

impl Workflow {
    /// The unit of `principal`, if it is `unit_name`: a unit's worker acts for that unit only.
    pub fn unit_rows_guard(
        &self,
        principal: &Principal,
        unit_name: &str,
    ) -> Result<Unit, ApiError> {
        let unit = self.require_unit(principal)?;
        if unit.name != unit_name {
            return Err(ApiError::new(
                ErrorCode::ForbiddenDistrict,
                format!("unit {unit_name} is not yours"),
            ));
        }
        Ok(unit)
    }

    /// The rows of unit `unit_name`'s districts that `filter` admits, by case then row
    /// number: only that unit's own workers may list them. A district filter narrows what the
    /// store reads to that district (none, when the unit does not cover it); the other
    /// conditions are applied here.
    fn matching_rows(
        &self,
        principal: &Principal,
        unit_name: &str,
        filter: &F1Filter,
    ) -> Result<Vec<F1RowRecord>, ApiError> {
        let unit = self.unit_rows_guard(principal, unit_name)?;
        let districts: Vec<u32> = match filter.district {
            Some(d) => unit.districts.iter().copied().filter(|&u| u == d).collect(),
            None => unit.districts.clone(),
        };
        let mut rows = self.store.f1_rows_of_districts(&districts)?;
        rows.retain(|r| filter.admits(r));
        rows.sort_by_key(unit_row_key);
        Ok(rows)
    }

    /// Every F1 row of unit `unit_name`'s districts, by case then row number: only that
    /// unit's own workers may list them.
    pub fn unit_rows(
        &self,
        principal: &Principal,
        unit_name: &str,
        now: Seconds,
    ) -> Result<Vec<F1RowRecord>, ApiError> {
        let page = self.unit_row_page(
            principal,
            unit_name,
            &F1Filter::default(),
            &Cursor::First,
            usize::MAX - 1,
            now,
        )?;
        Ok(page.items)
    }

    /// One page of the rows of unit `unit_name`'s districts that `filter` admits, by case
    /// then row number (a row's key: (case, row number)). The unit's rows are read from the
    /// store by district and paged here.
    pub fn unit_row_page(
        &self,
        principal: &Principal,
        unit_name: &str,
        filter: &F1Filter,
        cursor: &Cursor<(u64, u32)>,
        limit: usize,
        now: Seconds,
    ) -> Result<Page<F1RowRecord, (u64, u32)>, ApiError> {
        let rows = self.matching_rows(principal, unit_name, filter)?;
        self.audit_by(
            principal,
            "unit_rows_read",
            format!("unit {unit_name}"),
            now,
        );
        Ok(page_of(&rows, cursor, limit, unit_row_key))
    }

    /// The rows of the unit that `filter` admits, for an export (a CSV file leaves the
    /// server): audited as one.
    pub fn unit_export(
        &self,
        principal: &Principal,
        unit_name: &str,
        filter: &F1Filter,
        now: Seconds,
    ) -> Result<Vec<F1RowRecord>, ApiError> {
        let rows = self.matching_rows(principal, unit_name, filter)?;
        let object = format!("unit {unit_name} ({} rows)", rows.len());
        self.audit_by(principal, "f1_export", object, now);
        Ok(rows)
    }

    /// Record the follow-up of a row in one of the unit's districts.
    pub fn set_follow_up(
        &self,
        principal: &Principal,
        case_id: u64,
        row_no: u32,
        status: FollowUpStatus,
        now: Seconds,
    ) -> Result<F1RowRecord, ApiError> {
        let unit = self.require_unit(principal)?;
        let not_found = || {
            ApiError::new(
                ErrorCode::NotFound,
                format!("case {case_id} has no F1 row {row_no}"),
            )
        };
        let row = self.store.f1_row(case_id, row_no)?.ok_or_else(not_found)?;
        if !unit.districts.contains(&row.district) {
            return Err(ApiError::new(
                ErrorCode::ForbiddenDistrict,
                format!(
                    "district {} is not covered by unit {}",
                    row.district, unit.name
                ),
            ));
        }
        let updated = self.store.set_follow_up(
            case_id,
            row_no,
            &FollowUp {
                status,
                updated_at: now,
                updated_by: principal.username.clone(),
            },
        )?;
        let object = format!("case {case_id} row {row_no}: {}", status.as_str());
        self.audit_by(principal, "follow_up_changed", object, now);
        Ok(updated)
    }
}

/// Where a row stands in a unit's list: by case, then row number.
fn unit_row_key(row: &F1RowRecord) -> (u64, u32) {
    (row.case_id, row.row_no)
}
