//! Starts the real `bluezone-server` binary on loopback and talks HTTP to it, for the
//! end-to-end tests. Each server gets its own data directory and a free port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bluezone_protocol::hpke::{HpkePrivateKey, HpkePublicKey, derive_keypair};
use bluezone_protocol::{
    ContactDetails, DeclarationCode, F0Upload, Phone, PhoneConfig, PublisherPublicKey, ReportId,
    UnixTime,
};
use bluezone_testkit::scan;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};

/// The server binary, built once per test process with the same profile as the tests.
pub fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| built("bluezone-server", "bluezone-server"))
        .clone()
}

/// The binary `bin` of workspace package `package`, in the tests' profile directory
/// (`target/<profile>/`, next to `deps/` where the test executable runs from).
///
/// `cargo test --workspace` has already built every binary of a package that has tests of
/// its own, with the features of the whole workspace. A `cargo build -p <package>` here would
/// resolve the package's features alone, rebuild it and much of its dependency tree (minutes,
/// and again for the next `cargo test --workspace`), so the binary is used as it is when it
/// is newer than every source and manifest of the workspace's library and server code;
/// otherwise (a single test run after an edit, or a package whose binary the test run did not
/// build) cargo builds it.
pub fn built(package: &str, bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = profile_dir.join(bin);
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|made| newest_source().is_some_and(|newest| newest <= made));
    if !fresh {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", package, "--bin", bin])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p {package} failed");
    }
    assert!(path.exists(), "{} missing", path.display());
    path
}

/// When the newest file a workspace binary is built from was changed: the workspace's
/// manifest and lock file and every file under `protocol/` and `reference-server/` (the
/// server's and the command-line tool's sources, manifests and embedded files), `target` and
/// hidden directories left out. `None` if the workspace cannot be read.
fn newest_source() -> Option<std::time::SystemTime> {
    let mut root = Path::new(env!("CARGO_MANIFEST_DIR"));
    while !root.join("Cargo.lock").exists() {
        root = root.parent()?;
    }
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    let mut pending = vec![root.join("protocol"), root.join("reference-server")];
    for file in ["Cargo.toml", "Cargo.lock"] {
        newest = newest.max(std::fs::metadata(root.join(file)).ok()?.modified().ok()?);
    }
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).ok()? {
            let entry = entry.ok()?;
            let name = entry.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            let meta = entry.metadata().ok()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                newest = newest.max(meta.modified().ok()?);
            }
        }
    }
    Some(newest)
}

/// A preventive-medicine unit of the test configuration, with its private key.
pub struct TestUnit {
    pub name: &'static str,
    pub districts: Vec<u32>,
    pub private_key: HpkePrivateKey,
}

impl TestUnit {
    pub fn new(name: &'static str, districts: Vec<u32>) -> TestUnit {
        let (private_key, _) = derive_keypair(format!("test unit {name}").as_bytes());
        TestUnit {
            name,
            districts,
            private_key,
        }
    }

    fn toml(&self) -> String {
        let districts: Vec<String> = self.districts.iter().map(u32::to_string).collect();
        format!(
            "[[units]]\nname = \"{}\"\ndistricts = [{}]\npublic_key = \"{}\"\n",
            self.name,
            districts.join(", "),
            hex::encode(self.private_key.public_key().as_bytes())
        )
    }
}

/// A running server.
pub struct Server {
    child: Child,
    /// Every line the server wrote to standard error so far.
    stderr: Arc<Mutex<Vec<String>>>,
    pub base: String,
    pub admin_password: Option<String>,
    pub data_dir: PathBuf,
    agent: ureq::Agent,
}

/// The treatment facility of the test configuration, in Hà Nội (province 1); `doctor` works
/// there.
pub const FACILITY: &str = "bv-test";

/// The configuration of a test server: on-demand publication, no dummies (so batch sizes are
/// exact), the facility [`FACILITY`], the given units and extra lines. "Trace F1" publishes
/// to the whole country, which the test phones follow, unless `extra` sets
/// `default_trace_regions`.
pub fn config(data_dir: &Path, units: &[TestUnit], extra: &str) -> String {
    let trace = if extra.contains("default_trace_regions") {
        ""
    } else {
        "default_trace_regions = [0]\n"
    };
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\npublication_interval_seconds = 0\n\
         dummy_quantum = 0\nrequest_timeout_seconds = 10\n{trace}{extra}\n",
        data_dir.display()
    );
    for u in units {
        text.push_str(&u.toml());
    }
    text.push_str(&format!(
        "[[facilities]]\nname = \"{FACILITY}\"\nprovince = 1\n"
    ));
    text
}

