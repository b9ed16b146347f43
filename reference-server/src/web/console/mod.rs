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
use hyper::{Request, Response, StatusCode};
use ring::hmac;
use serde::Deserialize;
use zeroize::Zeroizing;

pub use i18n::{Lang, Texts};

use super::api::rows_csv;
use super::respond::{HttpResponse, blocking, parse_id, read_body, status_of};
use super::{AppState, Call, unix_now};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::store::{FollowUpStatus, Role};
use crate::domain::workflow::Principal;

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

const STYLESHEET: &str = include_str!("../../../console/console.css");
const SCRIPT: &str = include_str!("../../../console/console.js");

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
    /// The session token (wiped when dropped).
    token: Zeroizing<String>,
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

/// What every console page knows about its request: the language, whether it came over TLS,
/// and the worker's session, if the session cookie names a live one (one that does not is
/// deleted).
async fn context(call: &Call) -> Ctx {
    let headers = call.req.headers();
    let state = &call.state;
    let lang = cookie(headers, LANG_COOKIE)
        .and_then(|c| Lang::from_code(&c))
        .unwrap_or(Lang::Vi);
    let secure = behind_tls(headers, call.peer, &state.trusted_proxies, &state.console);
    let mut ctx = Ctx {
        lang,
        secure,
        session: None,
        offset_minutes: state.console.utc_offset_minutes,
        cookies: Vec::new(),
        path: call.req.uri().path().to_owned(),
    };
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        let s = Arc::clone(state);
        let t = Zeroizing::new(token.clone());
        match blocking(move || s.workflow.authenticate(&t, unix_now())).await {
            Ok(principal) => {
                ctx.session = Some(Session {
                    csrf: csrf_token(&token),
                    token: Zeroizing::new(token),
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
    ctx
}

/// The context of a page for signed-in workers, and who is signed in; without a session, the
/// redirect to the login page.
async fn signed_in(call: &Call) -> Result<(Ctx, Principal), HttpResponse> {
    let ctx = context(call).await;
    match &ctx.session {
        Some(s) => {
            let who = s.principal.clone();
            Ok((ctx, who))
        }
        None => Err(redirect(&ctx, "/console/login")),
    }
}

/// A signed-in worker's form: the context, who sent it, and its fields, once its CSRF token
/// is the session's. A form without the right token changes nothing and gets 403.
async fn signed_in_form(
    call: Call,
) -> Result<(Ctx, Principal, Vec<(String, String)>), HttpResponse> {
    let (ctx, who) = signed_in(&call).await?;
    let body = read_body(call.req, MAX_FORM_BYTES)
        .await
        .map_err(|e| api_error_page(&ctx, &e))?;
    let form = parse_form(&body);
    let token_ok = ctx
        .session
        .as_ref()
        .is_some_and(|s| csrf_valid(&s.token, field(&form, CSRF_FIELD)));
    if !token_ok {
        tracing::warn!("console form refused: CSRF token missing or wrong");
        return Err(error_page(&ctx, StatusCode::FORBIDDEN, ctx.t().csrf_failed));
    }
    Ok((ctx, who, form))
}

/// Unwrap a page's `Result`: both sides are answers.
macro_rules! answer {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

/// A path under `/console/` that no route has (404), or a method its route does not take
/// (405). Without a session, an unknown page sends the worker to the login page, as every
/// other page does.
pub async fn refused(call: Call, status: StatusCode) -> HttpResponse {
    let ctx = context(&call).await;
    if status == StatusCode::METHOD_NOT_ALLOWED {
        let message = ctx.t().error(ErrorCode::MethodNotAllowed);
        return error_page(&ctx, status, message);
    }
    if ctx.session.is_none() {
        return redirect(&ctx, "/console/login");
    }
    error_page(&ctx, StatusCode::NOT_FOUND, ctx.t().page_not_found)
}

/// `GET /console/`: the worker's home page, or the login page.
pub async fn home(call: Call) -> HttpResponse {
    let ctx = context(&call).await;
    match &ctx.session {
        Some(s) => redirect(&ctx, home_of(&s.principal.role)),
        None => redirect(&ctx, "/console/login"),
    }
}

/// `GET /console/static/console.css`.
pub async fn stylesheet(call: Call) -> HttpResponse {
    let ctx = context(&call).await;
    asset(&ctx, "text/css; charset=utf-8", STYLESHEET)
}

/// `GET /console/static/console.js`.
pub async fn script(call: Call) -> HttpResponse {
    let ctx = context(&call).await;
    asset(&ctx, "text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /console/lang/{code}?next=…`: switch language and go back.
pub async fn language(call: Call) -> HttpResponse {
    let mut ctx = context(&call).await;
    let next = safe_next(query_param(&call.req, "next"));
    if let Some(l) = Lang::from_code(call.param("code")) {
        ctx.lang = l;
        ctx.cookies
            .push(set_cookie(LANG_COOKIE, l.code(), 365 * 86_400, ctx.secure));
    }
    redirect(&ctx, &next)
}

/// `GET /console/login`. An existing pre-login secret is kept, so that two login tabs both
/// work.
pub async fn login_form(call: Call) -> HttpResponse {
    let mut ctx = context(&call).await;
    if let Some(s) = &ctx.session {
        let home = home_of(&s.principal.role);
        return redirect(&ctx, home);
    }
    let prelogin = match cookie(call.req.headers(), PRELOGIN_COOKIE) {
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

/// `POST /console/login`: its CSRF token is keyed by the pre-login cookie.
pub async fn login(call: Call) -> HttpResponse {
    let mut ctx = context(&call).await;
    let prelogin = cookie(call.req.headers(), PRELOGIN_COOKIE);
    let (state, client) = (Arc::clone(&call.state), call.client);
    let body = match read_body(call.req, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(e) => return api_error_page(&ctx, &e),
    };
    let form = parse_form(&body);
    let username = field(&form, "username").trim().to_owned();
    let password = Zeroizing::new(field(&form, "password").to_owned());
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
    let name = username.clone();
    let outcome =
        blocking(move || state.workflow.login(&name, &password, client, unix_now())).await;
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

/// `POST /console/logout`.
pub async fn logout(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let (mut ctx, _, _) = answer!(signed_in_form(call).await);
    if let Some(session) = &ctx.session {
        let token = session.token.clone();
        let _ = blocking(move || state.workflow.logout(&token)).await;
    }
    ctx.cookies
        .push(set_cookie(SESSION_COOKIE, "", 0, ctx.secure));
    redirect(&ctx, "/console/login")
}

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
    let (ctx, who, _) = answer!(signed_in_form(call).await);
    let id = match id {
        Ok(id) => id,
        Err(e) => return api_error_page(&ctx, &e),
    };
    let s = Arc::clone(&state);
    match blocking(move || s.workflow.request_trace(&who, id, unix_now())).await {
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
            let body = pages::case(ctx, &case, &rows, units, traced, message);
            html(status, ctx, body)
        }
        Err(e) => api_error_page(ctx, &e),
    }
}

/// The signed-in unit worker's unit and its F1 rows, or the page saying why not.
async fn unit_rows(
    call: &Call,
) -> Result<(Ctx, String, Vec<crate::domain::store::F1RowRecord>), HttpResponse> {
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
    let mut r = super::respond::csv(rows_csv(&rows));
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
    admin_page(&call.state, &ctx, done.as_deref(), &form, None).await
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
        return admin_page(&state, &ctx, None, &f, Some(refused)).await;
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
            admin_page(&state, &ctx, None, &f, Some(refused)).await
        }
    }
}

/// `POST /console/admin/publish`: run publication now.
pub async fn publish(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let (ctx, who, _) = answer!(signed_in_form(call).await);
    match blocking(move || state.workflow.publish_on_demand(&who, unix_now())).await {
        Ok(Some(batch)) => redirect(
            &ctx,
            &format!("/console/admin?done=batch-{}", batch.batch_id),
        ),
        Ok(None) => redirect(&ctx, "/console/admin?done=nothing"),
        Err(e) => api_error_page(&ctx, &e),
    }
}

/// `GET /console/password`.
pub async fn password_form(call: Call) -> HttpResponse {
    let (ctx, _) = answer!(signed_in(&call).await);
    let done = query_param(&call.req, "done");
    let body = pages::password(&ctx, None, done.as_deref() == Some("password"));
    html(StatusCode::OK, &ctx, body)
}

/// `POST /console/password`: change one's own password.
pub async fn change_password(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let client = call.client;
    let (ctx, who, form) = answer!(signed_in_form(call).await);
    let current = Zeroizing::new(field(&form, "current").to_owned());
    let new = Zeroizing::new(field(&form, "new").to_owned());
    let token = Zeroizing::new(
        ctx.session
            .as_ref()
            .map(|s| s.token.to_string())
            .unwrap_or_default(),
    );
    let changed = blocking(move || {
        state
            .workflow
            .change_password(&who, &token, &current, &new, client, unix_now())
    });
    match changed.await {
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
