//! The web console's safety rules, each checked over real HTTP against the real binary so that
//! removing the rule fails a test: CSRF tokens, output escaping, cookie attributes and security
//! headers. And the privacy rule of the whole server: a phone number never appears in clear in
//! its store, its answers (API, console pages, exports) or its logs.

mod harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bluezone_protocol::{Phone, PhoneConfig, UnixTime};
use bluezone_testkit::scan;
use harness::{Server, TestUnit, config, share_history, sync_and_report_named, unix_now};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::json;

const PASSWORD: &str = "correct horse battery staple";

/// A cookie-keeping HTTP client that does not follow redirects, as a browser's view of one
/// site.
struct ConsoleClient {
    agent: ureq::Agent,
    base: String,
    cookies: BTreeMap<String, String>,
}

struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    }

    /// The value of the first hidden CSRF field of the page.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.body));
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl ConsoleClient {
    fn new(server: &Server) -> ConsoleClient {
        ConsoleClient {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
            base: server.base.clone(),
            cookies: BTreeMap::new(),
        }
    }

    fn keep(&mut self, answer: &Answer) {
        for c in answer.set_cookies() {
            let pair = c.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn finish(
        &mut self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Answer {
        let mut response = response.expect("HTTP exchange");
        let answer = Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.body_mut().read_to_string().unwrap_or_default(),
        };
        self.keep(&answer);
        answer
    }

    fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            request = request.header("Cookie", self.cookie_header());
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.call();
        self.finish(response)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded");
        if !self.cookies.is_empty() {
            request = request.header("Cookie", self.cookie_header());
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send(body);
        self.finish(response)
    }

    /// Log in through the console's form; returns the login answer.
    fn login(&mut self, username: &str, password: &str, headers: &[(&str, &str)]) -> Answer {
        let page = self.get("/console/login", headers);
        assert_eq!(page.status, 200);
        let csrf = page.csrf();
        self.post(
            "/console/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
            headers,
        )
    }

    fn session(&self) -> String {
        self.cookies
            .get("bz_session")
            .cloned()
            .expect("a session cookie")
    }
}

/// application/x-www-form-urlencoded escaping.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn start(dir: &Path, units: &[TestUnit], extra: &str) -> (Server, String) {
    let server = Server::start(dir, &config(&dir.join("data"), units, extra));
    let (admin, _, _) = server.set_up_accounts(units);
    (server, admin)
}

fn case_count(server: &Server, token: &str) -> usize {
    let cases = server.get("/api/v1/cases", Some(token), &[]);
    assert_eq!(cases.status, 200, "{}", cases.text());
    cases.json().as_array().unwrap().len()
}

#[test]
fn every_console_form_needs_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let units = [TestUnit::new("north", vec![1])];
    let (server, _) = start(dir.path(), &units, "");

    // Login: the token is bound to the pre-login cookie.
    let mut attacker = ConsoleClient::new(&server);
    let forged = attacker.post(
        "/console/login",
        &[("username", "doctor"), ("password", PASSWORD)],
        &[],
    );
    assert_eq!(forged.status, 403, "login without a token");
    assert!(
        forged
            .set_cookies()
            .iter()
            .all(|c| !c.starts_with("bz_session="))
    );
    // A token taken from another browser's login page does not fit this browser's cookie.
    let mut other = ConsoleClient::new(&server);
    let other_token = other.get("/console/login", &[]).csrf();
    let _ = attacker.get("/console/login", &[]);
    let forged = attacker.post(
        "/console/login",
        &[
            ("csrf", &other_token),
            ("username", "doctor"),
            ("password", PASSWORD),
        ],
        &[],
    );
    assert_eq!(forged.status, 403, "login with another browser's token");
    // The refused form keeps the user name that was typed.
    assert!(forged.body.contains("value=\"doctor\""));

    let mut doctor = ConsoleClient::new(&server);
    let login = doctor.login("doctor", PASSWORD, &[]);
    assert_eq!(login.status, 303, "{}", login.body);
    let token = doctor.session();
    assert_eq!(case_count(&server, &token), 0);

    // Opening a case: no token, a wrong token, another session's token: 403 and no case.
    let page = doctor.get("/console/cases", &[]);
    let csrf = page.csrf();
    let other_login = other.login("doctor", PASSWORD, &[]);
    assert_eq!(other_login.status, 303);
    let other_csrf = other.get("/console/cases", &[]).csrf();
    assert_ne!(csrf, other_csrf, "each session has its own token");
    for form in [
        vec![("reference", "no token")],
        vec![("reference", "bad token"), ("csrf", "00")],
        vec![
            ("reference", "other session"),
            ("csrf", other_csrf.as_str()),
        ],
    ] {
        let refused = doctor.post("/console/cases", &form, &[]);
        assert_eq!(refused.status, 403, "{form:?}");
        assert!(
            refused.body.contains("Biểu mẫu đã hết hạn"),
            "{}",
            refused.body
        );
    }
    assert_eq!(
        case_count(&server, &token),
        0,
        "no refused form opened a case"
    );

    // With the page's own token it works, and the code is on the page.
    let opened = doctor.post(
        "/console/cases",
        &[("reference", "HN-7"), ("csrf", &csrf)],
        &[],
    );
    assert_eq!(opened.status, 303, "{}", opened.body);
    assert_eq!(opened.header("location"), Some("/console/cases/1/code"));
    assert!(
        doctor
            .get("/console/cases/1/code", &[])
            .body
            .contains("id=\"declaration-code\"")
    );
    assert_eq!(case_count(&server, &token), 1);

    // Logging out is a form too: without the token the session survives.
    let refused = doctor.post("/console/logout", &[], &[]);
    assert_eq!(refused.status, 403);
    assert_eq!(case_count(&server, &token), 1, "the session still works");
    let out = doctor.post("/console/logout", &[("csrf", &csrf)], &[]);
    assert_eq!(out.status, 303);
    let gone = server.get("/api/v1/cases", Some(&token), &[]);
    assert_eq!(gone.status, 401, "the session ended");
}

