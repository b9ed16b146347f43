//! Decoy uploads and reports (SPEC.md §7.6, §10.6, §13) against the real binary: answered like
//! real ones (status, body, length, and time: the same distribution of answer times), counted
//! apart in `/metrics`, and leaving the store exactly as it was.

mod harness;

use std::time::{Duration, Instant};

use bluezone_protocol::{
    ContactDetails, DeclarationCode, DecoySchedule, Phone, PhoneConfig, UnixTime, decoy_report,
};
use bluezone_testkit::scan;
use harness::{Reply, Server, TestUnit, config, publisher_key, unix_now};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::json;

/// Pairs of (real, decoy) requests sent alternately, so that whatever load the machine is
/// under weighs on both alike.
const PAIRS: usize = 8;

fn timed(server: &Server, path: &str, body: &[u8]) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = server.post_bytes(path, body);
    (reply, started.elapsed())
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

/// Real and decoy answers must be alike: same status, same bytes; and their answer times of
/// one distribution: neither median more than twice the other, plus 5 ms for the jitter of a
/// loaded machine.
fn assert_alike(what: &str, real: &[(Reply, Duration)], decoys: &[(Reply, Duration)]) {
    for ((r, _), (d, _)) in real.iter().zip(decoys) {
        assert_eq!(r.status, d.status, "{what}: {} / {}", r.text(), d.text());
        assert_eq!(r.body, d.body, "{what}: the same bytes");
        assert_eq!(r.header("content-length"), d.header("content-length"));
    }
    let real_median = median(real.iter().map(|(_, t)| *t).collect());
    let decoy_median = median(decoys.iter().map(|(_, t)| *t).collect());
    println!("{what}: median answer time real {real_median:?}, decoy {decoy_median:?}");
    let slack = Duration::from_millis(5);
    assert!(
        decoy_median * 2 + slack >= real_median && real_median * 2 + slack >= decoy_median,
        "{what}: decoys answered in {decoy_median:?}, real ones in {real_median:?}"
    );
}

fn metric(server: &Server, name: &str) -> u64 {
    let text = server.get("/metrics", None, &[]).text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in /metrics"))
        .parse()
        .unwrap()
}

