//! Hardening against local users and load, against the real server on loopback: secrets on
//! disk readable by the server's user only, a published batch id never naming two contents
//! (even across a crash), connection and body-byte caps that keep `/healthz` answering, and
//! publication files served from memory.

mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bluezone_protocol::{Phone, PhoneConfig, UnixTime};
use bluezone_testkit::scan;
use harness::{Launch, Server, TestUnit, config, share_history, unix_now};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::json;

/// An F0 and an F1 in contact two hours ago; the F0's case is uploaded and traced. Returns
/// the F1's phone.
fn traced_case(
    server: &Server,
    tokens: &(String, String, Vec<String>),
    rng: &mut ChaCha20Rng,
) -> Phone {
    let now = unix_now();
    let mut pair = vec![
        Phone::new(PhoneConfig::default()),
        Phone::new(PhoneConfig::default()),
    ];
    scan(
        rng,
        &mut pair,
        UnixTime(now - 7200),
        UnixTime(now - 5400),
        &[(0, 1, -55), (1, 0, -55)],
    );
    let f1 = pair.pop().unwrap();
    let mut f0 = pair.pop().unwrap();
    let case = server
        .post_json("/api/v1/cases", Some(&tokens.1), &json!({}))
        .json();
    let code = case["declaration_code"].as_str().unwrap();
    share_history(server, &mut f0, code, rng, now);
    let id = case["case_id"].as_u64().unwrap();
    let reply = server.post_json(
        &format!("/api/v1/cases/{id}/trace"),
        Some(&tokens.1),
        &json!({}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    f1
}

/// Every directory under `dir` (itself included) and every file, with its mode bits. The
/// server runs meanwhile: a file its store renames away between the listing and the look at
/// it (a snapshot being written) is gone, and skipped.
#[cfg(unix)]
fn modes(dir: &Path) -> Vec<(String, bool, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let (meta, entries) = match (std::fs::metadata(dir), std::fs::read_dir(dir)) {
        (Ok(meta), Ok(entries)) => (meta, entries),
        (Err(e), _) | (_, Err(e)) if gone(&e) => return Vec::new(),
        (Err(e), _) | (_, Err(e)) => panic!("{}: {e}", dir.display()),
    };
    let mut found = vec![(
        dir.display().to_string(),
        true,
        meta.permissions().mode() & 0o777,
    )];
    for entry in entries {
        let entry = entry.unwrap();
        let meta = match std::fs::symlink_metadata(entry.path()) {
            Ok(meta) => meta,
            Err(e) if gone(&e) => continue,
            Err(e) => panic!("{}: {e}", entry.path().display()),
        };
        if meta.is_dir() {
            found.extend(modes(&entry.path()));
        } else {
            found.push((
                entry.path().display().to_string(),
                false,
                meta.permissions().mode() & 0o777,
            ));
        }
    }
    found
}

#[cfg(unix)]
fn assert_private(data: &Path) {
    let found = modes(data);
    let loose: Vec<_> = found
        .iter()
        .filter(|(_, is_dir, mode)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(path, _, mode)| format!("{path} {mode:o}"))
        .collect();
    assert!(loose.is_empty(), "readable by others: {loose:#?}");
    for name in [
        "publisher.key",
        "store/db",
        "store/conf",
        "publication/index.bin",
    ] {
        assert!(
            found.iter().any(|(p, _, _)| p.ends_with(name)),
            "{name} missing"
        );
    }
}

/// Issue 13, point 4: under umask 022 the data directory is 0700 and every file in it 0600
/// (store, publisher key, publication files), from the first start and after a restart.
#[cfg(unix)]
#[test]
fn data_directory_is_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let data = dir.path().join("data");
    let text = config(&data, &units, "");
    let launch = Launch {
        shell: Some("umask 022"),
        ..Launch::default()
    };
    let server = Server::start_with(dir.path(), &text, &launch);
    let tokens = server.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    traced_case(&server, &tokens, &mut rng);
    let run = server.post_json("/api/v1/publication/run", Some(&tokens.0), &json!({}));
    assert_eq!(
        run.json()["batches"][0]["batch_id"],
        json!(1),
        "{}",
        run.text()
    );
    assert_private(&data);
    server.kill();
    let server = Server::start_with(dir.path(), &text, &launch);
    assert_eq!(server.get("/healthz", None, &[]).status, 200);
    assert_private(&data);
}

/// GET every batch the index lists, and batches `extra`: (id, SHA-256 of the bytes served).
fn served_batches(server: &Server, extra: &[u64]) -> Vec<(u64, [u8; 32])> {
    let (publisher, _) = harness::publisher_key(server);
    let index = server.get("/publication/v1/index.bin", None, &[]);
    assert_eq!(index.status, 200);
    let index = bluezone_protocol::BatchIndex::open(&index.body, &publisher).expect("index");
    let mut ids: Vec<u64> = index.entries.iter().map(|e| e.batch_id).collect();
    ids.extend_from_slice(extra);
    ids.into_iter()
        .map(|id| {
            let reply = server.get(&format!("/publication/v1/batches/{id}.bin"), None, &[]);
            assert_eq!(reply.status, 200, "batch {id}: {}", reply.text());
            let digest = ring::digest::digest(&ring::digest::SHA256, &reply.body);
            (id, digest.as_ref().try_into().unwrap())
        })
        .collect()
}

/// Issue 13, point 5: the server dies after writing batch 1's file and before recording it;
/// after a restart, publication goes on without ever serving other bytes under an id that
/// was served (or servable) before, and phones still match.
#[test]
fn a_crash_during_publication_never_reuses_a_batch_id() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let data = dir.path().join("data");
    let text = config(&data, &units, "");
    let crashing = Launch {
        env: &[("BLUEZONE_FAULT_EXIT_AFTER_BATCH_FILE", "1")],
        ..Launch::default()
    };
    let mut server = Server::start_with(dir.path(), &text, &crashing);
    let admin_password = server.admin_password.clone().unwrap();
    let tokens = server.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut first = traced_case(&server, &tokens, &mut rng);
    // The run dies between the batch file and the store: no answer.
    let died = ureq::post(server.url("/api/v1/publication/run"))
        .header("Authorization", format!("Bearer {}", tokens.0))
        .header("Content-Type", "application/json")
        .send("{}");
    assert!(died.is_err(), "the run answered: {died:?}");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("the server exited");
    assert_eq!(status.code(), Some(86), "exited at the injected fault");
    assert!(data.join("publication/batches/1.bin").exists());

    // Restarted: the orphan batch file is servable; whatever is served under an id is kept.
    let mut seen: std::collections::BTreeMap<u64, std::collections::BTreeSet<[u8; 32]>> =
        Default::default();
    let mut note = |served: Vec<(u64, [u8; 32])>| {
        for (id, sha) in served {
            seen.entry(id).or_default().insert(sha);
        }
    };
    let server = Server::start(dir.path(), &text);
    note(served_batches(&server, &[1]));
    let admin = server.login("admin", &admin_password);
    let doctor = server.login("doctor", "correct horse battery staple");
    let tokens = (admin, doctor, Vec::new());
    let mut second = traced_case(&server, &tokens, &mut rng);
    let run = server.post_json("/api/v1/publication/run", Some(&tokens.0), &json!({}));
    assert_eq!(run.status, 200, "{}", run.text());
    let batch_id = run.json()["batches"][0]["batch_id"].as_u64().unwrap();
    assert_eq!(run.json()["batches"][0]["cases"], json!([1, 2]));
    note(served_batches(&server, &[1, batch_id]));

    // Phones of both cases match the new batch and are verified.
    let now = unix_now();
    for phone in [&mut first, &mut second] {
        let ids = harness::sync_and_report(&server, phone, "84911111111", 1, &mut rng, now);
        assert_eq!(ids.len(), 1);
    }
    server.kill();
    let server = Server::start(dir.path(), &text);
    note(served_batches(&server, &[1, batch_id]));
    let reused: Vec<_> = seen.iter().filter(|(_, shas)| shas.len() > 1).collect();
    assert!(
        reused.is_empty(),
        "batch ids served with two contents: {reused:?}"
    );
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), vec![1, batch_id]);
    assert_ne!(batch_id, 1);
}

