//! The health workers' web console: server-rendered HTML under `/console/`, in Vietnamese by
//! default and English on a switch, over the same [`Workflow`](crate::Workflow) calls as the JSON
//! API.
//!
//! | page | who | seed step |
//! |---|---|---|
//! | `/console/login` | everyone | 1 |
//! | `/console/cases`: open a case, its "Mã khai báo F0", the case list | treatment facility | 2 |
//! | `/console/cases/<id>`: "Truy vết F1" and the F1 analysis table | treatment facility | 4, 6 |
//! | `/console/unit`: the unit's F1 inbox, follow-up, CSV export | preventive-medicine unit | 7 |
//! | `/console/admin`: accounts, units, publish now | admin | |
//! | `/console/password` | everyone | |
//!
//! # Safe by construction
//!
//! - **Sessions** live in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` behind TLS, see
//!   [`ConsoleConfig::secure_cookies`]) holding the same session token as the API's bearer
//!   token; JavaScript never sees it.
//! - **CSRF**: every form carries a token, HMAC-SHA256 keyed with the session token (before
//!   login, with a random pre-login cookie). Only a page that could read the cookie can compute
//!   it, and the server needs no state to check it. A POST without the right token changes
//!   nothing and gets 403.
//! - **Escaping**: pages are built with `maud`, which escapes every interpolated value; no page
//!   uses a pre-escaped string built from data.
//! - **Headers**: a strict `Content-Security-Policy` (scripts and styles from this origin only,
//!   no inline script, no framing, forms post to this origin only), `X-Content-Type-Options`,
//!   `Referrer-Policy: no-referrer`, `Cache-Control: no-store`.
//! - **The unit's private key never reaches the server**: the unit page opens the sealed phone
//!   numbers in the browser (WebCrypto: X25519, HMAC-SHA256 and AES-GCM, composed into HPKE's
//!   base-mode open as in SPEC.md §10) from a key file the worker chooses; the file is read by
//!   the page's script and never uploaded.

mod i18n;
mod pages;

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use ring::hmac;
use serde::Deserialize;

pub use i18n::{Lang, Texts};

use crate::error::{ApiError, ErrorCode};
use crate::http::{
    AppState, blocking, parse_follow_up, parse_id, read_body, rows_csv, status_of, unix_now,
};
use crate::store::Role;
use crate::workflow::Principal;

/// The console's settings (the `[console]` table of the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Offset of the times the console shows from UTC, in minutes. Default 420: Indochina Time
    /// (UTC+7), Vietnam's time zone.
    pub utc_offset_minutes: i32,
    /// Whether cookies get the `Secure` attribute. Unset (the default): when the request came
    /// through one of `trusted_proxies` with `X-Forwarded-Proto: https`, that is, when the
    /// console is served behind TLS. `true` or `false` forces it.
    pub secure_cookies: Option<bool>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            utc_offset_minutes: 7 * 60,
            secure_cookies: None,
        }
    }
}

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "bz_session";
/// Name of the pre-login cookie whose value keys the login form's CSRF token.
pub const PRELOGIN_COOKIE: &str = "bz_prelogin";
/// Name of the language cookie.
pub const LANG_COOKIE: &str = "bz_lang";
/// Name of the CSRF field of every form.
pub const CSRF_FIELD: &str = "csrf";

/// The Content-Security-Policy of every console answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The label HMAC-SHA256 signs to make a CSRF token.
const CSRF_LABEL: &[u8] = b"bluezone console csrf v1";

/// Largest form body.
const MAX_FORM_BYTES: usize = 16 * 1024;

const STYLESHEET: &str = include_str!("../../console/console.css");
const SCRIPT: &str = include_str!("../../console/console.js");

type HttpResponse = Response<Full<Bytes>>;

/// The CSRF token of a session (or pre-login) secret: hex HMAC-SHA256(secret, label).
pub fn csrf_token(secret: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(hmac::sign(&key, CSRF_LABEL).as_ref())
}

