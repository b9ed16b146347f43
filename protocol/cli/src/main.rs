//! `bluezone`: the protocol's command-line tool, for implementers checking their ports.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod demo;
mod phone;

use std::fmt::Write as _;
use std::process::ExitCode;

use bluezone_export::OpenedContact;
use bluezone_protocol::bandwidth::{BandwidthLoad, EpsilonBudget};
use bluezone_protocol::hpke::{self, HpkePrivateKey};
use bluezone_protocol::{
    AemKey, DAILY_KEY_LEN, IntervalNumber, ReportId, RollingProximityId, RpiKey,
    SEALED_CONTACT_DETAILS_LEN, SealedContactDetails,
};
use clap::{Parser, Subcommand};
use zeroize::Zeroizing;

mod bandwidth;

/// The Bluezone contact-tracing protocol's command-line tool.
#[derive(Parser)]
#[command(name = "bluezone", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Derive the rolling proximity identifiers (and, given metadata, the AEMs) of a daily key.
    ///
    /// Prints one line per interval: `<interval> <rpi as 32 hex>`, followed by
    /// ` <aem as 8 hex>` when --metadata is given.
    Derive {
        /// The daily key (GAEN's TEK), 32 hex digits.
        #[arg(long, value_parser = parse_hex::<DAILY_KEY_LEN>)]
        tek: [u8; DAILY_KEY_LEN],
        /// First interval number (unix time / 600).
        #[arg(long)]
        interval: u32,
        /// How many consecutive intervals.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        count: u32,
        /// The 4 bytes of Bluetooth metadata to encrypt into each AEM, 8 hex digits.
        #[arg(long, value_parser = parse_hex::<4>)]
        metadata: Option<[u8; 4]>,
    },
    /// Bytes every phone downloads per day for a given load: our publication batches, and on
    /// the same load GAEN-style key export and the DP-3T unlinkable design; the derivation of
    /// the false-positive rate ε from a false-alert budget; with --regions, the download of the
    /// median, p95 and worst-off phone under regional batches.
    Bandwidth(BandwidthArgs),
    /// A preventive-medicine unit's key pair, and opening the contact details sealed to it.
    Unit {
        #[command(subcommand)]
        command: UnitCommand,
    },
    /// A phone against a live server over HTTP, its state in files: `STATE` (the sealed saved
    /// state, SPEC.md appendix A), `STATE.key` (its 256-bit key, 64 hex digits, mode 0600: what
    /// an app keeps in the platform keystore) and `STATE.json` (subscribed regions, the pinned
    /// publisher key, exposures found and not reported yet).
    Phone {
        /// The phone's state file.
        #[arg(long)]
        state: std::path::PathBuf,
        #[command(subcommand)]
        command: PhoneCommand,
    },
    /// Run the seven steps against a live server with four phones (accounts, a unit with its
    /// key, a case, an upload, tracing, publication, matching, reports) and print the F1 table.
    Demo {
        /// The server, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        server: String,
        /// The admin's password: the one chosen at the first login (the password the server
        /// printed at its first start must be replaced first, in the console or with
        /// `POST /api/v1/me/password`).
        #[arg(long)]
        admin_password: String,
        /// The treatment facility of the demo's doctor, where the server's configuration lists
        /// facilities (none: the deployment's one tenant).
        #[arg(long)]
        facility: Option<String>,
        /// Where the phone files go (default: a new directory under the system's temporary
        /// directory).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum PhoneCommand {
    /// Make a new phone (refuses to replace one), subscribed to region 0 (the whole country)
    /// and the regions given.
    Init {
        /// A region to download batches of, besides 0 (repeatable).
        #[arg(long)]
        region: Vec<u16>,
    },
    /// Print the advertisement the phone broadcasts now (40 hex digits: RPI then AEM).
    Advertise,
    /// Hear an advertisement now, or hear another phone (and be heard by it) for some minutes.
    Hear {
        /// An advertisement, 40 hex digits.
        #[arg(long, conflicts_with = "with")]
        advertisement: Option<String>,
        /// Another phone's state file: both phones hear each other.
        #[arg(long)]
        with: Option<std::path::PathBuf>,
        /// Only this phone hears the other (a one-way radio path).
        #[arg(long, requires = "with")]
        one_way: bool,
        /// Minutes of the encounter, ending now.
        #[arg(long, default_value_t = 30, requires = "with")]
        minutes: u64,
        /// Received signal strength, dBm.
        #[arg(long, default_value_t = -60, allow_hyphen_values = true)]
        rssi: i8,
    },
    /// "Send ID and contact history" with the F0 declaration code.
    Upload {
        /// The server.
        #[arg(long)]
        server: String,
        /// The declaration code the health worker gave.
        #[arg(long)]
        code: String,
        /// Days of contagious window before now.
        #[arg(long, default_value_t = 2)]
        days: u64,
    },
    /// Download the index and the new batches of the phone's regions, and match them.
    Check {
        /// The server.
        #[arg(long)]
        server: String,
    },
    /// Report the exposures found, with the user's consent and contact details.
    Report {
        /// The server.
        #[arg(long)]
        server: String,
        /// Phone number, international form without `+` (84912345678).
        #[arg(long)]
        phone_number: String,
        /// Name (optional).
        #[arg(long, default_value = "")]
        name: String,
        /// The user's district (routes the report to its unit).
        #[arg(long)]
        district: u32,
    },
    /// Send a decoy upload (or, with --report, a decoy report) now (SPEC.md §7.6, §10.6).
    Decoy {
        /// The server.
        #[arg(long)]
        server: String,
        /// A decoy report instead of a decoy upload.
        #[arg(long)]
        report: bool,
    },
}