/// Issue 13, point 8: publication files are served from memory, hashed once: with the files
/// gone from the disk, a batch and the index are still served, with the same bytes and ETag;
/// a new index replaces the one in memory as soon as it is written.
#[test]
fn publication_files_are_served_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let data = dir.path().join("data");
    let server = Server::start(dir.path(), &config(&data, &units, ""));
    let tokens = server.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    traced_case(&server, &tokens, &mut rng);
    let run = server.post_json("/api/v1/publication/run", Some(&tokens.0), &json!({}));
    assert_eq!(
        run.json()["batches"][0]["batch_id"],
        json!(1),
        "{}",
        run.text()
    );
    let batch = server.get("/publication/v1/batches/1.bin", None, &[]);
    let index = server.get("/publication/v1/index.bin", None, &[]);
    assert_eq!((batch.status, index.status), (200, 200));
    let batch_etag = batch.header("etag").expect("an ETag");
    let index_etag = index.header("etag").expect("an ETag");

    // Gone from the disk: a second GET does not read the files again.
    std::fs::remove_file(data.join("publication/batches/1.bin")).unwrap();
    std::fs::remove_file(data.join("publication/index.bin")).unwrap();
    for _ in 0..3 {
        let again = server.get("/publication/v1/batches/1.bin", None, &[]);
        assert_eq!(again.status, 200, "{}", again.text());
        assert_eq!(again.body, batch.body);
        assert_eq!(again.header("etag"), Some(batch_etag.clone()));
        let again = server.get("/publication/v1/index.bin", None, &[]);
        assert_eq!(again.status, 200, "{}", again.text());
        assert_eq!(again.body, index.body);
        assert_eq!(again.header("etag"), Some(index_etag.clone()));
    }
    let unchanged = server.get(
        "/publication/v1/batches/1.bin",
        None,
        &[("If-None-Match", &batch_etag)],
    );
    assert_eq!(unchanged.status, 304);

    // A new run writes a new index: it is what is served from then on.
    traced_case(&server, &tokens, &mut rng);
    let run = server.post_json("/api/v1/publication/run", Some(&tokens.0), &json!({}));
    assert_eq!(
        run.json()["batches"][0]["batch_id"],
        json!(2),
        "{}",
        run.text()
    );
    let fresh = server.get("/publication/v1/index.bin", None, &[]);
    assert_eq!(fresh.status, 200);
    let fresh_etag = fresh.header("etag").expect("an ETag");
    assert_ne!(fresh_etag, index_etag);
    assert_eq!(
        Some(fresh.body.as_slice()),
        std::fs::read(data.join("publication/index.bin"))
            .ok()
            .as_deref()
    );
    let (publisher, _) = harness::publisher_key(&server);
    let listed = bluezone_protocol::BatchIndex::open(&fresh.body, &publisher).unwrap();
    let ids: Vec<u64> = listed.entries.iter().map(|e| e.batch_id).collect();
    assert_eq!(ids, vec![1, 2]);
    let stale = server.get(
        "/publication/v1/index.bin",
        None,
        &[("If-None-Match", &index_etag)],
    );
    assert_eq!(stale.status, 200, "the old index's ETag no longer matches");
}