/// Whether `submitted` is the CSRF token of `secret` (compared in constant time).
pub fn csrf_valid(secret: &str, submitted: &str) -> bool {
    let Ok(tag) = hex::decode(submitted) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, CSRF_LABEL, &tag).is_ok()
}

/// The value of one cookie of a request.
fn cookie(headers: &header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// A `Set-Cookie` value with the console's rules: `HttpOnly`, `SameSite=Strict`, `Path=/`,
/// and `Secure` when `secure`. `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// Whether this request reached us over TLS: from a trusted proxy saying so, or as configured.
fn behind_tls(
    headers: &header::HeaderMap,
    peer: IpAddr,
    trusted: &[IpAddr],
    config: &ConsoleConfig,
) -> bool {
    if let Some(forced) = config.secure_cookies {
        return forced;
    }
    trusted.contains(&peer)
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A logged-in health worker.
struct Session {
    token: String,
    principal: Principal,
    csrf: String,
}

/// What every handler knows about the request.
struct Ctx {
    lang: Lang,
    secure: bool,
    session: Option<Session>,
    offset_minutes: i32,
    cookies: Vec<String>,
    /// The request's path, for the language switch to come back to.
    path: String,
}

impl Ctx {
    fn t(&self) -> &'static Texts {
        self.lang.texts()
    }
}

/// Parse an `application/x-www-form-urlencoded` body; a repeated field keeps its first value.
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

fn finish(mut response: HttpResponse, ctx: &Ctx) -> HttpResponse {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if ctx.secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    for c in &ctx.cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

fn html(status: StatusCode, ctx: &Ctx, body: String) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(ctx.lang.code()) {
        r.headers_mut().insert(header::CONTENT_LANGUAGE, v);
    }
    finish(r, ctx)
}

fn redirect(ctx: &Ctx, location: &str) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    finish(r, ctx)
}

fn asset(ctx: &Ctx, content_type: &'static str, text: &'static str) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    finish(r, ctx)
}

/// An error page in the chosen language.
fn error_page(ctx: &Ctx, status: StatusCode, message: &str) -> HttpResponse {
    html(status, ctx, pages::error(ctx, message))
}

fn api_error_page(ctx: &Ctx, e: &ApiError) -> HttpResponse {
    if matches!(
        e.code,
        ErrorCode::SessionInvalid | ErrorCode::Unauthenticated
    ) {
        return redirect(ctx, "/console/login");
    }
    error_page(ctx, status_of(e), ctx.t().error(e.code))
}

/// Where a role starts.
fn home_of(role: &Role) -> &'static str {
    match role {
        Role::Admin => "/console/admin",
        Role::TreatmentFacility => "/console/cases",
        Role::PreventiveUnit { .. } => "/console/unit",
    }
}

/// A local path to go back to after switching language: `/console/...` only, so the switch
/// cannot be used to send someone to another site.
fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && !n.contains("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n
        }
        _ => "/console/".to_owned(),
    }
}

