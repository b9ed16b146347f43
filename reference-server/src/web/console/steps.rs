//! The pages of the seven steps: cases and declaration codes, "Truy vết F1" and the F1 table
//! (treatment facility), the unit's inbox and follow-up (preventive-medicine unit), accounts
//! and publication (admin).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper::StatusCode;
use hyper::header::{self, HeaderValue};
use zeroize::Zeroizing;

use super::session::{signed_in, signed_in_form};
use super::{
    CODE_COOKIE, Ctx, api_error_page, cookie, error_page, field, finish, html, pages, query_param,
    redirect, set_cookie_at,
};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::settings::UnitConfig;
use crate::domain::store::{
    AuditEntry, AuditFilter, CaseStatus, F1RowRecord, FollowUpStatus, Role,
};
use crate::domain::workflow::{CODE_SHOWN_SECONDS, OpenedCase};
use crate::web::AppState;
use crate::web::api::rows_csv;
use crate::web::respond::{HttpResponse, blocking, json_response, parse_id, status_of};
use crate::web::{Call, unix_now};

/// `GET /console/cases`: the facility's cases and the "open a case" form (seed step 2).
pub async fn cases(call: Call) -> HttpResponse {
    let (ctx, who) = answer!(signed_in(&call).await);
    let state = Arc::clone(&call.state);
    match blocking(move || state.workflow.cases(&who)).await {
        Ok(cases) => {
            let body = pages::cases(&ctx, &cases, &pages::OpenCaseForm::default());
            html(StatusCode::OK, &ctx, body)
        }
        Err(e) => api_error_page(&ctx, &e),
    }
}

/// `POST /console/cases`: open a case, then (303) its code page, where its "Mã khai báo F0"
/// is shown: a reload of that page opens nothing new.
pub async fn open_case(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let (mut ctx, who, form) = answer!(signed_in_form(call).await);
    let reference = field(&form, "reference").trim().to_owned();
    let (r, w, s) = (reference.clone(), who.clone(), Arc::clone(&state));
    match blocking(move || s.workflow.open_case(&w, &r, unix_now())).await {
        Ok(opened) => to_code_page(&state, &mut ctx, &opened, ""),
        Err(e) => {
            let cases = blocking(move || state.workflow.cases(&who))
                .await
                .unwrap_or_default();
            let f = pages::OpenCaseForm {
                reference,
                error: Some(ctx.t().error(e.code)),
            };
            html(status_of(&e), &ctx, pages::cases(&ctx, &cases, &f))
        }
    }
}

/// The redirect (303) to the code page of a case just opened or reissued, with its code
/// sealed for this session in a cookie of that page's path: the code is in no URL and not
/// kept by the server.
fn to_code_page(
    state: &Arc<AppState>,
    ctx: &mut Ctx,
    opened: &OpenedCase,
    query: &str,
) -> HttpResponse {
    let id = opened.case.case_id;
    let path = format!("/console/cases/{id}/code");
    if let Some(session) = &ctx.session {
        let sealed = state
            .workflow
            .seal_code(&session.token, id, &opened.code, unix_now());
        ctx.cookies.push(set_cookie_at(
            &path,
            CODE_COOKIE,
            &sealed,
            CODE_SHOWN_SECONDS,
            ctx.secure,
        ));
    }
    redirect(ctx, &format!("{path}{query}"))
}

/// `GET /console/cases/{id}/code`: the case's declaration code and its QR code, to the
/// session that made it, for [`CODE_SHOWN_SECONDS`]; after that (or to anyone else) the page
/// says it can no longer be shown and offers "reissue code".
pub async fn code_page(call: Call) -> HttpResponse {
    let (ctx, who) = answer!(signed_in(&call).await);
    let id: u64 = match parse_id(call.param("id")) {
        Ok(id) => id,
        Err(e) => return api_error_page(&ctx, &e),
    };
    let sealed = cookie(call.req.headers(), CODE_COOKIE);
    let reissued = query_param(&call.req, "done").as_deref() == Some("reissued");
    let token = ctx
        .session
        .as_ref()
        .map(|s| s.token.clone())
        .unwrap_or_default();
    let state = Arc::clone(&call.state);
    let may_reissue = matches!(who.role, Role::TreatmentFacility { .. });
    let found = blocking(move || {
        let case = state.workflow.case(&who, id)?;
        let code = sealed.and_then(|s| state.workflow.open_code(&token, id, &s, unix_now()));
        Ok((case, code))
    });
    match found.await {
        Ok((case, code)) => {
            let shown = match (&case.status, &code) {
                (CaseStatus::AwaitingUpload, Some(code)) => pages::CodeShown::Code(code),
                (CaseStatus::AwaitingUpload, None) => pages::CodeShown::NotShown,
                _ => pages::CodeShown::Used,
            };
            let body = pages::code(&ctx, &case, &shown, may_reissue, reissued);
            html(StatusCode::OK, &ctx, body)
        }
        Err(e) => api_error_page(&ctx, &e),
    }
}

