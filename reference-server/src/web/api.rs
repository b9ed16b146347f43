//! The health workers' JSON API under `/api/v1/` (the routes are in
//! [`ROUTES`](super::router::ROUTES)), and the views it answers with: JSON and the F1 CSV
//! export.
//!
//! Health workers send `Authorization: Bearer <token>` (the console: the same token in a
//! cookie). Errors are `{"error": {"code", "message"}}` with the codes of
//! [`ErrorCode`].

use std::sync::Arc;

use bluezone_export::{CsvFormat, F1Row, SealedRow, utc};
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::respond::{
    HttpResponse, blocking, csv, json_response, ok_json, parse_id, query_param, read_body,
    read_json,
};
use super::{AppState, Call, unix_now};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::settings::UnitConfig;
use crate::domain::store::{
    Account, AuditEntry, AuditFilter, CaseRecord, CaseStatus, ConfirmationRecord, F1RowRecord,
    FollowUpStatus, Role,
};
use crate::domain::workflow::{OpenedCase, Principal};
use crate::web::phone::unit_json;

fn bearer(req: &Request<Incoming>) -> Result<Zeroizing<String>, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "Authorization header missing"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Zeroizing::new(t.trim().to_owned()))
        .ok_or_else(|| ApiError::new(ErrorCode::SessionInvalid, "expected `Bearer <token>`"))
}

/// The caller, from its bearer token.
async fn principal(call: &Call) -> Result<Principal, ApiError> {
    let token = bearer(&call.req)?;
    let state = Arc::clone(&call.state);
    let client = Some(call.client);
    let who = blocking(move || state.workflow.authenticate(&token, client, unix_now())).await?;
    let _ = call.log.account.set(who.username.clone());
    Ok(who)
}

/// The caller and a handle on the shared state, for the blocking work of a handler.
async fn caller(call: &Call) -> Result<(Principal, Arc<AppState>), ApiError> {
    Ok((principal(call).await?, Arc::clone(&call.state)))
}

// ---- views ----

fn role_json(role: &Role) -> Value {
    match role {
        Role::Admin => json!({"kind": role.kind()}),
        Role::TreatmentFacility { facility } => json!({"kind": role.kind(), "facility": facility}),
        Role::PreventiveUnit { unit } => json!({"kind": role.kind(), "unit": unit}),
        Role::Oversight { province } => json!({"kind": role.kind(), "province": province}),
    }
}

fn account_json(a: &Account) -> Value {
    json!({
        "username": a.username,
        "role": role_json(&a.role),
        "created_at": a.created_at,
        "disabled": a.disabled,
        "must_change_password": a.must_change_password,
    })
}

/// A role as request bodies give it: `"role"` (its kind) and the scope the kind needs,
/// `"facility"`, `"unit"` or `"province"`.
#[derive(Deserialize)]
struct RoleBody {
    role: String,
    facility: Option<String>,
    unit: Option<String>,
    province: Option<u16>,
}

impl RoleBody {
    fn role(self) -> Result<Role, ApiError> {
        Role::from_kind(&self.role, self.facility, self.unit, self.province)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
    }
}

/// The JSON view of a case.
pub fn case_json(c: &CaseRecord) -> Value {
    let (status, at, regions, batches) = match &c.status {
        CaseStatus::AwaitingUpload => ("awaiting_upload", c.opened_at, json!(null), json!([])),
        CaseStatus::UploadReceived { at } => ("upload_received", *at, json!(null), json!([])),
        CaseStatus::TraceRequested { at, regions, .. } => {
            ("trace_requested", *at, json!(regions), json!([]))
        }
        CaseStatus::Published { at, batches } => (
            "published",
            *at,
            json!(batches.iter().map(|b| b.region).collect::<Vec<_>>()),
            json!(
                batches
                    .iter()
                    .map(|b| json!({"region": b.region, "batch_id": b.batch_id}))
                    .collect::<Vec<_>>()
            ),
        ),
    };
    json!({
        "case_id": c.case_id,
        "reference": c.reference,
        "opened_by": c.opened_by,
        "facility": c.facility,
        "province": c.province,
        "opened_at": c.opened_at,
        "code_expires_at": c.code_expires_at,
        "status": status,
        "status_at": at,
        "regions": regions,
        "batches": batches,
        "f1_rows": c.f1_rows,
    })
}