/// Route one request under `/console/`.
pub(crate) async fn route(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    rest: &[&str],
    peer: IpAddr,
    client: IpAddr,
) -> HttpResponse {
    let headers = req.headers();
    let lang = cookie(headers, LANG_COOKIE)
        .and_then(|c| Lang::from_code(&c))
        .unwrap_or(Lang::Vi);
    let secure = behind_tls(headers, peer, &state.trusted_proxies, &state.console);
    let mut ctx = Ctx {
        lang,
        secure,
        session: None,
        offset_minutes: state.console.utc_offset_minutes,
        cookies: Vec::new(),
        path: req.uri().path().to_owned(),
    };
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        let s = Arc::clone(state);
        let t = token.clone();
        match blocking(move || s.workflow.authenticate(&t, unix_now())).await {
            Ok(principal) => {
                ctx.session = Some(Session {
                    csrf: csrf_token(&token),
                    token,
                    principal,
                })
            }
            Err(_) => {
                // Expired or unknown: forget it.
                ctx.cookies
                    .push(set_cookie(SESSION_COOKIE, "", 0, ctx.secure));
            }
        }
    }
    let method = req.method().clone();
    match (rest, &method) {
        ([] | [""], &Method::GET) => match &ctx.session {
            Some(s) => {
                let home = home_of(&s.principal.role);
                redirect(&ctx, home)
            }
            None => redirect(&ctx, "/console/login"),
        },
        (["static", "console.css"], &Method::GET) => {
            asset(&ctx, "text/css; charset=utf-8", STYLESHEET)
        }
        (["static", "console.js"], &Method::GET) => {
            asset(&ctx, "text/javascript; charset=utf-8", SCRIPT)
        }
        (["lang", code], &Method::GET) => {
            let next = safe_next(query_param(&req, "next"));
            if let Some(l) = Lang::from_code(code) {
                ctx.lang = l;
                ctx.cookies
                    .push(set_cookie(LANG_COOKIE, l.code(), 365 * 86_400, ctx.secure));
            }
            redirect(&ctx, &next)
        }
        (["login"], &Method::GET) => {
            let prelogin = cookie(req.headers(), PRELOGIN_COOKIE);
            login_get(ctx, prelogin)
        }
        (["login"], &Method::POST) => login_post(state, req, ctx, client).await,
        _ => {
            if ctx.session.is_none() {
                return redirect(&ctx, "/console/login");
            }
            if method == Method::POST {
                let body = match read_body(req, MAX_FORM_BYTES).await {
                    Ok(b) => b,
                    Err(e) => return api_error_page(&ctx, &e),
                };
                let form = parse_form(&body);
                let token_ok = ctx
                    .session
                    .as_ref()
                    .is_some_and(|s| csrf_valid(&s.token, field(&form, CSRF_FIELD)));
                if !token_ok {
                    tracing::warn!("console form refused: CSRF token missing or wrong");
                    return error_page(&ctx, StatusCode::FORBIDDEN, ctx.t().csrf_failed);
                }
                post(state, ctx, rest, form).await
            } else if method == Method::GET {
                let done = query_param(&req, "done");
                get(state, ctx, rest, done.as_deref()).await
            } else {
                let message = ctx.t().error(ErrorCode::MethodNotAllowed);
                error_page(&ctx, StatusCode::METHOD_NOT_ALLOWED, message)
            }
        }
    }
}

/// The login page. An existing pre-login secret is kept, so that two login tabs both work.
fn login_get(mut ctx: Ctx, prelogin: Option<String>) -> HttpResponse {
    if let Some(s) = &ctx.session {
        let home = home_of(&s.principal.role);
        return redirect(&ctx, home);
    }
    let prelogin = match prelogin {
        Some(p) if p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit()) => p,
        _ => match fresh_secret() {
            Some(fresh) => fresh,
            None => return no_randomness(&ctx),
        },
    };
    ctx.cookies
        .push(set_cookie(PRELOGIN_COOKIE, &prelogin, 3600, ctx.secure));
    let body = pages::login(&ctx, &csrf_token(&prelogin), "", None);
    html(StatusCode::OK, &ctx, body)
}

/// 32 random bytes from the operating system, hex: a pre-login secret. `None` if the
/// generator fails: then no form is offered rather than one with a guessable token.
fn fresh_secret() -> Option<String> {
    let mut bytes = [0u8; 32];
    match getrandom::fill(&mut bytes) {
        Ok(()) => Some(hex::encode(bytes)),
        Err(e) => {
            tracing::error!(error = %e, "the operating system's random generator failed");
            None
        }
    }
}

fn no_randomness(ctx: &Ctx) -> HttpResponse {
    error_page(
        ctx,
        StatusCode::INTERNAL_SERVER_ERROR,
        ctx.t().error(ErrorCode::Internal),
    )
}