#[test]
fn console_pages_escape_what_they_show() {
    let dir = tempfile::tempdir().unwrap();
    let units = [TestUnit::new("north", vec![1])];
    let (server, _) = start(dir.path(), &units, "");
    let mut doctor = ConsoleClient::new(&server);
    assert_eq!(doctor.login("doctor", PASSWORD, &[]).status, 303);
    let hostile = "<script>alert(\"x\")</script>&<img src=x onerror=alert(1)>'";
    let csrf = doctor.get("/console/cases", &[]).csrf();
    let opened = doctor.post(
        "/console/cases",
        &[("reference", hostile), ("csrf", &csrf)],
        &[],
    );
    assert_eq!(opened.status, 303, "{}", opened.body);
    let opened = doctor.get("/console/cases/1/code", &[]);
    let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&lt;img src=x \
                   onerror=alert(1)&gt;'";
    for page in [
        opened,
        doctor.get("/console/cases", &[]),
        doctor.get("/console/cases/1", &[]),
    ] {
        assert_eq!(page.status / 100, 2);
        assert!(page.body.contains(escaped), "escaped: {}", page.body);
        assert!(!page.body.contains("<script>alert"), "raw: {}", page.body);
        assert!(!page.body.contains("<img src=x"), "raw: {}", page.body);
    }
    // A failed submit shows what was typed, escaped, in the field.
    let too_long = format!("{hostile}{}", "x".repeat(80));
    let failed = doctor.post(
        "/console/cases",
        &[("reference", &too_long), ("csrf", &csrf)],
        &[],
    );
    assert_eq!(failed.status, 400);
    assert!(
        failed.body.contains(&format!("value=\"{escaped}")),
        "{}",
        failed.body
    );

    // A user name with markup is refused by the workflow; the login page echoes it escaped.
    let mut stranger = ConsoleClient::new(&server);
    let failed = stranger.login("<b>x</b>", "wrong password here", &[]);
    assert_eq!(failed.status, 401);
    assert!(failed.body.contains("value=\"&lt;b&gt;x&lt;/b&gt;\""));
}