/// The JSON view of an F1 row: the columns of the seed's F1 table and the follow-up.
pub fn row_json(r: &F1RowRecord) -> Value {
    json!({
        "case_id": r.case_id,
        "no": r.row_no,
        "f1_id": hex::encode(r.report_id),
        "district": r.district,
        "sealed_contact": hex::encode(&r.sealed_contact),
        "contact_time": r.first_contact,
        "contact_time_utc": utc(r.first_contact),
        "last_contact": r.last_contact,
        "duration_seconds": r.duration_seconds,
        "min_attenuation_db": r.min_attenuation_db,
        "weighted_minutes": r.weighted_minutes,
        "confirmation": r.confirmation.as_str(),
        "one_sided": r.confirmation == ConfirmationRecord::OneSided,
        "received_at": r.received_at,
        "follow_up": {
            "status": r.follow_up.status.as_str(),
            "updated_at": r.follow_up.updated_at,
            "updated_by": r.follow_up.updated_by,
        },
    })
}

/// An F1 row as the CSV export writes it in `format` ([`bluezone_export`]).
pub fn export_row(r: &F1RowRecord, format: CsvFormat) -> F1Row {
    F1Row {
        case_id: r.case_id,
        no: r.row_no,
        f1_id: hex::encode(r.report_id),
        district: r.district,
        contact_time: format.time(r.first_contact),
        last_contact: format.time(r.last_contact),
        duration_seconds: r.duration_seconds,
        min_attenuation_db: r.min_attenuation_db,
        weighted_minutes: r.weighted_minutes,
        confirmation: r.confirmation.as_str().to_owned(),
        follow_up: r.follow_up.status.as_str().to_owned(),
        follow_up_at: format.time(r.follow_up.updated_at),
        follow_up_by: r.follow_up.updated_by.clone(),
    }
}

/// The CSV export of F1 rows in `format`, sealed contact details included
/// ([`bluezone_export`]).
pub fn rows_csv(rows: &[F1RowRecord], format: CsvFormat) -> String {
    let rows: Vec<SealedRow> = rows
        .iter()
        .map(|r| SealedRow {
            row: export_row(r, format),
            sealed_contact: hex::encode(&r.sealed_contact),
        })
        .collect();
    bluezone_export::write_sealed(format, &rows)
}

// ---- step 1: accounts and sessions ----

/// `POST /api/v1/login`: `{"username", "password"}` → `{"token", "expires_at"}`.
pub async fn login(call: Call) -> Result<HttpResponse, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Login {
        username: String,
        password: Zeroizing<String>,
    }
    let (state, client) = (Arc::clone(&call.state), call.client);
    let login: Login = read_json(call.req, state.limits.json_bytes).await?;
    let outcome = blocking(move || {
        state
            .workflow
            .login(&login.username, &login.password, client, unix_now())
    })
    .await?;
    ok_json(json!(outcome))
}

/// `POST /api/v1/logout`: end this session.
pub async fn logout(call: Call) -> Result<HttpResponse, ApiError> {
    principal(&call).await?;
    let token = bearer(&call.req)?;
    let state = call.state;
    blocking(move || state.workflow.logout(&token)).await?;
    ok_json(json!({"logged_out": true}))
}

/// `GET /api/v1/me`: who the token belongs to, and whether it must change its password
/// before anything else.
pub async fn me(call: Call) -> Result<HttpResponse, ApiError> {
    let who = principal(&call).await?;
    ok_json(json!({
        "username": who.username,
        "role": role_json(&who.role),
        "must_change_password": who.must_change_password,
    }))
}

/// `POST /api/v1/me/password`: `{"current", "new"}`.
pub async fn change_password(call: Call) -> Result<HttpResponse, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Change {
        current: Zeroizing<String>,
        new: Zeroizing<String>,
    }
    let token = bearer(&call.req)?;
    let (who, state) = caller(&call).await?;
    let client = call.client;
    let c: Change = read_json(call.req, state.limits.json_bytes).await?;
    blocking(move || {
        state
            .workflow
            .change_password(&who, &token, &c.current, &c.new, client, unix_now())
    })
    .await?;
    ok_json(json!({"changed": true}))
}