async fn login_post(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    mut ctx: Ctx,
    client: IpAddr,
) -> HttpResponse {
    let prelogin = cookie(req.headers(), PRELOGIN_COOKIE);
    let body = match read_body(req, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(e) => return api_error_page(&ctx, &e),
    };
    let form = parse_form(&body);
    let username = field(&form, "username").trim().to_owned();
    let password = field(&form, "password").to_owned();
    let csrf_ok = prelogin
        .as_deref()
        .is_some_and(|p| csrf_valid(p, field(&form, CSRF_FIELD)));
    if !csrf_ok {
        // Keep what was typed (but the password) and offer a fresh form.
        let Some(fresh) = fresh_secret() else {
            return no_randomness(&ctx);
        };
        ctx.cookies
            .push(set_cookie(PRELOGIN_COOKIE, &fresh, 3600, ctx.secure));
        let message = ctx.t().csrf_failed;
        let body = pages::login(&ctx, &csrf_token(&fresh), &username, Some(message));
        return html(StatusCode::FORBIDDEN, &ctx, body);
    }
    let s = Arc::clone(state);
    let name = username.clone();
    let outcome = blocking(move || s.workflow.login(&name, &password, client, unix_now())).await;
    match outcome {
        Ok(login) => {
            ctx.cookies.push(set_cookie(
                SESSION_COOKIE,
                &login.token,
                login.expires_at.saturating_sub(unix_now()),
                ctx.secure,
            ));
            ctx.cookies
                .push(set_cookie(PRELOGIN_COOKIE, "", 0, ctx.secure));
            redirect(&ctx, "/console/")
        }
        Err(e) => {
            let message = ctx.t().error(e.code);
            let p = prelogin.unwrap_or_default();
            let body = pages::login(&ctx, &csrf_token(&p), &username, Some(message));
            html(status_of(&e), &ctx, body)
        }
    }
}

async fn get(state: &Arc<AppState>, ctx: Ctx, rest: &[&str], done: Option<&str>) -> HttpResponse {
    let Some(session) = &ctx.session else {
        return redirect(&ctx, "/console/login");
    };
    let who = session.principal.clone();
    let s = Arc::clone(state);
    match rest {
        ["cases"] => match blocking(move || s.workflow.cases(&who)).await {
            Ok(cases) => {
                let body = pages::cases(&ctx, &cases, &pages::OpenCaseForm::default());
                html(StatusCode::OK, &ctx, body)
            }
            Err(e) => api_error_page(&ctx, &e),
        },
        ["cases", id] => {
            let id: u64 = match parse_id(id) {
                Ok(id) => id,
                Err(e) => return api_error_page(&ctx, &e),
            };
            case_page(state, &ctx, id, done.filter(|d| *d == "trace"), None).await
        }
        ["unit"] | ["unit", "f1.csv"] => {
            let Role::PreventiveUnit { unit } = who.role.clone() else {
                return api_error_page(
                    &ctx,
                    &ApiError::new(ErrorCode::ForbiddenRole, "unit workers only"),
                );
            };
            let name = unit.clone();
            let rows = match blocking(move || s.workflow.unit_rows(&who, &name)).await {
                Ok(rows) => rows,
                Err(e) => return api_error_page(&ctx, &e),
            };
            if rest.len() == 2 {
                let mut r = Response::new(Full::new(Bytes::from(rows_csv(&rows))));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                );
                if let Ok(v) =
                    HeaderValue::from_str(&format!("attachment; filename=\"f1-{unit}-sealed.csv\""))
                {
                    r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                }
                return finish(r, &ctx);
            }
            match state
                .workflow
                .settings()
                .units
                .iter()
                .find(|u| u.name == unit)
            {
                Some(u) => html(StatusCode::OK, &ctx, pages::unit_inbox(&ctx, u, &rows)),
                None => api_error_page(
                    &ctx,
                    &ApiError::new(ErrorCode::UnknownUnit, "unit not configured"),
                ),
            }
        }
        ["admin"] => admin_page(state, &ctx, done, &pages::AccountForm::default(), None).await,
        ["password"] => {
            let body = pages::password(&ctx, None, done == Some("password"));
            html(StatusCode::OK, &ctx, body)
        }
        _ => error_page(&ctx, StatusCode::NOT_FOUND, ctx.t().page_not_found),
    }
}

