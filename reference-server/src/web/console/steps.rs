//! The pages of the seven steps: cases and declaration codes, "Truy vết F1" and the F1 table
//! (treatment facility), the unit's inbox and follow-up (preventive-medicine unit), accounts
//! and publication (admin).

use std::sync::Arc;

use hyper::StatusCode;
use hyper::header::{self, HeaderValue};
use zeroize::Zeroizing;

use super::session::{signed_in, signed_in_form};
use super::{Ctx, api_error_page, error_page, field, finish, html, pages, query_param, redirect};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::store::{F1RowRecord, FollowUpStatus, Role};
use crate::web::AppState;
use crate::web::api::rows_csv;
use crate::web::respond::{HttpResponse, blocking, parse_id, status_of};
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

/// `POST /console/cases`: open a case; the answer shows its "Mã khai báo F0".
pub async fn open_case(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let (ctx, who, form) = answer!(signed_in_form(call).await);
    let reference = field(&form, "reference").trim().to_owned();
    let (r, w, s) = (reference.clone(), who.clone(), Arc::clone(&state));
    match blocking(move || s.workflow.open_case(&w, &r, unix_now())).await {
        Ok(opened) => {
            let body = pages::code(&ctx, &opened.case, &opened.code);
            html(StatusCode::CREATED, &ctx, body)
        }
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
        let rows = s.workflow.f1_table(&who, id)?;
        Ok((case, rows))
    })
    .await;
    match found {
        Ok((case, rows)) => {
            let units = &state.workflow.settings().units;
            let message = error.map(|e| ctx.t().error(e.code));
            let status = error.map_or(StatusCode::OK, status_of);
            let regions = &state.workflow.settings().regions;
            let body = pages::case(ctx, &case, &rows, units, regions, traced, message);
            html(status, ctx, body)
        }
        Err(e) => api_error_page(ctx, &e),
    }
}

/// The signed-in unit worker's unit and its F1 rows, or the page saying why not.
async fn unit_rows(call: &Call) -> Result<(Ctx, String, Vec<F1RowRecord>), HttpResponse> {
    let (ctx, who) = signed_in(call).await?;
    let Role::PreventiveUnit { unit } = who.role.clone() else {
        let refused = ApiError::new(ErrorCode::ForbiddenRole, "unit workers only");
        return Err(api_error_page(&ctx, &refused));
    };
    let (state, name) = (Arc::clone(&call.state), unit.clone());
    match blocking(move || state.workflow.unit_rows(&who, &name)).await {
        Ok(rows) => Ok((ctx, unit, rows)),
        Err(e) => Err(api_error_page(&ctx, &e)),
    }
}

/// `GET /console/unit`: the unit's F1 inbox, opened in the browser with the unit's key
/// (seed step 7).
pub async fn unit_inbox(call: Call) -> HttpResponse {
    let (ctx, unit, rows) = answer!(unit_rows(&call).await);
    let units = &call.state.workflow.settings().units;
    match units.iter().find(|u| u.name == unit) {
        Some(u) => html(StatusCode::OK, &ctx, pages::unit_inbox(&ctx, u, &rows)),
        None => api_error_page(
            &ctx,
            &ApiError::new(ErrorCode::UnknownUnit, "unit not configured"),
        ),
    }
}

/// `GET /console/unit/f1.csv`: the unit's rows as the server's CSV export, sealed.
pub async fn unit_csv(call: Call) -> HttpResponse {
    let (ctx, unit, rows) = answer!(unit_rows(&call).await);
    let mut r = crate::web::respond::csv(rows_csv(&rows));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"f1-{unit}-sealed.csv\""))
    {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    finish(r, &ctx)
}

/// `POST /console/unit/f1/{case}/{row}/follow-up`.
pub async fn follow_up(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let ids = (
        parse_id::<u64>(call.param("case")),
        parse_id::<u32>(call.param("row")),
    );
    let (ctx, who, form) = answer!(signed_in_form(call).await);
    let (case, row) = match ids {
        (Ok(c), Ok(r)) => (c, r),
        _ => return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t().page_not_found),
    };
    let Ok(status) = field(&form, "status").parse::<FollowUpStatus>() else {
        return error_page(
            &ctx,
            StatusCode::BAD_REQUEST,
            ctx.t().error(ErrorCode::BadRequest),
        );
    };
    match blocking(move || {
        state
            .workflow
            .set_follow_up(&who, case, row, status, unix_now())
    })
    .await
    {
        Ok(_) => redirect(&ctx, &format!("/console/unit#row-{case}-{row}")),
        Err(e) => api_error_page(&ctx, &e),
    }
}

/// `GET /console/admin`: accounts, units, "publish now".
pub async fn admin(call: Call) -> HttpResponse {
    let (ctx, _) = answer!(signed_in(&call).await);
    let done = query_param(&call.req, "done");
    let form = pages::AccountForm::default();
    admin_page(&call.state, &ctx, done.as_deref(), &form, None, None).await
}

async fn admin_page(
    state: &Arc<AppState>,
    ctx: &Ctx,
    done: Option<&str>,
    form: &pages::AccountForm,
    error: Option<(StatusCode, &'static str)>,
    reset: Option<(&str, &str)>,
) -> HttpResponse {
    let Some(session) = &ctx.session else {
        return redirect(ctx, "/console/login");
    };
    let who = session.principal.clone();
    let s = Arc::clone(state);
    match blocking(move || s.workflow.accounts(&who)).await {
        Ok(accounts) => {
            let units = &state.workflow.settings().units;
            let message = error.map(|(_, m)| m);
            let status = error.map_or(StatusCode::OK, |(s, _)| s);
            let body = pages::admin(ctx, &accounts, units, form, done, message, reset);
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
        unit: field(&form, "unit").to_owned(),
    };
    let password = Zeroizing::new(field(&form, "password").to_owned());
    let unit = Some(f.unit.clone()).filter(|u| !u.is_empty() && f.role == Role::PREVENTIVE_UNIT);
    let Ok(role) = Role::from_kind(&f.role, unit) else {
        let refused = (StatusCode::BAD_REQUEST, ctx.t().unit_required);
        return admin_page(&state, &ctx, None, &f, Some(refused), None).await;
    };
    let (name, s) = (f.username.clone(), Arc::clone(&state));
    let created = blocking(move || {
        s.workflow
            .create_account(&who, &name, &password, role, unix_now())
    })
    .await;
    match created {
        Ok(_) => redirect(&ctx, "/console/admin?done=account"),
        Err(e) => {
            let refused = (status_of(&e), ctx.t().error(e.code));
            admin_page(&state, &ctx, None, &f, Some(refused), None).await
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
    let form = pages::AccountForm::default();
    let s = Arc::clone(&state);
    let user = name.clone();
    let outcome = match action.as_str() {
        "disable" | "enable" => {
            let disabled = action == "disable";
            blocking(move || s.workflow.set_account_disabled(&who, &user, disabled))
                .await
                .map(|_| None)
        }
        "reset-password" => blocking(move || s.workflow.reset_password(&who, &user))
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
            admin_page(&state, &ctx, None, &form, None, Some((&name, &password))).await
        }
        Err(e) => {
            let refused = (status_of(&e), ctx.t().error(e.code));
            admin_page(&state, &ctx, None, &form, Some(refused), None).await
        }
    }
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