/// `POST /console/cases/{id}/reissue-code`: a new code for a case awaiting its upload, the
/// old one revoked; then (303) the code page.
pub async fn reissue_code(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let id = parse_id::<u64>(call.param("id"));
    let (mut ctx, who, _) = answer!(signed_in_form(call).await);
    let id = match id {
        Ok(id) => id,
        Err(e) => return api_error_page(&ctx, &e),
    };
    let s = Arc::clone(&state);
    match blocking(move || s.workflow.reissue_code(&who, id, unix_now())).await {
        Ok(opened) => to_code_page(&state, &mut ctx, &opened, "?done=reissued"),
        Err(e) => api_error_page(&ctx, &e),
    }
}

/// `GET /console/cases/{id}`: "Truy vết F1" and the F1 analysis table (seed steps 4, 6).
pub async fn case(call: Call) -> HttpResponse {
    let (ctx, _) = answer!(signed_in(&call).await);
    let id: u64 = match parse_id(call.param("id")) {
        Ok(id) => id,
        Err(e) => return api_error_page(&ctx, &e),
    };
    let done = query_param(&call.req, "done");
    let traced = done.as_deref() == Some("trace");
    case_page(&call.state, &ctx, id, traced, None).await
}

/// `POST /console/cases/{id}/trace`: "Truy vết F1".
pub async fn trace(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let id = parse_id::<u64>(call.param("id"));
    let (ctx, who, form) = answer!(signed_in_form(call).await);
    let id = match id {
        Ok(id) => id,
        Err(e) => return api_error_page(&ctx, &e),
    };
    // Each chosen province is one `region` field; one that is not a number is no region.
    let regions: Vec<u16> = form
        .iter()
        .filter(|(k, _)| k == "region")
        .map(|(_, v)| v.parse().unwrap_or(u16::MAX))
        .collect();
    let s = Arc::clone(&state);
    match blocking(move || s.workflow.request_trace_to(&who, id, &regions, unix_now())).await {
        Ok(_) => redirect(&ctx, &format!("/console/cases/{id}?done=trace")),
        Err(e) => case_page(&state, &ctx, id, false, Some(&e)).await,
    }
}

async fn case_page(
    state: &Arc<AppState>,
    ctx: &Ctx,
    id: u64,
    traced: bool,
    error: Option<&ApiError>,
) -> HttpResponse {
    let Some(session) = &ctx.session else {
        return redirect(ctx, "/console/login");
    };
    let who = session.principal.clone();
    let s = Arc::clone(state);
    let found = blocking(move || {
        let case = s.workflow.case(&who, id)?;
        let rows = s.workflow.f1_table(&who, id, unix_now())?;
        Ok((case, rows, s.workflow.units()))
    })
    .await;
    match found {
        Ok((case, rows, units)) => {
            let message = error.map(|e| ctx.t().error(e.code));
            let status = error.map_or(StatusCode::OK, status_of);
            let settings = state.workflow.settings();
            let body = pages::case(
                ctx,
                &pages::CaseView {
                    case: &case,
                    rows: &rows,
                    units: &units,
                    regions: &settings.regions,
                    risk: &settings.risk_rule,
                    next_publication: Some(state.next_publication.load(Ordering::Relaxed))
                        .filter(|&at| at > 0),
                },
                traced,
                message,
            );
            html(status, ctx, body)
        }
        Err(e) => api_error_page(ctx, &e),
    }
}

/// The signed-in unit worker's unit and its F1 rows (for an export if `export`), or the page
/// saying why not.
async fn unit_rows(
    call: &Call,
    export: bool,
) -> Result<(Ctx, String, Vec<F1RowRecord>), HttpResponse> {
    let (ctx, who) = signed_in(call).await?;
    let Role::PreventiveUnit { unit } = who.role.clone() else {
        let refused = ApiError::new(ErrorCode::ForbiddenRole, "unit workers only");
        return Err(api_error_page(&ctx, &refused));
    };
    let (state, name) = (Arc::clone(&call.state), unit.clone());
    let rows = blocking(move || {
        if export {
            state.workflow.unit_export(&who, &name, unix_now())
        } else {
            state.workflow.unit_rows(&who, &name, unix_now())
        }
    });
    match rows.await {
        Ok(rows) => Ok((ctx, unit, rows)),
        Err(e) => Err(api_error_page(&ctx, &e)),
    }
}