#[test]
fn console_cookies_and_headers_follow_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let units = [TestUnit::new("north", vec![1])];
    // The test client is its own TLS-terminating proxy.
    let (server, _) = start(dir.path(), &units, "trusted_proxies = [\"127.0.0.1\"]");

    let mut plain = ConsoleClient::new(&server);
    let login_page = plain.get("/console/login", &[]);
    let login = plain.login("doctor", PASSWORD, &[]);
    assert_eq!(login.status, 303);
    let session_cookie = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("bz_session="))
        .expect("a session cookie");
    let attributes: Vec<&str> = session_cookie.split("; ").skip(1).collect();
    for required in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&required), "{session_cookie}");
    }
    assert!(
        !attributes.contains(&"Secure"),
        "plain HTTP: a Secure cookie would never come back: {session_cookie}"
    );
    for c in login_page.set_cookies() {
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
    }

    // Behind TLS (a trusted proxy says so), every cookie is Secure.
    let tls = [("X-Forwarded-Proto", "https")];
    let mut secure = ConsoleClient::new(&server);
    let login = secure.login("doctor", PASSWORD, &tls);
    assert_eq!(login.status, 303);
    let cookies = login.set_cookies();
    assert!(!cookies.is_empty());
    for c in &cookies {
        assert!(
            c.split("; ").any(|a| a == "Secure") && c.contains("HttpOnly"),
            "{c}"
        );
    }
    let page = secure.get("/console/cases", &tls);
    assert!(page.header("strict-transport-security").is_some());

    // Every page, including errors and redirects, carries the security headers.
    let pages = [
        plain.get("/console/cases", &[]),
        plain.get("/console/nope", &[]),
        plain.get("/console/", &[]),
        ConsoleClient::new(&server).get("/console/cases", &[]),
    ];
    for p in &pages {
        let csp = p.header("content-security-policy").expect("CSP");
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(p.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(p.header("cache-control"), Some("no-store"));
    }
    assert_eq!(pages[1].status, 404);
    // No inline script or style on a page: everything comes from /console/static/.
    assert!(!pages[0].body.contains("<script>"));
    assert!(!pages[0].body.contains("style="));
    assert!(
        pages[0]
            .body
            .contains("<script src=\"/console/static/console.js\"")
    );
    // Without a session, a page sends to the login page.
    assert_eq!(pages[3].status, 303);
    assert_eq!(pages[3].header("location"), Some("/console/login"));

    // The language switch returns to console pages only.
    let switched = plain.get("/console/lang/en?next=https://evil.example/", &[]);
    assert_eq!(switched.status, 303);
    assert_eq!(switched.header("location"), Some("/console/"));
    let english = plain.get("/console/cases", &[]);
    assert!(english.body.contains("lang=\"en\""));
    assert!(english.body.contains("F0 cases"));
}

