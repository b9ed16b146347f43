//! `bluezone phone …`: a phone against a live server over plain HTTP, its state in files.
//!
//! A phone `P` lives in three files side by side:
//!
//! | file | what | written |
//! |---|---|---|
//! | `P` | the phone's sealed saved state (`Phone::save`, SPEC.md appendix A) | after every command that changes it |
//! | `P.key` | the 256-bit state key, 64 hex digits, mode 0600: in an app, the platform keystore's | once, by `init` |
//! | `P.json` | what the app keeps beside its state: subscribed regions, the pinned publisher key, exposures found but not reported yet | with the state |
//!
//! Every protocol step is a `bluezone-protocol` call; this module only moves bytes over HTTP
//! (ureq, no TLS: for a server on loopback or behind the deployment's TLS proxy) and to disk.

use std::path::{Path, PathBuf};

use bluezone_protocol::hpke::HpkePublicKey;
use bluezone_protocol::{
    BatchIndexEntry, CandidateExposure, ContactDetails, DeclarationCode, Phone, PhoneConfig,
    PublisherPublicKey, STATE_KEY_LEN, SightingExport, StateKey, UnixTime, decoy_report,
};
use rand_core::UnwrapErr;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// The OS generator, as a phone passes it to the protocol.
pub fn os_rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// Seconds since the unix epoch, from the system clock.
pub fn unix_now() -> UnixTime {
    UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// An HTTP client for one server (plain HTTP; refusals come back as answers, not errors).
pub struct Server {
    base: String,
    agent: ureq::Agent,
}

/// An HTTP answer: status and body.
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as JSON if the status is `expected`, else the server's error.
    pub fn expect(self, expected: u16, what: &str) -> Result<Value, String> {
        if self.status == expected {
            return self.json();
        }
        Err(format!(
            "{what}: HTTP {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        ))
    }
}

impl Server {
    /// A client for the server at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Server {
        Server {
            base: base.trim_end_matches('/').to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(60)))
                .build()
                .into(),
        }
    }

    fn finish(
        &self,
        path: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, String> {
        let mut response = response.map_err(|e| format!("{}{path}: {e}", self.base))?;
        let body = response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(|e| format!("{}{path}: {e}", self.base))?;
        Ok(Reply {
            status: response.status().as_u16(),
            body,
        })
    }

    /// `GET path`, with a bearer token if given.
    pub fn get(&self, path: &str, token: Option<&str>) -> Result<Reply, String> {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        self.finish(path, request.call())
    }

    /// `POST path` with a JSON body.
    pub fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<Reply, String> {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(t) = token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        self.finish(path, request.send(body.to_string()))
    }

    /// `POST path` with protocol bytes.
    pub fn post_bytes(&self, path: &str, body: &[u8]) -> Result<Reply, String> {
        let request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/octet-stream");
        self.finish(path, request.send(body))
    }
}

/// An exposure found by `check`, kept until `report` sends it.
struct Pending {
    batch_id: u64,
    exposure: CandidateExposure,
}

/// A phone and its files.
pub struct PhoneFile {
    path: PathBuf,
    key: StateKey,
    /// The phone.
    pub phone: Phone,
    /// The regions whose batches it downloads (0: the whole country).
    pub regions: Vec<u16>,
    publisher: Option<[u8; 32]>,
    pending: Vec<Pending>,
}

fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(ext);
    PathBuf::from(name)
}

fn write_private(path: &Path, bytes: &[u8], create_new: bool) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut file, bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Write `bytes` to `path` through a temporary file renamed into place, so a crash leaves
/// the old file or the new one.
fn replace_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = sibling(path, ".tmp");
    write_private(&tmp, bytes, false)?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

impl PhoneFile {
    /// A new phone at `path` subscribed to `regions`; refuses to replace an existing one.
    pub fn init(path: &Path, regions: Vec<u16>) -> Result<PhoneFile, String> {
        let key = StateKey::generate(&mut os_rng());
        write_private(
            &sibling(path, ".key"),
            format!("{}\n", hex::encode(key.as_bytes())).as_bytes(),
            true,
        )?;
        let file = PhoneFile {
            path: path.to_owned(),
            key,
            phone: Phone::new(PhoneConfig::default()),
            regions,
            publisher: None,
            pending: Vec::new(),
        };
        file.save()?;
        Ok(file)
    }

