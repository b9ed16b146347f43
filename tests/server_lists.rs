//! The lists of the JSON API over HTTP against the real binary (issue 19 item 5): cases, a
//! case's F1 table, a unit's F1 rows and the accounts, each searched, filtered and read a page
//! at a time by following the `Link` header. Every page boundary is checked (no row lost or
//! repeated, a case opened between two pages included), bad query parameters get a `400` that
//! names the parameter, and filters never reach past the reader's tenancy.

mod harness;

use std::collections::BTreeSet;

use bluezone_protocol::{Phone, PhoneConfig, UnixTime};
use bluezone_testkit::scan;
use harness::{Server, TestUnit, config, share_history, sync_and_report};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// Every page of a list from `path` on, following `next`: the values of `key` in each page.
fn pages(server: &Server, token: &str, path: &str, key: &str) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(url) = next {
        let reply = server.get(&url, Some(token), &[]);
        assert_eq!(reply.status, 200, "{url}: {}", reply.text());
        out.push(
            reply
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[key].clone())
                .collect(),
        );
        next = reply.link("next");
        assert!(out.len() < 50, "paging does not end");
    }
    out
}

fn ids(server: &Server, token: &str, path: &str) -> Vec<u64> {
    let reply = server.get(path, Some(token), &[]);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case_id"].as_u64().unwrap())
        .collect()
}

fn refused(server: &Server, token: &str, path: &str, names: &str) {
    let reply = server.get(path, Some(token), &[]);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "bad_request"),
        "{path}: {}",
        reply.text()
    );
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains(names), "{path}: {message}");
}