/// Where `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn phone_numbers_never_appear_in_clear_in_the_store_or_any_answer() {
    let number = "84987654321";
    let name = "Trần Văn Bình";
    let dir = tempfile::tempdir().unwrap();
    let units = [TestUnit::new("north", vec![1])];
    let (server, admin) = start(dir.path(), &units, "");
    let doctor = server.login("doctor", PASSWORD);
    let worker = server.login("north-worker", PASSWORD);

    // The seven steps with one F0 (phone 0) and one F1 (phone 1).
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut phones: Vec<Phone> = (0..2).map(|_| Phone::new(PhoneConfig::default())).collect();
    let now = unix_now();
    scan(
        &mut rng,
        &mut phones,
        UnixTime(now - 7200),
        UnixTime(now - 5400),
        &[(0, 1, -50), (1, 0, -50)],
    );
    let opened = server.post_json("/api/v1/cases", Some(&doctor), &json!({"reference": "P-1"}));
    let code = opened.json()["declaration_code"]
        .as_str()
        .unwrap()
        .to_owned();
    share_history(&server, &mut phones[0], &code, &mut rng, now);
    server.post_json("/api/v1/cases/1/trace", Some(&doctor), &json!({}));
    server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    let reports = sync_and_report_named(&server, &mut phones[1], number, name, 1, &mut rng, now);
    assert_eq!(reports.len(), 1);

    // Every answer a health worker or the public can get.
    let mut answers: Vec<(String, Vec<u8>)> = Vec::new();
    for (path, token) in [
        ("/api/v1/cases", &doctor),
        ("/api/v1/cases/1", &doctor),
        ("/api/v1/cases/1/f1", &doctor),
        ("/api/v1/units/north/f1", &worker),
        ("/api/v1/units/north/f1?format=csv", &worker),
        ("/api/v1/admin/store", &admin),
        ("/api/v1/accounts", &admin),
    ] {
        let reply = server.get(path, Some(token), &[]);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        answers.push((path.to_owned(), reply.body));
    }
    for path in [
        "/metrics",
        "/phone/v1/config",
        "/publication/v1/index.bin",
        "/publication/v1/batches/1.bin",
    ] {
        let reply = server.get(path, None, &[]);
        assert_eq!(reply.status, 200, "{path}");
        answers.push((path.to_owned(), reply.body));
    }
    let mut facility = ConsoleClient::new(&server);
    assert_eq!(facility.login("doctor", PASSWORD, &[]).status, 303);
    let mut unit = ConsoleClient::new(&server);
    assert_eq!(unit.login("north-worker", PASSWORD, &[]).status, 303);
    for (is_unit, path) in [
        (false, "/console/cases"),
        (false, "/console/cases/1"),
        (true, "/console/unit"),
        (true, "/console/unit/f1.csv"),
    ] {
        let client = if is_unit { &mut unit } else { &mut facility };
        let page = client.get(path, &[]);
        assert_eq!(page.status, 200, "{path}");
        answers.push((path.to_owned(), page.body.into_bytes()));
    }
    // The row is there (sealed) in what the unit gets.
    let unit_page = String::from_utf8_lossy(&answers[answers.len() - 2].1).into_owned();
    assert!(unit_page.contains(&reports[0].to_string()));

    // The search itself works: the sealed row does hold the number, for the unit's key.
    let rows = server
        .get("/api/v1/units/north/f1", Some(&worker), &[])
        .json();

    // The API's CSV is for programs (UTC, no byte-order mark); the console's download is for
    // spreadsheets: a byte-order mark, and times in the console's zone (UTC+7 by default),
    // named in the header.
    let body = |wanted: &str| &answers.iter().find(|(p, _)| p == wanted).unwrap().1;
    let api_csv = std::str::from_utf8(body("/api/v1/units/north/f1?format=csv")).unwrap();
    let first_contact = rows[0]["contact_time"].as_u64().unwrap();
    assert!(api_csv.starts_with("case_id,no,"), "{api_csv}");
    assert!(api_csv.contains(rows[0]["contact_time_utc"].as_str().unwrap()));
    let console_csv = body("/console/unit/f1.csv");
    assert!(console_csv.starts_with(b"\xEF\xBB\xBFcase_id,no,"));
    let console_csv = std::str::from_utf8(&console_csv[3..]).unwrap();
    let header = console_csv.lines().next().unwrap();
    assert!(
        header.contains(",contact_time_utc+07:00,last_contact_utc+07:00,"),
        "{header}"
    );
    let fields: Vec<&str> = console_csv.lines().nth(1).unwrap().split(',').collect();
    let (local, utc) = (fields[4], rows[0]["contact_time_utc"].as_str().unwrap());
    assert_eq!(
        local,
        bluezone_export::CsvFormat::spreadsheet(7 * 60).time(first_contact)
    );
    // `YYYY-MM-DD HH:MM:SS`, seven hours after `YYYY-MM-DDTHH:MM:SSZ`.
    let hour = |t: &str| t[11..13].parse::<u32>().unwrap();
    assert_eq!((local.len(), &local[10..11]), (19, " "), "{local}");
    assert_eq!(hour(local), (hour(utc) + 7) % 24, "{local} against {utc}");
    assert_eq!(local[13..], utc[13..19]);
    let sealed = hex::decode(rows[0]["sealed_contact"].as_str().unwrap()).unwrap();
    let opened = bluezone_protocol::SealedContactDetails(sealed.try_into().unwrap())
        .open(&reports[0], 1, &units[0].private_key)
        .unwrap();
    assert_eq!(opened.phone_number, number);
    assert!(contains(
        opened.to_bytes().unwrap().as_slice(),
        number.as_bytes()
    ));

    let needles: [&[u8]; 2] = [number.as_bytes(), name.as_bytes()];
    for (path, body) in &answers {
        for needle in needles {
            assert!(!contains(body, needle), "{path} shows contact details");
        }
    }

    // The store on disk, after a flush and a kill, and the publication files.
    let data = server.data_dir.join("data");
    server.kill();
    let mut files = Vec::new();
    files_under(&data, &mut files);
    assert!(files.len() > 3, "{files:?}");
    let mut bytes_scanned = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        bytes_scanned += bytes.len();
        for needle in needles {
            assert!(
                !contains(&bytes, needle),
                "{} holds contact details",
                file.display()
            );
        }
    }
    assert!(bytes_scanned > 1000);
}