/// `GET /console/unit`: the unit's F1 inbox, opened in the browser with the unit's key
/// (seed step 7).
pub async fn unit_inbox(call: Call) -> HttpResponse {
    let (ctx, unit, rows) = answer!(unit_rows(&call, false).await);
    let state = Arc::clone(&call.state);
    let found = blocking(move || Ok(state.workflow.unit(&unit))).await;
    match found.ok().flatten() {
        Some(u) => html(StatusCode::OK, &ctx, pages::unit_inbox(&ctx, &u, &rows)),
        None => api_error_page(
            &ctx,
            &ApiError::new(ErrorCode::UnknownUnit, "unit not configured"),
        ),
    }
}

/// `GET /console/unit/f1.csv`: the unit's rows as the server's CSV export, sealed, for a
/// spreadsheet: a byte-order mark first, times in the console's zone.
pub async fn unit_csv(call: Call) -> HttpResponse {
    let (ctx, unit, rows) = answer!(unit_rows(&call, true).await);
    let mut r = crate::web::respond::csv(rows_csv(&rows, ctx.csv_format()));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"f1-{unit}-sealed.csv\""))
    {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    finish(r, &ctx)
}

/// `POST /console/unit/f1/{case}/{row}/follow-up`. The unit page's script sends it with
/// `Accept: application/json` and gets `{"status", "saved"}` (the follow-up stored, and the
/// words "saved at <time>") or `{"error"}`, so that the page, and the phone numbers opened in
/// it, stay; without the script the form's answer is the unit page again.
pub async fn follow_up(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let as_json = call
        .req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let ids = (
        parse_id::<u64>(call.param("case")),
        parse_id::<u32>(call.param("row")),
    );
    let (ctx, who, form) = answer!(signed_in_form(call).await);
    let (case, row) = match ids {
        (Ok(c), Ok(r)) => (c, r),
        _ => return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t().page_not_found),
    };
    let saved = match field(&form, "status").parse::<FollowUpStatus>() {
        Ok(status) => {
            blocking(move || {
                state
                    .workflow
                    .set_follow_up(&who, case, row, status, unix_now())
            })
            .await
        }
        Err(_) => Err(ApiError::new(
            ErrorCode::BadRequest,
            "no such follow-up status",
        )),
    };
    match (saved, as_json) {
        (Ok(record), true) => {
            let body = serde_json::json!({
                "status": record.follow_up.status.as_str(),
                "saved": format!("{} {}", ctx.t().saved, pages::when(&ctx, record.follow_up.updated_at)),
            });
            finish(json_response(StatusCode::OK, body.to_string()), &ctx)
        }
        (Ok(_), false) => redirect(&ctx, &format!("/console/unit#row-{case}-{row}")),
        (Err(e), true) => {
            let body = serde_json::json!({ "error": ctx.t().error(e.code) });
            finish(json_response(status_of(&e), body.to_string()), &ctx)
        }
        (Err(e), false) => api_error_page(&ctx, &e),
    }
}

/// `GET /console/admin`: accounts, units, "publish now".
pub async fn admin(call: Call) -> HttpResponse {
    let (ctx, _) = answer!(signed_in(&call).await);
    let done = query_param(&call.req, "done");
    let forms = pages::AdminForms::default();
    admin_page(&call.state, &ctx, done.as_deref(), &forms, StatusCode::OK).await
}

async fn admin_page(
    state: &Arc<AppState>,
    ctx: &Ctx,
    done: Option<&str>,
    forms: &pages::AdminForms,
    status: StatusCode,
) -> HttpResponse {
    let Some(session) = &ctx.session else {
        return redirect(ctx, "/console/login");
    };
    let who = session.principal.clone();
    let s = Arc::clone(state);
    match blocking(move || Ok((s.workflow.accounts(&who)?, s.workflow.units()))).await {
        Ok((accounts, units)) => {
            let settings = state.workflow.settings();
            let body = pages::admin(
                ctx,
                &accounts,
                &units,
                &settings.facilities,
                &settings.regions,
                forms,
                done,
            );
            html(status, ctx, body)
        }
        Err(e) => api_error_page(ctx, &e),
    }
}

