//! Load benchmark of the reference server: F0 uploads/s and F1 reports/s, with p50 and p99
//! latency, over real HTTP on loopback.
//!
//! `cargo bench --bench server_load [-- --uploads N --reports N --clients C]`
//!
//! The server (library) runs in this process on a 2-thread tokio runtime, once per store in
//! the same run: sled in a temporary directory (every write flushed before the answer), then
//! PostgreSQL (a throwaway cluster on loopback with `fsync` on, every write committed before
//! the answer; skipped when PostgreSQL is not installed). `C` client threads send pre-built
//! requests as fast as answers come. Before the measured phases, a baseline phase times
//! `GET /healthz` the same way, so the figures can be read as ratios against bare HTTP on
//! this machine. Both stores get the same phones, uploads and reports (same seeds). Bounded:
//! at most N requests per phase.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bluezone_protocol::hpke::derive_keypair;
use bluezone_protocol::{
    ContactDetails, DeclarationCode, Phone, PhoneConfig, PublisherKeyPair, RiskRule, UnixTime,
};
use bluezone_server::domain::settings::{Settings, ThrottleConfig, Unit};
use bluezone_server::domain::store::PostgresStore;
use bluezone_server::domain::store::Role;
use bluezone_server::domain::workflow::{Principal, Workflow};
use bluezone_server::web::publication::{FileSink, PUBLICATION_DIR};
use bluezone_server::web::{AppState, Limits, serve};
use bluezone_server::{SledStore, Store};
use bluezone_testkit::postgres::Cluster;
use bluezone_testkit::scan;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

struct Args {
    uploads: usize,
    reports: usize,
    clients: usize,
}

fn args() -> Args {
    let mut a = Args {
        uploads: 2000,
        reports: 4000,
        clients: 8,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).and_then(|v| v.parse().ok());
        match (argv[i].as_str(), value) {
            ("--uploads", Some(v)) => a.uploads = v,
            ("--reports", Some(v)) => a.reports = v,
            ("--clients", Some(v)) => a.clients = v,
            _ => {}
        }
        i += 1;
    }
    a
}

/// One phase's figures.
struct Phase {
    name: &'static str,
    requests: usize,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }
}

