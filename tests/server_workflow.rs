//! The seven steps of the F0 → F1 workflow, end to end: the real `bluezone-server` binary on
//! loopback, health workers over its JSON API, and real `bluezone-protocol` phones over its
//! binary API.
//!
//! Four phones spend half an hour together three hours ago. A (the F0) and B hear each other;
//! C hears A but A does not hear C (a one-way radio path, as with a relayed beacon); D hears B
//! only. B lives in district 1 (unit "north"), C in district 2 (unit "south"), D in district 1.
//! After A's upload is published, B and C must each find one exposure and report it, D must
//! find none; the F1 table must hold B (confirmed both ways) and C (one-sided) with the time
//! the contact began; each unit must see its own district's F1 and not the other's.

mod harness;

use bluezone_protocol::{
    BatchIndex, ContactDetails, Phone, PhoneConfig, ReportId, SEALED_CONTACT_DETAILS_LEN,
    SealedContactDetails, UnixTime,
};
use bluezone_testkit::scan;
use harness::{Server, TestUnit, config, share_history, sync_and_report, unix_now};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

fn open_contact(row: &Value, unit: &TestUnit) -> ContactDetails {
    let sealed: [u8; SEALED_CONTACT_DETAILS_LEN] =
        hex::decode(row["sealed_contact"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
    let report_id = ReportId(
        hex::decode(row["f1_id"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
    );
    SealedContactDetails(sealed)
        .open(
            &report_id,
            row["district"].as_u64().unwrap() as u32,
            &unit.private_key,
        )
        .expect("the unit opens its F1's contact details")
}

#[test]
fn seven_steps_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![
        TestUnit::new("north", vec![1]),
        TestUnit::new("south", vec![2]),
    ];
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, ""));

    // Step 1: the admin creates the health workers' accounts; they log in.
    let (admin, doctor, unit_tokens) = server.set_up_accounts(&units);

    let mut rng = ChaCha20Rng::seed_from_u64(2021);
    let mut phones: Vec<Phone> = (0..4).map(|_| Phone::new(PhoneConfig::default())).collect();
    let now = unix_now();
    let contact_start = harness::meetings_start(now, 1800);
    scan(
        &mut rng,
        &mut phones,
        UnixTime(contact_start),
        UnixTime(contact_start + 1800),
        &[(0, 1, -55), (1, 0, -55), (2, 0, -58), (3, 1, -60)],
    );

    // Step 2: the doctor opens the F0 case and gets a declaration code.
    let opened = server.post_json(
        "/api/v1/cases",
        Some(&doctor),
        &json!({"reference": "HN-0001"}),
    );
    assert_eq!(opened.status, 201, "{}", opened.text());
    let opened = opened.json();
    let case_id = opened["case_id"].as_u64().unwrap();
    let code = opened["declaration_code"].as_str().unwrap().to_owned();
    assert_eq!(opened["status"], json!("awaiting_upload"));

    // Step 3: the F0's phone shares its IDs and contact history with the code.
    let upload = share_history(&server, &mut phones[0], &code, &mut rng, now);
    let case = server.get(&format!("/api/v1/cases/{case_id}"), Some(&doctor), &[]);
    assert_eq!(case.json()["status"], json!("upload_received"));

    // Step 4: "Trace F1", and a publication run.
    let traced = server.post_json(
        &format!("/api/v1/cases/{case_id}/trace"),
        Some(&doctor),
        &json!({}),
    );
    assert_eq!(traced.json()["status"], json!("trace_requested"));
    let run = server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    assert_eq!(run.status, 200, "{}", run.text());
    let batch = &run.json()["batches"][0];
    assert_eq!(batch["cases"], json!([case_id]));
    assert_eq!(
        batch["published_rpis"].as_u64().unwrap() as usize,
        upload.published_count()
    );
    let case = server.get(&format!("/api/v1/cases/{case_id}"), Some(&doctor), &[]);
    assert_eq!(case.json()["status"], json!("published"));

    // The publication files are cacheable: a strong ETag, and 304 when it matches.
    let index = server.get("/publication/v1/index.bin", None, &[]);
    let etag = index.header("etag").expect("ETag");
    assert!(index.header("cache-control").unwrap().contains("max-age"));
    let again = server.get(
        "/publication/v1/index.bin",
        None,
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);

    // Step 5: every other phone matches on the phone and reports what passes the risk rule.
    let b_reports = sync_and_report(&server, &mut phones[1], "84900000001", 1, &mut rng, now);
    let c_reports = sync_and_report(&server, &mut phones[2], "84900000002", 2, &mut rng, now);
    let d_reports = sync_and_report(&server, &mut phones[3], "84900000003", 1, &mut rng, now);
    assert_eq!(
        (b_reports.len(), c_reports.len(), d_reports.len()),
        (1, 1, 0)
    );

    // Step 6: the F1 table of the case.
    let table = server.get(&format!("/api/v1/cases/{case_id}/f1"), Some(&doctor), &[]);
    assert_eq!(table.status, 200, "{}", table.text());
    let rows = table.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let by_id = |id: &ReportId| {
        rows.iter()
            .find(|r| r["f1_id"] == json!(hex::encode(id.0)))
            .unwrap_or_else(|| panic!("row of report {id}"))
            .clone()
    };
    let b_row = by_id(&b_reports[0]);
    let c_row = by_id(&c_reports[0]);
    assert_eq!(b_row["no"], json!(1));
    assert_eq!(c_row["no"], json!(2));
    assert_eq!(b_row["confirmation"], json!("confirmed_both_ways"));
    assert_eq!(c_row["confirmation"], json!("one_sided"));
    for row in [&b_row, &c_row] {
        assert_eq!(row["case_id"], json!(case_id));
        assert_eq!(row["contact_time"], json!(contact_start));
        assert_eq!(row["last_contact"], json!(contact_start + 1500));
    }

    // Step 7: each unit receives the F1 of its own district, and only that.
    let north = server.get("/api/v1/units/north/f1", Some(&unit_tokens[0]), &[]);
    let south = server.get("/api/v1/units/south/f1", Some(&unit_tokens[1]), &[]);
    let north = north.json();
    let south = south.json();
    assert_eq!(north.as_array().unwrap().len(), 1);
    assert_eq!(south.as_array().unwrap().len(), 1);
    assert_eq!(north[0]["f1_id"], b_row["f1_id"]);
    assert_eq!(south[0]["f1_id"], c_row["f1_id"]);
    assert_eq!(
        open_contact(&north[0], &units[0]).phone_number,
        "84900000001"
    );
    assert_eq!(
        open_contact(&south[0], &units[1]).phone_number,
        "84900000002"
    );
    let other = server.get("/api/v1/units/south/f1", Some(&unit_tokens[0]), &[]);
    assert_eq!(other.status, 403);
    assert_eq!(other.error_code(), "forbidden_district");

    // The unit records its follow-up and exports CSV.
    let follow_up = server.post_json(
        &format!("/api/v1/units/north/f1/{case_id}/1/follow-up"),
        Some(&unit_tokens[0]),
        &json!({"status": "contacted"}),
    );
    assert_eq!(follow_up.status, 200, "{}", follow_up.text());
    assert_eq!(
        follow_up.json()["follow_up"]["updated_by"],
        json!("north-worker")
    );
    let not_theirs = server.post_json(
        &format!("/api/v1/units/south/f1/{case_id}/2/follow-up"),
        Some(&unit_tokens[0]),
        &json!({"status": "closed"}),
    );
    assert_eq!(not_theirs.error_code(), "forbidden_district");
    let csv = server.get(
        "/api/v1/units/north/f1?format=csv",
        Some(&unit_tokens[0]),
        &[],
    );
    assert_eq!(
        csv.header("content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    let csv = csv.text();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].contains(",contacted,"), "{csv}");
    assert!(lines[1].contains(b_row["f1_id"].as_str().unwrap()));

    // The audit log holds each step, with account, address and object; a wrong login too.
    let wrong = json!({"username": "doctor", "password": "not the password"});
    assert_eq!(server.post_json("/api/v1/login", None, &wrong).status, 401);
    let audit = |query: &str| -> Vec<Value> {
        let reply = server.get(&format!("/api/v1/admin/audit{query}"), Some(&admin), &[]);
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json().as_array().unwrap().clone()
    };
    let all = audit("");
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in [
        "login",
        "account_created",
        "case_opened",
        "trace_requested",
        "publication_run",
        "f1_table_read",
        "unit_rows_read",
        "follow_up_changed",
        "f1_export",
        "login_failed",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    let opened = audit("?action=case_opened");
    assert_eq!(opened.len(), 1);
    assert_eq!(
        (
            &opened[0]["account"],
            &opened[0]["client"],
            &opened[0]["object"]
        ),
        (
            &json!("doctor"),
            &json!("127.0.0.1"),
            &json!(format!("case {case_id}"))
        )
    );
    assert!(
        audit("?account=north-worker")
            .iter()
            .all(|e| e["account"] == "north-worker")
    );
    assert_eq!(audit("?action=login_failed")[0]["account"], json!("doctor"));
    assert_eq!(audit("?limit=2").len(), 2);
    let future = format!("?from={}", unix_now() + 3600);
    assert!(audit(&future).is_empty());
    for bad in ["?action=nonsense", "?limit=0", "?from=yesterday"] {
        let reply = server.get(&format!("/api/v1/admin/audit{bad}"), Some(&admin), &[]);
        assert_eq!(reply.status, 400, "{bad}");
    }
    assert_eq!(
        server.get("/api/v1/admin/audit", Some(&doctor), &[]).status,
        403
    );

    // The metrics saw it all.
    let metrics = server.get("/metrics", None, &[]).text();
    for line in [
        "bluezone_uploads_accepted_total 1",
        "bluezone_reports_verified_total 2",
        "bluezone_f1_confirmed_both_ways_total 1",
        "bluezone_f1_one_sided_total 1",
        "bluezone_batches_total 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing from\n{metrics}"
        );
    }
}

/// Regions over HTTP (SPEC.md §8.5): "Trace F1" to provinces, one batch per region per run,
/// each region's index listing its batches only and kept (same `ETag`, 304) while it has no new
/// batch; a phone subscribed to the province finds its exposure there, a phone subscribed
/// elsewhere downloads nothing of it.
#[test]
fn regional_publication_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let server = Server::start(
        dir.path(),
        &config(
            &dir.path().join("data"),
            &units,
            "default_trace_regions = [1]",
        ),
    );
    let (admin, doctor, _) = server.set_up_accounts(&units);
    let (publisher, _) = harness::publisher_key(&server);
    let regions = server.get("/phone/v1/config", None, &[]).json()["regions"].clone();
    assert_eq!(regions.as_array().unwrap().len(), 63);
    assert!(
        regions
            .as_array()
            .unwrap()
            .contains(&json!({"code": 79, "name": "TP. Hồ Chí Minh"}))
    );

    let mut rng = ChaCha20Rng::seed_from_u64(79);
    let mut phones: Vec<Phone> = (0..3).map(|_| Phone::new(PhoneConfig::default())).collect();
    let now = unix_now();
    scan(
        &mut rng,
        &mut phones,
        UnixTime(harness::meetings_start(now, 1800)),
        UnixTime(harness::meetings_start(now, 1800) + 1800),
        &[(0, 1, -55), (1, 0, -55), (2, 1, -55), (1, 2, -55)],
    );
    let mut traced_case = |phone: usize, body: Value| {
        let opened = server
            .post_json("/api/v1/cases", Some(&doctor), &json!({}))
            .json();
        let id = opened["case_id"].as_u64().unwrap();
        let code = opened["declaration_code"].as_str().unwrap().to_owned();
        share_history(&server, &mut phones[phone], &code, &mut rng, now);
        let path = format!("/api/v1/cases/{id}/trace");
        for wrong in [json!({"regions": [3]}), json!({"regions": []})] {
            let refused = server.post_json(&path, Some(&doctor), &wrong);
            assert_eq!(refused.status, 400, "{}", refused.text());
            assert_eq!(refused.json()["error"]["code"], json!("unknown_region"));
        }
        let traced = server.post_json(&path, Some(&doctor), &body);
        assert_eq!(traced.status, 200, "{}", traced.text());
        (id, traced.json()["regions"].clone())
    };
    // A to Hồ Chí Minh and Bình Dương; C to the default, Hà Nội.
    let (a, a_regions) = traced_case(0, json!({"regions": [79, 74]}));
    let (c, c_regions) = traced_case(2, json!({}));
    assert_eq!((a_regions, c_regions), (json!([74, 79]), json!([1])));
    let run = server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    let run = run.json()["batches"].clone();
    let by_region: Vec<(u64, Value)> = run
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["region"].as_u64().unwrap(), b["cases"].clone()))
        .collect();
    assert_eq!(
        by_region,
        vec![(1, json!([c])), (74, json!([a])), (79, json!([a]))]
    );

    let index_of = |region: u16| {
        let reply = server.get(
            &format!("/publication/v1/regions/{region}/index.bin"),
            None,
            &[],
        );
        assert_eq!(reply.status, 200, "region {region}");
        let index = BatchIndex::open(&reply.body, &publisher).expect("signed");
        (index, reply.header("etag").unwrap(), reply.body)
    };
    assert!(index_of(0).0.entries.is_empty());
    let (hcm, _, hcm_bytes) = index_of(79);
    assert!(hcm.entries.iter().all(|e| e.region == 79) && hcm.entries.len() == 1);
    assert_eq!(
        server
            .get("/publication/v1/regions/3/index.bin", None, &[])
            .status,
        404
    );
    // B subscribes to Hồ Chí Minh: it finds A there and reports.
    let b = &mut phones[1];
    let todo = b
        .batches_to_fetch(&hcm_bytes, &publisher, &[79], UnixTime(now))
        .unwrap();
    assert_eq!(todo.len(), 1);
    let bytes = server
        .get(
            &format!("/publication/v1/batches/{}.bin", todo[0].batch_id),
            None,
            &[],
        )
        .body;
    todo[0].check(&bytes).unwrap();
    let outcome = b.match_batch(&bytes, &publisher, UnixTime(now)).unwrap();
    assert_eq!(outcome.passing().count(), 1);
    // A phone subscribed to Cần Thơ only takes nothing from Hồ Chí Minh's index.
    let elsewhere = Phone::new(PhoneConfig::default());
    assert!(
        elsewhere
            .batches_to_fetch(&hcm_bytes, &publisher, &[92], UnixTime(now))
            .unwrap()
            .is_empty()
    );

    // A later run for Hồ Chí Minh only: Hà Nội's index is kept (304 on its ETag), HCM's is new.
    let (_, hanoi_etag, _) = index_of(1);
    let (_, hcm_etag, _) = index_of(79);
    let opened = server
        .post_json("/api/v1/cases", Some(&doctor), &json!({}))
        .json();
    let later = opened["case_id"].as_u64().unwrap();
    let code = opened["declaration_code"].as_str().unwrap().to_owned();
    share_history(&server, &mut phones[1], &code, &mut rng, now);
    let path = format!("/api/v1/cases/{later}/trace");
    server.post_json(&path, Some(&doctor), &json!({"regions": [79]}));
    let run = server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    assert_eq!(run.json()["batches"].as_array().unwrap().len(), 1);
    let path = "/publication/v1/regions/1/index.bin";
    assert_eq!(
        server
            .get(path, None, &[("If-None-Match", &hanoi_etag)])
            .status,
        304
    );
    let path = "/publication/v1/regions/79/index.bin";
    assert_eq!(
        server
            .get(path, None, &[("If-None-Match", &hcm_etag)])
            .status,
        200
    );
    assert_eq!(index_of(79).0.entries.len(), 2);
}

/// The server's built-in provinces are those of `bluezone bandwidth`'s VN-2021 data, code for
/// code and name for name: one list of regions, whoever reads it.
#[test]
fn the_servers_provinces_are_the_bandwidth_datas() {
    let data = include_str!("../protocol/cli/data/vn-2021.csv");
    let listed: Vec<(u16, String)> = data
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("code,"))
        .map(|l| {
            let mut fields = l.split(',');
            let code = fields.next().unwrap().parse().unwrap();
            (code, fields.next().unwrap().to_owned())
        })
        .collect();
    let server: Vec<(u16, String)> = bluezone_server::domain::regions::VIETNAM_PROVINCES
        .iter()
        .map(|&(c, n)| (c, n.to_owned()))
        .collect();
    assert_eq!(listed, server);
}
