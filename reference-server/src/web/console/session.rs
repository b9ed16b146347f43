//! The console's own pages: the session (login, logout, language, password) and what every
//! page needs to know about its request.

use std::sync::Arc;

use hyper::StatusCode;
use zeroize::Zeroizing;

use super::{
    CSRF_FIELD, Ctx, LANG_COOKIE, Lang, MAX_FORM_BYTES, PASSWORD_PAGE, PRELOGIN_COOKIE, SCRIPT,
    SESSION_COOKIE, STYLESHEET, Session, api_error_page, asset, behind_tls, cookie, csrf_token,
    csrf_valid, error_page, field, home_of, html, pages, parse_form, query_param, redirect,
    safe_next, set_cookie,
};
use crate::domain::error::ErrorCode;
use crate::domain::workflow::Principal;
use crate::web::respond::{HttpResponse, blocking, read_body, status_of};
use crate::web::{Call, unix_now};

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
        let client = Some(call.client);
        match blocking(move || s.workflow.authenticate(&t, client, unix_now())).await {
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
/// redirect to the login page. A worker whose password someone else set is sent to the
/// password page from every page but that one and logging out.
pub(super) async fn signed_in(call: &Call) -> Result<(Ctx, Principal), HttpResponse> {
    let ctx = context(call).await;
    match &ctx.session {
        Some(s) => {
            let who = s.principal.clone();
            let _ = call.log.account.set(who.username.clone());
            if who.must_change_password && ctx.path != PASSWORD_PAGE && ctx.path != LOGOUT_PAGE {
                return Err(redirect(&ctx, PASSWORD_PAGE));
            }
            Ok((ctx, who))
        }
        None => Err(redirect(&ctx, "/console/login")),
    }
}

/// Where the logout form posts.
const LOGOUT_PAGE: &str = "/console/logout";

/// A signed-in worker's form: the context, who sent it, and its fields, once its CSRF token
/// is the session's. A form without the right token changes nothing and gets 403.
pub(super) async fn signed_in_form(
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
        Some(s) => redirect(&ctx, home_of(&s.principal)),
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
        let home = home_of(&s.principal);
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

/// `GET /console/password`.
pub async fn password_form(call: Call) -> HttpResponse {
    let (ctx, who) = answer!(signed_in(&call).await);
    let done = query_param(&call.req, "done");
    let error = who
        .must_change_password
        .then_some(ctx.t().must_change_notice);
    let body = pages::password(&ctx, error, done.as_deref() == Some("password"));
    html(StatusCode::OK, &ctx, body)
}

/// `POST /console/password`: change one's own password.
pub async fn change_password(call: Call) -> HttpResponse {
    let state = Arc::clone(&call.state);
    let client = call.client;
    let (ctx, who, form) = answer!(signed_in_form(call).await);
    let forced = who.must_change_password;
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
        // After a forced change, on to the work the worker came for.
        Ok(()) if forced => redirect(&ctx, "/console/"),
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
