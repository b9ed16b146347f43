//! The web console in a real browser: Debian's headless `chromium`, driven through
//! `chromedriver` (WebDriver) against the real `bluezone-server` binary on loopback.
//!
//! The admin creates a treatment-facility account and a unit account in the console; the
//! facility worker opens a case and reads its "Mã khai báo F0"; an emulated phone uploads with
//! it; the worker clicks "Truy vết F1"; after publication an emulated F1 phone reports; the
//! worker sees the F1 row; the unit worker loads the unit key file (a wrong key first) and sees
//! the real phone number, opened in the page by WebCrypto. Every page is looked at 1280 and
//! 390 px wide: a screenshot of each under `<target>/tmp/console-screenshots/`, nothing wider
//! than the screen, and no serious or critical violation of WCAG 2.1 A and AA found by
//! axe-core, run in the page.
//!
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs them), and axe-core from npm
//! (`npm ci --prefix tests/browser`, which `.ci/run` runs). Without them the test fails under CI
//! (`CI` set); elsewhere it is skipped with a message (without axe-core, only the accessibility
//! check is).

mod harness;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bluezone_protocol::DeclarationCode;
use fantoccini::{Client, ClientBuilder, Locator};
use harness::{Server, TestUnit, config, share_history, sync_and_report_named, unix_now};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const F1_PHONE: &str = "84912345678";
/// [`F1_PHONE`] as Vietnamese write it.
const F1_PHONE_SHOWN: &str = "0912 345 678";
const F1_NAME: &str = "Nguyễn Thị Lan";
/// The password the admin gives each worker; the worker replaces it with [`PASSWORD`] at the
/// first login.
const FIRST_PASSWORD: &str = "the admin chose this one";
const PASSWORD: &str = "correct horse battery staple";
/// axe-core as `npm ci --prefix tests/browser` installs it.
const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/browser/node_modules/axe-core/axe.min.js"
);

struct Chromedriver {
    child: Child,
    port: u16,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Start chromedriver on a free loopback port and wait (at most 30 s) until it says it runs.
fn start_chromedriver() -> Chromedriver {
    let port = free_port();
    let mut child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start chromedriver");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("chromedriver started within 30 s");
        if line.contains("started successfully") {
            break;
        }
    }
    Chromedriver { child, port }
}

struct Browser {
    client: Client,
    base: String,
    shots: PathBuf,
    shot_no: u32,
    /// axe-core's source, if installed.
    axe: Option<String>,
    /// chromium's profile directory, removed when the browser is dropped.
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("element {css}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("clear");
        input.send_keys(value).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .expect("select");
    }

    /// Save a PNG of the window as `<n>-<name>.png`.
    async fn screenshot(&mut self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        self.save_png(&png, name);
    }

