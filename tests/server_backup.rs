//! Online backup and restore against the real binary (issue 18, item 9): `bluezone-server
//! backup` taken while the server serves uploads, restored by `bluezone-server restore` into a
//! fresh data directory, whose server then has the backup's digest and the same cases,
//! F1 rows and batches; damaged files and non-empty targets refused, nothing touched; and the
//! same file restored into PostgreSQL, whose own online backup restores in turn.

mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use bluezone_testkit::postgres::Cluster;
use harness::{Server, TestUnit, config, share_history, sync_and_report, unix_now, upload_bytes};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

/// What the tests did on the original server.
struct Work {
    admin: String,
    doctor: String,
    admin_password: String,
    case_id: u64,
}

fn units() -> Vec<TestUnit> {
    vec![TestUnit::new("north", vec![1])]
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

/// The seven steps once: a case, its upload, "Trace F1", a publication run and a verified
/// F1 report (a row in the F1 table), plus a case still waiting for its upload.
fn do_work(server: &Server, units: &[TestUnit], seed: u64) -> Work {
    let (admin, doctor, _) = server.set_up_accounts(units);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let now = unix_now();
    let mut phones = harness::phones_that_met(&mut rng, 2, &[(0, 1, -55), (1, 0, -55)], now);
    let (case_id, code) = open_case(server, &doctor);
    share_history(server, &mut phones[0], &code, &mut rng, now);
    let traced = server.post_json(
        &format!("/api/v1/cases/{case_id}/trace"),
        Some(&doctor),
        &json!({}),
    );
    assert_eq!(traced.status, 200, "{}", traced.text());
    let run = server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    assert_eq!(run.json()["batches"][0]["cases"], json!([case_id]));
    let reports = sync_and_report(server, &mut phones[1], "84900000001", 1, &mut rng, now);
    assert_eq!(reports.len(), 1);
    open_case(server, &doctor);
    Work {
        admin,
        doctor,
        admin_password: server.admin_password.clone().unwrap(),
        case_id,
    }
}

/// Run the binary with `args`, the admin password in the environment when given.
fn run(args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(harness::binary());
    command.args(args).env("RUST_LOG", "warn");
    command.env_remove("BLUEZONE_ADMIN_PASSWORD");
    if let Some(p) = password {
        command.env("BLUEZONE_ADMIN_PASSWORD", p);
    }
    command.output().expect("the binary runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `bluezone-server backup` of `server` into `file`; the digest it printed.
/// `bluezone-server backup` of `server` as admin into `file`, the password on standard input.
fn run_backup(server: &Server, password: &str, file: &Path) -> std::process::Output {
    run(
        &[
            "backup",
            "--server",
            &server.base,
            "--user",
            "admin",
            "--out",
            file.to_str().unwrap(),
        ],
        Some(password),
    )
}

fn backup(server: &Server, password: &str, file: &Path) -> String {
    let out = run_backup(server, password, file);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains(password) && !stderr.contains(password));
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("store digest: "))
        .expect("the digest printed")
        .to_owned()
}

/// A data directory for a restore under `dir`, with the original's publisher key (kept apart
/// from the backup, as the operator does), and its configuration file; the config's path.
fn restore_target(dir: &Path, original: &Path, extra: &str) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(original.join("publisher.key"), data.join("publisher.key")).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, config(&data, &units(), extra)).unwrap();
    path
}

fn restore(config_path: &Path, file: &Path) -> Output {
    run(
        &[
            "--config",
            config_path.to_str().unwrap(),
            "restore",
            "--from",
            file.to_str().unwrap(),
        ],
        None,
    )
}

/// Restore `file` as `config_path` says and check the printed digests are `digest`.
fn restore_ok(config_path: &Path, file: &Path, digest: &str) {
    let out = restore(config_path, file);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("backup digest:         {digest}"))
            && stdout.contains(&format!("restored store digest: {digest}")),
        "{stdout}"
    );
}

/// Start a server on a restored target (not a first start: the accounts came back).
fn start_restored(dir: &Path) -> Server {
    let text = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let server = Server::start(dir, &text);
    assert!(
        server.admin_password.is_none(),
        "the restored admin account"
    );
    server
}

/// The restored server serves what the original served: the case, its F1 table and its
/// batch, to the tokens of sessions the backup holds.
fn assert_serves_the_same(original: &Server, restored: &Server, work: &Work) {
    let case = format!("/api/v1/cases/{}", work.case_id);
    let f1 = format!("{case}/f1");
    for path in [&case, &f1] {
        let a = original.get(path, Some(&work.doctor), &[]);
        let b = restored.get(path, Some(&work.doctor), &[]);
        assert_eq!((a.status, a.json()), (b.status, b.json()), "{path}");
    }
    assert_eq!(
        restored.get(&f1, Some(&work.doctor), &[]).json()[0]["no"],
        json!(1)
    );
    let batch = "/publication/v1/batches/1.bin";
    let (a, b) = (
        original.get(batch, None, &[]),
        restored.get(batch, None, &[]),
    );
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(a.body, b.body);
    assert_eq!(
        restored.get("/publication/v1/index.bin", None, &[]).status,
        200
    );
}

