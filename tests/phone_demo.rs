//! `bluezone demo` and `bluezone phone …` against the real server binary on loopback: the
//! F1 table the demo prints has the rows the seven steps must give, and phones driven one
//! command at a time (state in files) find and report the same exposure.

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use harness::{Server, TestUnit, config};
use serde_json::json;

/// The `bluezone` binary, in the tests' profile (next to the server binary).
fn bluezone() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| harness::built("bluezone-cli", "bluezone"))
        .clone()
}

fn run(args: &[&str]) -> String {
    let out = Command::new(bluezone())
        .args(args)
        .output()
        .expect("run bluezone");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bluezone {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_demo_prints_the_f1_table_of_the_seven_steps() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &[], ""));
    let password = server.admin_password.clone().unwrap();
    let phones = dir.path().join("phones");
    let out = run(&[
        "demo",
        "--server",
        &server.base,
        "--admin-password",
        &password,
        "--facility",
        harness::FACILITY,
        "--dir",
        phones.to_str().unwrap(),
    ]);
    println!("{out}");
    let lines: Vec<&str> = out.lines().collect();
    let table = lines
        .iter()
        .position(|l| l.starts_with("6. F1 table"))
        .expect("the F1 table");
    let rows: Vec<Vec<&str>> = lines[table + 2..]
        .iter()
        .take_while(|l| !l.starts_with("7."))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    // No., F1 ID, contact time (UTC), duration, "s", attenuation, "dB", confirmation.
    assert_eq!((rows[0][0], rows[1][0]), ("1", "2"));
    assert_eq!(rows[0].last(), Some(&"confirmed_both_ways"));
    assert_eq!(rows[1].last(), Some(&"one_sided"));
    for row in &rows {
        assert_eq!(row[1].len(), 32, "an F1 id: {row:?}");
        let duration: u64 = row[3].parse().unwrap();
        assert!((900..=1920).contains(&duration), "{row:?}");
    }
    assert!(out.contains("5. D checked 1 batch(es)") && out.contains(": 0 exposure(s)"));
    assert!(out.contains("No. 1: 84900000001 Phone B"), "{out}");
    assert!(out.contains("No. 2: 84900000002 Phone C"), "{out}");
}

fn phone(path: &Path, args: &[&str]) -> String {
    let mut all = vec!["phone", "--state", path.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn phones_in_files_upload_check_and_report_one_command_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let units = [TestUnit::new("north", vec![1])];
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, ""));
    let (admin, doctor, unit_tokens) = server.set_up_accounts(&units);
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    for p in [&a, &b, &c] {
        phone(p, &["init", "--region", "1"]);
    }
    assert!(
        Command::new(bluezone())
            .args(["phone", "--state", a.to_str().unwrap(), "init"])
            .output()
            .unwrap()
            .status
            .code()
            == Some(1),
        "an existing phone is never replaced"
    );
    phone(
        &b,
        &[
            "hear",
            "--with",
            a.to_str().unwrap(),
            "--minutes",
            "40",
            "--rssi",
            "-55",
        ],
    );
    // C heard one advertisement of A: far below the risk rule.
    let adv = phone(&a, &["advertise"]);
    phone(
        &c,
        &["hear", "--advertisement", adv.trim(), "--rssi", "-70"],
    );

    let case = server
        .post_json(
            "/api/v1/cases",
            Some(&doctor),
            &json!({"reference": "CLI-1"}),
        )
        .json();
    let code = case["declaration_code"].as_str().unwrap();
    let out = phone(&a, &["upload", "--server", &server.base, "--code", code]);
    assert!(out.starts_with("uploaded:"), "{out}");
    let case_id = case["case_id"].as_u64().unwrap();
    server.post_json(
        &format!("/api/v1/cases/{case_id}/trace"),
        Some(&doctor),
        &json!({}),
    );
    server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));

    let out = phone(&b, &["check", "--server", &server.base]);
    assert!(out.contains("1 new exposure(s)"), "{out}");
    let out = phone(&c, &["check", "--server", &server.base]);
    assert!(out.contains("0 new exposure(s)"), "{out}");
    // Nothing new the second time: the batch is remembered in the saved state.
    let out = phone(&b, &["check", "--server", &server.base]);
    assert!(out.contains("matched 0 batch(es)"), "{out}");
    let out = phone(
        &b,
        &[
            "report",
            "--server",
            &server.base,
            "--phone-number",
            "84911111111",
            "--district",
            "1",
        ],
    );
    assert_eq!(out.trim(), "1 report(s) verified, rows [1]");
    let rows = server
        .get("/api/v1/units/north/f1", Some(&unit_tokens[0]), &[])
        .json();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["confirmation"], json!("confirmed_both_ways"));

    // Decoys from the shell are answered as real ones and counted apart.
    let out = phone(&c, &["decoy", "--server", &server.base]);
    assert_eq!(out.trim(), "decoy answered with HTTP 201");
    let out = phone(&c, &["decoy", "--server", &server.base, "--report"]);
    assert_eq!(out.trim(), "decoy answered with HTTP 200");
    let metrics = server.get("/metrics", None, &[]).text();
    assert!(metrics.contains("bluezone_decoy_uploads_total 1\n"));
    assert!(metrics.contains("bluezone_decoy_reports_total 1\n"));
}