/// The server's `host:port`.
fn address(server: &Server) -> String {
    server.base.strip_prefix("http://").unwrap().to_owned()
}

/// Send `bytes` on a new connection and read what comes back until the server closes it or
/// `wait` passes without a byte ("" if nothing came).
fn exchange(address: &str, bytes: &[u8], wait: Duration) -> String {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return String::new();
    };
    stream.set_read_timeout(Some(wait)).unwrap();
    if stream.write_all(bytes).is_err() {
        return String::new();
    }
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// GET `path` on a new connection, closed after the answer.
fn get_once(address: &str, path: &str, wait: Duration) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    exchange(address, request.as_bytes(), wait)
}

/// How many file descriptors process `pid` has open.
#[cfg(target_os = "linux")]
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Issue 13, point 6 (connections): with a file limit of 64, 100 idle connections neither
/// exhaust the server's descriptors nor stop `/healthz`: past `max_connections` (16) a few
/// connections are answered in overload (`/healthz`, else `503 server_busy`) and the rest are
/// closed at once.
#[cfg(target_os = "linux")]
#[test]
fn healthz_answers_beyond_the_connection_cap() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(&dir.path().join("data"), &[], "max_connections = 16");
    let launch = Launch {
        shell: Some("ulimit -n 64"),
        ..Launch::default()
    };
    let server = Server::start_with(dir.path(), &text, &launch);
    let address = address(&server);
    let resting = open_files(server.pid());
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&address).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let mut attempts = 0;
    let answered = loop {
        attempts += 1;
        let answer = get_once(&address, "/healthz", Duration::from_millis(500));
        if answer.starts_with("HTTP/1.1 200") {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "no /healthz answer in 4 s ({attempts} attempts; last: {answer:?})"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let peak = open_files(server.pid());
    eprintln!(
        "/healthz answered {answered:?} after 100 idle connections ({attempts} attempts); \
         server files open: {resting} at rest, {peak} with them"
    );
    assert!(peak < 64, "{peak} files open");
    // The capped slots are still held by idle connections: other routes are refused clearly.
    let busy = loop {
        let answer = get_once(&address, "/phone/v1/config", Duration::from_millis(500));
        if !answer.is_empty() {
            break answer;
        }
        assert!(started.elapsed() < Duration::from_secs(8), "no answer");
    };
    assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
    assert!(busy.contains("\"server_busy\""), "{busy}");
    drop(idle);
    // Without the idle connections, everything is served again.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !get_once(&address, "/phone/v1/config", Duration::from_secs(1))
        .starts_with("HTTP/1.1 200")
    {
        assert!(Instant::now() < deadline, "not served again");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 13, point 6 (body bytes): four slow 256 KiB uploads hold the whole body budget
/// (1 MiB); any further body, declared or chunked, is refused at once with `503 server_busy`
/// while `/healthz` answers, and is read again once a slow upload goes away.
#[test]
fn body_bytes_beyond_the_budget_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(
        &dir.path().join("data"),
        &[],
        "max_upload_bytes = 262144\nmax_body_bytes_in_flight = 1048576",
    );
    let server = Server::start(dir.path(), &text);
    let address = address(&server);
    let head = |length: usize| {
        format!(
            "POST /phone/v1/uploads HTTP/1.1\r\nHost: test\r\nContent-Type: \
             application/octet-stream\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes()
    };
    let mut slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(&address).unwrap();
            s.write_all(&head(262_144)).unwrap();
            s.write_all(&[7; 1024]).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    let wait = Duration::from_secs(3);
    let mut declared = head(262_144);
    declared.extend_from_slice(&[7; 1024]);
    let chunked =
        b"POST /phone/v1/uploads HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\
                    Connection: close\r\n\r\n400\r\n"
            .iter()
            .chain([7u8; 1024].iter())
            .copied()
            .collect::<Vec<u8>>();
    let mut small = head(100);
    small.extend_from_slice(&[7; 100]);
    for (what, request) in [
        ("declared", &declared),
        ("chunked", &chunked),
        ("small", &small),
    ] {
        let started = Instant::now();
        let answer = exchange(&address, request, wait);
        assert!(answer.starts_with("HTTP/1.1 503"), "{what}: {answer:?}");
        assert!(answer.contains("\"server_busy\""), "{what}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: 5"),
            "{answer}"
        );
        eprintln!("{what} body refused in {:?}", started.elapsed());
    }
    assert_eq!(server.get("/healthz", None, &[]).status, 200);

    // One slow upload gives up: its share of the budget is back, the small body is read (and
    // refused for what it is).
    drop(slow.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = exchange(&address, &small, wait);
        if answer.starts_with("HTTP/1.1 400") {
            assert!(answer.contains("\"malformed_upload\""), "{answer}");
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(Instant::now() < deadline, "the budget never came back");
        std::thread::sleep(Duration::from_millis(100));
    }
}