fn phone_command(path: &std::path::Path, command: PhoneCommand) -> Result<String, String> {
    let now = phone::unix_now();
    if let PhoneCommand::Init { region } = command {
        let mut regions = vec![0];
        regions.extend(region.into_iter().filter(|&r| r != 0));
        phone::PhoneFile::init(path, regions.clone())?;
        return Ok(format!(
            "phone {} made, regions {regions:?}",
            path.display()
        ));
    }
    let mut file = phone::PhoneFile::open(path)?;
    let out = match command {
        PhoneCommand::Init { .. } => unreachable!("handled above"),
        PhoneCommand::Advertise => {
            let b = file.phone.broadcast(now, &mut phone::os_rng());
            hex::encode(b.advertisement.to_bytes())
        }
        PhoneCommand::Hear {
            advertisement,
            with,
            one_way,
            minutes,
            rssi,
        } => match (advertisement, with) {
            (Some(adv), None) => {
                let bytes = hex::decode(adv.trim()).map_err(|e| format!("not hex: {e}"))?;
                file.phone
                    .hear(&bytes, rssi, now)
                    .map_err(|e| e.to_string())?;
                "heard".to_owned()
            }
            (None, Some(other_path)) => {
                let mut other = phone::PhoneFile::open(&other_path)?;
                phone::encounter(
                    &mut file.phone,
                    &mut other.phone,
                    minutes,
                    rssi,
                    now,
                    one_way,
                )?;
                other.save()?;
                format!(
                    "heard {} for {minutes} min at {rssi} dBm{}",
                    other_path.display(),
                    if one_way {
                        " (one way)"
                    } else {
                        ", and was heard"
                    }
                )
            }
            _ => return Err("give --advertisement or --with".into()),
        },
        PhoneCommand::Upload { server, code, days } => {
            let from = bluezone_protocol::UnixTime(now.0.saturating_sub(days * 86_400));
            let n = phone::upload(&mut file, &phone::Server::new(&server), &code, from, now)?;
            format!("uploaded: {n} intervals to publish")
        }
        PhoneCommand::Check { server } => {
            let c = phone::check(&mut file, &phone::Server::new(&server), now)?;
            let pending: Vec<String> = file
                .pending()
                .iter()
                .map(|(batch, minutes)| format!("batch {batch}: {minutes} weighted min"))
                .collect();
            format!(
                "matched {} batch(es), {} bytes: {} new exposure(s); to report: [{}]",
                c.batches,
                c.bytes,
                c.exposures,
                pending.join(", ")
            )
        }
        PhoneCommand::Report {
            server,
            phone_number,
            name,
            district,
        } => {
            let server = phone::Server::new(&server);
            let rows = phone::report(&mut file, &server, &phone_number, &name, district, now)?;
            format!("{} report(s) verified, rows {rows:?}", rows.len())
        }
        PhoneCommand::Decoy { server, report } => {
            let status = phone::decoy(&file, &phone::Server::new(&server), report, now)?;
            format!("decoy answered with HTTP {status}")
        }
    };
    file.save()?;
    Ok(out)
}

