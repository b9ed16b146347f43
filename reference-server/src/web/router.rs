//! Every route of the server, declared once, in [`ROUTES`], and the dispatch that matches a
//! request against them ([`matchit`]: a radix tree, so a lookup costs the path's length, not
//! the number of routes).
//!
//! A path that matches with another method gets `405 method_not_allowed`; a path that matches
//! nothing gets `404 route_not_found`. Under `/console/` both are pages in the worker's
//! language, elsewhere `{"error": …}` JSON.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use hyper::{Method, StatusCode};

use super::respond::{HttpResponse, error_response};
use super::{Call, api, console, ops, phone, publication};
use crate::domain::error::{ApiError, ErrorCode};

/// A boxed handler future.
pub type Answer<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What answers a route.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Phones, publication files and the JSON API: an error becomes `{"error": …}` JSON with
    /// its code's status.
    Json(fn(Call) -> Answer<Result<HttpResponse, ApiError>>),
    /// The console: the handler renders its own errors as pages.
    Page(fn(Call) -> Answer<HttpResponse>),
}

/// One route: a method, a path pattern (`{name}` for a parameter) and its handler.
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path pattern.
    pub path: &'static str,
    /// The handler.
    pub handler: Handler,
}

macro_rules! json {
    ($handler:path) => {
        Handler::Json(|call| Box::pin($handler(call)))
    };
}

macro_rules! page {
    ($handler:path) => {
        Handler::Page(|call| Box::pin($handler(call)))
    };
}

const fn route(method: Method, path: &'static str, handler: Handler) -> Route {
    Route {
        method,
        path,
        handler,
    }
}

const GET: Method = Method::GET;
const POST: Method = Method::POST;

/// Every route of the server. SPEC.md §13 documents the phone and publication routes,
/// README the health workers' API.
pub static ROUTES: &[Route] = &[
    // Operations.
    route(GET, "/", json!(ops::root)),
    route(GET, "/healthz", json!(ops::healthz)),
    route(GET, "/readyz", json!(ops::readyz)),
    route(GET, "/metrics", json!(ops::metrics)),
    // Publication files (phones, CDN).
    route(GET, "/publication/v1/index.bin", json!(publication::index)),
    route(
        GET,
        "/publication/v1/regions/{region}/index.bin",
        json!(publication::region_index),
    ),
    route(
        GET,
        "/publication/v1/batches/{file}",
        json!(publication::batch),
    ),
    // Phones.
    route(GET, "/phone/v1/config", json!(phone::config)),
    route(POST, "/phone/v1/uploads", json!(phone::upload)),
    route(POST, "/phone/v1/reports", json!(phone::report)),
    // Health workers' JSON API.
    route(POST, "/api/v1/login", json!(api::login)),
    route(POST, "/api/v1/logout", json!(api::logout)),
    route(GET, "/api/v1/me", json!(api::me)),
    route(POST, "/api/v1/me/password", json!(api::change_password)),
    route(GET, "/api/v1/accounts", json!(api::accounts)),
    route(POST, "/api/v1/accounts", json!(api::create_account)),
    route(
        POST,
        "/api/v1/accounts/{username}/disable",
        json!(api::disable_account),
    ),
    route(
        POST,
        "/api/v1/accounts/{username}/enable",
        json!(api::enable_account),
    ),
    route(
        POST,
        "/api/v1/accounts/{username}/reset-password",
        json!(api::reset_password),
    ),
    route(
        POST,
        "/api/v1/accounts/{username}/role",
        json!(api::set_role),
    ),
    route(GET, "/api/v1/units", json!(api::units)),
    route(POST, "/api/v1/units", json!(api::register_unit)),
    route(POST, "/api/v1/publication/run", json!(api::publish)),
    route(GET, "/api/v1/admin/store", json!(api::store_digest)),
    route(GET, "/api/v1/admin/backup", json!(api::backup)),
    route(GET, "/api/v1/admin/audit", json!(api::audit)),
    route(GET, "/api/v1/cases", json!(api::cases)),
    route(POST, "/api/v1/cases", json!(api::open_case)),
    route(GET, "/api/v1/cases/{id}", json!(api::case)),
    route(POST, "/api/v1/cases/{id}/trace", json!(api::trace)),
    route(
        POST,
        "/api/v1/cases/{id}/reissue-code",
        json!(api::reissue_code),
    ),
    route(GET, "/api/v1/cases/{id}/f1", json!(api::f1_table)),
    route(GET, "/api/v1/units/{unit}/f1", json!(api::unit_rows)),
    route(
        POST,
        "/api/v1/units/{unit}/f1/{case}/{row}/follow-up",
        json!(api::follow_up),
    ),
    // The console.
    route(GET, "/console", page!(console::home)),
    route(GET, "/console/", page!(console::home)),
    route(
        GET,
        "/console/static/console.css",
        page!(console::stylesheet),
    ),
    route(GET, "/console/static/console.js", page!(console::script)),
    route(GET, "/console/lang/{code}", page!(console::language)),
    route(GET, "/console/login", page!(console::login_form)),
    route(POST, "/console/login", page!(console::login)),
    route(POST, "/console/logout", page!(console::logout)),
    route(GET, "/console/cases", page!(console::cases)),
    route(POST, "/console/cases", page!(console::open_case)),
    route(GET, "/console/cases/{id}", page!(console::case)),
    route(POST, "/console/cases/{id}/trace", page!(console::trace)),
    route(GET, "/console/cases/{id}/code", page!(console::code_page)),
    route(
        POST,
        "/console/cases/{id}/reissue-code",
        page!(console::reissue_code),
    ),
    route(GET, "/console/unit", page!(console::unit_inbox)),
    route(GET, "/console/unit/f1.csv", page!(console::unit_csv)),
    route(
        POST,
        "/console/unit/f1/{case}/{row}/follow-up",
        page!(console::follow_up),
    ),
    route(GET, "/console/admin", page!(console::admin)),
    route(GET, "/console/admin/audit", page!(console::audit)),
    route(
        POST,
        "/console/admin/accounts",
        page!(console::create_account),
    ),
    route(
        POST,
        "/console/admin/accounts/{username}/{action}",
        page!(console::account_action),
    ),
    route(POST, "/console/admin/units", page!(console::register_unit)),
    route(POST, "/console/admin/publish", page!(console::publish)),
    route(GET, "/console/password", page!(console::password_form)),
    route(POST, "/console/password", page!(console::change_password)),
];