fn digest_of(server: &Server, admin: &str) -> String {
    server.store_digest(admin)["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_backup_taken_while_the_server_serves_restores_to_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    std::fs::create_dir_all(&a_dir).unwrap();
    let units = units();
    let a = Server::start(&a_dir, &config(&a_dir.join("data"), &units, ""));
    let work = do_work(&a, &units, 21);

    // Uploads keep coming while the backup is taken: each a case opened, then its upload.
    let stop = AtomicBool::new(false);
    let served = Mutex::new(Vec::<u64>::new());
    let file = dir.path().join("online.backup");
    let (during, digest) = std::thread::scope(|s| {
        s.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(3);
            while !stop.load(Ordering::Relaxed) {
                let (case_id, code) = open_case(&a, &work.doctor);
                let now = unix_now();
                let reply = a.post_bytes("/phone/v1/uploads", &upload_bytes(&code, &mut rng, now));
                assert_eq!(reply.status, 201, "{}", reply.text());
                served.lock().unwrap().push(case_id);
            }
        });
        while served.lock().unwrap().len() < 3 {
            std::thread::yield_now();
        }
        let before = served.lock().unwrap().len();
        let digest = backup(&a, &work.admin_password, &file);
        let after = served.lock().unwrap().len();
        stop.store(true, Ordering::Relaxed);
        (after - before, digest)
    });
    assert!(
        during > 0,
        "no upload was served while the backup was taken"
    );

    let b_dir = dir.path().join("b");
    let b_config = restore_target(&b_dir, &a_dir.join("data"), "");
    restore_ok(&b_config, &file, &digest);
    let b = start_restored(&b_dir);
    // The admin's session is in the backup: reading the digest adds no session.
    assert_eq!(digest_of(&b, &work.admin), digest);
    assert_serves_the_same(&a, &b, &work);
    // A consistent cut: the restored cases are cases 1 to n, each as the original had it
    // then: uploaded, or (the last one only) opened with its upload not yet in.
    // The list is newest first, a page at a time.
    let mut cases = b.get_all("/api/v1/cases?limit=500", &work.doctor);
    cases.reverse();
    let ids: Vec<u64> = cases
        .iter()
        .map(|c| c["case_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    let load_cases = &cases[2..];
    let waiting = load_cases
        .iter()
        .filter(|c| c["status"] == json!("awaiting_upload"))
        .count();
    assert!(waiting <= 1, "{load_cases:?}");
    let counts = b.store_digest(&work.admin)["counts"].clone();
    assert_eq!(
        counts["uploads"].as_u64().unwrap(),
        (load_cases.len() - waiting) as u64 + 1
    );
    // The admin logs in on the restored server with the password of the original.
    b.login("admin", &work.admin_password);

    // Quiet, the original's digest and the restored one's are equal: the route's own file.
    let reply = a.get("/api/v1/admin/backup", Some(&work.admin), &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let header_digest = reply.header("x-bluezone-backup-digest").unwrap();
    let original = digest_of(&a, &work.admin);
    assert_eq!(header_digest, original);
    let quiet = dir.path().join("quiet.backup");
    std::fs::write(&quiet, &reply.body).unwrap();
    let c_dir = dir.path().join("c");
    let c_config = restore_target(&c_dir, &a_dir.join("data"), "");
    restore_ok(&c_config, &quiet, &original);
    let c = start_restored(&c_dir);
    assert_eq!(digest_of(&c, &work.admin), original);
    assert_serves_the_same(&a, &c, &work);
    // Taking it was audited, and the entry is in the backup.
    let audit = c.get(
        "/api/v1/admin/audit?action=store_backup",
        Some(&work.admin),
        &[],
    );
    assert_eq!(audit.status, 200, "{}", audit.text());
    assert!(
        !audit.json().as_array().unwrap().is_empty(),
        "{}",
        audit.text()
    );
    // Only an admin may take one.
    let refused = a.get("/api/v1/admin/backup", Some(&work.doctor), &[]);
    assert_eq!(refused.error_code(), "forbidden_role");
}

#[test]
fn damaged_files_and_stores_with_records_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    std::fs::create_dir_all(&a_dir).unwrap();
    let units = units();
    let a_data = a_dir.join("data");
    let mut a = Server::start(&a_dir, &config(&a_data, &units, ""));
    let work = do_work(&a, &units, 22);
    let file = dir.path().join("good.backup");
    let digest = backup(&a, &work.admin_password, &file);
    let good = std::fs::read(&file).unwrap();

    // The backup command: never over a file, never with a wrong password.
    let out = run_backup(&a, &work.admin_password, &file);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("exists"), "{}", text(&out).1);
    assert_eq!(std::fs::read(&file).unwrap(), good);
    let wrong = dir.path().join("wrong.backup");
    let out = run_backup(&a, "not the password", &wrong);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("login"), "{}", text(&out).1);
    assert!(!wrong.exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("partial")),
        "no temporary file left"
    );

    // Damaged copies: cut short, a byte flipped, another file altogether.
    let target = dir.path().join("t");
    let t_config = restore_target(&target, &a_data, "");
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("half", good[..good.len() / 2].to_vec(), "truncated"),
        ("short", good[..good.len() - 1].to_vec(), "truncated"),
        ("flipped", flipped, "not a valid backup"),
        (
            "other",
            b"PK\x03\x04 not a backup".to_vec(),
            "does not start",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(format!("{name}.backup"));
        std::fs::write(&path, bytes).unwrap();
        let out = restore(&t_config, &path);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {stdout}{stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(
            !target.join("data/store").exists(),
            "{name}: a store was made"
        );
        assert!(!target.join("data/publication").exists(), "{name}");
    }

    // Without the publisher key it was signed with: refused, naming the key.
    std::fs::remove_file(target.join("data/publisher.key")).unwrap();
    let out = restore(&t_config, &file);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("no publisher key"),
        "{}",
        text(&out).1
    );
    assert!(!target.join("data/store").exists());

    // Into the original's own store: refused while it runs (locked), and after it stopped
    // (it holds records); its records are the same after.
    let a_config = a_dir.join("config.toml");
    let out = restore(&a_config, &file);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("running server"), "{}", text(&out).1);
    let before = digest_of(&a, &work.admin);
    a.kill();
    let out = restore(&a_config, &file);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("holds records"), "{}", text(&out).1);
    assert!(!a_data.join("store.restoring").exists());
    a = Server::start(&a_dir, &std::fs::read_to_string(&a_config).unwrap());
    assert_eq!(digest_of(&a, &work.admin), before);
    // And the good file still restores.
    std::fs::copy(
        a_data.join("publisher.key"),
        target.join("data/publisher.key"),
    )
    .unwrap();
    restore_ok(&t_config, &file, &digest);
}