    fn save_png(&mut self, png: &[u8], name: &str) {
        self.shot_no += 1;
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.shot_no));
        std::fs::write(&path, png).expect("write screenshot");
    }

    /// Look at the page 1280 and 390 px wide: nothing wider than the screen, no serious or
    /// critical axe-core violation, a screenshot `<name>-<width>`. Leaves the window 1280 px
    /// wide.
    async fn check_page(&mut self, name: &str) {
        for (width, height) in [(390, 844), (1280, 900)] {
            self.client.set_window_size(width, height).await.unwrap();
            assert_fits_the_screen(self).await;
            self.assert_accessible(&format!("{name} at {width} px"))
                .await;
            self.screenshot(&format!("{name}-{width}")).await;
        }
    }

    /// Run axe-core in the page (WCAG 2.1 A and AA rules); fail on any serious or critical
    /// violation, naming the rule and the elements.
    async fn assert_accessible(&self, what: &str) {
        let Some(axe) = &self.axe else { return };
        let script = format!(
            "{axe}\n;const done = arguments[arguments.length - 1]; \
             window.axe.run(document, {{ runOnly: {{ type: 'tag', \
                 values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }}, \
                 resultTypes: ['violations'] }}) \
               .then(r => done(r.violations \
                 .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                 .map(v => ({{ rule: v.id, impact: v.impact, help: v.help, \
                               nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')) }})))) \
               .catch(e => done([{{ rule: 'axe did not run', help: String(e) }}]));"
        );
        let violations = self.client.execute_async(&script, vec![]).await.unwrap();
        assert_eq!(violations, json!([]), "accessibility of {what}");
    }

    /// Save a PNG of one element (scrolled into view) at a width, as `<n>-<name>.png`; the
    /// window is 1280 px wide again after.
    async fn screenshot_element(&mut self, css: &str, width: u32, name: &str) {
        self.client.set_window_size(width, 844).await.unwrap();
        let png = self.find(css).await.screenshot().await.expect("screenshot");
        self.save_png(&png, name);
        self.client.set_window_size(1280, 900).await.unwrap();
    }

    async fn login(&self, username: &str, password: &str) {
        self.goto("/console/login").await;
        self.fill("#username", username).await;
        self.fill("#password", password).await;
        self.click("form button[type=submit]").await;
        // Each login runs PBKDF2 (600 000 iterations); wait for the landing page.
        self.wait_for_path_not("/console/login").await;
    }

    async fn logout(&self) {
        self.click("header form button[type=submit]").await;
        self.wait_for_path("/console/login").await;
    }

    async fn wait_for_path(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.path().await != want {
            assert!(Instant::now() < deadline, "never reached {want}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for_path_not(&self, not: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.path().await == not {
            assert!(Instant::now() < deadline, "still on {not}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait (at most 10 s) until the element's text satisfies `ok`; return it. While a form's
    /// answer loads, the element found may belong to the page being replaced: a stale element
    /// is looked for again.
    async fn wait_for_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = match self.find(css).await.text().await {
                Ok(text) => text,
                Err(e) if e.is_stale_element_reference() => String::new(),
                Err(e) => panic!("text of {css}: {e}"),
            };
            if ok(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} still reads {text:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn capabilities(profile: &Path) -> serde_json::Map<String, Value> {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        },
    });
    match caps {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// The first setup and encryption (sequence number 0) of RFC 9180 A.1.1, the suite SPEC.md
/// §10.1 uses, from `protocol/tests/vectors/rfc9180-a1-base.txt`.
fn rfc9180_base_vector() -> BTreeMap<String, String> {
    let path = bluezone_testkit::vector_file("rfc9180-a1-base.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let mut fields = BTreeMap::new();
    let mut records = 0;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            records += 1;
            if records > 2 {
                break;
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            let (name, value) = line.split_once(' ').unwrap_or((line, ""));
            fields.insert(name.to_owned(), value.trim().to_owned());
        }
    }
    assert_eq!(fields["seq"], "0");
    fields
}

/// The page's HPKE open (WebCrypto) against the RFC's known answer: the recipient's public key
/// derived from its private key, and the plaintext of the sequence-0 ciphertext.
async fn rfc9180_vector_opens_in_the_page(b: &Browser) {
    let v = rfc9180_base_vector();
    let out = b
        .client
        .execute_async(
            "const [v, done] = arguments; const h = window.BluezoneHpke; \
             h.importUnitKey(h.fromHex(v.skRm)) \
               .then(k => h.openBase(k, h.fromHex(v.enc), h.fromHex(v.info), h.fromHex(v.aad), \
                                     h.fromHex(v.ct)) \
                 .then(pt => done({pk: h.toHex(k.publicKey), pt: h.toHex(pt)}))) \
               .catch(e => done({error: String(e)}));",
            vec![json!(v)],
        )
        .await
        .expect("script ran");
    assert_eq!(out["error"], Value::Null, "{out}");
    assert_eq!(out["pk"], json!(v["pkRm"]), "public key of skRm");
    assert_eq!(out["pt"], json!(v["pt"]), "RFC 9180 A.1.1 sequence 0 opens");
}

/// Nothing on the page reaches past the right edge of the window (a table's own scroller may
/// hold a wider table, but the F1 tables, cards on a narrow screen, never need to), and the page
/// does not scroll sideways.
async fn assert_fits_the_screen(b: &Browser) {
    let overflow = b
        .client
        .execute(
            "const w = document.documentElement.clientWidth; \
             const wide = e => e.getBoundingClientRect().right > w + 1; \
             return [...document.querySelectorAll('body *')] \
               .filter(e => (e.parentElement.closest('.scroll') ? \
                             e.closest('#f1-table, #unit-rows') : true) && wide(e)) \
               .map(e => e.tagName + '.' + e.className + '#' + e.id);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(overflow, json!([]), "wider than the screen");
    let widths = b
        .client
        .execute(
            "return [document.documentElement.scrollWidth, \
                     document.documentElement.clientWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "the page scrolls sideways: {widths}"
    );
}

/// A health worker's page (in either language, messages for its script included) has no
/// cryptography or command-line words: those are for the admin page.
async fn assert_no_jargon(b: &Browser) {
    let source = b.client.source().await.unwrap().to_lowercase();
    for word in ["hex", "x25519", "webcrypto", "hpke", "bluezone unit"] {
        assert!(!source.contains(word), "a worker's page says {word:?}");
    }
}

/// The F1 table of case 1 as the API gives it to the treatment facility.
fn doctor_rows(server: &Server) -> Vec<Value> {
    let doctor = server.login("doctor", PASSWORD);
    let rows = server.get("/api/v1/cases/1/f1", Some(&doctor), &[]);
    assert_eq!(rows.status, 200, "{}", rows.text());
    rows.json().as_array().unwrap().clone()
}

/// axe-core's source; without it, the accessibility checks are skipped outside CI.
fn axe_source() -> Option<String> {
    match std::fs::read_to_string(AXE) {
        Ok(source) => Some(source),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install axe-core (npm ci --prefix tests/browser, see .ci/run): {AXE}: {e}"
            );
            eprintln!(
                "console_browser: accessibility checks SKIPPED: run `npm ci --prefix tests/browser` \
                 to install axe-core"
            );
            None
        }
    }
}

fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium and chromium-driver (see .ci/run)"
        );
        eprintln!(
            "SKIPPED console_browser: install Debian's chromium and chromium-driver to run it \
             (apt-get install chromium chromium-driver)"
        );
    }
    present
}