/// `GET /api/v1/accounts` (admin).
pub async fn accounts(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let accounts = blocking(move || state.workflow.accounts(&who)).await?;
    ok_json(Value::Array(accounts.iter().map(account_json).collect()))
}

/// `POST /api/v1/accounts` (admin): `{"username", "password", "role", "facility"?, "unit"?,
/// "province"?, "must_change_password"?}` (the last `true` unless given).
pub async fn create_account(call: Call) -> Result<HttpResponse, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewAccount {
        username: String,
        password: Zeroizing<String>,
        role: String,
        facility: Option<String>,
        unit: Option<String>,
        province: Option<u16>,
        must_change_password: Option<bool>,
    }
    let (who, state) = caller(&call).await?;
    let a: NewAccount = read_json(call.req, state.limits.json_bytes).await?;
    let role = RoleBody {
        role: a.role,
        facility: a.facility,
        unit: a.unit,
        province: a.province,
    }
    .role()?;
    let must_change = a.must_change_password.unwrap_or(true);
    let account = blocking(move || {
        state.workflow.create_account(
            &who,
            &a.username,
            &a.password,
            role,
            must_change,
            unix_now(),
        )
    })
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        account_json(&account).to_string(),
    ))
}

/// `GET /api/v1/units` (any health worker): every unit, configured then registered, as
/// `{"units": [{"name", "districts", "public_key"}]}`.
pub async fn units(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let units = blocking(move || state.workflow.units_for(&who)).await?;
    let units: Vec<Value> = units.iter().map(unit_json).collect();
    ok_json(json!({ "units": units }))
}

/// `POST /api/v1/units` (admin): `{"name", "districts", "public_key"}` → 201 and the unit;
/// 400 `unit_invalid`, 409 `unit_exists` or `unit_district_taken` (the rules of configured
/// units).
pub async fn register_unit(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let config: UnitConfig = read_json(call.req, state.limits.json_bytes).await?;
    let unit = blocking(move || state.workflow.register_unit(&who, &config, unix_now())).await?;
    Ok(json_response(
        StatusCode::CREATED,
        unit_json(&unit).to_string(),
    ))
}

/// `POST /api/v1/accounts/{username}/disable` (admin): the account cannot log in, and its
/// sessions end.
pub async fn disable_account(call: Call) -> Result<HttpResponse, ApiError> {
    set_disabled(call, true).await
}

/// `POST /api/v1/accounts/{username}/enable` (admin).
pub async fn enable_account(call: Call) -> Result<HttpResponse, ApiError> {
    set_disabled(call, false).await
}

async fn set_disabled(call: Call, disabled: bool) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let name = call.param("username").to_owned();
    let account = blocking(move || {
        state
            .workflow
            .set_account_disabled(&who, &name, disabled, unix_now())
    })
    .await?;
    ok_json(account_json(&account))
}

/// `POST /api/v1/accounts/{username}/role` (admin): `{"role", "facility"?, "unit"?,
/// "province"?}`, as at creation; the account's sessions end.
pub async fn set_role(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let name = call.param("username").to_owned();
    let body: RoleBody = read_json(call.req, state.limits.json_bytes).await?;
    let role = body.role()?;
    let account = blocking(move || state.workflow.set_role(&who, &name, role, unix_now())).await?;
    ok_json(account_json(&account))
}

/// `POST /api/v1/accounts/{username}/reset-password` (admin): a new random password, shown
/// this once, `{"username", "password"}`; the account's sessions end.
pub async fn reset_password(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let name = call.param("username").to_owned();
    let (account, password) =
        blocking(move || state.workflow.reset_password(&who, &name, unix_now())).await?;
    ok_json(json!({"username": account.username, "password": password.as_str()}))
}

/// Most audit entries one request reads.
pub const MAX_AUDIT_PAGE: usize = 1000;