#[derive(clap::Args)]
struct BandwidthArgs {
    /// F0 cases uploading per day.
    #[arg(long)]
    f0_per_day: f64,
    /// Days of contagious window each F0 uploads.
    #[arg(long, default_value_t = 5.0)]
    contagious_days: f64,
    /// Share of the window's intervals an F0 publishes, 0 to 1 (default: the simulator's
    /// measured `published_interval_share`).
    #[arg(long, default_value_t = bandwidth::MEASURED_PUBLISHED_SHARE)]
    published_share: f64,
    /// Target false-positive rate: `derived` (from the false-alert budget), a number (1e-7)
    /// or a power of two (2^-24).
    #[arg(long, default_value = "derived", value_parser = bandwidth::parse_target_fp)]
    target_fp: bandwidth::TargetFp,
    /// Publication batches per day (publication runs; with --regions, per region at most).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=1440))]
    batches_per_day: u32,
    /// Most phone-days shown a false match, as a probability.
    #[arg(long, default_value_t = 1e-5)]
    false_alert_budget: f64,
    /// Sightings a phone holds over 14 days (default: the simulator's measured
    /// `sightings_retained_per_phone`).
    #[arg(long, default_value_t = bandwidth::MEASURED_SIGHTINGS_PER_PHONE)]
    sightings_per_phone: f64,
    /// Share of tested sightings passing the risk rule alone (default: measured
    /// `tested_share_alone_passing`).
    #[arg(long, default_value_t = bandwidth::MEASURED_ALONE_SHARE)]
    alone_share: f64,
    /// Same-day pairs of relevant sightings a phone tests against one batch (default:
    /// measured `same_day_pairs_per_phone_batch`).
    #[arg(long, default_value_t = bandwidth::MEASURED_PAIRS_PER_BATCH)]
    pairs_per_batch: f64,
    /// Regions a phone subscribes to, region 0 included (default: region 0, its home
    /// province and one its user adds); each may publish a batch at every run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    subscribed_regions: u32,
    /// Factor on the measured pairs per batch for what one seed of a synthetic population does
    /// not cover (denser places); the budget is met with this much to spare.
    #[arg(long, default_value_t = 4.0)]
    margin: f64,
    /// Phones in the country (for the server's expected false reports a day).
    #[arg(long, default_value_t = 50_000_000.0)]
    phones: f64,
    /// Region distribution, CSV: `code,name,phones_share|population,cases_share|cases`
    /// (protocol/cli/data/vn-2021.csv: Vietnam's 63 provinces, August 2021).
    #[arg(long)]
    regions: Option<std::path::PathBuf>,
    /// Share of cases traced to region 0 (the whole country), 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    national_case_share: f64,
}