/// A browser session on `server`'s console, its screenshots going to `<target>/tmp/<shots>/`
/// (emptied first), with the runtime that drives it and chromedriver (stopped when dropped).
fn open_browser(server: &Server, shots: &str) -> (Browser, tokio::runtime::Runtime, Chromedriver) {
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join(shots);
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let driver = start_chromedriver();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let client = runtime.block_on(async {
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities(profile.path()))
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a WebDriver session with chromium")
    });
    let b = Browser {
        client,
        base: server.base.clone(),
        shots,
        shot_no: 0,
        axe: axe_source(),
        _profile: profile,
    };
    (b, runtime, driver)
}

#[test]
fn seven_steps_in_the_console_with_a_real_browser() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let units = vec![
        TestUnit::new("north", vec![1]),
        TestUnit::new("south", vec![2]),
    ];
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, ""));
    let admin_password = server.admin_password.clone().expect("admin password");
    // The unit keeps its key in a file, as `bluezone unit keygen` writes it.
    let key_file = dir.path().join("north.key");
    std::fs::write(
        &key_file,
        format!("{}\n", hex::encode(units[0].private_key.to_bytes())),
    )
    .unwrap();
    let wrong_key_file = dir.path().join("south.key");
    std::fs::write(
        &wrong_key_file,
        hex::encode(units[1].private_key.to_bytes()),
    )
    .unwrap();

    let (mut b, runtime, _driver) = open_browser(&server, "console-screenshots");
    let shots = b.shots.clone();

    // Step 1 (set-up): the admin creates the health workers' accounts in the console.
    runtime.block_on(async {
        b.goto("/console/").await;
        b.wait_for_path("/console/login").await;
        assert_eq!(b.text("h1").await, "Đăng nhập", "Vietnamese by default");
        rfc9180_vector_opens_in_the_page(&b).await;
        b.check_page("login").await;
        b.login("admin", &admin_password).await;
        assert_eq!(b.path().await, "/console/admin");
        for (name, role, facility, unit) in [
            ("doctor", "treatment_facility", harness::FACILITY, ""),
            ("north-worker", "preventive_unit", "", "north"),
        ] {
            b.fill("#new-username", name).await;
            b.fill("#new-password", FIRST_PASSWORD).await;
            b.select("#new-role", role).await;
            b.select("#new-facility", facility).await;
            b.select("#new-unit", unit).await;
            b.click("#new-account button[type=submit]").await;
            let notice = b.wait_for_text("p.alert", |t| !t.is_empty()).await;
            assert_eq!(notice, "Đã tạo tài khoản", "account {name}");
        }
        // Each field's rule is stated beside it: "Bác sĩ Hùng" is no user name, and the form
        // says why before it is sent.
        assert!(b.text("#new-username-help").await.contains("a-z"));
        b.fill("#new-username", "Bác sĩ Hùng").await;
        let valid = b
            .client
            .execute(
                "return document.getElementById('new-username').checkValidity();",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(valid, json!(false), "the browser holds the form's rule");
        assert_eq!(b.text("#units th").await, "Tên đơn vị");
        let accounts = b.text("#accounts").await;
        assert!(accounts.contains("doctor") && accounts.contains("north-worker"));
        b.check_page("admin-accounts").await;
        b.goto("/console/admin/audit").await;
        b.find("#audit-filter").await;
        b.check_page("audit").await;
        b.goto("/console/password").await;
        b.find("#current").await;
        b.check_page("password").await;
        b.logout().await;
    });

    // Step 2: the facility worker replaces the password the admin chose (every page sends to
    // the password form until then), opens a case and reads its F0 declaration code.
    let code = runtime.block_on(async {
        b.login("doctor", FIRST_PASSWORD).await;
        assert_eq!(b.path().await, "/console/password");
        b.goto("/console/cases").await;
        b.wait_for_path("/console/password").await;
        assert!(b.text("p.alert").await.contains("do người khác đặt"));
        b.check_page("password-first-login").await;
        b.fill("#current", FIRST_PASSWORD).await;
        b.fill("#new", PASSWORD).await;
        b.click("form[action='/console/password'] button[type=submit]")
            .await;
        b.wait_for_path("/console/cases").await;
        b.check_page("cases-empty").await;
        b.fill("#reference", "HN-0001 <b>bold?</b>").await;
        b.click("#open-case button[type=submit]").await;
        let code = b.text("#declaration-code").await;
        assert_eq!(b.text("h1").await, "Mã khai báo F0");
        b.check_page("declaration-code").await;
        code
    });
    assert!(
        DeclarationCode::new(&code).is_ok(),
        "the page shows a valid declaration code, not {code:?}"
    );

    // Step 3: the F0's phone (A) sends its ID and contact history with the code. A and B spent
    // half an hour together three hours ago.
    let mut rng = ChaCha20Rng::seed_from_u64(84);
    let now = unix_now();
    let mut phones = harness::phones_that_met(&mut rng, 2, &[(0, 1, -55), (1, 0, -55)], now);
    share_history(&server, &mut phones[0], &code, &mut rng, now);

    // Step 4: "Truy vết F1".
    runtime.block_on(async {
        b.click("#case-link").await;
        let status = b.find("#case-status").await;
        assert_eq!(
            status.attr("data-status").await.unwrap().as_deref(),
            Some("upload_received")
        );
        // The reference was typed with markup; the page shows it as text.
        assert!(b.text("dl.facts").await.contains("HN-0001 <b>bold?</b>"));
        assert_eq!(b.text("#trace-button").await, "Truy vết F1");
        b.check_page("case-upload-received").await;
        // The whole country is chosen by default; the worker chooses Hà Nội and Hồ Chí Minh
        // instead (in a list that takes several, a click toggles one).
        for region in ["0", "1", "79"] {
            b.select("#regions", region).await;
        }
        b.click("#trace-button").await;
        b.wait_for_text("p.alert", |t| t == "Đã yêu cầu truy vết.")
            .await;
        let regions = b.find("#case-regions").await;
        assert_eq!(
            regions.attr("data-regions").await.unwrap().as_deref(),
            Some("1,79")
        );
        assert_eq!(regions.text().await.unwrap(), "Hà Nội, TP. Hồ Chí Minh");
        // Not "traced" yet: waiting for a run (this server publishes on demand only).
        assert_eq!(
            b.text("#publication-state").await,
            "Đang chờ công bố; quản trị viên công bố khi cần. Tải lại"
        );
        b.check_page("case-traced").await;
    });

    // Publication, then step 5 on the F1's phone (B): match, report.
    let admin = server.login("admin", &admin_password);
    let run = server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    assert_eq!(run.status, 200, "{}", run.text());
    let reports =
        sync_and_report_named(&server, &mut phones[1], F1_PHONE, F1_NAME, 1, &mut rng, now);
    assert_eq!(reports.len(), 1, "B reports one exposure");
    let f1_id = reports[0].to_string();

    // Step 6: the F1 analysis table.
    runtime.block_on(async {
        b.click("#publication-state a").await;
        b.wait_for_text("#publication-state", |t| {
            t.starts_with("Đã công bố tới 2 vùng lúc ")
        })
        .await;
        let row = b.find(&format!("#f1-table tr[data-f1-id='{f1_id}']")).await;
        let text = row.text().await.unwrap();
        assert!(text.contains("Hai chiều"), "confirmed both ways: {text}");
        // Who can see the numbers is said once, above the table, not on every row.
        assert!(b.text("#phones-seen-by").await.ends_with(": north"));
        assert!(!b.text("#f1-table").await.contains("north"));
        // The row: a short F1 ID whose copy button holds the whole one; first and last
        // contact, duration, closeness class (the risk rule's bucket of the API's attenuation)
        // and confirmation, each explained in the legend.
        let cell =
            |column: &str| format!("#f1-table tr[data-f1-id='{f1_id}'] td[data-label='{column}']");
        let short_id = b.text(&cell("ID F1")).await;
        assert!(
            short_id.starts_with(&format!("{}… ", &f1_id[..8])),
            "{short_id}"
        );
        let copy = b.find(&format!("{} button", cell("ID F1"))).await;
        assert_eq!(
            copy.attr("data-copy-text").await.unwrap(),
            Some(f1_id.clone())
        );
        let api_row = doctor_rows(&server)[0].clone();
        let (first, last) = (
            b.text(&cell("Tiếp xúc đầu")).await,
            b.text(&cell("Tiếp xúc cuối")).await,
        );
        assert!(
            first.ends_with("(UTC+7)") && last.ends_with("(UTC+7)") && first != last,
            "{first} {last}"
        );
        let minutes = api_row["duration_seconds"].as_u64().unwrap().div_ceil(60);
        assert_eq!(b.text(&cell("Thời lượng")).await, format!("{minutes} phút"));
        let db = api_row["min_attenuation_db"].as_i64().unwrap();
        let bucket = bluezone_protocol::RiskRule::default().bucket(i16::try_from(db).unwrap());
        let closeness = b.find(&cell("Mức độ gần")).await;
        assert_eq!(
            closeness.attr("data-closeness").await.unwrap(),
            Some(bucket.to_string())
        );
        assert_eq!(
            closeness.text().await.unwrap(),
            ["Rất gần", "Gần", "Hơi xa", "Xa"][bucket]
        );
        let legend = b.text("#f1-legend").await;
        for word in ["Hai chiều", "Một chiều", "Mức độ gần"] {
            assert!(
                legend.contains(word),
                "the legend explains {word}: {legend}"
            );
        }
        let source = b.client.source().await.unwrap();
        assert!(
            !source.contains(F1_PHONE),
            "the facility never sees the number"
        );
        b.check_page("f1-table").await;
        assert_no_jargon(&b).await;
        b.screenshot_element("#f1-table", 390, "f1-table-cards-390")
            .await;
        // The English switch keeps the page and changes the words.
        b.click("a.lang").await;
        b.wait_for_text("#trace-button", |t| t == "Trace F1").await;
        assert!(b.text("h2").await.contains("F1 analysis table"));
        b.check_page("f1-table-english").await;
        assert_no_jargon(&b).await;
        b.click("a.lang").await;
        b.wait_for_text("#trace-button", |t| t == "Truy vết F1")
            .await;
        b.logout().await;
    });

    // Step 7: the unit worker opens the phone number in the browser with the unit's key file.
    runtime.block_on(async {
        b.login("north-worker", FIRST_PASSWORD).await;
        assert_eq!(b.path().await, "/console/password");
        b.fill("#current", FIRST_PASSWORD).await;
        b.fill("#new", PASSWORD).await;
        b.click("form[action='/console/password'] button[type=submit]")
            .await;
        b.wait_for_path("/console/unit").await;
        let cell = format!("#unit-rows tr[data-f1-id='{f1_id}'] td.phone");
        assert_eq!(b.text(&cell).await, "Đã mã hóa");
        b.check_page("unit-inbox-sealed").await;
        assert_no_jargon(&b).await;
        // Another unit's key is refused, and nothing is opened.
        b.find("#unit-key")
            .await
            .send_keys(wrong_key_file.to_str().unwrap())
            .await
            .unwrap();
        b.wait_for_text("#key-status", |t| {
            t == "Tệp khóa này không phải khóa của đơn vị."
        })
        .await;
        assert_eq!(b.text(&cell).await, "Đã mã hóa");
        b.find("#unit-key")
            .await
            .send_keys(key_file.to_str().unwrap())
            .await
            .unwrap();
        b.wait_for_text("#key-status", |t| t == "Đã mở số điện thoại: 1")
            .await;
        // The real phone number, opened in the page, written as in Vietnam, and a link that
        // calls it.
        let number = b.find(&format!("{cell} a.number")).await;
        assert_eq!(number.text().await.unwrap(), F1_PHONE_SHOWN);
        assert_eq!(
            number.attr("href").await.unwrap().as_deref(),
            Some("tel:+84912345678")
        );
        assert_eq!(b.text(&format!("{cell} .name")).await, F1_NAME);
        b.check_page("unit-inbox-opened").await;
        // Both downloads are for spreadsheets: a byte-order mark, then times in UTC+7 named
        // in the header; the in-browser one has the opened number and name.
        let downloads = b
            .client
            .execute_async(
                "const done = arguments[0]; const bytes = b => Array.from(new Uint8Array(b)); \
                 const make = URL.createObjectURL; \
                 URL.createObjectURL = blob => { \
                   URL.createObjectURL = make; \
                   Promise.all([fetch('/console/unit/f1.csv').then(r => r.arrayBuffer()), \
                                blob.arrayBuffer()]) \
                     .then(([sealed, opened]) => done([bytes(sealed), bytes(opened)])); \
                   return make(blob); \
                 }; \
                 document.getElementById('export-opened').click();",
                vec![],
            )
            .await
            .unwrap();
        for (n, file) in downloads.as_array().unwrap().iter().enumerate() {
            let bytes: Vec<u8> = serde_json::from_value(file.clone()).unwrap();
            assert!(bytes.starts_with(b"\xEF\xBB\xBFcase_id,"), "download {n}");
            let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
            let header = text.lines().next().unwrap();
            assert!(header.contains(",contact_time_utc+07:00,"), "{header}");
            if n == 1 {
                assert!(text.contains(F1_PHONE) && text.contains(F1_NAME), "{text}");
            }
        }
        // Follow-up is saved in the background: no reload, the opened number stays, and the
        // row says it was saved.
        let row = format!("#unit-rows tr[data-f1-id='{f1_id}']");
        b.client
            .execute("window.bluezoneSamePage = true;", vec![])
            .await
            .unwrap();
        b.select(&format!("{row} select"), "contacted").await;
        b.click(&format!("{row} button[type=submit]")).await;
        b.wait_for_text(&format!("{row} .save-state"), |t| {
            t.starts_with("Đã lưu lúc ")
        })
        .await;
        b.find(&format!("{row}[data-follow-up='contacted']")).await;
        assert_eq!(b.text(&format!("{cell} .number")).await, F1_PHONE_SHOWN);
        let same_page = b
            .client
            .execute("return window.bluezoneSamePage === true;", vec![])
            .await
            .unwrap();
        assert_eq!(same_page, json!(true), "saved without reloading the page");
        b.check_page("unit-follow-up").await;
        b.screenshot_element("#unit-rows", 390, "unit-rows-cards-390")
            .await;
        // A phone-sized screen: each row is a card, its controls on the screen.
        b.client.set_window_size(390, 844).await.unwrap();
        assert_fits_the_screen(&b).await;
        for control in ["select", "button[type=submit]", ".phone .number"] {
            let inside = b
                .client
                .execute(
                    "const r = arguments[0].getBoundingClientRect(); \
                     return r.width > 0 && r.left >= 0 && \
                            r.right <= document.documentElement.clientWidth;",
                    vec![json!(b.find(&format!("{row} {control}")).await)],
                )
                .await
                .unwrap();
            assert_eq!(
                inside,
                json!(true),
                "{control} of the row is on a 390 px screen"
            );
        }
        b.select(&format!("{row} select"), "quarantined").await;
        b.click(&format!("{row} button[type=submit]")).await;
        b.find(&format!("{row}[data-follow-up='quarantined']"))
            .await;
        b.wait_for_text(&format!("{row} .save-state"), |t| {
            t.starts_with("Đã lưu lúc ")
        })
        .await;
        assert_eq!(b.text(&format!("{cell} .number")).await, F1_PHONE_SHOWN);
        b.screenshot("unit-follow-up-phone-size").await;
        // Reloaded, the page has forgotten the numbers and the key; the follow-up is stored.
        b.client.refresh().await.unwrap();
        assert_eq!(b.text(&cell).await, "Đã mã hóa");
        b.find(&format!("{row}[data-follow-up='quarantined']"))
            .await;
        assert!(
            !b.find("#export-opened").await.is_displayed().await.unwrap(),
            "no export before a key is loaded"
        );
        assert_fits_the_screen(&b).await;
        b.screenshot("unit-inbox-phone-size").await;
        b.client.set_window_size(1280, 900).await.unwrap();
        b.client.clone().close().await.unwrap();
    });
    let saved = std::fs::read_dir(&shots).unwrap().count();
    assert_eq!(saved, b.shot_no as usize);
    eprintln!("{saved} screenshots in {}", shots.display());
}

