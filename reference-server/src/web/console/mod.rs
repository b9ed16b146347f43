//! The health workers' web console: server-rendered HTML under `/console/`, in Vietnamese by
//! default and English on a switch, over the same [`Workflow`](crate::Workflow) calls as the JSON
//! API.
//!
//! | page | who | seed step |
//! |---|---|---|
//! | `/console/login` | everyone | 1 |
//! | `/console/cases`: open a case, the case list | treatment facility | 2 |
//! | `/console/cases/<id>/code`: its "Mã khai báo F0" and QR code, "reissue code" | treatment facility | 2 |
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
//! - **Declaration codes** are in no URL and not kept: opening a case or reissuing its code
//!   answers 303 to the code page with the code sealed for the session in a cookie of that
//!   page's path ([`CODE_COOKIE`], 10 minutes; [`Workflow::seal_code`](crate::Workflow::seal_code)).
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

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use ring::hmac;
use serde::Deserialize;
use zeroize::Zeroizing;

pub use i18n::{Lang, Texts};

use super::respond::{HttpResponse, status_of};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::store::Role;
use crate::domain::workflow::Principal;

/// The console's settings (the `[console]` table of the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
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
/// Name of the cookie that holds a just-issued declaration code, sealed for the session
/// ([`Workflow::seal_code`](crate::Workflow::seal_code)), on its case's code page's path only.
pub const CODE_COOKIE: &str = "bz_code";
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
    set_cookie_at("/", name, value, max_age, secure)
}

/// [`set_cookie`] for the pages under `path` only.
fn set_cookie_at(path: &str, name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let mut c =
        format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict");
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

    /// The format of the console's CSV downloads: for spreadsheets, in the console's zone.
    fn csv_format(&self) -> bluezone_export::CsvFormat {
        bluezone_export::CsvFormat::spreadsheet(self.offset_minutes)
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

use super::respond::query_param;

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

/// Where a signed-in worker starts: the password page while the password is someone else's,
/// else the role's page.
fn home_of(who: &Principal) -> &'static str {
    if who.must_change_password {
        return PASSWORD_PAGE;
    }
    match who.role {
        Role::Admin => "/console/admin",
        Role::TreatmentFacility { .. } | Role::Oversight { .. } => "/console/cases",
        Role::PreventiveUnit { .. } => "/console/unit",
    }
}

/// The page where a worker changes the password, the only one (with logging out) open to a
/// session whose password someone else set.
const PASSWORD_PAGE: &str = "/console/password";

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

/// Unwrap a page's `Result`: both sides are answers.
macro_rules! answer {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

mod session;
mod steps;

pub use session::{
    change_password, home, language, login, login_form, logout, password_form, refused, script,
    stylesheet,
};
pub use steps::{
    account_action, admin, audit, case, cases, code_page, create_account, follow_up, open_case,
    publish, register_unit, reissue_code, trace, unit_csv, unit_inbox,
};

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
