//! Two `bluezone-server` processes on one PostgreSQL database, over real HTTP on loopback:
//! the seven steps with the F0 uploading through one instance and the F1s reporting through
//! the other; one declaration code raced by eight uploads over both; the wrong-code throttle
//! counting across both; and `SIGKILL` of one instance in a burst of uploads, which loses no
//! acknowledged upload while the other keeps serving.
//!
//! One throwaway cluster serves the whole file (a fresh database per test); without
//! PostgreSQL installed the tests say they are SKIPPED, and under CI they fail.

mod harness;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicBool, Ordering};

use bluezone_protocol::{Phone, PhoneConfig, UnixTime};
use bluezone_server::domain::code::IssuedCode;
use bluezone_testkit::postgres::Cluster;
use bluezone_testkit::scan;
use harness::{Server, TestUnit, config, share_history, sync_and_report, unix_now, upload_bytes};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

/// Two instances on a fresh database, sharing one data directory (publisher key and
/// publication files). The first creates the schema and the admin account.
fn two_instances(
    cluster: &Cluster,
    dir: &Path,
    units: &[TestUnit],
    extra: &str,
) -> (Server, Server) {
    let url = cluster.database_url();
    let data = dir.join("data");
    let text = config(&data, units, &format!("database_url = \"{url}\"\n{extra}"));
    let (a_dir, b_dir) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let a = Server::start(&a_dir, &text);
    let mut b = Server::start(&b_dir, &text);
    assert!(a.admin_password.is_some());
    assert!(b.admin_password.is_none(), "one admin for the database");
    b.admin_password = a.admin_password.clone();
    (a, b)
}

fn open_case(server: &Server, doctor: &str) -> (u64, String) {
    let reply = server.post_json("/api/v1/cases", Some(doctor), &json!({}));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let case = reply.json();
    (
        case["case_id"].as_u64().unwrap(),
        case["declaration_code"].as_str().unwrap().to_owned(),
    )
}

fn without_session_counts(digest: &Value) -> Value {
    let mut counts = digest["counts"].clone();
    counts["sessions"] = json!(null);
    counts
}

#[test]
fn seven_steps_across_two_instances() {
    let Some(cluster) = Cluster::shared("seven_steps_across_two_instances") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let units = vec![
        TestUnit::new("north", vec![1]),
        TestUnit::new("south", vec![2]),
    ];
    let (a, b) = two_instances(cluster, dir.path(), &units, "");
    // Accounts made through A, sessions used through both: sessions are in the database.
    let (admin, doctor, unit_tokens) = a.set_up_accounts(&units);

    let mut rng = ChaCha20Rng::seed_from_u64(15);
    let mut phones: Vec<Phone> = (0..3).map(|_| Phone::new(PhoneConfig::default())).collect();
    let now = unix_now();
    let start = harness::meetings_start(now, 1800);
    scan(
        &mut rng,
        &mut phones,
        UnixTime(start),
        UnixTime(start + 1800),
        &[(0, 1, -55), (1, 0, -55), (2, 0, -58)],
    );

    // The case opened through B, the F0's upload through A, traced through B, published
    // through A.
    let (case_id, code) = open_case(&b, &doctor);
    share_history(&a, &mut phones[0], &code, &mut rng, now);
    let traced = b.post_json(
        &format!("/api/v1/cases/{case_id}/trace"),
        Some(&doctor),
        &json!({}),
    );
    assert_eq!(traced.json()["status"], json!("trace_requested"));
    let run = a.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    assert_eq!(run.json()["batches"][0]["cases"], json!([case_id]));

    // Both serve the same index (B's memory held the one it wrote at its start) and batch.
    let index_a = a.get("/publication/v1/index.bin", None, &[]);
    let index_b = b.get("/publication/v1/index.bin", None, &[]);
    assert_eq!(index_a.body, index_b.body);
    assert_eq!(index_a.header("etag"), index_b.header("etag"));

    // The F1s report through B, which verifies against what A published and the contact
    // history A received: both ways for B's phone, one-sided for C's.
    let b_reports = sync_and_report(&b, &mut phones[1], "84900000001", 1, &mut rng, now);
    let c_reports = sync_and_report(&b, &mut phones[2], "84900000002", 2, &mut rng, now);
    assert_eq!((b_reports.len(), c_reports.len()), (1, 1));

    // The F1 table and the units' lists are the same through either instance.
    let table = |s: &Server| s.get(&format!("/api/v1/cases/{case_id}/f1"), Some(&doctor), &[]);
    let (via_a, via_b) = (table(&a).json(), table(&b).json());
    assert_eq!(via_a, via_b);
    let rows = via_a.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["no"], json!(1));
    assert_eq!(rows[1]["no"], json!(2));
    assert_eq!(rows[0]["confirmation"], json!("confirmed_both_ways"));
    assert_eq!(rows[1]["confirmation"], json!("one_sided"));
    let north = |s: &Server| {
        s.get("/api/v1/units/north/f1", Some(&unit_tokens[0]), &[])
            .json()
    };
    assert_eq!(north(&a), north(&b));
    assert_eq!(north(&b).as_array().unwrap().len(), 1);
    // A follow-up through B is read through A.
    let follow_up = b.post_json(
        &format!("/api/v1/units/north/f1/{case_id}/1/follow-up"),
        Some(&unit_tokens[0]),
        &json!({"status": "contacted"}),
    );
    assert_eq!(follow_up.status, 200, "{}", follow_up.text());
    assert_eq!(north(&a)[0]["follow_up"]["status"], json!("contacted"));
    // One store: the same digest through both.
    assert_eq!(a.store_digest(&admin), b.store_digest(&admin));
}