/// How to start the binary, beyond its configuration.
#[derive(Default)]
pub struct Launch<'a> {
    /// Shell commands run before the server replaces the shell (`umask 022; ulimit -n 64`).
    pub shell: Option<&'a str>,
    /// Extra environment variables.
    pub env: &'a [(&'a str, &'a str)],
    /// Leave the first-start admin password as the server made it, to be changed at the first
    /// login; by default the harness changes it at once (to [`Server::admin_password`]), as
    /// a deployer does.
    pub keep_first_password: bool,
}

impl Server {
    /// Start the binary with `config_text` written to `<dir>/config.toml`, and wait (at most
    /// 60 s) for its "listening on" line.
    pub fn start(dir: &Path, config_text: &str) -> Server {
        Server::start_with(dir, config_text, &Launch::default())
    }

    /// [`Server::start`], launched as `launch` says.
    pub fn start_with(dir: &Path, config_text: &str, launch: &Launch) -> Server {
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config_text).expect("write config");
        let mut command = match launch.shell {
            None => Command::new(binary()),
            Some(shell) => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg(format!("{shell}\nexec \"$0\" \"$@\""))
                    .arg(binary());
                c
            }
        };
        command.env("RUST_LOG", "warn");
        command.envs(launch.env.iter().copied());
        let mut child = command
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bluezone-server");
        let stdout = child.stdout.take().expect("stdout");
        // Standard error is echoed to the test's; the first-start password is taken from it.
        let stderr = child.stderr.take().expect("stderr");
        let (password_tx, password_rx) = mpsc::channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                kept.lock().unwrap().push(line.clone());
                if let Some(rest) =
                    line.strip_prefix("first start: created account \"admin\" with password \"")
                {
                    let _ = password_tx.send(rest.split('"').next().unwrap_or("").to_owned());
                }
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut first_start = false;
        let base = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("server printed its address within 60 s");
            first_start |= line.starts_with("first start: the admin password is on standard error");
            if let Some(rest) = line.strip_prefix("listening on ") {
                break rest.split(' ').next().expect("address").to_owned();
            }
        };
        let admin_password = first_start.then(|| {
            password_rx
                .recv_timeout(Duration::from_secs(30))
                .expect("the first-start password on standard error")
        });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut server = Server {
            child,
            stderr: lines,
            base,
            admin_password,
            data_dir: dir.to_owned(),
            agent,
        };
        if let (Some(first), false) = (server.admin_password.clone(), launch.keep_first_password) {
            let changed = format!("{first} (changed)");
            server.change_password("admin", &first, &changed);
            server.admin_password = Some(changed);
        }
        server
    }

    /// Log in as `username` with `current` and change the password to `new`; panics unless
    /// both work.
    pub fn change_password(&self, username: &str, current: &str, new: &str) {
        let token = self.login(username, current);
        let body = json!({"current": current, "new": new});
        let reply = self.post_json("/api/v1/me/password", Some(&token), &body);
        assert_eq!(
            reply.status,
            200,
            "change {username}'s password: {}",
            reply.text()
        );
    }

    /// Wait (at most `limit`) for the process to end by itself; its exit status, or `None`
    /// if it still runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The lines the server wrote to standard error so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL the process and wait for it.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn finish(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut response = response.expect("HTTP exchange");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .expect("body");
        Reply {
            status,
            headers,
            body,
        }
    }

    /// GET with an optional bearer token and extra headers.
    pub fn get(&self, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.get(self.url(path));
        if let Some(t) = token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        Self::finish(request.call())
    }

    /// POST a JSON body.
    pub fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.post_json_with(path, token, body, &[])
    }

    /// POST a JSON body with extra headers (`X-Forwarded-For`, to come from another client
    /// through a trusted proxy).
    pub fn post_json_with(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .agent
            .post(self.url(path))
            .header("Content-Type", "application/json");
        if let Some(t) = token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        Self::finish(request.send(body.to_string()))
    }

    /// POST protocol bytes.
    pub fn post_bytes(&self, path: &str, body: &[u8]) -> Reply {
        let request = self
            .agent
            .post(self.url(path))
            .header("Content-Type", "application/octet-stream");
        Self::finish(request.send(body))
    }

    /// Log in; panics unless it works.
    pub fn login(&self, username: &str, password: &str) -> String {
        let reply = self.post_json(
            "/api/v1/login",
            None,
            &json!({"username": username, "password": password}),
        );
        assert_eq!(reply.status, 200, "login {username}: {}", reply.text());
        reply.json()["token"].as_str().expect("token").to_owned()
    }

    /// Log in as admin and create a treatment-facility account and one worker per unit.
    /// Returns (admin token, doctor token, unit tokens in the order of `units`).
    pub fn set_up_accounts(&self, units: &[TestUnit]) -> (String, String, Vec<String>) {
        let admin = self.login(
            "admin",
            self.admin_password.as_deref().expect("admin password"),
        );
        let password = "correct horse battery staple";
        // Created as a deployment's script would, keeping these passwords (the console makes
        // workers replace the admin's choice; `server_lifecycle.rs` tests that).
        let create = |name: &str, role: &str, unit: Option<&str>| {
            let scope = match unit {
                Some(u) => json!({"role": role, "unit": u}),
                None => json!({"role": role, "facility": FACILITY}),
            };
            self.create_account(&admin, name, password, scope);
        };
        create("doctor", "treatment_facility", None);
        let mut unit_tokens = Vec::new();
        for u in units {
            let name = format!("{}-worker", u.name);
            create(&name, "preventive_unit", Some(u.name));
            unit_tokens.push(self.login(&name, password));
        }
        let doctor = self.login("doctor", password);
        (admin, doctor, unit_tokens)
    }

    /// As `admin`, create account `name` with `password`, kept as a deployment's script would
    /// (`must_change_password` false), and the role fields of `scope` (`role`, and `facility`,
    /// `unit` or `province`); panics unless `201`. Returns the account as created.
    pub fn create_account(&self, admin: &str, name: &str, password: &str, scope: Value) -> Value {
        let mut body =
            json!({"username": name, "password": password, "must_change_password": false});
        body.as_object_mut()
            .expect("an object")
            .extend(scope.as_object().expect("role fields").clone());
        let reply = self.post_json("/api/v1/accounts", Some(admin), &body);
        assert_eq!(reply.status, 201, "create {name}: {}", reply.text());
        reply.json()
    }

    /// Every row of a paged list (`GET` of `path`), following its `Link: <…>; rel="next"`
    /// headers page after page; panics unless each page is `200`.
    pub fn get_all(&self, path: &str, token: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(url) = next {
            let reply = self.get(&url, Some(token), &[]);
            assert_eq!(reply.status, 200, "{url}: {}", reply.text());
            rows.extend(reply.json().as_array().expect("a list").iter().cloned());
            next = reply.link("next");
        }
        rows
    }

    /// The store's digest, as the admin sees it.
    pub fn store_digest(&self, admin: &str) -> Value {
        let reply = self.get("/api/v1/admin/store", Some(admin), &[]);
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The stable error code of an error answer.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", self.text()))
            .to_owned()
    }

    /// The URL of the `rel` link of the `Link` header (RFC 8288), if any.
    pub fn link(&self, rel: &str) -> Option<String> {
        let header = self.header("link")?;
        header.split(", ").find_map(|part| {
            let (url, rest) = part.split_once(">; rel=\"")?;
            (rest.trim_end_matches('"') == rel).then(|| url.trim_start_matches('<').to_owned())
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// Start of test meetings lasting `span` seconds in all, about three hours before `now`, such that
/// they fall within one UTC day: a meeting that midnight splits may add up to under 15 minutes
/// on each side, and then a phone has nothing to report and the test depends on the hour it
/// runs at (several failed when run between 02:10 and 03:00 UTC).
pub fn meetings_start(now: u64, span: u64) -> u64 {
    let start = now - 3 * 3600;
    let midnight = (start + span) / 86_400 * 86_400;
    if start < midnight {
        midnight - span - 600
    } else {
        start
    }
}

/// Seconds since the unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The F0 upload `phone` prepares with the declaration code `code`: keys of the last two days.
pub fn f0_upload(phone: &mut Phone, code: &str, rng: &mut ChaCha20Rng, now: u64) -> F0Upload {
    phone
        .prepare_f0_upload(
            DeclarationCode::new(code).expect("a well-formed declaration code"),
            UnixTime(now - 2 * 86_400),
            &[],
            UnixTime(now),
            rng,
        )
        .expect("upload prepared")
}

/// Step 3 on the F0's phone: "Send ID and contact history" with the declaration code, keys of
/// the last two days; panics unless the server accepts it (201).
pub fn share_history(
    server: &Server,
    phone: &mut Phone,
    code: &str,
    rng: &mut ChaCha20Rng,
    now: u64,
) -> F0Upload {
    let upload = f0_upload(phone, code, rng, now);
    let reply = server.post_bytes("/phone/v1/uploads", &upload.to_bytes().unwrap());
    assert_eq!(reply.status, 201, "upload: {}", reply.text());
    upload
}

pub fn publisher_key(server: &Server) -> (PublisherPublicKey, Vec<(Vec<u32>, HpkePublicKey)>) {
    let config = server.get("/phone/v1/config", None, &[]).json();
    let key: [u8; 32] = hex::decode(config["publisher_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let units = config["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let districts = u["districts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as u32)
                .collect();
            let key = hex::decode(u["public_key"].as_str().unwrap()).unwrap();
            (districts, HpkePublicKey::from_bytes(&key).unwrap())
        })
        .collect();
    (PublisherPublicKey(key), units)
}

/// The province the tests' phones subscribe to besides region 0: Hà Nội.
pub const HOME_REGION: u16 = 1;

/// Steps 4 and 5 on one phone: fetch what is new, match, report each exposure that passes.
/// Returns the ids of the reports the server verified.
pub fn sync_and_report(
    server: &Server,
    phone: &mut Phone,
    phone_number: &str,
    district: u32,
    rng: &mut ChaCha20Rng,
    now: u64,
) -> Vec<ReportId> {
    sync_and_report_named(server, phone, phone_number, "", district, rng, now)
}

/// [`sync_and_report`] with the F1's name in the sealed contact details.
pub fn sync_and_report_named(
    server: &Server,
    phone: &mut Phone,
    phone_number: &str,
    name: &str,
    district: u32,
    rng: &mut ChaCha20Rng,
    now: u64,
) -> Vec<ReportId> {
    let mut reports = Vec::new();
    for (report_id, reply) in
        sync_and_send_reports(server, phone, phone_number, name, district, rng, now)
    {
        assert_eq!(reply.status, 200, "report: {}", reply.text());
        assert_eq!(reply.json()["verified"], json!(true));
        reports.push(report_id);
    }
    reports
}

/// Steps 4 and 5 as [`sync_and_report_named`], returning each report's id and the server's
/// answer unchecked.
pub fn sync_and_send_reports(
    server: &Server,
    phone: &mut Phone,
    phone_number: &str,
    name: &str,
    district: u32,
    rng: &mut ChaCha20Rng,
    now: u64,
) -> Vec<(ReportId, Reply)> {
    let (publisher, units) = publisher_key(server);
    let index = server.get("/publication/v1/index.bin", None, &[]);
    assert_eq!(index.status, 200);
    let to_fetch = phone
        .batches_to_fetch(&index.body, &publisher, &[HOME_REGION], UnixTime(now))
        .expect("index verifies");
    let unit_key = units
        .iter()
        .find(|(districts, _)| districts.contains(&district))
        .map(|(_, key)| *key)
        .expect("a unit covers the district");
    let mut reports = Vec::new();
    for entry in to_fetch {
        let batch = server.get(
            &format!("/publication/v1/batches/{}.bin", entry.batch_id),
            None,
            &[],
        );
        assert_eq!(batch.status, 200);
        entry.check(&batch.body).expect("batch is the one indexed");
        let outcome = phone
            .match_batch(&batch.body, &publisher, UnixTime(now))
            .expect("batch verifies");
        for exposure in outcome.passing() {
            let contact = ContactDetails {
                phone_number: phone_number.into(),
                name: name.into(),
                district,
                consent_time: UnixTime(now),
            };
            let report = phone
                .prepare_f1_report(exposure, &contact, &unit_key, rng)
                .unwrap();
            let reply = server.post_bytes("/phone/v1/reports", &report.to_bytes().unwrap());
            reports.push((report.report_id, reply));
        }
    }
    reports
}

/// `count` phones that spent half an hour together three hours before `now`, scanning every
/// period: each `(listener, speaker, rssi)` of `hearing` heard at every scan.
pub fn phones_that_met(
    rng: &mut ChaCha20Rng,
    count: usize,
    hearing: &[(usize, usize, i8)],
    now: u64,
) -> Vec<Phone> {
    let mut phones: Vec<Phone> = (0..count)
        .map(|_| Phone::new(PhoneConfig::default()))
        .collect();
    let start = now - 3 * 3600;
    scan(
        rng,
        &mut phones,
        UnixTime(start),
        UnixTime(start + 1800),
        hearing,
    );
    phones
}

/// A phone that has broadcast (and so holds a daily key) and heard another for half an hour,
/// an hour ago.
pub fn phone_with_history(rng: &mut ChaCha20Rng, now: u64) -> Phone {
    let mut phones = vec![
        Phone::new(PhoneConfig::default()),
        Phone::new(PhoneConfig::default()),
    ];
    scan(
        rng,
        &mut phones,
        UnixTime(now - 3600),
        UnixTime(now - 1800),
        &[(0, 1, -55)],
    );
    phones.swap_remove(0)
}

/// The bytes of an F0 upload with `code` from a [`phone_with_history`].
pub fn upload_bytes(code: &str, rng: &mut ChaCha20Rng, now: u64) -> Vec<u8> {
    phone_with_history(rng, now)
        .prepare_f0_upload(
            DeclarationCode::new(code).unwrap(),
            UnixTime(now - 86_400),
            &[],
            UnixTime(now),
            rng,
        )
        .unwrap()
        .to_bytes()
        .unwrap()
}