#[test]
fn a_failed_form_comes_back_with_what_was_typed_and_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let units = [TestUnit::new("north", vec![1])];
    let (server, admin_token) = start(dir.path(), &units, "");
    let mut admin = ConsoleClient::new(&server);
    let password = server.admin_password.clone().unwrap();
    assert_eq!(admin.login("admin", &password, &[]).status, 303);
    let csrf = admin.get("/console/admin", &[]).csrf();
    let accounts_before = server
        .get("/api/v1/accounts", Some(&admin_token), &[])
        .json();

    // A unit account without a unit.
    let refused = admin.post(
        "/console/admin/accounts",
        &[
            ("csrf", &csrf),
            ("username", "nurse-lan"),
            ("password", PASSWORD),
            ("role", "preventive_unit"),
            ("unit", ""),
        ],
        &[],
    );
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .body
            .contains("tài khoản đơn vị y tế dự phòng cần chọn đơn vị"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"nurse-lan\""));
    assert!(refused.body.contains("value=\"preventive_unit\" selected"));
    assert!(
        !refused.body.contains(PASSWORD),
        "a password is never sent back"
    );

    // A name that exists already, in English this time.
    admin.get("/console/lang/en", &[]);
    let refused = admin.post(
        "/console/admin/accounts",
        &[
            ("csrf", &csrf),
            ("username", "doctor"),
            ("password", PASSWORD),
            ("role", "preventive_unit"),
            ("unit", "north"),
        ],
        &[],
    );
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("That user name is taken"));
    assert!(refused.body.contains("value=\"north\" selected"));
    assert_eq!(
        server
            .get("/api/v1/accounts", Some(&admin_token), &[])
            .json(),
        accounts_before,
        "nothing was created"
    );
}

#[test]
fn an_admin_registers_a_unit_in_the_console_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let units = [TestUnit::new("north", vec![1])];
    let (server, admin_token) = start(dir.path(), &units, "");
    let mut admin = ConsoleClient::new(&server);
    let password = server.admin_password.clone().unwrap();
    assert_eq!(admin.login("admin", &password, &[]).status, 303);
    let page = admin.get("/console/admin", &[]);
    assert!(
        page.body.contains("Đăng ký đơn vị y tế dự phòng"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let key = hex::encode(
        TestUnit::new("south", vec![2])
            .private_key
            .public_key()
            .as_bytes(),
    );
    let form = |name: &'static str, districts: &'static str, key: &str| {
        vec![
            ("csrf".to_owned(), csrf.clone()),
            ("name".to_owned(), name.to_owned()),
            ("districts".to_owned(), districts.to_owned()),
            ("public_key".to_owned(), key.to_owned()),
        ]
    };
    let post = |admin: &mut ConsoleClient, fields: Vec<(String, String)>| {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        admin.post("/console/admin/units", &fields, &[])
    };

    // A district of another unit, in Vietnamese: refused with what was typed kept.
    let refused = post(&mut admin, form("south", "2, 1", &key));
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("đã thuộc đơn vị khác"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"2, 1\""));
    // Districts that are not numbers, then a short key, in English.
    admin.get("/console/lang/en", &[]);
    let refused = post(&mut admin, form("south", "2, two", &key));
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .body
            .contains("Districts are numbers separated by commas")
    );
    let refused = post(&mut admin, form("south", "2", "abcd"));
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("its public key 64 hex characters"));
    let listed = || server.get("/api/v1/units", Some(&admin_token), &[]).json();
    assert_eq!(listed()["units"].as_array().unwrap().len(), 1);

    let done = post(&mut admin, form("south", " 2 ,3", &key));
    assert_eq!(done.status, 303, "{}", done.body);
    let page = admin.get("/console/admin?done=unit", &[]);
    assert!(page.body.contains("Unit registered."));
    assert!(page.body.contains(&key), "the units table lists it");
    assert_eq!(listed()["units"][1]["districts"], serde_json::json!([2, 3]));
    // It can be chosen for a worker's account at once.
    assert!(
        page.body.contains("<option value=\"south\">"),
        "{}",
        page.body
    );
    let again = post(&mut admin, form("south", "4", &key));
    assert_eq!(again.status, 409);
    assert!(again.body.contains("A unit with that name exists"));
}