#[test]
fn one_code_raced_over_two_instances_opens_one_upload() {
    let Some(cluster) = Cluster::shared("one_code_raced_over_two_instances_opens_one_upload")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let (a, b) = two_instances(cluster, dir.path(), &units, "");
    let (admin, doctor, _) = a.set_up_accounts(&units);
    let (case_id, code) = open_case(&a, &doctor);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let now = unix_now();
    // Eight phones, eight different uploads with the one code.
    let bodies: Vec<Vec<u8>> = (0..8).map(|_| upload_bytes(&code, &mut rng, now)).collect();
    let barrier = std::sync::Barrier::new(8);
    let outcomes: Vec<(u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let server = if i % 2 == 0 { &a } else { &b };
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let reply = server.post_bytes("/phone/v1/uploads", body);
                    (reply.status, reply.json())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let accepted: Vec<_> = outcomes.iter().filter(|(s, _)| *s == 201).collect();
    assert_eq!(accepted.len(), 1, "{outcomes:?}");
    let case = a.get(&format!("/api/v1/cases/{case_id}"), Some(&doctor), &[]);
    assert_eq!(case.json()["status"], json!("upload_received"));
    for (status, body) in &outcomes {
        if *status != 201 {
            assert_eq!(
                body["error"]["code"],
                json!("declaration_code_used"),
                "{body}"
            );
        }
    }
    let digest = a.store_digest(&admin);
    assert_eq!(digest["counts"]["uploads"], json!(1));
}

#[test]
fn the_wrong_code_throttle_counts_attempts_on_both_instances() {
    let Some(cluster) =
        Cluster::shared("the_wrong_code_throttle_counts_attempts_on_both_instances")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let extra = "[throttle]\ncode_failures_per_client = 4\n";
    let (a, b) = two_instances(cluster, dir.path(), &units, extra);
    let (_admin, doctor, _) = a.set_up_accounts(&units);
    let (_, good_code) = open_case(&a, &doctor);
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let now = unix_now();
    // Two wrong codes through each: four in all, the limit.
    for i in 0..4 {
        let server = if i % 2 == 0 { &a } else { &b };
        let wrong = IssuedCode::generate(&mut rng);
        let upload = upload_bytes(wrong.display(), &mut rng, now);
        let reply = server.post_bytes("/phone/v1/uploads", &upload);
        assert_eq!(
            reply.error_code(),
            "declaration_code_invalid",
            "attempt {i}"
        );
    }
    // Neither instance saw four by itself; both refuse the fifth, even with the right code.
    for server in [&a, &b] {
        let upload = upload_bytes(&good_code, &mut rng, now);
        let reply = server.post_bytes("/phone/v1/uploads", &upload);
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (429, "declaration_code_throttled")
        );
        let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
        assert!(wait > 3000 && wait <= 3600, "{wait}");
    }
}

