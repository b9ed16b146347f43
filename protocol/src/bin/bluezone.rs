//! `bluezone`: the protocol's command-line tool, for implementers checking their ports.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::process::ExitCode;

use bluezone_protocol::{AemKey, DAILY_KEY_LEN, IntervalNumber, RollingProximityId, RpiKey};
use clap::{Parser, Subcommand};

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
}

fn parse_hex<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text).map_err(|e| format!("not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes, expected {N} ({} hex digits)", b.len(), 2 * N))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
    }
}
