//! `reference-server/openapi.yaml` against the server it documents.
//!
//! - Coverage: every route of `ROUTES` is in the document (the JSON routes as operations, the
//!   console's pages under `x-console-routes`) and the document names no other; so a route added
//!   without its documentation fails here.
//! - Error codes: every `ErrorCode` is listed in `x-error-codes` with the status `respond.rs`
//!   sends it with, and each error response of an operation lists only codes of its status.
//! - Examples: every example is valid against its schema; then, against the real binary on
//!   127.0.0.1 (one start), every JSON request example is sent with the set-up it needs, and each
//!   answer's status must be documented for its operation, its JSON body valid against the
//!   documented schema, its error code one the response lists, and the main success answers
//!   shaped as their examples (same field names, same types). Each operation's `x-roles` is
//!   checked by calling it with the other roles (`403`) and with no token (`401`).
//!
//! The YAML is read with `serde_yaml_ng` into a `serde_json::Value`, and the schemas are
//! checked with the `jsonschema` crate (JSON Schema 2020-12, OpenAPI 3.1's dialect).

mod harness;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use bluezone_server::ErrorCode;
use bluezone_server::domain::code;
use bluezone_server::domain::store::AuditEntry;
use bluezone_server::web::respond::status_of_code;
use bluezone_server::web::router::{Handler, ROUTES};
use harness::{Reply, Server, TestUnit, config, share_history, sync_and_send_reports, unix_now};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

/// The roles of the health workers' API, as `x-roles` names them.
const ROLES: [&str; 4] = [
    "admin",
    "treatment_facility",
    "preventive_unit",
    "oversight",
];

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/reference-server/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("read openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML")
}

/// A JSON pointer token.
fn token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer as a URI fragment: the characters a fragment may not hold, percent-encoded.
fn fragment(ptr: &str) -> String {
    ptr.chars()
        .map(|ch| match ch {
            '{' | '}' | ' ' | '%' | '"' | '<' | '>' | '\\' | '^' | '`' | '|' => {
                format!("%{:02X}", ch as u32)
            }
            _ => ch.to_string(),
        })
        .collect()
}

/// The pointer `ptr`, after following `$ref`s (local ones only: the document has no other).
fn follow(doc: &Value, ptr: &str) -> String {
    let mut ptr = ptr.to_owned();
    for _ in 0..8 {
        let here = doc
            .pointer(&ptr)
            .unwrap_or_else(|| panic!("{ptr} is not in the document"));
        match here.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                ptr = r
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("non-local $ref {r}"))
                    .to_owned()
            }
            None => return ptr,
        }
    }
    panic!("$ref loop at {ptr}")
}

fn at<'a>(doc: &'a Value, ptr: &str) -> &'a Value {
    doc.pointer(&follow(doc, ptr)).expect("followed pointer")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every operation of the document: (method in capitals, path, its pointer).
fn operations(doc: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.push((
                method.to_uppercase(),
                path.clone(),
                format!("/paths/{}/{method}", token(path)),
            ));
        }
    }
    out
}

/// The status of each error code as the document's `x-error-codes` says.
fn documented_statuses(doc: &Value) -> BTreeMap<String, u16> {
    doc["x-error-codes"]
        .as_array()
        .expect("x-error-codes")
        .iter()
        .map(|e| {
            (
                e["code"].as_str().expect("code").to_owned(),
                e["status"].as_u64().expect("status") as u16,
            )
        })
        .collect()
}

/// Compiled schemas, by the pointer of the schema.
struct Schemas {
    doc: Value,
    compiled: RefCell<HashMap<String, std::rc::Rc<jsonschema::Validator>>>,
}

impl Schemas {
    fn new(doc: &Value) -> Schemas {
        Schemas {
            doc: doc.clone(),
            compiled: RefCell::new(HashMap::new()),
        }
    }

    /// Check `instance` against the schema at `ptr` (the document is the root resource, so its
    /// `$ref`s resolve).
    fn check(&self, ptr: &str, instance: &Value) -> Result<(), String> {
        let validator = {
            let mut compiled = self.compiled.borrow_mut();
            match compiled.get(ptr) {
                Some(v) => std::rc::Rc::clone(v),
                None => {
                    let mut root = self.doc.clone();
                    root["$ref"] = json!(format!("#{}", fragment(ptr)));
                    let v = std::rc::Rc::new(
                        jsonschema::draft202012::new(&root)
                            .unwrap_or_else(|e| panic!("schema at {ptr}: {e}")),
                    );
                    compiled.insert(ptr.to_owned(), std::rc::Rc::clone(&v));
                    v
                }
            }
        };
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} (at {})", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{ptr}: {}", errors.join("; ")))
        }
    }
}

/// The examples of a media type object: `example`, or each of `examples` (by name).
fn media_examples(doc: &Value, media_ptr: &str) -> Vec<(String, Value)> {
    let media = at(doc, media_ptr);
    let mut out = Vec::new();
    if let Some(e) = media.get("example") {
        out.push(("example".to_owned(), e.clone()));
    }
    if let Some(named) = media.get("examples").and_then(Value::as_object) {
        for name in named.keys() {
            let ex = at(doc, &format!("{media_ptr}/examples/{}", token(name)));
            out.push((name.clone(), ex["value"].clone()));
        }
    }
    out
}