// ---- The declaration code's page (issue 19 item 3): groups, QR code, reissue, reload. ----

/// The texts of the QR codes in a PNG picture, read by a QR decoder.
fn qr_codes_in(png_bytes: &[u8]) -> Vec<String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut pixels).expect("the picture");
    let channels = info.color_type.samples();
    let mut picture = rqrr::PreparedImage::prepare_from_greyscale(
        info.width as usize,
        info.height as usize,
        |x, y| {
            let p = &pixels[y * info.line_size + x * channels..];
            // Luminance from the colour channels (a grey picture has one, perhaps with alpha).
            if channels >= 3 {
                ((u32::from(p[0]) * 3 + u32::from(p[1]) * 6 + u32::from(p[2])) / 10) as u8
            } else {
                p[0]
            }
        },
    );
    picture
        .detect_grids()
        .iter()
        .map(|grid| grid.decode().expect("a readable QR code").1)
        .collect()
}

impl Browser {
    /// The code the code page shows, after checking at both widths that no group of it is
    /// broken across lines and that its QR code, as the browser draws it, reads as the code.
    async fn check_code(&mut self, name: &str) -> String {
        let code = self.text("#declaration-code").await;
        for width in [390, 1280] {
            self.client.set_window_size(width, 844).await.unwrap();
            let lines = self
                .client
                .execute(
                    "return [...document.querySelectorAll('#declaration-code .group')] \
                       .map(g => g.getClientRects().length);",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(
                lines,
                json!([1, 1, 1, 1]),
                "each group on one line at {width} px"
            );
            // On a phone-sized screen too, the whole code fits on one line.
            let rows = self
                .client
                .execute(
                    "return new Set([...document.querySelectorAll('#declaration-code .group')] \
                       .map(g => Math.round(g.getBoundingClientRect().top))).size;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(rows, json!(1), "the code on one line at {width} px");
            let qr = self.find("#declaration-qr").await;
            self.client
                .execute(
                    "arguments[0].scrollIntoView({block: 'center'});",
                    vec![json!(qr)],
                )
                .await
                .unwrap();
            let png = qr.screenshot().await.expect("screenshot");
            self.save_png(&png, &format!("{name}-qr-{width}"));
            assert_eq!(
                qr_codes_in(&png),
                std::slice::from_ref(&code),
                "the QR code at {width} px"
            );
        }
        self.client.set_window_size(1280, 900).await.unwrap();
        code
    }
}

#[test]
fn the_declaration_code_page_with_a_real_browser() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &[], ""));
    let (_, doctor, _) = server.set_up_accounts(&[]);
    let (mut b, runtime, _driver) = open_browser(&server, "console-screenshots-code");
    let case_count = || {
        let cases = server.get("/api/v1/cases", Some(&doctor), &[]);
        cases.json().as_array().unwrap().len()
    };

    // Opening a case leads (303) to the code page: the code in groups, its QR code beside.
    let first = runtime.block_on(async {
        b.login("doctor", PASSWORD).await;
        b.goto("/console/cases").await;
        b.fill("#reference", "HN-0002").await;
        b.click("#open-case button[type=submit]").await;
        b.wait_for_path("/console/cases/1/code").await;
        assert_eq!(b.text("h1").await, "Mã khai báo F0");
        let code = b.check_code("code").await;
        b.check_page("code").await;
        // A reload (the browser does not post the form again: it was answered with a
        // redirect) shows the same code and opens nothing.
        b.client.refresh().await.unwrap();
        assert_eq!(b.text("#declaration-code").await, code);
        code
    });
    assert!(DeclarationCode::new(&first).is_ok(), "{first:?}");
    assert_eq!(case_count(), 1, "the reload opened no case");

    // "Cấp lại mã": a new code, said to be new; the old one no longer works.
    let second = runtime.block_on(async {
        b.click("#reissue button[type=submit]").await;
        b.wait_for_text("p.alert", |t| t.starts_with("Đã cấp mã mới"))
            .await;
        let code = b.check_code("code-reissued").await;
        b.check_page("code-reissued").await;
        // In English, every word changes and the code stays.
        b.click("a.lang").await;
        b.wait_for_text("#reissue button", |t| t == "Reissue code")
            .await;
        assert_eq!(b.text("#declaration-code").await, code);
        b.check_page("code-english").await;
        b.click("a.lang").await;
        b.wait_for_text("#reissue button", |t| t == "Cấp lại mã")
            .await;
        code
    });
    assert_ne!(second, first);
    assert_eq!(case_count(), 1);

    // Past its time (the sealed cookie gone), the page no longer shows the code and offers a
    // reissue.
    runtime.block_on(async {
        b.client.delete_cookie("bz_code").await.unwrap();
        b.client.refresh().await.unwrap();
        b.find("#code-not-shown").await;
        assert!(
            b.client
                .find(Locator::Css("#declaration-code"))
                .await
                .is_err()
        );
        b.check_page("code-not-shown").await;
        // The case's own page offers the reissue too while the upload is awaited.
        b.click("#case-link").await;
        b.wait_for_path("/console/cases/1").await;
        assert_eq!(b.text("#reissue button").await, "Cấp lại mã");
        b.check_page("case-awaiting-upload").await;
    });

    // The phone sends with the new code; the page then says the code was used.
    let mut rng = ChaCha20Rng::seed_from_u64(85);
    let now = unix_now();
    let mut phones = harness::phones_that_met(&mut rng, 2, &[(0, 1, -55), (1, 0, -55)], now);
    share_history(&server, &mut phones[0], &second, &mut rng, now);
    runtime.block_on(async {
        b.goto("/console/cases/1/code").await;
        b.find("#code-used").await;
        assert!(b.client.find(Locator::Css("#reissue")).await.is_err());
        b.check_page("code-used").await;
        b.client.clone().close().await.unwrap();
    });
    let saved = std::fs::read_dir(&b.shots).unwrap().count();
    assert_eq!(saved, b.shot_no as usize);
}
