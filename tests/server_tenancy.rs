//! Tenancy over HTTP against the real binary: a treatment facility's workers see and act on
//! their facility's cases only, a province's oversight account reads (and only reads) the
//! cases of the province's facilities, an admin sees all; "Trace F1" publishes a case to its
//! facility's province unless the deployment or the worker chooses; an admin moves an account
//! to another facility, which ends its sessions.

mod harness;

use harness::{FACILITY, Server, config, share_history, unix_now};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

#[test]
fn each_facility_sees_its_cases_and_oversight_its_province() {
    let dir = tempfile::tempdir().unwrap();
    // A second facility, in Hồ Chí Minh City; no deployment-wide trace default, so each case
    // goes to its facility's province.
    let text = config(
        &dir.path().join("data"),
        &[],
        "[[facilities]]\nname = \"bv-hcm\"\nprovince = 79\n",
    )
    .replace("default_trace_regions = [0]\n", "");
    let server = Server::start(dir.path(), &text);
    let (admin, hanoi, _) = server.set_up_accounts(&[]);
    let create = |body: Value| server.post_json("/api/v1/accounts", Some(&admin), &body);
    let account = |name: &str, scope: Value| server.create_account(&admin, name, PASSWORD, scope);
    let created = account(
        "bs.hcm",
        json!({"role": "treatment_facility", "facility": "bv-hcm"}),
    );
    assert_eq!(
        created["role"],
        json!({"kind": "treatment_facility", "facility": "bv-hcm"})
    );
    let created = account("so-yte-hanoi", json!({"role": "oversight", "province": 1}));
    assert_eq!(created["role"], json!({"kind": "oversight", "province": 1}));

    // Scopes the configuration does not have, or that do not fit the role, are refused.
    for (scope, code) in [
        (
            json!({"role": "treatment_facility", "facility": "bv-nowhere"}),
            "unknown_facility",
        ),
        (json!({"role": "treatment_facility"}), "unknown_facility"),
        (
            json!({"role": "treatment_facility", "facility": ""}),
            "bad_request",
        ),
        (
            json!({"role": "oversight", "province": 3}),
            "unknown_region",
        ),
        (json!({"role": "oversight", "province": 0}), "bad_request"),
        (
            json!({"role": "oversight", "province": 1, "facility": "bv-hcm"}),
            "bad_request",
        ),
        (
            json!({"role": "admin", "facility": FACILITY}),
            "bad_request",
        ),
    ] {
        let mut body = json!({"username": "x", "password": PASSWORD});
        body.as_object_mut()
            .unwrap()
            .extend(scope.as_object().unwrap().clone());
        let refused = create(body);
        assert_eq!(refused.error_code(), code, "{scope}: {}", refused.text());
    }

    let hcm = server.login("bs.hcm", PASSWORD);
    let oversight = server.login("so-yte-hanoi", PASSWORD);
    let open = |token: &str| {
        let reply = server.post_json("/api/v1/cases", Some(token), &json!({}));
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()
    };
    let a = open(&hanoi);
    let b = open(&hcm);
    assert_eq!(
        (&a["facility"], &a["province"]),
        (&json!(FACILITY), &json!(1))
    );
    assert_eq!(
        (&b["facility"], &b["province"]),
        (&json!("bv-hcm"), &json!(79))
    );
    let (a_id, b_id) = (
        a["case_id"].as_u64().unwrap(),
        b["case_id"].as_u64().unwrap(),
    );

    let listed = |token: &str| -> Vec<u64> {
        let reply = server.get("/api/v1/cases", Some(token), &[]);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let mut ids: Vec<u64> = reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["case_id"].as_u64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(listed(&hanoi), vec![a_id]);
    assert_eq!(listed(&hcm), vec![b_id]);
    assert_eq!(listed(&oversight), vec![a_id], "Hà Nội's facilities only");
    assert_eq!(listed(&admin), vec![a_id, b_id]);

    // Another facility's case is answered as no case, whatever is asked of it.
    let status = |token: &str, method: &str, path: &str| match method {
        "GET" => server.get(path, Some(token), &[]).status,
        _ => server.post_json(path, Some(token), &json!({})).status,
    };
    for (method, path) in [
        ("GET", format!("/api/v1/cases/{a_id}")),
        ("GET", format!("/api/v1/cases/{a_id}/f1")),
        ("POST", format!("/api/v1/cases/{a_id}/trace")),
    ] {
        assert_eq!(status(&hcm, method, &path), 404, "{method} {path}");
    }
    // Oversight reads its province's case and its F1 table, nothing else, and changes nothing.
    assert_eq!(
        status(&oversight, "GET", &format!("/api/v1/cases/{a_id}")),
        200
    );
    assert_eq!(
        status(&oversight, "GET", &format!("/api/v1/cases/{a_id}/f1")),
        200
    );
    assert_eq!(
        status(&oversight, "GET", &format!("/api/v1/cases/{b_id}")),
        404
    );
    assert_eq!(
        status(&oversight, "POST", &format!("/api/v1/cases/{a_id}/trace")),
        403
    );
    assert_eq!(status(&oversight, "POST", "/api/v1/cases"), 403);

    // Each phone uploads; each case is traced, with no regions chosen, to its province.
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let now = unix_now();
    for (case, token, province) in [(&a, &hanoi, 1), (&b, &hcm, 79)] {
        let mut phone = harness::phone_with_history(&mut rng, now);
        let code = case["declaration_code"].as_str().unwrap();
        share_history(&server, &mut phone, code, &mut rng, now);
        let id = case["case_id"].as_u64().unwrap();
        let traced = server.post_json(
            &format!("/api/v1/cases/{id}/trace"),
            Some(token),
            &json!({}),
        );
        assert_eq!(traced.status, 200, "{}", traced.text());
        assert_eq!(traced.json()["regions"], json!([province]));
    }

    // The admin moves bs.hcm to the Hà Nội facility: its session ends, and it sees A now.
    let moved = server.post_json(
        "/api/v1/accounts/bs.hcm/role",
        Some(&admin),
        &json!({"role": "treatment_facility", "facility": FACILITY}),
    );
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_eq!(server.get("/api/v1/me", Some(&hcm), &[]).status, 401);
    let hcm = server.login("bs.hcm", PASSWORD);
    assert_eq!(listed(&hcm), vec![a_id]);
    let own = server.post_json(
        "/api/v1/accounts/admin/role",
        Some(&admin),
        &json!({"role": "oversight", "province": 1}),
    );
    assert_eq!(
        own.status,
        400,
        "an admin keeps its own role: {}",
        own.text()
    );
    let audit = server.get("/api/v1/admin/audit?action=role_changed", Some(&admin), &[]);
    let entries = audit.json();
    assert_eq!(entries.as_array().unwrap().len(), 1, "{entries}");
    assert_eq!(
        entries[0]["object"],
        json!(format!("account bs.hcm role treatment_facility {FACILITY}"))
    );
}