impl BandwidthArgs {
    fn request(&self) -> Result<bandwidth::Request, String> {
        let finite = |x: f64| x.is_finite() && x >= 0.0;
        if !finite(self.f0_per_day) || !finite(self.contagious_days) || self.contagious_days > 14.0
        {
            return Err("--f0-per-day must be >= 0 and --contagious-days in 0..=14".into());
        }
        let share = |x: f64| (0.0..=1.0).contains(&x);
        if !share(self.published_share)
            || !share(self.alone_share)
            || !share(self.national_case_share)
        {
            return Err(
                "--published-share, --alone-share and --national-case-share must lie in 0..=1"
                    .into(),
            );
        }
        let budget_ok = self.false_alert_budget > 0.0 && self.false_alert_budget < 1.0;
        if !(budget_ok
            && finite(self.sightings_per_phone)
            && finite(self.pairs_per_batch)
            && finite(self.phones)
            && self.margin.is_finite()
            && self.margin >= 1.0)
        {
            return Err("--false-alert-budget must lie strictly between 0 and 1, --sightings-per-phone, --pairs-per-batch and --phones be >= 0, --margin >= 1".into());
        }
        let regions = match &self.regions {
            Some(path) => Some((path.display().to_string(), bandwidth::read_regions(path)?)),
            None => None,
        };
        Ok(bandwidth::Request {
            load: BandwidthLoad {
                f0_per_day: self.f0_per_day,
                contagious_days: self.contagious_days,
                published_share: self.published_share,
                target_fp_rate: 0.0,
                batches_per_day: self.batches_per_day,
            },
            target_fp: self.target_fp,
            budget: EpsilonBudget {
                sightings_per_phone: self.sightings_per_phone,
                alone_share: self.alone_share,
                pairs_per_batch: self.pairs_per_batch,
                batches_per_day: self.batches_per_day,
                subscribed_regions: self.subscribed_regions,
                margin: self.margin,
                max_false_alert_rate: self.false_alert_budget,
            },
            phones: self.phones,
            regions,
            national_case_share: self.national_case_share,
        })
    }
}

#[derive(Subcommand)]
enum UnitCommand {
    /// Make a unit's HPKE key pair (X25519). The private key goes to --out, readable by its
    /// owner only; keep it with the unit, never on the server. Prints the `[[units]]` entry
    /// for the server's configuration.
    Keygen {
        /// Where to write the private key (64 hex digits). Never overwritten.
        #[arg(long)]
        out: std::path::PathBuf,
        /// The unit's name in the server configuration.
        #[arg(long, default_value = "unit")]
        name: String,
        /// Districts the unit covers, comma-separated.
        #[arg(long, value_delimiter = ',')]
        districts: Vec<u32>,
    },
    /// Open the sealed contact details of an F1 export (the server's CSV, `?format=csv`) with
    /// the unit's private key. Prints the same CSV with `phone_number` and `name` appended.
    Open {
        /// The unit's private key file (64 hex digits).
        #[arg(long)]
        key: std::path::PathBuf,
        /// The CSV export.
        #[arg(long)]
        csv: std::path::PathBuf,
    },
}

fn parse_hex<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text).map_err(|e| format!("not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes, expected {N} ({} hex digits)", b.len(), 2 * N))
}

fn unit_keygen(out: &std::path::Path, name: &str, districts: &[u32]) -> Result<(), String> {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let (private, public) = hpke::generate_keypair(&mut rng);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(out).map_err(|e| {
        format!(
            "cannot create {} (an existing key is never overwritten): {e}",
            out.display()
        )
    })?;
    std::io::Write::write_all(
        &mut file,
        format!("{}\n", hex::encode(private.to_bytes())).as_bytes(),
    )
    .and_then(|()| file.sync_all())
    .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let list: Vec<String> = districts.iter().map(u32::to_string).collect();
    println!(
        "[[units]]\nname = \"{name}\"\ndistricts = [{}]\npublic_key = \"{}\"",
        list.join(", "),
        hex::encode(public.as_bytes())
    );
    Ok(())
}