/// `POST /console/admin/accounts`: create an account.
pub async fn create_account(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let (ctx, who, form) = answer!(signed_in_form(call).await);
    let f = pages::AccountForm {
        username: field(&form, "username").trim().to_owned(),
        role: field(&form, "role").to_owned(),
        facility: field(&form, "facility").to_owned(),
        unit: field(&form, "unit").to_owned(),
        province: field(&form, "province").to_owned(),
    };
    let password = Zeroizing::new(field(&form, "password").to_owned());
    // The form shows every scope's menu; the one the role needs is used, the others ignored.
    let chosen = |value: &str, kind: &str| {
        Some(value.to_owned()).filter(|v| !v.is_empty() && f.role == kind)
    };
    let facility = chosen(&f.facility, Role::TREATMENT_FACILITY);
    let unit = chosen(&f.unit, Role::PREVENTIVE_UNIT);
    let province = chosen(&f.province, Role::OVERSIGHT).and_then(|p| p.parse().ok());
    let Ok(role) = Role::from_kind(&f.role, facility, unit, province) else {
        let forms = pages::AdminForms {
            account: f,
            account_error: Some(ctx.t().scope_required),
            ..Default::default()
        };
        return admin_page(&state, &ctx, None, &forms, StatusCode::BAD_REQUEST).await;
    };
    let (name, s) = (f.username.clone(), Arc::clone(&state));
    // The admin chose this password: the worker replaces it at the first login.
    let created = blocking(move || {
        s.workflow
            .create_account(&who, &name, &password, role, true, unix_now())
    })
    .await;
    match created {
        Ok(_) => redirect(&ctx, "/console/admin?done=account"),
        Err(e) => {
            let forms = pages::AdminForms {
                account: f,
                account_error: Some(ctx.t().error(e.code)),
                ..Default::default()
            };
            admin_page(&state, &ctx, None, &forms, status_of(&e)).await
        }
    }
}

/// `POST /console/admin/accounts/{username}/{action}`: `disable`, `enable` or
/// `reset-password` an account. A reset shows the new password on the page it answers with,
/// once (never in a URL).
pub async fn account_action(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let name = call.param("username").to_owned();
    let action = call.param("action").to_owned();
    let (ctx, who, _) = answer!(signed_in_form(call).await);
    let s = Arc::clone(&state);
    let user = name.clone();
    let outcome = match action.as_str() {
        "disable" | "enable" => {
            let disabled = action == "disable";
            blocking(move || {
                s.workflow
                    .set_account_disabled(&who, &user, disabled, unix_now())
            })
            .await
            .map(|_| None)
        }
        "reset-password" => blocking(move || s.workflow.reset_password(&who, &user, unix_now()))
            .await
            .map(|(_, password)| Some(password)),
        _ => Err(ApiError::new(ErrorCode::RouteNotFound, "no such action")),
    };
    match outcome {
        Ok(None) => redirect(
            &ctx,
            if action == "disable" {
                "/console/admin?done=disabled"
            } else {
                "/console/admin?done=enabled"
            },
        ),
        Ok(Some(password)) => {
            let forms = pages::AdminForms {
                password_reset: Some((name, password.to_string())),
                ..Default::default()
            };
            admin_page(&state, &ctx, None, &forms, StatusCode::OK).await
        }
        Err(e) => {
            let forms = pages::AdminForms {
                account_error: Some(ctx.t().error(e.code)),
                ..Default::default()
            };
            admin_page(&state, &ctx, None, &forms, status_of(&e)).await
        }
    }
}

/// `POST /console/admin/units`: register a preventive-medicine unit.
pub async fn register_unit(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let (ctx, who, form) = answer!(signed_in_form(call).await);
    let f = pages::UnitForm {
        name: field(&form, "name").trim().to_owned(),
        districts: field(&form, "districts").trim().to_owned(),
        public_key: field(&form, "public_key").trim().to_owned(),
    };
    let Some(districts) = parse_districts(&f.districts) else {
        let forms = pages::AdminForms {
            unit: f,
            unit_error: Some(ctx.t().unit_districts_bad),
            ..Default::default()
        };
        return admin_page(&state, &ctx, None, &forms, StatusCode::BAD_REQUEST).await;
    };
    let config = UnitConfig {
        name: f.name.clone(),
        districts,
        public_key: f.public_key.clone(),
    };
    let s = Arc::clone(&state);
    match blocking(move || s.workflow.register_unit(&who, &config, unix_now())).await {
        Ok(_) => redirect(&ctx, "/console/admin?done=unit"),
        Err(e) => {
            let forms = pages::AdminForms {
                unit: f,
                unit_error: Some(ctx.t().error(e.code)),
                ..Default::default()
            };
            admin_page(&state, &ctx, None, &forms, status_of(&e)).await
        }
    }
}