// ---- Declaration codes: the code page after a redirect, and "reissue code" (issue 19 item 3).

/// The declaration code a code page shows (its groups joined by `-`), if it shows one.
fn code_on(page: &Answer) -> Option<String> {
    let groups: Vec<&str> = page
        .body
        .split("<span class=\"group\">")
        .skip(1)
        .map(|tail| &tail[..tail.find('<').unwrap()])
        .collect();
    (!groups.is_empty()).then(|| groups.join("-"))
}

#[test]
fn the_code_page_shows_the_code_to_its_maker_only_and_reissue_revokes_it() {
    let dir = tempfile::tempdir().unwrap();
    let units = [TestUnit::new("north", vec![1])];
    let hcm = "[[facilities]]\nname = \"bv-hcm\"\nprovince = 79\n";
    let (server, admin) = start(dir.path(), &units, hcm);
    let created = server.post_json(
        "/api/v1/accounts",
        Some(&admin),
        &json!({"username": "bs.hcm", "password": PASSWORD, "role": "treatment_facility",
                "facility": "bv-hcm", "must_change_password": false}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let mut doctor = ConsoleClient::new(&server);
    assert_eq!(doctor.login("doctor", PASSWORD, &[]).status, 303);
    let token = doctor.session();
    let csrf = doctor.get("/console/cases", &[]).csrf();

    // Opening a case answers 303 to its code page; the code is in no URL, and the cookie
    // that carries it to that page is sealed, for that page only.
    let opened = doctor.post(
        "/console/cases",
        &[("reference", "HN-9"), ("csrf", &csrf)],
        &[],
    );
    assert_eq!(opened.status, 303, "{}", opened.body);
    let location = opened.header("location").unwrap().to_owned();
    assert_eq!(location, "/console/cases/1/code");
    let sealed = opened
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("bz_code="))
        .expect("the sealed code's cookie");
    assert!(
        sealed.contains("; Path=/console/cases/1/code; Max-Age=600; HttpOnly; SameSite=Strict"),
        "{sealed}"
    );
    let page = doctor.get(&location, &[]);
    assert_eq!(page.status, 200);
    let code = code_on(&page).expect("the page shows the code");
    assert!(
        !sealed.contains(&code[..4]),
        "the cookie does not show the code"
    );
    // Grouped for reading aloud, with its QR code drawn inline (no image fetched).
    assert_eq!(code.len(), 16);
    assert!(
        page.body.contains("<svg id=\"declaration-qr\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<img"));
    // A reload shows the same code and opens nothing.
    assert_eq!(code_on(&doctor.get(&location, &[])), Some(code.clone()));
    assert_eq!(case_count(&server, &token), 1);

    // Another session (the same worker on another machine, the cookie copied there too)
    // is told the code can no longer be shown, and may reissue it.
    let mut elsewhere = ConsoleClient::new(&server);
    assert_eq!(elsewhere.login("doctor", PASSWORD, &[]).status, 303);
    let cookie_value = sealed["bz_code=".len()..sealed.find(';').unwrap()].to_owned();
    elsewhere.cookies.insert("bz_code".into(), cookie_value);
    let other_view = elsewhere.get(&location, &[]);
    assert_eq!(other_view.status, 200);
    assert_eq!(code_on(&other_view), None);
    assert!(other_view.body.contains("id=\"code-not-shown\""));
    assert!(
        other_view
            .body
            .contains("action=\"/console/cases/1/reissue-code\"")
    );

    // Another facility's worker cannot reissue it (no such case for them), with the API or
    // the console; nothing changes.
    let hcm_token = server.login("bs.hcm", PASSWORD);
    let refused = server.post_json("/api/v1/cases/1/reissue-code", Some(&hcm_token), &json!({}));
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (404, "not_found")
    );
    let mut stranger = ConsoleClient::new(&server);
    assert_eq!(stranger.login("bs.hcm", PASSWORD, &[]).status, 303);
    let stranger_csrf = stranger.get("/console/cases", &[]).csrf();
    let refused = stranger.post(
        "/console/cases/1/reissue-code",
        &[("csrf", &stranger_csrf)],
        &[],
    );
    assert_eq!(refused.status, 404);
    assert_eq!(stranger.get(&location, &[]).status, 404);
    // Without its CSRF token a reissue changes nothing either.
    assert_eq!(
        doctor
            .post("/console/cases/1/reissue-code", &[], &[])
            .status,
        403
    );
    assert_eq!(code_on(&doctor.get(&location, &[])), Some(code.clone()));

    // The worker reissues it: a new code on the code page, the old one refused at upload as
    // an unknown code is, the new one accepted.
    let reissued = doctor.post("/console/cases/1/reissue-code", &[("csrf", &csrf)], &[]);
    assert_eq!(reissued.status, 303, "{}", reissued.body);
    assert_eq!(
        reissued.header("location"),
        Some("/console/cases/1/code?done=reissued")
    );
    let page = doctor.get("/console/cases/1/code?done=reissued", &[]);
    let new_code = code_on(&page).expect("the new code");
    assert_ne!(new_code, code);
    assert!(page.body.contains("role=\"status\""), "the reissue is said");
    let audit = server.get(
        "/api/v1/admin/audit?action=code_reissued",
        Some(&admin),
        &[],
    );
    let audit = audit.json();
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit[0]["account"], json!("doctor"));
    assert_eq!(audit[0]["object"], json!("case 1"));

    let mut rng = ChaCha20Rng::seed_from_u64(19);
    let now = unix_now();
    let mut phone = Phone::new(PhoneConfig::default());
    for t in (now - 3 * 3600..now - 3000).step_by(600) {
        phone.broadcast(UnixTime(t), &mut rng);
    }
    let old = harness::f0_upload(&mut phone, &code, &mut rng, now);
    let refused = server.post_bytes("/phone/v1/uploads", &old.to_bytes().unwrap());
    let unknown = harness::f0_upload(&mut phone, "ABCD-EFGH-JKMN-P", &mut rng, now);
    let unknown = server.post_bytes("/phone/v1/uploads", &unknown.to_bytes().unwrap());
    assert_eq!(
        (refused.status, refused.error_code()),
        (unknown.status, unknown.error_code()),
        "the old code is refused as an unknown one"
    );
    assert_eq!(refused.error_code(), "declaration_code_invalid");
    share_history(&server, &mut phone, &new_code, &mut rng, now);

    // After the upload there is no code to reissue: a clear error, and the code page says
    // the code was used.
    let late = doctor.post("/console/cases/1/reissue-code", &[("csrf", &csrf)], &[]);
    assert_eq!(late.status, 409);
    assert!(
        late.body.contains("đã gửi ID và lịch sử tiếp xúc"),
        "{}",
        late.body
    );
    let api_late = server.post_json("/api/v1/cases/1/reissue-code", Some(&token), &json!({}));
    assert_eq!(
        (api_late.status, api_late.error_code().as_str()),
        (409, "declaration_code_used")
    );
    let used = doctor.get(&location, &[]);
    assert_eq!(code_on(&used), None);
    assert!(used.body.contains("id=\"code-used\""));
    assert!(!used.body.contains("reissue-code"));
}