/// Send every body of `bodies` with `clients` threads (POST, or GET when `post` is false);
/// every answer must have status `expect`.
fn run_phase(
    name: &'static str,
    address: SocketAddr,
    path: &str,
    bodies: Vec<Vec<u8>>,
    post: bool,
    expect: u16,
    clients: usize,
) -> Phase {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("http://{address}{path}");
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (bodies, next, url) = (Arc::clone(&bodies), Arc::clone(&next), url.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let t = Instant::now();
                    let mut response = if post {
                        agent
                            .post(&url)
                            .header("Content-Type", "application/octet-stream")
                            .send(&body[..])
                    } else {
                        agent.get(&url).call()
                    }
                    .expect("HTTP exchange");
                    let status = response.status().as_u16();
                    let text = response.body_mut().read_to_string().unwrap_or_default();
                    assert_eq!(status, expect, "{name}: {text}");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let latencies: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client thread"))
        .collect();
    Phase {
        name,
        requests: latencies.len(),
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    }
}

fn main() {
    let args = args();
    let dir = tempfile::tempdir().expect("temporary directory");
    let sled: Box<dyn Store> =
        Box::new(SledStore::open(&dir.path().join("store")).expect("open store"));
    let mut runs = vec![measure("sled", sled, &args, &dir.path().join("sled"))];
    match Cluster::start_own(true) {
        Some(cluster) => {
            let store = PostgresStore::open(&cluster.database_url()).expect("open PostgreSQL");
            runs.push(measure(
                "PostgreSQL",
                Box::new(store),
                &args,
                &dir.path().join("postgres"),
            ));
        }
        None => eprintln!("SKIPPED server_load on PostgreSQL: PostgreSQL is not installed"),
    }
    println!(
        "server_load: {} client threads, server on a 2-thread runtime, every write durable \
         before its answer (sled flushed; PostgreSQL committed, fsync on)",
        args.clients
    );
    println!(
        "{:<11} {:<26} {:>8} {:>10} {:>9} {:>9} {:>9}",
        "store", "phase", "requests", "per s", "p50 ms", "p99 ms", "vs base"
    );
    for run in &runs {
        for phase in [&run.baseline, &run.uploads, &run.reports] {
            println!(
                "{:<11} {:<26} {:>8} {:>10.0} {:>9.2} {:>9.2} {:>8.3}x",
                run.store,
                phase.name,
                phase.requests,
                phase.rate(),
                phase.percentile(0.50).as_secs_f64() * 1e3,
                phase.percentile(0.99).as_secs_f64() * 1e3,
                phase.rate() / run.baseline.rate(),
            );
        }
    }
    for run in &runs {
        println!("{}: {}", run.store, run.note);
    }
}

/// One store's figures.
struct Run {
    store: &'static str,
    baseline: Phase,
    uploads: Phase,
    reports: Phase,
    note: String,
}

/// Serve `store` and measure the three phases against it.
fn measure(name: &'static str, store: Box<dyn Store>, args: &Args, dir: &std::path::Path) -> Run {
    let (_, unit_key) = derive_keypair(b"load bench unit");
    let settings = Settings {
        code_ttl_seconds: 86_400,
        session_ttl_seconds: 3600,
        filter_target_fp_rate: bluezone_protocol::DEFAULT_TARGET_FP_RATE,
        filter_kind: bluezone_protocol::FilterKind::default(),
        dummy_quantum: 1024,
        // Every report of the load comes from one loopback address: no per-client budget.
        throttle: ThrottleConfig {
            reports_per_client: u32::MAX,
            ..ThrottleConfig::default()
        },
        units: vec![Unit {
            name: "unit".into(),
            districts: vec![1],
            public_key: unit_key,
        }],
        facilities: Vec::new(),
        regions: Default::default(),
        retention: Default::default(),
        risk_rule: RiskRule::default(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (workflow, _) = Workflow::open(
        store,
        settings,
        PublisherKeyPair::from_seed([9; 32]).unwrap(),
        Arc::new(FileSink::new(dir.join(PUBLICATION_DIR))),
        Box::new(ChaCha20Rng::seed_from_u64(1)),
        now,
    )
    .expect("open workflow");
    let doctor = Principal::in_process(
        "doctor",
        Role::TreatmentFacility {
            facility: String::new(),
        },
    );

    // F0 phone i and F1 phones 2i, 2i+1 spend 30 minutes together; each F0 also heard 200
    // other phones over its last five days (its contact history).
    eprintln!(
        "{name}: preparing {} uploads and {} reports...",
        args.uploads, args.reports
    );
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let f1_per_f0 = args.reports.div_ceil(args.uploads.max(1));
    let mut uploads = Vec::with_capacity(args.uploads);
    let mut f1_phones = Vec::new();
    let mut cases = Vec::new();
    for i in 0..args.uploads {
        let mut f0 = Phone::new(PhoneConfig::default());
        for h in 0..200u64 {
            let t = UnixTime(now - 5 * 86_400 + h * 2100);
            f0.broadcast(t, &mut rng);
            let mut stranger = Phone::new(PhoneConfig::default());
            let adv = stranger.broadcast(t, &mut rng).advertisement.to_bytes();
            f0.hear(&adv, -70, t).unwrap();
        }
        let start = now - 3 * 3600 - (i as u64 % 36) * 300;
        // Phone 0 is the F0 and the others its F1s: each F1 hears the F0, the F0 hears each F1.
        let mut together: Vec<Phone> = std::iter::once(f0)
            .chain((0..f1_per_f0).map(|_| Phone::new(PhoneConfig::default())))
            .collect();
        let hearing: Vec<(usize, usize, i8)> = (1..together.len())
            // Each F1 at its own signal strength: two F1s with the same scans of the F0
            // would report the same sightings, which the server keeps once (SPEC.md §10.4).
            .flat_map(|j| [(j, 0, -55 - j as i8), (0, j, -55)])
            .collect();
        scan(
            &mut rng,
            &mut together,
            UnixTime(start),
            UnixTime(start + 1800),
            &hearing,
        );
        let mut f0 = together.remove(0);
        f1_phones.extend(together);
        let opened = workflow.open_case(&doctor, "", now).expect("open case");
        cases.push(opened.case.case_id);
        let upload = f0
            .prepare_f0_upload(
                DeclarationCode::new(&opened.code).unwrap(),
                UnixTime(now - 5 * 86_400),
                &[],
                UnixTime(now),
                &mut rng,
            )
            .unwrap();
        uploads.push(upload.to_bytes().unwrap());
    }
    let upload_bytes: usize = uploads.iter().map(Vec::len).sum();

    let state = Arc::new(AppState {
        console: Default::default(),
        decoy_timing: Default::default(),
        next_publication: Default::default(),
        workflow,
        limits: Limits {
            upload_bytes: 4 << 20,
            report_bytes: 64 << 10,
            json_bytes: 64 << 10,
            request_timeout: Duration::from_secs(30),
            max_connections: 768,
            body_bytes_in_flight: 64 << 20,
        },
        trusted_proxies: Vec::new(),
        draining: std::sync::atomic::AtomicBool::new(false),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let server_state = Arc::clone(&state);
    runtime.spawn(async move {
        serve(
            listener,
            server_state,
            std::future::pending(),
            Duration::from_secs(1),
        )
        .await
    });

    let baseline = run_phase(
        "GET /healthz (baseline)",
        address,
        "/healthz",
        vec![Vec::new(); args.uploads.max(args.reports)],
        false,
        200,
        args.clients,
    );
    let upload_phase = run_phase(
        "POST /phone/v1/uploads",
        address,
        "/phone/v1/uploads",
        uploads,
        true,
        201,
        args.clients,
    );

    // Trace every case, publish, and let the F1 phones match and prepare their reports.
    for case in &cases {
        state
            .workflow
            .request_trace(&doctor, *case, now)
            .expect("trace");
    }
    let t = Instant::now();
    let run = state.workflow.publish(now + 1).expect("publish");
    let [batch] = &run[..] else {
        panic!("one batch (every case to region 0), got {}", run.len())
    };
    let publish_seconds = t.elapsed().as_secs_f64();
    let batch_bytes = state
        .workflow
        .publication()
        .batch(batch.batch_id)
        .unwrap()
        .expect("the batch was kept");
    let publisher = state.workflow.publisher_key();
    let mut reports = Vec::new();
    for phone in &mut f1_phones {
        let outcome = phone
            .match_batch(&batch_bytes, &publisher, UnixTime(now + 2))
            .unwrap();
        for exposure in outcome.passing() {
            let contact = ContactDetails {
                phone_number: "84900000000".into(),
                name: String::new(),
                district: 1,
                consent_time: UnixTime(now + 2),
            };
            let report = phone
                .prepare_f1_report(exposure, &contact, &unit_key, &mut rng)
                .unwrap();
            reports.push(report.to_bytes().unwrap());
        }
        if reports.len() == args.reports {
            break;
        }
    }
    let report_phase = run_phase(
        "POST /phone/v1/reports",
        address,
        "/phone/v1/reports",
        reports,
        true,
        200,
        args.clients,
    );

    let note = format!(
        "uploads {:.1} KiB each on average; publication of {} cases ({} RPIs, {} KiB batch) took {:.2} s",
        upload_bytes as f64 / upload_phase.requests.max(1) as f64 / 1024.0,
        batch.cases.len(),
        batch.published_rpis,
        batch.byte_len / 1024,
        publish_seconds
    );
    runtime.shutdown_background();
    Run {
        store: name,
        baseline,
        uploads: upload_phase,
        reports: report_phase,
        note,
    }
}
