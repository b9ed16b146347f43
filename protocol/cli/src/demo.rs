//! `bluezone demo`: the seven steps against a live server, with four phones in files, printing
//! the F1 table they produce.
//!
//! The admin makes a treatment-facility account, a preventive-medicine unit (its key pair made
//! here, registered over the API) and the unit's worker. Phones A, B, C, D spend half an hour
//! together three hours ago: A and B hear each other, C hears A but A does not hear C (a one-way
//! radio path), D is in another room and hears nobody. A is the F0: the doctor opens its case,
//! A uploads with the declaration code, the doctor traces, the admin publishes; B, C and D
//! check, B and C report. Expected: two rows, B confirmed both ways and C one-sided.

use std::fmt::Write as _;
use std::path::Path;

use bluezone_protocol::hpke::{self, HpkePrivateKey};
use bluezone_protocol::{ReportId, SEALED_CONTACT_DETAILS_LEN, SealedContactDetails};
use serde_json::{Value, json};

use crate::phone::{self, PhoneFile, Server, os_rng, unix_now};

const PASSWORD: &str = "demo password, not for production";

fn login(server: &Server, user: &str, password: &str) -> Result<String, String> {
    let answer = server
        .post_json(
            "/api/v1/login",
            None,
            &json!({"username": user, "password": password}),
        )?
        .expect(200, &format!("login {user}"))?;
    answer["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "login: no token".to_owned())
}

/// Open an F1 row's sealed contact details with the unit's key, as the unit does (step 7).
fn open_row(row: &Value, key: &HpkePrivateKey) -> Result<String, String> {
    let sealed: [u8; SEALED_CONTACT_DETAILS_LEN] = row["sealed_contact"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or("row: bad sealed_contact")?;
    let id: [u8; 16] = row["f1_id"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or("row: bad f1_id")?;
    let district = row["district"].as_u64().ok_or("row: bad district")? as u32;
    let details = SealedContactDetails(sealed)
        .open(&ReportId(id), district, key)
        .map_err(|e| e.to_string())?;
    Ok(format!("{} {}", details.phone_number, details.name))
}

/// Run the demo; the phone files go to `dir`. Returns what it prints.
pub fn run(
    base: &str,
    admin_password: &str,
    facility: Option<&str>,
    dir: &Path,
) -> Result<String, String> {
    let server = Server::new(base);
    let mut out = String::new();
    let mut say = |line: String| {
        println!("{line}");
        out.push_str(&line);
        out.push('\n');
    };
    let now = unix_now();
    let tag = hex::encode(&hpke::generate_keypair(&mut os_rng()).1.as_bytes()[..3]);

    // Step 1: accounts, and the unit with its key.
    let admin = login(&server, "admin", admin_password)?;
    let me = server
        .get("/api/v1/me", Some(&admin))?
        .expect(200, "who am I")?;
    if me["must_change_password"] == json!(true) {
        return Err(
            "this is the password the server printed at its first start: log in to \
                    the console as admin and replace it (or POST /api/v1/me/password), then \
                    give the new one"
                .into(),
        );
    }
    let units = server
        .get("/api/v1/units", Some(&admin))?
        .expect(200, "units")?;
    let district = units["units"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|u| u["districts"].as_array().cloned().unwrap_or_default())
        .filter_map(|d| d.as_u64())
        .max()
        .map_or(1, |d| d + 1) as u32;
    let (unit_private, unit_public) = hpke::generate_keypair(&mut os_rng());
    let unit = format!("demo-unit-{tag}");
    server
        .post_json(
            "/api/v1/units",
            Some(&admin),
            &json!({"name": unit, "districts": [district],
                    "public_key": hex::encode(unit_public.as_bytes())}),
        )?
        .expect(201, "register the unit")?;
    let doctor = format!("demo-doctor-{tag}");
    let worker = format!("demo-worker-{tag}");
    for (name, role, unit) in [
        (&doctor, "treatment_facility", None),
        (&worker, "preventive_unit", Some(&unit)),
    ] {
        // The demo's own accounts keep its password: nobody else holds it.
        let mut body = json!({"username": name, "password": PASSWORD, "role": role,
                              "must_change_password": false});
        match (unit, facility) {
            (Some(u), _) => body["unit"] = json!(u),
            (None, Some(f)) => body["facility"] = json!(f),
            (None, None) => {}
        }
        server
            .post_json("/api/v1/accounts", Some(&admin), &body)?
            .expect(201, "create an account")?;
    }
    let doctor = login(&server, &doctor, PASSWORD)?;
    let worker = login(&server, &worker, PASSWORD)?;
    say(format!(
        "1. accounts: treatment facility and unit {unit} (district {district}, key made here)"
    ));

    // The phones, and the encounter three hours ago.
    let names = ["A", "B", "C", "D"];
    let mut phones = Vec::new();
    for name in names {
        phones.push(PhoneFile::init(
            &dir.join(format!("phone-{name}")),
            vec![0],
        )?);
    }
    let (a, rest) = phones.split_at_mut(1);
    let encounter_end = bluezone_protocol::UnixTime(now.0 - 3 * 3600 + 1800);
    phone::encounter(
        &mut rest[0].phone,
        &mut a[0].phone,
        30,
        -55,
        encounter_end,
        false,
    )?;
    phone::encounter(
        &mut rest[1].phone,
        &mut a[0].phone,
        30,
        -58,
        encounter_end,
        true,
    )?;
    for p in &phones {
        p.save()?;
    }
    say("   phones: A and B heard each other for 30 min at -55 dBm, C heard A (one way) at -58 dBm, D heard nobody".into());

    // Step 2: the F0 case and its declaration code.
    let case = server
        .post_json(
            "/api/v1/cases",
            Some(&doctor),
            &json!({"reference": format!("DEMO-{tag}")}),
        )?
        .expect(201, "open the case")?;
    let case_id = case["case_id"].as_u64().ok_or("case: no id")?;
    let code = case["declaration_code"]
        .as_str()
        .ok_or("case: no declaration code")?;
    say(format!("2. case {case_id} opened; declaration code {code}"));

    // Step 3: A sends its IDs and contact history.
    let published = phone::upload(
        &mut phones[0],
        &server,
        code,
        bluezone_protocol::UnixTime(now.0 - 2 * 86_400),
        now,
    )?;
    say(format!("3. A uploaded: {published} intervals to publish"));

    // Step 4: "Trace F1", and a publication run now.
    server
        .post_json(
            &format!("/api/v1/cases/{case_id}/trace"),
            Some(&doctor),
            &json!({}),
        )?
        .expect(200, "trace")?;
    let run = server
        .post_json("/api/v1/publication/run", Some(&admin), &json!({}))?
        .expect(200, "publish")?;
    say(format!(
        "4. traced and published: batch {}",
        run["batch"]["batch_id"]
    ));

    // Step 5: every other phone checks; those with an exposure report.
    for (n, name) in names.iter().enumerate().skip(1) {
        let checked = phone::check(&mut phones[n], &server, now)?;
        let mut line = format!(
            "5. {name} checked {} batch(es), {} bytes: {} exposure(s)",
            checked.batches, checked.bytes, checked.exposures
        );
        if checked.exposures > 0 {
            let rows = phone::report(
                &mut phones[n],
                &server,
                &format!("8490000000{n}"),
                &format!("Phone {name}"),
                district,
                now,
            )?;
            let _ = write!(line, "; reported, {} row(s)", rows.iter().sum::<u64>());
        }
        say(line);
    }

    // Step 6: the F1 table.
    let table = server
        .get(&format!("/api/v1/cases/{case_id}/f1"), Some(&doctor))?
        .expect(200, "F1 table")?;
    let rows = table.as_array().cloned().unwrap_or_default();
    say(format!("6. F1 table of case {case_id}:"));
    say(format!(
        "{:>3}  {:<32}  {:<20}  {:>8}  {:>11}  {}",
        "No.", "F1 ID", "contact (UTC)", "duration", "attenuation", "confirmation"
    ));
    for r in &rows {
        say(format!(
            "{:>3}  {:<32}  {:<20}  {:>6} s  {:>8} dB  {}",
            r["no"].as_u64().unwrap_or(0),
            r["f1_id"].as_str().unwrap_or(""),
            r["contact_time_utc"].as_str().unwrap_or(""),
            r["duration_seconds"].as_u64().unwrap_or(0),
            r["min_attenuation_db"].as_i64().unwrap_or(0),
            r["confirmation"].as_str().unwrap_or("")
        ));
    }

    // Step 7: the unit's worker lists its rows and opens them with the unit's key.
    let unit_rows = server
        .get(&format!("/api/v1/units/{unit}/f1"), Some(&worker))?
        .expect(200, "unit rows")?;
    say(format!("7. unit {unit} opens its rows:"));
    for r in unit_rows.as_array().into_iter().flatten() {
        say(format!(
            "   No. {}: {}",
            r["no"],
            open_row(r, &unit_private)?
        ));
    }
    Ok(out)
}