/// Open every row of the server's F1 export (the schema of `bluezone-export`) with the unit's
/// key, in the export's format (its times' zone, and its byte-order mark if it has one). Returns
/// the opened export and the number of rows that did not open (reported on
/// standard error, and left blank in the output).
fn unit_open(key_file: &str, csv: &str) -> Result<(String, usize), String> {
    let key_bytes = Zeroizing::new(
        hex::decode(key_file.trim()).map_err(|e| format!("key file is not hex: {e}"))?,
    );
    let key = HpkePrivateKey::from_bytes(&key_bytes)
        .map_err(|_| "key file must hold 64 hex digits".to_owned())?;
    let (format, rows) = bluezone_export::read_sealed(csv).map_err(|e| e.to_string())?;
    let mut failures = 0;
    let opened: Vec<Option<OpenedContact>> = rows
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let opened = (|| {
                let id: [u8; 16] = hex::decode(&r.row.f1_id)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or("f1_id is not 32 hex digits")?;
                let sealed: [u8; SEALED_CONTACT_DETAILS_LEN] = hex::decode(&r.sealed_contact)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or("sealed_contact is not 352 hex digits")?;
                SealedContactDetails(sealed)
                    .open(&ReportId(id), r.row.district, &key)
                    .map_err(|_| "does not open with this key")
            })();
            match opened {
                Ok(details) => Some(OpenedContact {
                    phone_number: details.phone_number,
                    name: details.name,
                }),
                Err(why) => {
                    eprintln!("row {}: {why}", n + 1);
                    failures += 1;
                    None
                }
            }
        })
        .collect();
    let out = bluezone_export::write_opened(
        format,
        rows.iter()
            .zip(&opened)
            .map(|(r, contact)| (&r.row, contact.as_ref())),
    );
    Ok((out, failures))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Phone { state, command } => match phone_command(&state, command) {
            Ok(out) => {
                println!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Command::Demo {
            server,
            admin_password,
            facility,
            dir,
        } => {
            let dir = dir.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("bluezone-demo-{}", std::process::id()))
            });
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprintln!("error: cannot create {}: {e}", dir.display());
                return ExitCode::from(2);
            }
            match demo::run(&server, &admin_password, facility.as_deref(), &dir) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Unit {
            command:
                UnitCommand::Keygen {
                    out,
                    name,
                    districts,
                },
        } => match unit_keygen(&out, &name, &districts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Unit {
            command: UnitCommand::Open { key, csv },
        } => {
            let read = |p: &std::path::Path| {
                std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            };
            match read(&key).and_then(|k| read(&csv).and_then(|c| unit_open(&k, &c))) {
                Ok((out, failures)) => {
                    print!("{out}");
                    if failures == 0 {
                        ExitCode::SUCCESS
                    } else {
                        eprintln!("error: {failures} row(s) did not open");
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Derive {
            tek,
            interval,
            count,
            metadata,
        } => {
            let Some(last) = interval.checked_add(count - 1) else {
                eprintln!(
                    "error: --interval {interval} plus --count {count} runs past interval {}",
                    u32::MAX
                );
                return ExitCode::from(2);
            };
            let mut rpis = vec![RollingProximityId::default(); count as usize];
            RpiKey::new(&tek).rpis_into(IntervalNumber(interval), &mut rpis);
            let aem_key = AemKey::new(&tek);
            let mut out = String::with_capacity(rpis.len() * 50);
            for (n, rpi) in (interval..=last).zip(&rpis) {
                let _ = write!(out, "{n} {rpi}");
                if let Some(metadata) = &metadata {
                    let _ = write!(out, " {}", aem_key.encrypt(rpi, metadata));
                }
                out.push('\n');
            }
            print!("{out}");
            ExitCode::SUCCESS
        }
        Command::Bandwidth(args) => match args.request().and_then(|r| bandwidth::report(&r)) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}