/// The routes by path: for each path pattern, the indexes in [`ROUTES`] of its methods.
fn table() -> &'static matchit::Router<Vec<usize>> {
    static TABLE: OnceLock<matchit::Router<Vec<usize>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut paths: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (i, r) in ROUTES.iter().enumerate() {
            match paths.iter_mut().find(|(p, _)| *p == r.path) {
                Some((_, methods)) => methods.push(i),
                None => paths.push((r.path, vec![i])),
            }
        }
        let mut table = matchit::Router::new();
        for (path, methods) in paths {
            // The table is a constant: a conflict is a programming error, caught by the
            // `every_route_is_reachable` test.
            if let Err(e) = table.insert(path, methods) {
                panic!("route {path}: {e}");
            }
        }
        table
    })
}

/// Answer `call` with the handler of its route.
pub async fn dispatch(mut call: Call) -> HttpResponse {
    let path = call.req.uri().path().to_owned();
    let console = path == "/console" || path.starts_with("/console/");
    let (route, params) = match table().at(&path) {
        Ok(found) => {
            let params: Vec<(String, String)> = found
                .params
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let method = call.req.method();
            match found.value.iter().find(|&&i| ROUTES[i].method == method) {
                Some(&i) => (&ROUTES[i], params),
                None => return refuse(call, console, ErrorCode::MethodNotAllowed).await,
            }
        }
        Err(_) => return refuse(call, console, ErrorCode::RouteNotFound).await,
    };
    call.params = params;
    let _ = call.log.route.set(route.path);
    match route.handler {
        Handler::Json(handler) => match handler(call).await {
            Ok(response) => response,
            Err(e) => error_response(&e),
        },
        Handler::Page(handler) => handler(call).await,
    }
}

async fn refuse(call: Call, console: bool, code: ErrorCode) -> HttpResponse {
    let (status, message) = match code {
        ErrorCode::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this route",
        ),
        _ => (StatusCode::NOT_FOUND, "no such route"),
    };
    if console {
        console::refused(call, status).await
    } else {
        error_response(&ApiError::new(code, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_reachable_and_declared_once() {
        for (i, r) in ROUTES.iter().enumerate() {
            // A concrete path for the pattern: every `{param}` becomes `1`.
            let concrete: String = r
                .path
                .split('/')
                .map(|s| if s.starts_with('{') { "1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let found = table().at(&concrete).expect(r.path);
            assert!(found.value.contains(&i), "{} {}", r.method, r.path);
            let same = ROUTES
                .iter()
                .filter(|o| o.path == r.path && o.method == r.method)
                .count();
            assert_eq!(same, 1, "{} {} declared twice", r.method, r.path);
        }
    }

    #[test]
    fn parameters_are_named_and_unknown_paths_miss() {
        let found = table().at("/api/v1/units/north/f1/12/3/follow-up").unwrap();
        let params: Vec<(&str, &str)> = found.params.iter().collect();
        assert_eq!(params, [("unit", "north"), ("case", "12"), ("row", "3")]);
        assert!(table().at("/api/v1/cases/1/nothing").is_err());
        assert!(table().at("/phone/v2/uploads").is_err());
    }
}