/// Whether `actual` has the shape of `example`: objects with the same field names, each of the
/// same shape; arrays each of whose elements has the shape of one of the example's; the same
/// JSON type otherwise. `null` on either side is left to the schema (a case's `regions`).
fn same_shape(example: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match (example, actual) {
        (Value::Null, _) | (_, Value::Null) => Ok(()),
        (Value::Object(e), Value::Object(a)) => {
            let ek: BTreeSet<&String> = e.keys().collect();
            let ak: BTreeSet<&String> = a.keys().collect();
            if ek != ak {
                return Err(format!("{at}: example fields {ek:?}, server's {ak:?}"));
            }
            for k in ek {
                same_shape(&e[k], &a[k], &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            // Each element the server sent has the shape of one of the example's.
            for x in a {
                let misfits: Vec<String> = e
                    .iter()
                    .filter_map(|y| same_shape(y, x, &format!("{at}[]")).err())
                    .collect();
                if !e.is_empty() && misfits.len() == e.len() {
                    return Err(misfits.join("; "));
                }
            }
            Ok(())
        }
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => Ok(()),
        _ => Err(format!("{at}: example {example}, server's {actual}")),
    }
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let console: BTreeSet<(String, String)> = doc["x-console-routes"]["routes"]
        .as_array()
        .expect("x-console-routes.routes")
        .iter()
        .map(|r| {
            (
                r["method"].as_str().expect("method").to_owned(),
                r["path"].as_str().expect("path").to_owned(),
            )
        })
        .collect();
    let mut json_routes = BTreeSet::new();
    let mut pages = BTreeSet::new();
    for r in ROUTES {
        let key = (r.method.as_str().to_owned(), r.path.to_owned());
        match r.handler {
            Handler::Json(_) => json_routes.insert(key),
            Handler::Page(_) => pages.insert(key),
        };
    }
    let missing: Vec<_> = json_routes.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes not in openapi.yaml: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&json_routes).collect();
    assert!(
        extra.is_empty(),
        "openapi.yaml operations with no route: {extra:?}"
    );
    assert_eq!(
        pages, console,
        "x-console-routes must list exactly the console's pages"
    );

    for (method, path, op) in operations(&doc) {
        let o = &doc.pointer(&op).expect("operation");
        let what = format!("{method} {path}");
        assert!(o["operationId"].is_string(), "{what}: operationId");
        // Its path parameters are the route's, by name.
        let in_path: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        let declared: BTreeSet<String> = o["parameters"]
            .as_array()
            .map(|ps| {
                (0..ps.len())
                    .map(|i| at(&doc, &format!("{op}/parameters/{i}")))
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().expect("name").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(in_path, declared, "{what}: path parameters");
        // Roles; a route behind the bearer token answers 401, and one of some roles only, 403.
        let roles = strings(&o["x-roles"]);
        assert!(!roles.is_empty(), "{what}: x-roles");
        let public = o.get("security") == Some(&json!([]));
        let responses = o["responses"].as_object().expect("responses");
        if !public {
            assert!(roles.iter().all(|r| ROLES.contains(&r.as_str())), "{what}");
            assert!(responses.contains_key("401"), "{what}: 401");
            if roles.len() < ROLES.len() {
                assert!(responses.contains_key("403"), "{what}: 403");
            }
        }
        // What every route may answer, and every route with a body.
        if path != "/healthz" {
            for status in ["408", "503"] {
                assert!(responses.contains_key(status), "{what}: {status}");
            }
        }
        if o.get("requestBody").is_some() {
            assert!(responses.contains_key("413"), "{what}: 413");
        }
    }
}

#[test]
fn every_error_code_is_documented_with_its_status() {
    let doc = document();
    let documented = documented_statuses(&doc);
    let server: BTreeMap<String, u16> = ErrorCode::ALL
        .iter()
        .map(|&c| (c.as_str().to_owned(), status_of_code(c).as_u16()))
        .collect();
    assert_eq!(documented, server, "x-error-codes against respond.rs");
    let enumerated = strings(&doc["components"]["schemas"]["ErrorCode"]["enum"]);
    let names: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_eq!(enumerated, names, "the ErrorCode schema's enum");
    assert_eq!(
        strings(&doc["components"]["schemas"]["AuditAction"]["enum"]),
        AuditEntry::ACTIONS,
        "the AuditAction schema's enum"
    );
    // Each error response lists codes of its own status only, and every code but the router's
    // own is some route's.
    let mut used = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let responses = doc.pointer(&op).expect("op")["responses"]
            .as_object()
            .expect("responses")
            .clone();
        for status in responses.keys() {
            let r = at(&doc, &format!("{op}/responses/{status}"));
            let codes = strings(&r["x-error-codes"]);
            // An error answered as JSON carries a code; `/healthz`'s 503 is plain text.
            let json = r["content"].get("application/json").is_some();
            if json && (status.starts_with('4') || status.starts_with('5')) {
                assert!(!codes.is_empty(), "{method} {path} {status}: x-error-codes");
            }
            for c in codes {
                assert_eq!(
                    documented.get(&c).map(|s| s.to_string()).as_deref(),
                    Some(status.as_str()),
                    "{method} {path}: {c} listed under {status}"
                );
                used.insert(c);
            }
        }
    }
    let unused: Vec<&String> = documented
        .keys()
        .filter(|c| {
            !used.contains(*c) && !["route_not_found", "method_not_allowed"].contains(&c.as_str())
        })
        .collect();
    assert!(unused.is_empty(), "codes no operation lists: {unused:?}");
}

#[test]
fn every_example_is_valid_against_its_schema() {
    let doc = document();
    let schemas = Schemas::new(&doc);
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let o = doc.pointer(&op).expect("op");
        let mut media: Vec<String> = Vec::new();
        if o.get("requestBody").is_some() {
            let body = follow(&doc, &format!("{op}/requestBody"));
            for m in doc.pointer(&body).unwrap()["content"]
                .as_object()
                .unwrap()
                .keys()
            {
                media.push(format!("{body}/content/{}", token(m)));
            }
        }
        for status in o["responses"].as_object().unwrap().keys() {
            let r = follow(&doc, &format!("{op}/responses/{status}"));
            if let Some(content) = doc.pointer(&r).unwrap().get("content") {
                for m in content.as_object().unwrap().keys() {
                    media.push(format!("{r}/content/{}", token(m)));
                }
            }
        }
        for m in media {
            for (name, example) in media_examples(&doc, &m) {
                if m.ends_with("json") {
                    schemas
                        .check(&format!("{m}/schema"), &example)
                        .unwrap_or_else(|e| panic!("{method} {path} example {name}: {e}"));
                    checked += 1;
                }
            }
        }
    }
    // The declaration code of the example is one the server would accept.
    let opened = &doc["paths"]["/api/v1/cases"]["post"]["responses"]["201"]["content"]["application/json"]
        ["example"]["declaration_code"];
    code::normalize(opened.as_str().unwrap()).expect("the example's declaration code is valid");
    assert!(checked >= 20, "only {checked} examples");
}

/// The test server's units: the document's examples name `hanoi-cdc`.
fn units() -> Vec<TestUnit> {
    vec![
        TestUnit::new("hanoi-cdc", vec![1, 2, 3]),
        TestUnit::new("hcmc-cdc", vec![760, 761]),
    ]
}

/// Calls operations as the document describes them and checks each answer against it.
struct Client<'a> {
    server: &'a Server,
    doc: &'a Value,
    schemas: Schemas,
    /// Operations answered with a success status, and request examples sent.
    answered: RefCell<BTreeSet<String>>,
    sent: RefCell<BTreeSet<String>>,
}