#[test]
fn decoys_are_answered_like_real_requests_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let units = [TestUnit::new("north", vec![1])];
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, ""));
    let (admin, doctor, _) = server.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(37);
    let now = unix_now();

    // PAIRS F0 phones; the first one spent half an hour with PAIRS F1 phones.
    let mut f0s: Vec<Phone> = (0..PAIRS)
        .map(|_| Phone::new(PhoneConfig::default()))
        .collect();
    let mut f1s: Vec<Phone> = (0..=PAIRS)
        .map(|_| Phone::new(PhoneConfig::default()))
        .collect();
    let start = harness::meetings_start(now, 1800);
    let pairs: Vec<(usize, usize, i8)> = (1..=PAIRS)
        // Each pair at its own strength: sightings of one beacon differ, as in life (a
        // sighting claimed by one report is refused in another).
        .flat_map(|i| [(0, i, -50 - i as i8), (i, 0, -50 - i as i8)])
        .collect();
    scan(
        &mut rng,
        &mut f1s,
        UnixTime(start),
        UnixTime(start + 1800),
        &pairs,
    );
    f0s[0] = f1s.remove(0);
    // Each F0 heard 20,000 strangers today: a contact history of 880 kB, so that a real upload
    // costs the server tens of milliseconds (keyed hashes, a large write), far more than a
    // decoy's bare parse: the equality of answer times below is then a property that fails
    // without the server holding decoys.
    for (n, phone) in f0s.iter_mut().enumerate() {
        phone.broadcast(UnixTime(start), &mut rng);
        for k in 0..20_000u32 {
            let mut payload = [0u8; 20];
            payload[..4].copy_from_slice(&k.to_le_bytes());
            payload[4] = n as u8;
            rng.fill_bytes(&mut payload[5..]);
            let heard = UnixTime(now - 3600 + u64::from(k % 3000));
            phone.hear(&payload, -90, heard).unwrap();
        }
    }

    // Uploads: a real one, then a decoy sized as that phone's real upload would be.
    let mut real = Vec::new();
    let mut decoys = Vec::new();
    let mut cases = Vec::new();
    for phone in &mut f0s {
        let opened = server
            .post_json("/api/v1/cases", Some(&doctor), &json!({"reference": "D"}))
            .json();
        cases.push(opened["case_id"].as_u64().unwrap());
        let decoy = phone.prepare_decoy_upload(UnixTime(now));
        let code = DeclarationCode::new(opened["declaration_code"].as_str().unwrap()).unwrap();
        let upload = phone
            .prepare_f0_upload(
                code,
                UnixTime(now - 2 * 86_400),
                &[],
                UnixTime(now),
                &mut rng,
            )
            .unwrap()
            .to_bytes()
            .unwrap();
        assert_eq!(
            upload.len(),
            decoy.len(),
            "a decoy of the real upload's class"
        );
        real.push(timed(&server, "/phone/v1/uploads", &upload));
        decoys.push(timed(&server, "/phone/v1/uploads", &decoy));
    }
    assert_eq!(real[0].0.status, 201, "{}", real[0].0.text());
    assert_alike("uploads", &real, &decoys);

    // Reports: each F1 reports its exposure to the first case, each followed by a decoy.
    server.post_json(
        &format!("/api/v1/cases/{}/trace", cases[0]),
        Some(&doctor),
        &json!({}),
    );
    server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    let (publisher, unit_keys) = publisher_key(&server);
    let index = server.get("/publication/v1/index.bin", None, &[]).body;
    let entry = f1s[0]
        .batches_to_fetch(&index, &publisher, &[], UnixTime(now))
        .unwrap()
        .remove(0);
    let batch = server
        .get(
            &format!("/publication/v1/batches/{}.bin", entry.batch_id),
            None,
            &[],
        )
        .body;
    let schedule = DecoySchedule::default();
    let (mut real, mut decoys) = (Vec::new(), Vec::new());
    for phone in &mut f1s {
        let outcome = phone
            .match_batch(&batch, &publisher, UnixTime(now))
            .unwrap();
        let exposure = outcome.passing().next().expect("an exposure");
        let contact = ContactDetails {
            phone_number: "84900000009".into(),
            name: String::new(),
            district: 1,
            consent_time: UnixTime(now),
        };
        let report = phone
            .prepare_f1_report(exposure, &contact, &unit_keys[0].1, &mut rng)
            .unwrap()
            .to_bytes()
            .unwrap();
        let decoy = decoy_report(schedule.report_len(&mut rng)).unwrap();
        assert_eq!(report.len(), decoy.len());
        real.push(timed(&server, "/phone/v1/reports", &report));
        decoys.push(timed(&server, "/phone/v1/reports", &decoy));
    }
    assert_eq!(real[0].0.status, 200, "{}", real[0].0.text());
    assert_alike("reports", &real, &decoys);

    // Counted apart; nothing stored.
    assert_eq!(
        metric(&server, "bluezone_uploads_accepted_total"),
        PAIRS as u64
    );
    assert_eq!(
        metric(&server, "bluezone_decoy_uploads_total"),
        PAIRS as u64
    );
    assert_eq!(
        metric(&server, "bluezone_reports_verified_total"),
        PAIRS as u64
    );
    assert_eq!(
        metric(&server, "bluezone_decoy_reports_total"),
        PAIRS as u64
    );
    let before = server.store_digest(&admin);
    assert_eq!(before["counts"]["reports"], json!(PAIRS));
    for len in [1024, 4096] {
        let reply = server.post_bytes("/phone/v1/reports", &decoy_report(len).unwrap());
        assert_eq!(reply.status, 200);
    }
    let reply = server.post_bytes(
        "/phone/v1/uploads",
        &f0s[1].prepare_decoy_upload(UnixTime(now)),
    );
    assert_eq!(reply.status, 201);
    assert_eq!(
        server.store_digest(&admin),
        before,
        "decoys change nothing stored"
    );
}