/// The audit filter of a request's query: `account`, `action` (one of
/// [`AuditEntry::ACTIONS`]), `from` and `to` (unix seconds, `to` excluded), `before` (entry
/// number, to page back) and `limit` (default 100, at most [`MAX_AUDIT_PAGE`]); an empty value
/// is no condition.
pub fn audit_filter(req: &Request<Incoming>) -> Result<AuditFilter, ApiError> {
    let text = |name: &str| query_param(req, name).filter(|v| !v.trim().is_empty());
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        text(name)
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    ApiError::new(
                        ErrorCode::BadRequest,
                        format!("{name}: a whole number (unix seconds, or an entry number)"),
                    )
                })
            })
            .transpose()
    };
    let action = text("action");
    if let Some(a) = &action
        && !AuditEntry::ACTIONS.contains(&a.as_str())
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("action: one of {}", AuditEntry::ACTIONS.join(", ")),
        ));
    }
    let limit = number("limit")?.unwrap_or(100);
    if limit == 0 || limit > MAX_AUDIT_PAGE as u64 {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("limit: 1 to {MAX_AUDIT_PAGE}"),
        ));
    }
    Ok(AuditFilter {
        account: text("account").map(|a| a.trim().to_owned()),
        action,
        from: number("from")?,
        to: number("to")?,
        before_seq: number("before")?,
        limit: limit as usize,
    })
}

/// The JSON view of an audit entry.
pub fn audit_json(e: &AuditEntry) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at,
        "at_utc": utc(e.at),
        "account": e.account,
        "client": e.client,
        "action": e.action,
        "object": e.object,
    })
}

/// `GET /api/v1/admin/audit` (admin): the audit log, newest first, filtered by the query (see
/// [`audit_filter`]).
pub async fn audit(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let filter = audit_filter(&call.req)?;
    let entries = blocking(move || state.workflow.audit_log(&who, &filter, unix_now())).await?;
    ok_json(Value::Array(entries.iter().map(audit_json).collect()))
}

/// `POST /api/v1/publication/run` (admin): run publication now: one batch per region some
/// waiting case is traced to, none when no case waits.
pub async fn publish(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let run = blocking(move || state.workflow.publish_on_demand(&who, unix_now())).await?;
    let batches: Vec<Value> = run
        .iter()
        .map(|b| {
            json!({
                "batch_id": b.batch_id,
                "region": b.region,
                "created_at": b.created_at,
                "entry_count": b.entry_count,
                "published_rpis": b.published_rpis,
                "byte_len": b.byte_len,
                "sha256": hex::encode(b.sha256),
                "cases": b.cases,
            })
        })
        .collect();
    ok_json(json!({ "batches": batches }))
}

/// `GET /api/v1/admin/store` (admin): record counts and the store's digest.
pub async fn store_digest(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let (counts, digest) = blocking(move || state.workflow.store_state(&who, unix_now())).await?;
    ok_json(json!({"counts": counts, "digest": hex::encode(digest)}))
}

/// `GET /api/v1/admin/backup` (admin): a backup file of the store and the batch files
/// ([`crate::domain::backup`]), never cached; its header's record count and digest also in
/// `X-Bluezone-Backup-Records` and `X-Bluezone-Backup-Digest`.
pub async fn backup(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let (bytes, header) = blocking(move || state.workflow.backup(&who, unix_now())).await?;
    let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(bytes)));
    let headers = r.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(v) = header::HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, "application/octet-stream".into());
    set(header::CACHE_CONTROL, "no-store".into());
    set(
        header::CONTENT_DISPOSITION,
        format!(
            "attachment; filename=\"bluezone-{}.backup\"",
            header.created_at
        ),
    );
    set(
        header::HeaderName::from_static("x-bluezone-backup-records"),
        header.records.to_string(),
    );
    set(
        header::HeaderName::from_static("x-bluezone-backup-digest"),
        header.digest,
    );
    Ok(r)
}

// ---- steps 2, 4 and 6: cases, "Trace F1", the F1 table ----

/// `GET /api/v1/cases` (treatment facility).
pub async fn cases(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let cases = blocking(move || state.workflow.cases(&who)).await?;
    ok_json(Value::Array(cases.iter().map(case_json).collect()))
}

/// `POST /api/v1/cases` (treatment facility): `{"reference"?}` → the case and its
/// declaration code.
pub async fn open_case(call: Call) -> Result<HttpResponse, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Open {
        #[serde(default)]
        reference: String,
    }
    let (who, state) = caller(&call).await?;
    let o: Open = read_json(call.req, state.limits.json_bytes).await?;
    let opened = blocking(move || state.workflow.open_case(&who, &o.reference, unix_now())).await?;
    Ok(opened_json(&opened))
}