impl Client<'_> {
    fn op_ptr(method: &str, path: &str) -> String {
        format!("/paths/{}/{}", token(path), method.to_lowercase())
    }

    /// The path with the document's example for each parameter, except those in `given`.
    fn concrete(&self, method: &str, path: &str, given: &[(&str, &str)]) -> String {
        let op = Self::op_ptr(method, path);
        let mut out = path.to_owned();
        let count = self.doc.pointer(&op).expect("op")["parameters"]
            .as_array()
            .map_or(0, Vec::len);
        for i in 0..count {
            let p = at(self.doc, &format!("{op}/parameters/{i}"));
            if p["in"] != "path" {
                continue;
            }
            let name = p["name"].as_str().unwrap();
            let value = match given.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => (*v).to_owned(),
                None => match &p["example"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            };
            out = out.replace(&format!("{{{name}}}"), &value);
        }
        out
    }

    /// The request examples of an operation, by name.
    fn request_examples(&self, method: &str, path: &str) -> Vec<(String, Value)> {
        let body = format!("{}/requestBody", Self::op_ptr(method, path));
        let body = follow(self.doc, &body);
        media_examples(self.doc, &format!("{body}/content/application~1json"))
    }

    /// Send a request (`body` as JSON for a POST) and check the answer against the document.
    fn call(
        &self,
        method: &str,
        path: &str,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let reply = match method {
            "GET" => self.server.get(url, token, headers),
            "POST" => self
                .server
                .post_json_with(url, token, body.unwrap_or(&json!({})), headers),
            other => panic!("method {other}"),
        };
        self.check(method, path, &reply);
        reply
    }

    /// Check an answer of operation `method path`: its status is documented, its JSON body is
    /// valid against the documented schema, its error code is one the response lists, and its
    /// documented headers have their documented values.
    fn check(&self, method: &str, path: &str, reply: &Reply) {
        let what = format!("{method} {path} → {}: {}", reply.status, reply.text());
        let status = reply.status.to_string();
        let r = Self::op_ptr(method, path) + "/responses/" + &status;
        assert!(
            self.doc.pointer(&r).is_some(),
            "{what}: status not documented"
        );
        let r = follow(self.doc, &r);
        let response = self.doc.pointer(&r).unwrap();
        let content_type = reply.header("content-type");
        if let Some(content) = response.get("content").and_then(Value::as_object) {
            let ct = content_type
                .as_deref()
                .unwrap_or_else(|| panic!("{what}: no content type"));
            assert!(
                content.contains_key(ct),
                "{what}: content type {ct} not documented"
            );
            if ct == "application/json" {
                let ptr = format!("{r}/content/application~1json/schema");
                self.schemas
                    .check(&ptr, &reply.json())
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            }
        } else {
            assert!(
                reply.body.is_empty(),
                "{what}: a body where none is documented"
            );
        }
        if reply.status >= 400 && content_type.as_deref() == Some("application/json") {
            let codes = strings(&response["x-error-codes"]);
            assert!(
                codes.contains(&reply.error_code()),
                "{what}: code not listed"
            );
        } else {
            self.answered
                .borrow_mut()
                .insert(format!("{method} {path}"));
        }
        if let Some(headers) = response.get("headers").and_then(Value::as_object) {
            for name in headers.keys() {
                let h = at(self.doc, &format!("{r}/headers/{}", token(name)));
                let value = reply.header(name);
                if reply.status < 400 {
                    assert!(value.is_some(), "{what}: header {name} missing");
                }
                let (Some(value), Some(schema)) = (value, h.get("schema")) else {
                    continue;
                };
                if schema["type"] == "integer" {
                    value
                        .parse::<u64>()
                        .unwrap_or_else(|_| panic!("{what}: {name} {value:?} is not a number"));
                } else {
                    let ptr = format!(
                        "{}/schema",
                        follow(self.doc, &format!("{r}/headers/{}", token(name)))
                    );
                    self.schemas
                        .check(&ptr, &json!(value))
                        .unwrap_or_else(|e| panic!("{what}: header {name}: {e}"));
                }
            }
        }
    }

    /// Check that `reply`, a success of `method path`, has the shape of one of that response's
    /// JSON examples.
    fn like_examples(&self, method: &str, path: &str, reply: &Reply) {
        let r = follow(
            self.doc,
            &format!("{}/responses/{}", Self::op_ptr(method, path), reply.status),
        );
        let examples = media_examples(self.doc, &format!("{r}/content/application~1json"));
        assert!(!examples.is_empty(), "{method} {path}: no example");
        let actual = reply.json();
        // One of them (an account of one role or another).
        let misfits: Vec<String> = examples
            .iter()
            .filter_map(|(name, example)| {
                same_shape(example, &actual, &format!("{method} {path} example {name}")).err()
            })
            .collect();
        assert!(
            misfits.len() < examples.len(),
            "{}\nserver: {actual}",
            misfits.join("\n")
        );
    }

    /// Send every request example of `method path` as `token`; each must succeed. Returns the
    /// answers by example name.
    fn send_examples(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        token: Option<&str>,
    ) -> Vec<(String, Reply)> {
        let url = self.concrete(method, path, params);
        let examples = self.request_examples(method, path);
        assert!(!examples.is_empty(), "{method} {path}: no request example");
        examples
            .into_iter()
            .map(|(name, body)| {
                let reply = self.call(method, path, &url, token, Some(&body), &[]);
                assert!(
                    (200..300).contains(&reply.status),
                    "{method} {path} example {name}: {} {}",
                    reply.status,
                    reply.text()
                );
                self.like_examples(method, path, &reply);
                self.sent
                    .borrow_mut()
                    .insert(format!("{method} {path} {name}"));
                (name, reply)
            })
            .collect()
    }

    /// `method path` with its example parameters as `token`; must succeed and look like its
    /// examples.
    fn success(&self, method: &str, path: &str, token: Option<&str>) -> Reply {
        let url = self.concrete(method, path, &[]);
        let reply = self.call(method, path, &url, token, None, &[]);
        assert!(
            (200..300).contains(&reply.status),
            "{method} {url}: {}",
            reply.text()
        );
        if reply.header("content-type").as_deref() == Some("application/json") {
            self.like_examples(method, path, &reply);
        }
        reply
    }

    /// `method path` (example parameters and body) as `token` must be refused with `status`
    /// and `code`.
    fn refused(&self, method: &str, path: &str, token: Option<&str>, status: u16, code: &str) {
        let url = self.concrete(method, path, &[]);
        let body = self
            .doc
            .pointer(&(Self::op_ptr(method, path) + "/requestBody"))
            .map(|_| self.request_examples(method, path)[0].1.clone());
        let reply = self.call(method, path, &url, token, body.as_ref(), &[]);
        assert_eq!(reply.status, status, "{method} {url}: {}", reply.text());
        assert_eq!(reply.error_code(), code, "{method} {url}: {}", reply.text());
    }
}