    /// The phone at `path`, restored with its key.
    pub fn open(path: &Path) -> Result<PhoneFile, String> {
        let read =
            |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let key_hex = Zeroizing::new(read(&sibling(path, ".key"))?);
        let key_bytes: [u8; STATE_KEY_LEN] = hex::decode(key_hex.trim_ascii())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("the key file must hold 64 hex digits")?;
        let key = StateKey::from_bytes(key_bytes);
        let phone = Phone::restore(&read(path)?, &key, PhoneConfig::default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let side: Value = serde_json::from_slice(&read(&sibling(path, ".json"))?)
            .map_err(|e| format!("{}.json: {e}", path.display()))?;
        let regions = side["regions"]
            .as_array()
            .ok_or("regions missing")?
            .iter()
            .map(|r| {
                r.as_u64()
                    .and_then(|r| u16::try_from(r).ok())
                    .ok_or("bad region")
            })
            .collect::<Result<Vec<u16>, _>>()?;
        let publisher = match side["publisher_key"].as_str() {
            Some(h) => Some(
                hex::decode(h)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or("bad publisher_key")?,
            ),
            None => None,
        };
        let mut pending = Vec::new();
        for p in side["pending"].as_array().ok_or("pending missing")? {
            let sightings = hex::decode(p["sightings"].as_str().ok_or("bad pending")?)
                .map_err(|e| e.to_string())?;
            let sightings = SightingExport::parse(&sightings)
                .map_err(|e| format!("pending exposure: {e}"))?
                .sightings;
            let number = |k: &str| p[k].as_u64().ok_or(format!("pending {k} missing"));
            pending.push(Pending {
                batch_id: number("batch_id")?,
                exposure: CandidateExposure {
                    day: number("day")?,
                    sightings,
                    weighted_exposure: number("weighted_exposure")?,
                    passes: true,
                },
            });
        }
        Ok(PhoneFile {
            path: path.to_owned(),
            key,
            phone,
            regions,
            publisher,
            pending,
        })
    }

    /// Seal and write the state and its side file.
    pub fn save(&self) -> Result<(), String> {
        let sealed = self
            .phone
            .save(&self.key, &mut os_rng())
            .map_err(|e| e.to_string())?;
        replace_private(&self.path, &sealed)?;
        let pending: Vec<Value> = self
            .pending
            .iter()
            .map(|p| {
                let export = SightingExport {
                    sightings: p.exposure.sightings.clone(),
                };
                json!({
                    "batch_id": p.batch_id,
                    "day": p.exposure.day,
                    "weighted_exposure": p.exposure.weighted_exposure,
                    "sightings": hex::encode(export.to_bytes().unwrap_or_default()),
                })
            })
            .collect();
        let side = json!({
            "regions": self.regions,
            "publisher_key": self.publisher.map(hex::encode),
            "pending": pending,
        });
        replace_private(&sibling(&self.path, ".json"), side.to_string().as_bytes())
    }

    /// The exposures found and not reported yet: (batch, weighted minutes).
    pub fn pending(&self) -> Vec<(u64, u64)> {
        self.pending
            .iter()
            .map(|p| (p.batch_id, p.exposure.weighted_minutes()))
            .collect()
    }
}

/// Two phones hear each other (or `a` hears `b` only, if `one_way`) for `minutes` ending at
/// `until`: both broadcast as the protocol says, each hears the other's advertisement at
/// `rssi` every 5 minutes (the scan period of SPEC.md §9.2).
pub fn encounter(
    a: &mut Phone,
    b: &mut Phone,
    minutes: u64,
    rssi: i8,
    until: UnixTime,
    one_way: bool,
) -> Result<(), String> {
    let mut rng = os_rng();
    let mut t = until.minus_seconds(minutes * 60);
    while t < until {
        let from_b = b.broadcast(t, &mut rng).advertisement.to_bytes();
        let from_a = a.broadcast(t, &mut rng).advertisement.to_bytes();
        a.hear(&from_b, rssi, t).map_err(|e| e.to_string())?;
        if !one_way {
            b.hear(&from_a, rssi, t).map_err(|e| e.to_string())?;
        }
        t = t.plus_seconds(300);
    }
    Ok(())
}

/// Step 3: "Send ID and contact history" with `code`, for a window from `contagious_from`.
pub fn upload(
    file: &mut PhoneFile,
    server: &Server,
    code: &str,
    contagious_from: UnixTime,
    now: UnixTime,
) -> Result<usize, String> {
    let code =
        DeclarationCode::new(&code.trim().to_ascii_uppercase()).map_err(|e| e.to_string())?;
    let upload = file
        .phone
        .prepare_f0_upload(code, contagious_from, &[], now, &mut os_rng())
        .map_err(|e| e.to_string())?;
    let bytes = upload.to_bytes().map_err(|e| e.to_string())?;
    // The key switch is kept before the upload is sent: a phone never broadcasts an uploaded
    // key again, even if the answer is lost.
    file.save()?;
    server
        .post_bytes("/phone/v1/uploads", &bytes)?
        .expect(201, "upload")?;
    Ok(upload.published_count())
}

fn publisher(file: &mut PhoneFile, server: &Server) -> Result<PublisherPublicKey, String> {
    if let Some(key) = file.publisher {
        return Ok(PublisherPublicKey(key));
    }
    let config = server
        .get("/phone/v1/config", None)?
        .expect(200, "config")?;
    let key: [u8; 32] = config["publisher_key"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or("config: bad publisher_key")?;
    file.publisher = Some(key);
    Ok(PublisherPublicKey(key))
}

/// What one `check` did.
pub struct CheckOutcome {
    /// Batches downloaded and matched.
    pub batches: usize,
    /// Bytes downloaded (index and batches).
    pub bytes: usize,
    /// Exposures that pass the risk rule, found now.
    pub exposures: usize,
}

/// Steps 4 and 5, first half: download the index and the batches of the phone's regions not
/// matched yet, check each against the index, match; exposures that pass are kept to report.
///
/// The publisher key is pinned at the first check (an app pins it at build time). Entries of
/// region 0 and of the subscribed regions are fetched.
pub fn check(file: &mut PhoneFile, server: &Server, now: UnixTime) -> Result<CheckOutcome, String> {
    let key = publisher(file, server)?;
    // The index of region 0 and of each subscribed region (SPEC.md §8.5), the batches each
    // lists that concern the phone and that it has not matched.
    let mut regions: Vec<u16> = std::iter::once(0)
        .chain(file.regions.iter().copied())
        .collect();
    regions.sort_unstable();
    regions.dedup();
    let mut outcome = CheckOutcome {
        batches: 0,
        bytes: 0,
        exposures: 0,
    };
    let mut entries = Vec::new();
    for region in &regions {
        let path = format!("/publication/v1/regions/{region}/index.bin");
        let index = server.get(&path, None)?;
        if index.status != 200 {
            return Err(format!("index of region {region}: HTTP {}", index.status));
        }
        outcome.bytes += index.body.len();
        for entry in file
            .phone
            .batches_to_fetch(&index.body, &key, &regions, now)
            .map_err(|e| format!("index of region {region}: {e}"))?
        {
            if !entries
                .iter()
                .any(|e: &BatchIndexEntry| e.batch_id == entry.batch_id)
            {
                entries.push(entry);
            }
        }
    }
    for entry in entries {
        let batch = server.get(
            &format!("/publication/v1/batches/{}.bin", entry.batch_id),
            None,
        )?;
        if batch.status != 200 {
            return Err(format!("batch {}: HTTP {}", entry.batch_id, batch.status));
        }
        entry.check(&batch.body).map_err(|e| e.to_string())?;
        let matched = file
            .phone
            .match_batch(&batch.body, &key, now)
            .map_err(|e| format!("batch {}: {e}", entry.batch_id))?;
        outcome.batches += 1;
        outcome.bytes += batch.body.len();
        for exposure in matched.passing() {
            outcome.exposures += 1;
            file.pending.push(Pending {
                batch_id: entry.batch_id,
                exposure: exposure.clone(),
            });
        }
    }
    file.save()?;
    Ok(outcome)
}

fn unit_key(server: &Server, district: u32) -> Result<HpkePublicKey, String> {
    let config = server
        .get("/phone/v1/config", None)?
        .expect(200, "config")?;
    config["units"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| {
            u["districts"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d.as_u64() == Some(u64::from(district))))
        })
        .and_then(|u| u["public_key"].as_str())
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| HpkePublicKey::from_bytes(&b).ok())
        .ok_or_else(|| format!("no unit covers district {district}"))
}