#[test]
fn sigkill_of_one_instance_loses_no_acknowledged_upload() {
    let Some(cluster) = Cluster::shared("sigkill_of_one_instance_loses_no_acknowledged_upload")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let (a, b) = two_instances(cluster, dir.path(), &units, "");
    let (admin, doctor, _) = b.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let now = unix_now();
    // A bounded burst: 48 cases, their uploads made ready beforehand.
    const CASES: usize = 48;
    let mut work = Vec::new();
    for _ in 0..CASES {
        let (case_id, code) = open_case(&b, &doctor);
        let body = upload_bytes(&code, &mut rng, now);
        work.push((case_id, body));
    }
    // Four senders take turns between A and B; A is killed after its fourth acknowledged
    // upload. Answers from A after that are connection errors, which acknowledge nothing.
    let acknowledged = Mutex::new(Vec::new());
    let b_answers = Mutex::new(Vec::new());
    let a_killed = AtomicBool::new(false);
    let a = Mutex::new(Some(a));
    let a_base = a.lock().unwrap().as_ref().unwrap().base.clone();
    let next = AtomicUsize::new(0);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let a_acks = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((case_id, body)) = work.get(i) else {
                        break;
                    };
                    if i % 2 == 1 {
                        let reply = b.post_bytes("/phone/v1/uploads", body);
                        b_answers.lock().unwrap().push(reply.status);
                        if reply.status == 201 {
                            acknowledged.lock().unwrap().push(*case_id);
                        }
                        continue;
                    }
                    let sent = agent
                        .post(format!("{a_base}/phone/v1/uploads"))
                        .header("Content-Type", "application/octet-stream")
                        .send(&body[..]);
                    if let Ok(reply) = sent
                        && reply.status().as_u16() == 201
                    {
                        acknowledged.lock().unwrap().push(*case_id);
                        if a_acks.fetch_add(1, Ordering::SeqCst) + 1 == 4
                            && !a_killed.swap(true, Ordering::SeqCst)
                        {
                            a.lock().unwrap().take().unwrap().kill();
                        }
                    }
                }
            });
        }
    });
    assert!(a_killed.load(Ordering::SeqCst), "A was killed mid-burst");
    // B answered every upload sent to it, all accepted, while A died.
    let b_answers = b_answers.into_inner().unwrap();
    assert_eq!(b_answers.len(), CASES / 2);
    assert!(b_answers.iter().all(|&s| s == 201), "{b_answers:?}");
    // Every acknowledged upload is in the database.
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(acknowledged.len() >= CASES / 2 + 4);
    for case_id in &acknowledged {
        let reply = b.get(&format!("/api/v1/cases/{case_id}"), Some(&doctor), &[]);
        assert_eq!(
            reply.json()["status"],
            json!("upload_received"),
            "case {case_id}"
        );
    }
    let counts = without_session_counts(&b.store_digest(&admin));
    assert!(counts["uploads"].as_u64().unwrap() >= acknowledged.len() as u64);
}

#[test]
fn migrate_store_copies_a_sled_deployment_and_checks_the_digests() {
    let Some(cluster) =
        Cluster::shared("migrate_store_copies_a_sled_deployment_and_checks_the_digests")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let data = dir.path().join("data");
    let sled_text = config(&data, &units, "");
    let sled = Server::start(dir.path(), &sled_text);
    let admin_password = sled.admin_password.clone().unwrap();
    let (admin, doctor, _) = sled.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let now = unix_now();
    let (case_id, code) = open_case(&sled, &doctor);
    let reply = sled.post_bytes("/phone/v1/uploads", &upload_bytes(&code, &mut rng, now));
    assert_eq!(reply.status, 201, "{}", reply.text());
    open_case(&sled, &doctor);
    let before = sled.store_digest(&admin);
    sled.kill();

    let url = cluster.database_url();
    let migrate = |url: &str| {
        std::process::Command::new(harness::binary())
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .args(["--database-url", url, "migrate-store"])
            .output()
            .unwrap()
    };
    let out = migrate(&url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = before["digest"].as_str().unwrap();
    assert!(
        stdout.contains(&format!("sled store digest:       {digest}"))
            && stdout.contains(&format!("PostgreSQL store digest: {digest}")),
        "{stdout}"
    );
    // Copied once: a second run is refused, and changes nothing.
    let again = migrate(&url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds records"));

    // The server on PostgreSQL has it all: the same accounts, cases and used code.
    let pg_dir = dir.path().join("pg");
    std::fs::create_dir_all(&pg_dir).unwrap();
    let pg_text = config(&data, &units, &format!("database_url = \"{url}\""));
    let pg = Server::start(&pg_dir, &pg_text);
    assert!(pg.admin_password.is_none());
    let admin = pg.login("admin", &admin_password);
    let mut expected = before["counts"].clone();
    expected["sessions"] = json!(expected["sessions"].as_u64().unwrap() + 1);
    assert_eq!(pg.store_digest(&admin)["counts"], expected);
    let doctor = pg.login("doctor", "correct horse battery staple");
    let case = pg.get(&format!("/api/v1/cases/{case_id}"), Some(&doctor), &[]);
    assert_eq!(case.json()["status"], json!("upload_received"));
    let reused = pg.post_bytes("/phone/v1/uploads", &upload_bytes(&code, &mut rng, now));
    assert_eq!(reused.error_code(), "declaration_code_used");
}