/// Unix time of midnight starting `date` (`YYYY-MM-DD`) in a zone `offset_minutes` from UTC.
fn local_midnight(date: &str, offset_minutes: i32) -> Option<u64> {
    let mut parts = date.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 - i64::from(offset_minutes) * 60).ok()
}

/// `GET /console/admin/audit`: the audit log, filtered by account, action and dates (in the
/// console's time zone), newest first, a hundred at a time.
pub async fn audit(call: Call) -> HttpResponse {
    const PAGE: usize = 100;
    let (ctx, who) = answer!(signed_in(&call).await);
    let param = |name| query_param(&call.req, name).unwrap_or_default();
    let form = pages::AuditForm {
        account: param("account").trim().to_owned(),
        action: param("action"),
        from: param("from"),
        to: param("to"),
    };
    let offset = ctx.offset_minutes;
    let date = |text: &str, next_day: bool| -> Result<Option<u64>, ()> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        local_midnight(text, offset)
            .map(|t| Some(if next_day { t + 86_400 } else { t }))
            .ok_or(())
    };
    let (Ok(from), Ok(to)) = (date(&form.from, false), date(&form.to, true)) else {
        let refused = ApiError::new(ErrorCode::BadRequest, "dates are YYYY-MM-DD");
        return api_error_page(&ctx, &refused);
    };
    if !form.action.is_empty() && !AuditEntry::ACTIONS.contains(&form.action.as_str()) {
        let refused = ApiError::new(ErrorCode::BadRequest, "no such action");
        return api_error_page(&ctx, &refused);
    }
    let filter = AuditFilter {
        account: Some(form.account.clone()).filter(|a| !a.is_empty()),
        action: Some(form.action.clone()).filter(|a| !a.is_empty()),
        from,
        to,
        before_seq: param("before").parse().ok(),
        limit: PAGE,
    };
    let state = Arc::clone(&call.state);
    match blocking(move || state.workflow.audit_log(&who, &filter, unix_now())).await {
        Ok(entries) => {
            let older = (entries.len() == PAGE).then(|| {
                let last = entries.last().map_or(0, |e| e.seq);
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("account", &form.account)
                    .append_pair("action", &form.action)
                    .append_pair("from", &form.from)
                    .append_pair("to", &form.to)
                    .append_pair("before", &last.to_string())
                    .finish();
                format!("/console/admin/audit?{query}")
            });
            html(
                StatusCode::OK,
                &ctx,
                pages::audit(&ctx, &form, &entries, older, None),
            )
        }
        Err(e) => api_error_page(&ctx, &e),
    }
}

/// Districts as the form takes them: numbers separated by commas (spaces allowed), at least
/// one.
fn parse_districts(text: &str) -> Option<Vec<u32>> {
    let districts: Option<Vec<u32>> = text
        .split(',')
        .map(|d| d.trim().parse::<u32>().ok())
        .collect();
    districts.filter(|d| !d.is_empty())
}

/// `POST /console/admin/publish`: run publication now.
pub async fn publish(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let (ctx, who, _) = answer!(signed_in_form(call).await);
    match blocking(move || state.workflow.publish_on_demand(&who, unix_now())).await {
        Ok(run) if run.is_empty() => redirect(&ctx, "/console/admin?done=nothing"),
        Ok(run) => {
            let ids: Vec<String> = run.iter().map(|b| b.batch_id.to_string()).collect();
            redirect(
                &ctx,
                &format!("/console/admin?done=batch-{}", ids.join("-")),
            )
        }
        Err(e) => api_error_page(&ctx, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::local_midnight;

    #[test]
    fn dates_are_midnight_in_the_consoles_zone() {
        assert_eq!(local_midnight("1970-01-01", 0), Some(0));
        // 2021-08-01 00:00 in Indochina Time is 2021-07-31 17:00 UTC.
        assert_eq!(
            local_midnight("2021-08-01", 420),
            Some(1_627_776_000 - 7 * 3600)
        );
        assert_eq!(local_midnight("2024-03-01", 0), Some(1_709_251_200));
        for bad in ["", "2021-13-01", "2021-08", "yesterday", "1969-12-31"] {
            assert_eq!(local_midnight(bad, 420), None, "{bad}");
        }
    }
}