#[test]
fn the_server_answers_as_documented() {
    let doc = document();
    let dir = tempfile::tempdir().unwrap();
    let units = units();
    // The facility the examples name.
    let facility = "[[facilities]]\nname = \"bv-bach-mai\"\nprovince = 1\n";
    let server = Server::start(
        dir.path(),
        &config(&dir.path().join("data"), &units, facility),
    );
    let c = Client {
        server: &server,
        doc: &doc,
        schemas: Schemas::new(&doc),
        answered: RefCell::default(),
        sent: RefCell::default(),
    };
    let ops = operations(&doc);
    let op = |o: &str| -> (String, String) {
        let (m, p, _) = ops
            .iter()
            .find(|(_, _, ptr)| doc.pointer(ptr).unwrap()["operationId"] == o)
            .unwrap_or_else(|| panic!("no operation {o}"));
        (m.clone(), p.clone())
    };
    let example_of = |o: &str, name: &str| -> Value {
        let (m, p) = op(o);
        c.request_examples(&m, &p)
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{o}: no example {name}"))
            .1
    };

    // Operations anyone may call. The redirect is read as it is, not followed.
    let mut root = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
        .get(server.url("/"))
        .call()
        .expect("GET /");
    let root = Reply {
        status: root.status().as_u16(),
        headers: root.headers().clone(),
        body: root.body_mut().read_to_vec().expect("body"),
    };
    assert_eq!(root.status, 303);
    c.check("GET", "/", &root);
    assert_eq!(c.success("GET", "/healthz", None).text(), "ok\n");
    assert_eq!(c.success("GET", "/readyz", None).text(), "ready\n");
    c.success("GET", "/metrics", None);
    c.success("GET", "/phone/v1/config", None);
    // The router's own refusals.
    let wrong = c.server.post_json("/healthz", None, &json!({}));
    assert_eq!(
        (wrong.status, wrong.error_code().as_str()),
        (405, "method_not_allowed")
    );
    let nowhere = c.server.get("/api/v1/nowhere", None, &[]);
    assert_eq!(
        (nowhere.status, nowhere.error_code().as_str()),
        (404, "route_not_found")
    );

    // Without a token, or with a made-up one, every health worker's route is refused.
    let bearer_ops: Vec<(String, String, Vec<String>)> = ops
        .iter()
        .filter(|(_, _, ptr)| doc.pointer(ptr).unwrap().get("security") != Some(&json!([])))
        .map(|(m, p, ptr)| {
            (
                m.clone(),
                p.clone(),
                strings(&doc.pointer(ptr).unwrap()["x-roles"]),
            )
        })
        .collect();
    let forged = "0".repeat(64);
    for (m, p, _) in &bearer_ops {
        c.refused(m, p, None, 401, "unauthenticated");
        c.refused(m, p, Some(&forged), 401, "session_invalid");
    }

    // Step 1: the admin creates the documented accounts; they log in.
    let admin = server.login(
        "admin",
        server.admin_password.as_deref().expect("admin password"),
    );
    let (m, p) = op("createAccount");
    c.send_examples(&m, &p, &[], Some(&admin));
    let again = c.call(
        &m,
        &p,
        &p,
        Some(&admin),
        Some(&example_of("createAccount", "facility")),
        &[],
    );
    assert_eq!(again.error_code(), "account_exists");
    let (m, p) = op("login");
    let logged = c.send_examples(&m, &p, &[], None);
    let doctor = logged[0].1.json()["token"].as_str().unwrap().to_owned();
    let unit_account = example_of("createAccount", "unit");
    let unit_worker = server.login(
        unit_account["username"].as_str().unwrap(),
        unit_account["password"].as_str().unwrap(),
    );
    // The oversight example keeps the default: its first session may only replace the
    // password, which every other route refuses.
    let oversight_account = example_of("createAccount", "oversight");
    let (name, first) = (
        oversight_account["username"].as_str().unwrap(),
        oversight_account["password"].as_str().unwrap(),
    );
    let first_session = server.login(name, first);
    for (m, p, _) in &bearer_ops {
        if !["/api/v1/me", "/api/v1/me/password", "/api/v1/logout"].contains(&p.as_str()) {
            c.refused(m, p, Some(&first_session), 403, "password_change_required");
        }
    }
    let own = "the department's own password";
    server.change_password(name, first, own);
    let oversight = server.login(name, own);
    let tokens: BTreeMap<&str, &str> = [
        ("admin", admin.as_str()),
        ("treatment_facility", doctor.as_str()),
        ("preventive_unit", unit_worker.as_str()),
        ("oversight", oversight.as_str()),
    ]
    .into();
    // Each route lets in its roles only (checked before anything else the route looks at).
    for (m, p, roles) in &bearer_ops {
        for role in ROLES
            .iter()
            .filter(|r| !roles.iter().any(|x| x.as_str() == **r))
        {
            c.refused(m, p, Some(tokens[role]), 403, "forbidden_role");
        }
    }
    c.success("GET", "/api/v1/me", Some(&doctor));
    c.success("GET", "/api/v1/accounts", Some(&admin));

    // The admin's account actions, on an account of their own (they end its sessions): the
    // documented user name, created as a second facility worker.
    let (cm, cp) = op("createAccount");
    let mut second = example_of("createAccount", "facility");
    let (dm, dp) = op("disableAccount");
    let name = c.concrete(&dm, &dp, &[]);
    let name = name.split('/').nth(4).unwrap().to_owned();
    second["username"] = json!(name);
    let created = c.call(&cm, &cp, &cp, Some(&admin), Some(&second), &[]);
    assert_eq!(created.status, 201, "{}", created.text());
    let login_as = |password: &Value| {
        c.call(
            "POST",
            "/api/v1/login",
            "/api/v1/login",
            None,
            Some(&json!({"username": name, "password": password})),
            &[],
        )
    };
    let first_password = second["password"].clone();
    let session = login_as(&first_password).json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let disabled = c.success(&dm, &dp, Some(&admin)).json();
    assert_eq!(disabled["disabled"], json!(true));
    c.refused("GET", "/api/v1/me", Some(&session), 401, "session_invalid");
    assert_eq!(login_as(&first_password).error_code(), "login_failed");
    let own = c.concrete(&dm, &dp, &[("username", "admin")]);
    let own = c.call(&dm, &dp, &own, Some(&admin), None, &[]);
    assert_eq!(
        (own.status, own.error_code().as_str()),
        (400, "bad_request")
    );
    let nobody = c.concrete(&dm, &dp, &[("username", "nobody")]);
    let nobody = c.call(&dm, &dp, &nobody, Some(&admin), None, &[]);
    assert_eq!(
        (nobody.status, nobody.error_code().as_str()),
        (404, "not_found")
    );
    let (em, ep) = op("enableAccount");
    let enabled = c.success(&em, &ep, Some(&admin)).json();
    assert_eq!(enabled["disabled"], json!(false));
    assert_eq!(login_as(&first_password).status, 200);
    let (rm, rp) = op("resetPassword");
    let reset = c.success(&rm, &rp, Some(&admin)).json();
    assert_eq!(reset["username"], json!(name));
    assert_eq!(login_as(&first_password).error_code(), "login_failed");
    assert_eq!(login_as(&reset["password"]).status, 200);
    let (sm, sp) = op("setRole");
    let moved = c.send_examples(&sm, &sp, &[("username", name.as_str())], Some(&admin));
    assert_eq!(moved[0].1.json()["role"]["facility"], json!("bv-bach-mai"));
    assert_eq!(login_as(&reset["password"]).status, 200);

    // Units: every worker reads them; the admin registers the documented one.
    let (um, up) = op("listUnits");
    let before = c.success(&um, &up, Some(&unit_worker)).json();
    assert_eq!(before["units"].as_array().unwrap().len(), units.len());
    let (rum, rup) = op("registerUnit");
    let registered = c.send_examples(&rum, &rup, &[], Some(&admin));
    let danang = example_of("registerUnit", "danang");
    assert_eq!(registered[0].1.json(), danang);
    for (body, status, code) in [
        (danang.clone(), 409, "unit_exists"),
        (
            json!({"name": "other-cdc", "districts": [1], "public_key": danang["public_key"]}),
            409,
            "unit_district_taken",
        ),
        (
            json!({"name": "Da Nang", "districts": [492], "public_key": danang["public_key"]}),
            400,
            "unit_invalid",
        ),
        (
            json!({"name": "hue-cdc", "districts": [492], "public_key": "00"}),
            400,
            "unit_invalid",
        ),
    ] {
        let refused = c.call(&rum, &rup, &rup, Some(&admin), Some(&body), &[]);
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (status, code),
            "{body}"
        );
    }
    let after = c.success(&um, &up, Some(&doctor)).json();
    assert_eq!(after["units"].as_array().unwrap().last(), Some(&danang));
    let phone_config = c.success("GET", "/phone/v1/config", None).json();
    assert_eq!(phone_config["units"], after["units"]);

    // Step 2: the facility opens the documented case.
    let (m, p) = op("openCase");
    let opened = c.send_examples(&m, &p, &[], Some(&doctor));
    let opened = opened[0].1.json();
    let case_id = opened["case_id"].as_u64().unwrap();
    let (tm, tp) = op("trace");
    assert_eq!(
        c.concrete(&tm, &tp, &[]),
        format!("/api/v1/cases/{case_id}/trace"),
        "the document's case id is the first case's"
    );
    c.refused(&tm, &tp, Some(&doctor), 409, "case_not_ready");
    // The code is reissued (the patient lost it): the old one is refused as unknown below.
    let (rm, rp) = op("reissueCode");
    let reissued = c.success(&rm, &rp, Some(&doctor)).json();
    assert_eq!(reissued["case_id"], json!(case_id));
    let old_code = opened["declaration_code"].as_str().unwrap().to_owned();
    let code = reissued["declaration_code"].as_str().unwrap().to_owned();
    assert_ne!(code, old_code);

    // Step 3: the F0's phone uploads; then the F1's phone (district 1, hanoi-cdc) will match.
    let mut rng = ChaCha20Rng::seed_from_u64(18);
    let now = unix_now();
    let mut phones = harness::phones_that_met(&mut rng, 2, &[(0, 1, -55), (1, 0, -55)], now);
    let stale = harness::f0_upload(&mut phones[0], &old_code, &mut rng, now);
    let refused = server.post_bytes("/phone/v1/uploads", &stale.to_bytes().unwrap());
    assert_eq!(refused.error_code(), "declaration_code_invalid");
    let upload = share_history(&server, &mut phones[0], &code, &mut rng, now);
    c.refused(&rm, &rp, Some(&doctor), 409, "declaration_code_used");
    let repeated = server.post_bytes("/phone/v1/uploads", &upload.to_bytes().unwrap());
    c.check("POST", "/phone/v1/uploads", &repeated);
    c.like_examples("POST", "/phone/v1/uploads", &repeated);
    let garbage = server.post_bytes("/phone/v1/uploads", &[0u8; 4096]);
    c.check("POST", "/phone/v1/uploads", &garbage);
    assert_eq!(garbage.error_code(), "malformed_upload");
    c.success("GET", "/api/v1/cases/{id}", Some(&doctor));

    // Step 4: "Trace F1" with each example, then a publication run.
    let unknown_region = c.call(
        &tm,
        &tp,
        &c.concrete(&tm, &tp, &[]),
        Some(&doctor),
        Some(&json!({"regions": [99]})),
        &[],
    );
    assert_eq!(unknown_region.error_code(), "unknown_region");
    let traced = c.send_examples(&tm, &tp, &[], Some(&doctor));
    assert_eq!(
        traced[0].1.json()["regions"],
        example_of("trace", "chosen")["regions"]
    );
    let (m, p) = op("publish");
    let run = c.success(&m, &p, Some(&admin)).json();
    let batch_ids: Vec<u64> = run["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["batch_id"].as_u64().unwrap())
        .collect();
    assert_eq!(batch_ids.len(), 2, "{run}");
    c.success("GET", "/api/v1/cases", Some(&doctor));
    c.success("GET", "/api/v1/cases", Some(&admin));

    // The publication files, their caching headers and 304.
    for (path, file_param) in [
        ("/publication/v1/index.bin", None),
        ("/publication/v1/regions/{region}/index.bin", None),
        (
            "/publication/v1/batches/{file}",
            Some(format!("{}.bin", batch_ids[0])),
        ),
    ] {
        let params: Vec<(&str, &str)> = file_param.iter().map(|f| ("file", f.as_str())).collect();
        let url = c.concrete("GET", path, &params);
        let file = c.call("GET", path, &url, None, None, &[]);
        assert_eq!(file.status, 200, "{url}");
        let etag = file.header("etag").unwrap();
        let same = c.call(
            "GET",
            path,
            &url,
            None,
            None,
            &[("If-None-Match", etag.as_str())],
        );
        assert_eq!(same.status, 304, "{url}");
    }
    let region_404 = c.concrete(
        "GET",
        "/publication/v1/regions/{region}/index.bin",
        &[("region", "99")],
    );
    let none = c.call(
        "GET",
        "/publication/v1/regions/{region}/index.bin",
        &region_404,
        None,
        None,
        &[],
    );
    assert_eq!(none.status, 404);
    let batch_404 = c.concrete(
        "GET",
        "/publication/v1/batches/{file}",
        &[("file", "999.bin")],
    );
    let none = c.call(
        "GET",
        "/publication/v1/batches/{file}",
        &batch_404,
        None,
        None,
        &[],
    );
    assert_eq!(none.status, 404);

    // Step 5: the F1's phone reports; step 6: the F1 table.
    let reports =
        sync_and_send_reports(&server, &mut phones[1], "84912345678", "", 1, &mut rng, now);
    assert_eq!(reports.len(), 1);
    for (_, reply) in &reports {
        c.check("POST", "/phone/v1/reports", reply);
        assert_eq!(reply.status, 200);
        c.like_examples("POST", "/phone/v1/reports", reply);
    }
    // Decoys (SPEC.md §7.6, §10.6): the header then zeros, answered byte for byte as the real
    // upload and report above were.
    let decoy = |kind: u8, len: usize| {
        let mut bytes = vec![0u8; len];
        bytes[..4].copy_from_slice(&[b'B', b'Z', kind, 2]);
        bytes
    };
    let decoy_upload = server.post_bytes("/phone/v1/uploads", &decoy(0x02, 4096));
    c.check("POST", "/phone/v1/uploads", &decoy_upload);
    assert_eq!(
        (decoy_upload.status, &decoy_upload.body),
        (repeated.status, &repeated.body)
    );
    let decoy_report = server.post_bytes("/phone/v1/reports", &decoy(0x05, 1024));
    c.check("POST", "/phone/v1/reports", &decoy_report);
    assert_eq!(
        (decoy_report.status, &decoy_report.body),
        (reports[0].1.status, &reports[0].1.body)
    );
    let mut stray = decoy(0x05, 1024);
    stray[1000] = 1;
    let stray = server.post_bytes("/phone/v1/reports", &stray);
    c.check("POST", "/phone/v1/reports", &stray);
    assert_eq!(stray.error_code(), "malformed_report");

    let (m, p) = op("f1Table");
    let table = c.success(&m, &p, Some(&doctor)).json();
    assert_eq!(table.as_array().unwrap().len(), 1, "{table}");
    c.success(&m, &p, Some(&admin));

    // Step 7: the unit's rows, JSON and CSV, and the follow-up example.
    let (m, p) = op("unitRows");
    let rows = c.success(&m, &p, Some(&unit_worker)).json();
    assert_eq!(rows, table);
    let url = c.concrete(&m, &p, &[]) + "?format=csv";
    let csv = c.call(&m, &p, &url, Some(&unit_worker), None, &[]);
    assert_eq!(csv.status, 200);
    let documented_csv = doc
        .pointer(
            &(Client::op_ptr(&m, &p) + "/responses/200/content/text~1csv; charset=utf-8/example"),
        )
        .and_then(Value::as_str)
        .expect("the CSV example");
    let header = |text: &str| text.split("\r\n").next().unwrap().to_owned();
    assert_eq!(header(&csv.text()), header(documented_csv));
    let columns = header(documented_csv).split(',').count();
    for line in csv
        .text()
        .split("\r\n")
        .chain(documented_csv.split("\r\n"))
        .filter(|l| !l.is_empty())
    {
        assert_eq!(line.split(',').count(), columns, "{line}");
    }
    let other = c.concrete(&m, &p, &[("unit", "hcmc-cdc")]);
    let theirs = c.call(&m, &p, &other, Some(&unit_worker), None, &[]);
    assert_eq!(theirs.error_code(), "forbidden_district");
    let (m, p) = op("followUp");
    let updated = c.send_examples(&m, &p, &[], Some(&unit_worker));
    assert_eq!(
        updated[0].1.json()["follow_up"]["status"],
        example_of("followUp", "contacted")["status"]
    );
    let missing = c.concrete(&m, &p, &[("row", "9")]);
    let missing = c.call(
        &m,
        &p,
        &missing,
        Some(&unit_worker),
        Some(&json!({"status": "closed"})),
        &[],
    );
    assert_eq!(missing.error_code(), "not_found");

    c.success("GET", "/api/v1/admin/store", Some(&admin));
    let backup = c.success("GET", "/api/v1/admin/backup", Some(&admin));
    assert_eq!(
        backup.header("content-type").as_deref(),
        Some("application/octet-stream")
    );

    // The audit log: all of it, newest first, then filtered.
    let (am, ap) = op("auditLog");
    let log = c.success(&am, &ap, Some(&admin)).json();
    let seqs: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    for action in [
        "account_disabled",
        "account_enabled",
        "password_reset",
        "publication_run",
    ] {
        assert!(
            log.as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == action),
            "{action}: {log}"
        );
    }
    let url = format!(
        "{}?action=login&account={name}&limit=2",
        c.concrete(&am, &ap, &[])
    );
    let logins = c.call(&am, &ap, &url, Some(&admin), None, &[]);
    assert_eq!(logins.status, 200, "{}", logins.text());
    let logins = logins.json();
    assert_eq!(logins.as_array().unwrap().len(), 2, "{logins}");
    assert!(
        logins
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] == "login" && e["account"] == json!(name))
    );
    let url = format!("{}?before={}&limit=1", c.concrete(&am, &ap, &[]), seqs[0]);
    let older = c.call(&am, &ap, &url, Some(&admin), None, &[]).json();
    assert_eq!(older[0]["seq"], json!(seqs[1]));
    for query in ["limit=0", "limit=1001", "action=deleted", "from=yesterday"] {
        let url = format!("{}?{query}", c.concrete(&am, &ap, &[]));
        let bad = c.call(&am, &ap, &url, Some(&admin), None, &[]);
        assert_eq!(
            (bad.status, bad.error_code().as_str()),
            (400, "bad_request"),
            "{query}"
        );
    }

    // Step 1 again: the facility worker changes the password, then logs out.
    let (m, p) = op("changePassword");
    c.send_examples(&m, &p, &[], Some(&doctor));
    let (m, p) = op("logout");
    c.success(&m, &p, Some(&doctor));
    c.refused("GET", "/api/v1/me", Some(&doctor), 401, "session_invalid");

    // Every operation answered a success, and every request example was sent.
    let answered = c.answered.borrow();
    for (m, p, _) in &ops {
        assert!(
            answered.contains(&format!("{m} {p}")),
            "{m} {p} never answered a success"
        );
        if doc
            .pointer(&(Client::op_ptr(m, p) + "/requestBody/content/application~1json"))
            .is_some()
        {
            for (name, _) in c.request_examples(m, p) {
                assert!(
                    c.sent.borrow().contains(&format!("{m} {p} {name}")),
                    "{m} {p}: example {name} never sent"
                );
            }
        }
    }
}