/// Step 5, second half: with the user's consent, report every exposure `check` kept, the
/// contact details sealed to the unit of `district`. Returns the verified reports' rows.
pub fn report(
    file: &mut PhoneFile,
    server: &Server,
    phone_number: &str,
    name: &str,
    district: u32,
    now: UnixTime,
) -> Result<Vec<u64>, String> {
    let unit = unit_key(server, district)?;
    let contact = ContactDetails {
        phone_number: phone_number.to_owned(),
        name: name.to_owned(),
        district,
        consent_time: now,
    };
    let mut rows = Vec::new();
    while let Some(p) = file.pending.first() {
        let report = file
            .phone
            .prepare_f1_report(&p.exposure, &contact, &unit, &mut os_rng())
            .map_err(|e| e.to_string())?;
        let bytes = report.to_bytes().map_err(|e| e.to_string())?;
        let answer = server.post_bytes("/phone/v1/reports", &bytes)?;
        // A refused report is not sent again: it would be refused again.
        file.pending.remove(0);
        file.save()?;
        let answer = answer.expect(200, "report")?;
        rows.push(answer["rows"].as_u64().unwrap_or(0));
    }
    Ok(rows)
}

/// A decoy upload (sized as this phone's real upload would be) or a decoy report (SPEC.md
/// §7.6, §10.6), sent now; returns the server's status.
pub fn decoy(
    file: &PhoneFile,
    server: &Server,
    report: bool,
    now: UnixTime,
) -> Result<u16, String> {
    let (path, bytes) = if report {
        let len = bluezone_protocol::DecoySchedule::default().report_len(&mut os_rng());
        (
            "/phone/v1/reports",
            decoy_report(len).map_err(|e| e.to_string())?,
        )
    } else {
        ("/phone/v1/uploads", file.phone.prepare_decoy_upload(now))
    };
    Ok(server.post_bytes(path, &bytes)?.status)
}