#[test]
fn a_sled_backup_restores_into_postgres_whose_own_backup_restores() {
    let Some(cluster) =
        Cluster::shared("a_sled_backup_restores_into_postgres_whose_own_backup_restores")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    std::fs::create_dir_all(&a_dir).unwrap();
    let units = units();
    let a_data = a_dir.join("data");
    let a = Server::start(&a_dir, &config(&a_data, &units, ""));
    let work = do_work(&a, &units, 23);
    let file = dir.path().join("sled.backup");
    let digest = backup(&a, &work.admin_password, &file);

    // sled's backup into an empty database.
    let p_dir = dir.path().join("p");
    let p_url = cluster.database_url();
    let p_config = restore_target(&p_dir, &a_data, &format!("database_url = \"{p_url}\""));
    restore_ok(&p_config, &file, &digest);
    // Once: the database now holds records.
    let again = restore(&p_config, &file);
    assert!(!again.status.success());
    assert!(
        text(&again).1.contains("already holds records"),
        "{}",
        text(&again).1
    );
    let p = start_restored(&p_dir);
    assert_eq!(digest_of(&p, &work.admin), digest);
    assert_serves_the_same(&a, &p, &work);

    // PostgreSQL's online backup, through the same command, into another database.
    let p_file = dir.path().join("postgres.backup");
    let p_digest = backup(&p, &work.admin_password, &p_file);
    let q_dir = dir.path().join("q");
    let q_url = cluster.database_url();
    let q_config = restore_target(&q_dir, &a_data, &format!("database_url = \"{q_url}\""));
    restore_ok(&q_config, &p_file, &p_digest);
    let q = start_restored(&q_dir);
    // The backup command's session ended on P after the snapshot: P's digest moved on by
    // that session only; Q has the snapshot's.
    assert_eq!(digest_of(&q, &work.admin), p_digest);
    assert_serves_the_same(&p, &q, &work);
    let value: Value = p.store_digest(&work.admin);
    assert_eq!(
        value["counts"]["cases"],
        q.store_digest(&work.admin)["counts"]["cases"]
    );
}