async fn case_page(
    state: &Arc<AppState>,
    ctx: &Ctx,
    id: u64,
    done: Option<&str>,
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
            let body = pages::case(ctx, &case, &rows, units, done.is_some(), message);
            html(status, ctx, body)
        }
        Err(e) => api_error_page(ctx, &e),
    }
}

async fn admin_page(
    state: &Arc<AppState>,
    ctx: &Ctx,
    done: Option<&str>,
    form: &pages::AccountForm,
    error: Option<(StatusCode, &'static str)>,
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
            let body = pages::admin(ctx, &accounts, units, form, done, message);
            html(status, ctx, body)
        }
        Err(e) => api_error_page(ctx, &e),
    }
}

async fn post(
    state: &Arc<AppState>,
    mut ctx: Ctx,
    rest: &[&str],
    form: Vec<(String, String)>,
) -> HttpResponse {
    let Some(session) = &ctx.session else {
        return redirect(&ctx, "/console/login");
    };
    let who = session.principal.clone();
    let token = session.token.clone();
    let s = Arc::clone(state);
    match rest {
        ["logout"] => {
            let _ = blocking(move || s.workflow.logout(&token)).await;
            ctx.cookies
                .push(set_cookie(SESSION_COOKIE, "", 0, ctx.secure));
            redirect(&ctx, "/console/login")
        }
        ["cases"] => {
            let reference = field(&form, "reference").trim().to_owned();
            let r = reference.clone();
            let w = who.clone();
            match blocking(move || s.workflow.open_case(&w, &r, unix_now())).await {
                Ok(opened) => {
                    let body = pages::code(&ctx, &opened.case, &opened.code);
                    html(StatusCode::CREATED, &ctx, body)
                }
                Err(e) => {
                    let s = Arc::clone(state);
                    let cases = blocking(move || s.workflow.cases(&who))
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
        ["cases", id, "trace"] => {
            let id: u64 = match parse_id(id) {
                Ok(id) => id,
                Err(e) => return api_error_page(&ctx, &e),
            };
            match blocking(move || s.workflow.request_trace(&who, id, unix_now())).await {
                Ok(_) => redirect(&ctx, &format!("/console/cases/{id}?done=trace")),
                Err(e) => case_page(state, &ctx, id, None, Some(&e)).await,
            }
        }
        ["unit", "f1", case, row, "follow-up"] => {
            let (case, row): (u64, u32) = match (parse_id(case), parse_id(row)) {
                (Ok(c), Ok(r)) => (c, r),
                _ => return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t().page_not_found),
            };
            let Ok(status) = parse_follow_up(field(&form, "status")) else {
                return error_page(
                    &ctx,
                    StatusCode::BAD_REQUEST,
                    ctx.t().error(ErrorCode::BadRequest),
                );
            };
            match blocking(move || {
                s.workflow
                    .set_follow_up(&who, case, row, status, unix_now())
            })
            .await
            {
                Ok(_) => redirect(&ctx, &format!("/console/unit#row-{case}-{row}")),
                Err(e) => api_error_page(&ctx, &e),
            }
        }
        ["admin", "accounts"] => {
            let f = pages::AccountForm {
                username: field(&form, "username").trim().to_owned(),
                role: field(&form, "role").to_owned(),
                unit: field(&form, "unit").to_owned(),
            };
            let password = field(&form, "password").to_owned();
            let role = match f.role.as_str() {
                "admin" => Some(Role::Admin),
                "treatment_facility" => Some(Role::TreatmentFacility),
                "preventive_unit" if !f.unit.is_empty() => Some(Role::PreventiveUnit {
                    unit: f.unit.clone(),
                }),
                _ => None,
            };
            let Some(role) = role else {
                let refused = (StatusCode::BAD_REQUEST, ctx.t().unit_required);
                return admin_page(state, &ctx, None, &f, Some(refused)).await;
            };
            let name = f.username.clone();
            let created = blocking(move || {
                s.workflow
                    .create_account(&who, &name, &password, role, unix_now())
            })
            .await;
            match created {
                Ok(_) => redirect(&ctx, "/console/admin?done=account"),
                Err(e) => {
                    let refused = (status_of(&e), ctx.t().error(e.code));
                    admin_page(state, &ctx, None, &f, Some(refused)).await
                }
            }
        }
        ["admin", "publish"] => {
            match blocking(move || s.workflow.publish_on_demand(&who, unix_now())).await {
                Ok(Some(batch)) => redirect(
                    &ctx,
                    &format!("/console/admin?done=batch-{}", batch.batch_id),
                ),
                Ok(None) => redirect(&ctx, "/console/admin?done=nothing"),
                Err(e) => api_error_page(&ctx, &e),
            }
        }
        ["password"] => {
            let current = field(&form, "current").to_owned();
            let new = field(&form, "new").to_owned();
            match blocking(move || s.workflow.change_password(&who, &current, &new)).await {
                Ok(()) => redirect(&ctx, "/console/password?done=password"),
                Err(e) => {
                    let message = if e.code == ErrorCode::LoginFailed {
                        ctx.t().current_password_wrong
                    } else {
                        ctx.t().error(e.code)
                    };
                    html(
                        status_of(&e),
                        &ctx,
                        pages::password(&ctx, Some(message), false),
                    )
                }
            }
        }
        _ => error_page(&ctx, StatusCode::NOT_FOUND, ctx.t().page_not_found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_belong_to_their_secret() {
        let a = csrf_token("session-a");
        assert_eq!(a.len(), 64);
        assert!(csrf_valid("session-a", &a));
        assert!(!csrf_valid("session-b", &a));
        assert!(!csrf_valid("session-a", ""));
        assert!(!csrf_valid("session-a", &a[..62]));
        assert!(!csrf_valid("session-a", "not hex"));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_behind_tls() {
        let plain = set_cookie(SESSION_COOKIE, "abc", 60, false);
        assert_eq!(
            plain,
            "bz_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        assert!(set_cookie(SESSION_COOKIE, "abc", 60, true).ends_with("; Secure"));
    }

    #[test]
    fn tls_is_believed_from_trusted_proxies_only() {
        let mut h = header::HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let auto = ConsoleConfig::default();
        assert!(behind_tls(&h, proxy, &[proxy], &auto));
        assert!(!behind_tls(&h, other, &[proxy], &auto));
        assert!(!behind_tls(
            &header::HeaderMap::new(),
            proxy,
            &[proxy],
            &auto
        ));
        let forced = ConsoleConfig {
            secure_cookies: Some(true),
            ..auto
        };
        assert!(behind_tls(&header::HeaderMap::new(), other, &[], &forced));
    }

    #[test]
    fn language_switch_only_returns_to_console_pages() {
        assert_eq!(
            safe_next(Some("/console/cases/3".into())),
            "/console/cases/3"
        );
        assert_eq!(safe_next(Some("https://evil.example/".into())), "/console/");
        assert_eq!(
            safe_next(Some("/console//evil.example".into())),
            "/console/"
        );
        assert_eq!(safe_next(Some("/console/\\evil".into())), "/console/");
        assert_eq!(safe_next(None), "/console/");
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut h = header::HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; bz_lang=en"));
        h.append(header::COOKIE, HeaderValue::from_static("bz_session=tok"));
        assert_eq!(cookie(&h, LANG_COOKIE).as_deref(), Some("en"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
