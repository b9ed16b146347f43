//! `bluezone`: the protocol's command-line tool, for implementers checking their ports.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

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
            && finite(self.phones))
        {
            return Err("--false-alert-budget must lie strictly between 0 and 1, --sightings-per-phone, --pairs-per-batch and --phones be >= 0".into());
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
/// key. Returns the opened export and the number of rows that did not open (reported on
/// standard error, and left blank in the output).
fn unit_open(key_file: &str, csv: &str) -> Result<(String, usize), String> {
    let key_bytes = Zeroizing::new(
        hex::decode(key_file.trim()).map_err(|e| format!("key file is not hex: {e}"))?,
    );
    let key = HpkePrivateKey::from_bytes(&key_bytes)
        .map_err(|_| "key file must hold 64 hex digits".to_owned())?;
    let rows = bluezone_export::read_sealed(csv).map_err(|e| e.to_string())?;
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
        rows.iter()
            .zip(&opened)
            .map(|(r, contact)| (&r.row, contact.as_ref())),
    );
    Ok((out, failures))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