/// `POST /api/v1/cases/{id}/reissue-code`: a new declaration code for a case awaiting its
/// upload, the old one revoked; answered as opening a case is.
pub async fn reissue_code(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let id: u64 = parse_id(call.param("id"))?;
    let opened = blocking(move || state.workflow.reissue_code(&who, id, unix_now())).await?;
    Ok(opened_json(&opened))
}

/// A case just opened, or whose code was just reissued: `201` with the case and its
/// `declaration_code`.
fn opened_json(opened: &OpenedCase) -> HttpResponse {
    let mut view = case_json(&opened.case);
    view["declaration_code"] = json!(opened.code);
    json_response(StatusCode::CREATED, view.to_string())
}

/// `GET /api/v1/cases/{id}`.
pub async fn case(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let id: u64 = parse_id(call.param("id"))?;
    let case = blocking(move || state.workflow.case(&who, id)).await?;
    ok_json(case_json(&case))
}

/// `POST /api/v1/cases/{id}/trace`: "Trace F1", to the regions of the body
/// `{"regions": [79, 74]}` (0: the whole country), or, with no body, `{}` or no `regions`, to
/// the default: the configured `default_trace_regions`, or else the case's province.
pub async fn trace(call: Call) -> Result<HttpResponse, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Trace {
        #[serde(default)]
        regions: Option<Vec<u16>>,
    }
    let (who, state) = caller(&call).await?;
    let id: u64 = parse_id(call.param("id"))?;
    let body = read_body(call.req, state.limits.json_bytes).await?;
    let chosen = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Trace>(&body)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("JSON body: {e}")))?
            .regions
    };
    let case = blocking(move || match chosen {
        Some(regions) => state
            .workflow
            .request_trace_to(&who, id, &regions, unix_now()),
        None => state.workflow.request_trace(&who, id, unix_now()),
    })
    .await?;
    ok_json(case_json(&case))
}

/// `GET /api/v1/cases/{id}/f1`: the case's F1 table, the rows confirmed both ways first, then
/// the one-sided ones (which a relayed beacon can also make), each part by row number; each
/// row says which it is in `one_sided`.
pub async fn f1_table(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let id: u64 = parse_id(call.param("id"))?;
    let mut rows = blocking(move || state.workflow.f1_table(&who, id, unix_now())).await?;
    rows.sort_by_key(|r| (r.confirmation == ConfirmationRecord::OneSided, r.row_no));
    ok_json(Value::Array(rows.iter().map(row_json).collect()))
}

// ---- step 7: the unit's rows and their follow-up ----

/// `GET /api/v1/units/{unit}/f1[?format=csv]`: the unit's F1 rows, to its own workers.
pub async fn unit_rows(call: Call) -> Result<HttpResponse, ApiError> {
    let (who, state) = caller(&call).await?;
    let as_csv = call
        .req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "format=csv"));
    let unit = call.param("unit").to_owned();
    let rows = blocking(move || {
        if as_csv {
            state.workflow.unit_export(&who, &unit, unix_now())
        } else {
            state.workflow.unit_rows(&who, &unit, unix_now())
        }
    })
    .await?;
    if as_csv {
        Ok(csv(rows_csv(&rows, CsvFormat::MACHINE)))
    } else {
        ok_json(Value::Array(rows.iter().map(row_json).collect()))
    }
}

/// `POST /api/v1/units/{unit}/f1/{case}/{row}/follow-up`: `{"status"}`.
pub async fn follow_up(call: Call) -> Result<HttpResponse, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Status {
        status: String,
    }
    let (who, state) = caller(&call).await?;
    let case: u64 = parse_id(call.param("case"))?;
    let row: u32 = parse_id(call.param("row"))?;
    let unit = call.param("unit").to_owned();
    let st: Status = read_json(call.req, state.limits.json_bytes).await?;
    let status: FollowUpStatus =
        st.status
            .parse()
            .map_err(|e: crate::domain::store::ParseNameError| {
                ApiError::new(ErrorCode::BadRequest, e.to_string())
            })?;
    let updated = blocking(move || {
        // The unit in the path must be the caller's own.
        state.workflow.unit_rows_guard(&who, &unit)?;
        state
            .workflow
            .set_follow_up(&who, case, row, status, unix_now())
    })
    .await?;
    ok_json(row_json(&updated))
}