#[test]
fn lists_are_searched_filtered_and_paged_without_losing_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let units = [
        TestUnit::new("north", vec![1]),
        TestUnit::new("south", vec![2, 3]),
    ];
    let text = config(
        &dir.path().join("data"),
        &units,
        "[[facilities]]\nname = \"bv-hcm\"\nprovince = 79\n",
    );
    let server = Server::start(dir.path(), &text);
    let (admin, doctor, unit_tokens) = server.set_up_accounts(&units);
    let create = |name: &str, scope: Value| {
        server.create_account(&admin, name, PASSWORD, scope);
        server.login(name, PASSWORD)
    };
    let hcm = create(
        "bs.hcm",
        json!({"role": "treatment_facility", "facility": "bv-hcm"}),
    );
    let hanoi_oversight = create("so-yte-hanoi", json!({"role": "oversight", "province": 1}));

    // Seven cases in Hà Nội, two in Hồ Chí Minh City.
    let open = |token: &str, reference: &str| {
        let reply = server.post_json(
            "/api/v1/cases",
            Some(token),
            &json!({"reference": reference}),
        );
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()
    };
    let mut hanoi: Vec<Value> = (1..=7).map(|i| open(&doctor, &format!("HN-{i}"))).collect();
    let hcm_cases: Vec<u64> = (1..=2)
        .map(|i| open(&hcm, &format!("HCM-{i}"))["case_id"].as_u64().unwrap())
        .collect();
    let hanoi_ids: Vec<u64> = hanoi
        .iter()
        .rev()
        .map(|c| c["case_id"].as_u64().unwrap())
        .collect();

    // Pages of 3, newest first; the links keep the filters; back from the last page.
    let paged = pages(&server, &doctor, "/api/v1/cases?limit=3&q=hn", "case_id");
    let sizes: Vec<usize> = paged.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 1]);
    let flat: Vec<u64> = paged.concat().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(flat, hanoi_ids, "every case once, newest first");
    let last = server.get(
        &format!("/api/v1/cases?limit=3&q=hn&after={}", flat[5]),
        Some(&doctor),
        &[],
    );
    assert_eq!(last.link("next"), None);
    let back = last.link("prev").expect("a previous page");
    assert!(back.contains("q=hn") && back.contains("limit=3"), "{back}");
    assert_eq!(ids(&server, &doctor, &back), flat[3..6]);
    let first = server.get("/api/v1/cases?limit=3", Some(&doctor), &[]);
    assert_eq!(first.link("prev"), None);

    // A case opened between two pages is on the first page, and no later page repeats or
    // loses one.
    let page_one = ids(&server, &doctor, "/api/v1/cases?limit=4");
    let newest = open(&doctor, "HN-8");
    let rest = ids(
        &server,
        &doctor,
        &format!("/api/v1/cases?limit=100&after={}", page_one[3]),
    );
    assert_eq!([page_one.clone(), rest].concat(), hanoi_ids);
    assert_eq!(
        ids(&server, &doctor, "/api/v1/cases?limit=1")[0],
        newest["case_id"].as_u64().unwrap()
    );
    hanoi.push(newest);

    // Search: a case number, or part of the reference (letter case ignored).
    let third = hanoi[2]["case_id"].as_u64().unwrap();
    assert_eq!(
        ids(&server, &doctor, &format!("/api/v1/cases?q=%23{third}")),
        [third]
    );
    assert_eq!(ids(&server, &doctor, "/api/v1/cases?q=hn-3"), [third]);
    assert_eq!(
        ids(&server, &doctor, "/api/v1/cases?q=nothing"),
        Vec::<u64>::new()
    );

    // Status: the one case whose phone uploaded.
    let mut rng = ChaCha20Rng::seed_from_u64(19);
    let now = harness::unix_now();
    // The F0 (phone 0) met each F1 (phones 1 to 3) alone, one after another.
    let mut phones: Vec<Phone> = (0..4).map(|_| Phone::new(PhoneConfig::default())).collect();
    // The three meetings take 6,000 s from the first start to the last end.
    let start = harness::meetings_start(now, 6000);
    for k in 1..=3 {
        phones.swap(1, k);
        let from = start + 2000 * (k as u64 - 1);
        let met = [(0, 1, -55), (1, 0, -55)];
        scan(
            &mut rng,
            &mut phones[..2],
            UnixTime(from),
            UnixTime(from + 1800),
            &met,
        );
        phones.swap(1, k);
    }
    let traced = hanoi[3]["case_id"].as_u64().unwrap();
    let code = hanoi[3]["declaration_code"].as_str().unwrap().to_owned();
    share_history(&server, &mut phones[0], &code, &mut rng, now);
    assert_eq!(
        ids(&server, &doctor, "/api/v1/cases?status=upload_received"),
        [traced]
    );
    assert_eq!(
        ids(&server, &doctor, "/api/v1/cases?status=awaiting_upload").len(),
        7
    );
    // Opening times: an hour from now is after every case.
    let later = now + 3600;
    assert!(ids(&server, &doctor, &format!("/api/v1/cases?from={later}")).is_empty());
    assert_eq!(
        ids(
            &server,
            &doctor,
            &format!("/api/v1/cases?from={}&to={later}", now - 3600)
        )
        .len(),
        8
    );

    // Tenancy holds through the filters.
    let everyone = ids(&server, &admin, "/api/v1/cases?limit=500");
    assert_eq!(everyone.len(), 10);
    let mut hcm_newest_first = hcm_cases.clone();
    hcm_newest_first.reverse();
    assert_eq!(
        ids(&server, &admin, "/api/v1/cases?facility=bv-hcm"),
        hcm_newest_first
    );
    assert_eq!(
        ids(&server, &admin, "/api/v1/cases?province=79"),
        hcm_newest_first
    );
    assert!(ids(&server, &doctor, "/api/v1/cases?facility=bv-hcm").is_empty());
    assert!(ids(&server, &doctor, "/api/v1/cases?q=hcm").is_empty());
    assert!(
        ids(
            &server,
            &doctor,
            &format!("/api/v1/cases?q={}", hcm_cases[0])
        )
        .is_empty()
    );
    assert_eq!(ids(&server, &hcm, "/api/v1/cases"), hcm_newest_first);
    assert_eq!(
        ids(&server, &hanoi_oversight, "/api/v1/cases?limit=500").len(),
        8
    );
    assert!(ids(&server, &hanoi_oversight, "/api/v1/cases?province=79").is_empty());
    assert!(ids(&server, &hanoi_oversight, "/api/v1/cases?facility=bv-hcm").is_empty());
    let unit_reply = server.get("/api/v1/cases", Some(&unit_tokens[0]), &[]);
    assert_eq!(unit_reply.error_code(), "forbidden_role");

    // Bad queries: a 400 naming the parameter and its rule, for every list.
    for (path, names) in [
        (
            "/api/v1/cases?limit=0",
            "limit: a whole number from 1 to 500",
        ),
        ("/api/v1/cases?limit=501", "limit"),
        (
            "/api/v1/cases?status=lost",
            "status: one of awaiting_upload",
        ),
        ("/api/v1/cases?after=x", "after: a case number"),
        ("/api/v1/cases?after=1&before=2", "after and before"),
        ("/api/v1/cases?province=hanoi", "province"),
        ("/api/v1/cases?from=yesterday", "from"),
        ("/api/v1/cases?sort=id", "\"sort\""),
        ("/api/v1/cases?q=a&q=b", "given twice"),
        ("/api/v1/accounts?role=boss", "role: one of"),
        ("/api/v1/units/south/f1?status=done", "status"),
        ("/api/v1/units/south/f1?format=xml", "format"),
        ("/api/v1/units/south/f1?after=3", "after"),
    ] {
        let token = match path {
            p if p.contains("accounts") => &admin,
            p if p.contains("units") => &unit_tokens[1],
            _ => &doctor,
        };
        refused(&server, token, path, names);
    }
    refused(
        &server,
        &doctor,
        &format!("/api/v1/cases/{traced}/f1?district=two"),
        "district",
    );

    // F1 rows: three phones report, to districts 2, 3 (south) and 1 (north).
    server.post_json(
        &format!("/api/v1/cases/{traced}/trace"),
        Some(&doctor),
        &json!({}),
    );
    server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    for (phone, district) in [(1, 2), (2, 3), (3, 1)] {
        let number = format!("8490000000{phone}");
        let reports = sync_and_report(
            &server,
            &mut phones[phone],
            &number,
            district,
            &mut rng,
            now,
        );
        assert_eq!(reports.len(), 1);
    }
    let table = format!("/api/v1/cases/{traced}/f1");
    let one_by_one = pages(&server, &doctor, &format!("{table}?limit=1"), "no");
    assert_eq!(one_by_one.len(), 3);
    let numbers: BTreeSet<u64> = one_by_one
        .concat()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(numbers, BTreeSet::from([1, 2, 3]), "each row once");
    let south_rows = server
        .get(&format!("{table}?district=3"), Some(&doctor), &[])
        .json();
    assert_eq!(south_rows.as_array().unwrap().len(), 1, "{south_rows}");
    assert_eq!(south_rows[0]["district"], json!(3));

    // The unit's rows: its districts only, filtered, paged; the CSV has what the filters admit.
    let south = &unit_tokens[1];
    let rows = pages(&server, south, "/api/v1/units/south/f1?limit=1", "district");
    assert_eq!(rows.concat(), [json!(2), json!(3)]);
    let row_of_3 = server
        .get("/api/v1/units/south/f1?district=3", Some(south), &[])
        .json();
    let no = row_of_3[0]["no"].as_u64().unwrap();
    let saved = server.post_json(
        &format!("/api/v1/units/south/f1/{traced}/{no}/follow-up"),
        Some(south),
        &json!({"status": "contacted"}),
    );
    assert_eq!(saved.status, 200, "{}", saved.text());
    let contacted = server
        .get("/api/v1/units/south/f1?status=contacted", Some(south), &[])
        .json();
    assert_eq!(contacted.as_array().unwrap().len(), 1);
    assert_eq!(contacted[0]["district"], json!(3));
    let untouched = server
        .get("/api/v1/units/south/f1?status=new", Some(south), &[])
        .json();
    assert_eq!(untouched[0]["district"], json!(2));
    for empty in [
        "/api/v1/units/south/f1?district=1".to_owned(),
        format!("/api/v1/units/south/f1?case={}", hcm_cases[0]),
        format!("/api/v1/units/south/f1?from={later}"),
    ] {
        let reply = server.get(&empty, Some(south), &[]).json();
        assert_eq!(reply, json!([]), "{empty}");
    }
    let csv = server.get(
        "/api/v1/units/south/f1?format=csv&status=contacted",
        Some(south),
        &[],
    );
    assert_eq!(csv.status, 200);
    assert_eq!(csv.text().lines().count(), 2, "a header and the one row");
    let other = server.get(
        "/api/v1/units/south/f1?district=1",
        Some(&unit_tokens[0]),
        &[],
    );
    assert_eq!(other.error_code(), "forbidden_district");

    // Accounts: by name, searched, filtered by role, paged.
    let all = server
        .get("/api/v1/accounts?limit=500", Some(&admin), &[])
        .json();
    let names: Vec<Value> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].clone())
        .collect();
    assert_eq!(
        pages(&server, &admin, "/api/v1/accounts?limit=2", "username").concat(),
        names
    );
    let workers = server
        .get("/api/v1/accounts?role=preventive_unit", Some(&admin), &[])
        .json();
    let workers: Vec<&str> = workers
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(workers, ["north-worker", "south-worker"]);
    let found = server
        .get("/api/v1/accounts?q=HCM", Some(&admin), &[])
        .json();
    assert_eq!(found[0]["username"], json!("bs.hcm"));
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(
        server
            .get("/api/v1/accounts", Some(&doctor), &[])
            .error_code(),
        "forbidden_role"
    );
}
