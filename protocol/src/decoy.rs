//! Decoy traffic (SPEC.md §7.6, §10.6): uploads and reports a phone sends on a schedule, of the
//! same size classes as real ones and marked only inside the body, so that whoever watches the
//! encrypted connection cannot tell a phone that uploads or reports from one that does not.
//!
//! A decoy is the message header of its type followed by zeros up to one of that type's size
//! classes: `code_len` 0 marks a decoy upload, `sighting_count` 0 a decoy report (neither is a
//! valid real message). The server parses it with [`parse_upload_body`] or
//! [`parse_report_body`], answers it as it answers a real one, and stores nothing.
//!
//! When a phone sends them is [`DecoySchedule`]'s: independent exponential waits (a Poisson
//! process), so the time since the last request says nothing about the next. Time and
//! randomness are parameters, as everywhere in this crate.

use rand_core::CryptoRng;

use crate::error::{DecodeError, Error};
use crate::report::{F1_REPORT_VERSION, F1Report, REPORT_SIZE_CLASSES};
use crate::time::UnixTime;
use crate::upload::{F0_UPLOAD_VERSION, F0Upload, UPLOAD_SIZE_CLASSES};
use crate::wire::{self, MessageType, Reader};

/// What a `POST /phone/v1/uploads` body holds: a real F0 upload or a decoy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadBody {
    /// A real upload.
    F0(F0Upload),
    /// A decoy (SPEC.md §7.6): answered as an accepted upload, nothing stored.
    Decoy,
}

/// What a `POST /phone/v1/reports` body holds: a real F1 report or a decoy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportBody {
    /// A real report (boxed: a decoy is a word).
    F1(Box<F1Report>),
    /// A decoy (SPEC.md §10.6): answered as a verified report of one row, nothing stored.
    Decoy,
}

/// Offset of a report's `sighting_count` (SPEC.md §10.2).
const REPORT_MARK_OFFSET: usize = 26;

/// A decoy of `message_type`, `len` bytes long: the header, then zeros.
fn decoy(message_type: MessageType, version: u8, len: usize, classes: &[usize]) -> Vec<u8> {
    debug_assert!(classes.contains(&len));
    let mut out = Vec::with_capacity(len);
    wire::write_header(&mut out, message_type, version);
    out.resize(len, 0);
    out
}

/// Whether `bytes` (of a message whose header checked) is a decoy: the two-byte little-endian
/// or one-byte mark at `mark` is zero. A decoy must then be zeros after its header and one of
/// `classes` long.
fn check_decoy(
    bytes: &[u8],
    mark: &[u8],
    classes: &[usize],
    field: &'static str,
) -> Result<bool, DecodeError> {
    if mark.iter().any(|&b| b != 0) {
        return Ok(false);
    }
    if bytes[wire::HEADER_LEN..].iter().any(|&b| b != 0) || !classes.contains(&bytes.len()) {
        return Err(DecodeError::InvalidField {
            field,
            rule: "a decoy is zeros after its header up to one of the size classes",
        });
    }
    Ok(true)
}

/// A decoy upload of `len` bytes, which must be one of [`UPLOAD_SIZE_CLASSES`].
pub fn decoy_upload(len: usize) -> Result<Vec<u8>, Error> {
    if !UPLOAD_SIZE_CLASSES.contains(&len) {
        return Err(DecodeError::InvalidField {
            field: "upload.length",
            rule: "one of the upload size classes",
        }
        .into());
    }
    Ok(decoy(
        MessageType::F0Upload,
        F0_UPLOAD_VERSION,
        len,
        &UPLOAD_SIZE_CLASSES,
    ))
}

/// A decoy report of `len` bytes, which must be one of [`REPORT_SIZE_CLASSES`].
pub fn decoy_report(len: usize) -> Result<Vec<u8>, Error> {
    if !REPORT_SIZE_CLASSES.contains(&len) {
        return Err(DecodeError::InvalidField {
            field: "report.length",
            rule: "one of the report size classes",
        }
        .into());
    }
    Ok(decoy(
        MessageType::F1Report,
        F1_REPORT_VERSION,
        len,
        &REPORT_SIZE_CLASSES,
    ))
}

/// Parse an upload body: a decoy, or a real upload ([`F0Upload::parse`]).
pub fn parse_upload_body(bytes: &[u8]) -> Result<UploadBody, Error> {
    let mut r = Reader::new(bytes);
    r.header(MessageType::F0Upload, F0_UPLOAD_VERSION)?;
    let mark = r.take(1)?;
    if check_decoy(bytes, mark, &UPLOAD_SIZE_CLASSES, "upload.decoy")? {
        return Ok(UploadBody::Decoy);
    }
    F0Upload::parse(bytes).map(UploadBody::F0)
}

/// Parse a report body: a decoy, or a real report ([`F1Report::parse`]).
pub fn parse_report_body(bytes: &[u8]) -> Result<ReportBody, Error> {
    let mut r = Reader::new(bytes);
    r.header(MessageType::F1Report, F1_REPORT_VERSION)?;
    r.take(REPORT_MARK_OFFSET - wire::HEADER_LEN)?;
    let mark = r.take(2)?;
    if check_decoy(bytes, mark, &REPORT_SIZE_CLASSES, "report.decoy")? {
        return Ok(ReportBody::Decoy);
    }
    F1Report::parse(bytes).map(|r| ReportBody::F1(Box::new(r)))
}

/// When a phone sends its decoys (SPEC.md §7.6): each kind on its own Poisson process, the
/// wait before the next drawn from an exponential distribution of the given mean (whole
/// seconds, at least one minute), and the length of each decoy report drawn from
/// `report_class_weights`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoySchedule {
    /// Mean wait between two decoy uploads, seconds.
    pub upload_mean_seconds: u64,
    /// Mean wait between two decoy reports, seconds.
    pub report_mean_seconds: u64,
    /// Relative weights of the report size classes ([`REPORT_SIZE_CLASSES`], in order) a decoy
    /// report takes: a deployment sets them to the shares of real reports it receives (the
    /// reference server counts them per class in `/metrics`).
    pub report_class_weights: [u32; 4],
}

/// The contagious window a decoy upload is sized for ([`crate::Phone::prepare_decoy_upload`]):
/// four days, from two days before symptom onset (SPEC.md §7.1) to a test a day or two after.
pub const DECOY_UPLOAD_WINDOW_SECONDS: u64 = 4 * 86_400;

/// Shortest wait the schedule draws, seconds.
pub const MIN_DECOY_WAIT_SECONDS: u64 = 60;
/// Longest wait the schedule draws, in means: the exponential tail is cut at 20 means (a
/// probability of e^-20, about 2·10^-9).
pub const MAX_DECOY_WAIT_MEANS: u64 = 20;

impl Default for DecoySchedule {
    /// A decoy upload every 14 days and a decoy report every 3 days on average; decoy reports
    /// of 1,024 bytes, the class nearly every real report takes (a report of up to 12
    /// sightings with their own RPIs fits in it).
    fn default() -> Self {
        DecoySchedule {
            upload_mean_seconds: 14 * 86_400,
            report_mean_seconds: 3 * 86_400,
            report_class_weights: [1, 0, 0, 0],
        }
    }
}

/// A draw from an exponential distribution of mean `mean` seconds, cut to
/// `[MIN_DECOY_WAIT_SECONDS, MAX_DECOY_WAIT_MEANS · mean]`.
fn exponential_wait<R: CryptoRng + ?Sized>(mean: u64, rng: &mut R) -> u64 {
    // A uniform in (0, 1] from 53 random bits, then the inverse of the distribution function.
    let u = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let wait = (-u.ln() * mean as f64).round() as u64;
    wait.clamp(
        MIN_DECOY_WAIT_SECONDS,
        MAX_DECOY_WAIT_MEANS
            .saturating_mul(mean)
            .max(MIN_DECOY_WAIT_SECONDS),
    )
}

impl DecoySchedule {
    /// When to send the next decoy upload, after one sent (or the schedule started) at `after`.
    pub fn next_upload<R: CryptoRng + ?Sized>(&self, after: UnixTime, rng: &mut R) -> UnixTime {
        after.plus_seconds(exponential_wait(self.upload_mean_seconds, rng))
    }

    /// When to send the next decoy report, after one sent (or the schedule started) at `after`.
    pub fn next_report<R: CryptoRng + ?Sized>(&self, after: UnixTime, rng: &mut R) -> UnixTime {
        after.plus_seconds(exponential_wait(self.report_mean_seconds, rng))
    }

    /// The length of the next decoy report: a report size class drawn with
    /// `report_class_weights` (the smallest class if every weight is 0).
    pub fn report_len<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> usize {
        let total: u64 = self
            .report_class_weights
            .iter()
            .map(|&w| u64::from(w))
            .sum();
        if total == 0 {
            return REPORT_SIZE_CLASSES[0];
        }
        let mut pick = rng.next_u64() % total;
        for (class, &weight) in REPORT_SIZE_CLASSES.iter().zip(&self.report_class_weights) {
            if pick < u64::from(weight) {
                return *class;
            }
            pick -= u64::from(weight);
        }
        REPORT_SIZE_CLASSES[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn decoys_parse_as_decoys_and_nothing_else_does() {
        for len in UPLOAD_SIZE_CLASSES {
            let bytes = decoy_upload(len).unwrap();
            assert_eq!(bytes.len(), len);
            assert_eq!(parse_upload_body(&bytes).unwrap(), UploadBody::Decoy);
            assert!(F0Upload::parse(&bytes).is_err(), "not a real upload");
        }
        for len in REPORT_SIZE_CLASSES {
            let bytes = decoy_report(len).unwrap();
            assert_eq!(parse_report_body(&bytes).unwrap(), ReportBody::Decoy);
            assert!(F1Report::parse(&bytes).is_err(), "not a real report");
        }
        assert!(decoy_upload(5000).is_err());
        assert!(decoy_report(2048).is_err());
        // A decoy with a stray byte, or of a length between classes, is malformed.
        let mut stray = decoy_upload(4096).unwrap();
        stray[4000] = 1;
        assert!(parse_upload_body(&stray).is_err());
        let mut stray = decoy_report(1024).unwrap();
        stray[4] = 1;
        assert!(parse_report_body(&stray).is_err());
        assert!(parse_report_body(&decoy_report(1024).unwrap()[..1000]).is_err());
        let mut long = decoy_upload(4096).unwrap();
        long.push(0);
        assert!(parse_upload_body(&long).is_err());
    }

    #[test]
    fn waits_are_exponential_with_the_mean_asked_for() {
        let schedule = DecoySchedule::default();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let n = 20_000u64;
        let mut at = UnixTime(1_700_000_000);
        let mut sum = 0u64;
        let mut below_mean = 0u64;
        for _ in 0..n {
            let next = schedule.next_report(at, &mut rng);
            let wait = next.0 - at.0;
            assert!((MIN_DECOY_WAIT_SECONDS..=20 * 3 * 86_400).contains(&wait));
            sum += wait;
            below_mean += u64::from(wait < schedule.report_mean_seconds);
            at = next;
        }
        let mean = sum as f64 / n as f64;
        let expected = schedule.report_mean_seconds as f64;
        // Standard error of the mean: expected / sqrt(n), under 0.8 %; allow 4 of them.
        assert!((mean / expected - 1.0).abs() < 0.03, "mean {mean}");
        // P(wait < mean) = 1 - 1/e = 0.632 for an exponential.
        let share = below_mean as f64 / n as f64;
        assert!((share - 0.632).abs() < 0.015, "share {share}");
    }

    #[test]
    fn a_decoy_upload_has_the_length_of_the_phones_real_upload() {
        use crate::{DeclarationCode, Phone, PhoneConfig};
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let now = UnixTime(1_700_000_000);
        // Sighting counts on both sides of the class boundaries (4 KiB holds about 80).
        for heard in [0u32, 40, 85, 120, 380, 1500, 6000] {
            let mut phone = Phone::new(PhoneConfig::default());
            for day in (0..4).rev() {
                phone.broadcast(now.minus_seconds(day * 86_400 + 3600), &mut rng);
            }
            for k in 0..heard {
                let mut payload = [0u8; 20];
                payload[..4].copy_from_slice(&k.to_le_bytes());
                let at = now.minus_seconds(3 * 86_400 - u64::from(k) * 7);
                phone.hear(&payload, -70, at).unwrap();
            }
            let decoy = phone.prepare_decoy_upload(now);
            let real = phone
                .prepare_f0_upload(
                    DeclarationCode::new("ABCD-EFGH-JKMN-P").unwrap(),
                    now.minus_seconds(DECOY_UPLOAD_WINDOW_SECONDS),
                    &[],
                    now,
                    &mut rng,
                )
                .unwrap()
                .to_bytes()
                .unwrap();
            assert_eq!(decoy.len(), real.len(), "{heard} sightings");
            assert_eq!(parse_upload_body(&decoy).unwrap(), UploadBody::Decoy);
        }
    }

    #[test]
    fn report_lengths_follow_the_weights() {
        let schedule = DecoySchedule {
            report_class_weights: [3, 1, 0, 0],
            ..DecoySchedule::default()
        };
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut counts = [0u32; 4];
        for _ in 0..8000 {
            let len = schedule.report_len(&mut rng);
            counts[REPORT_SIZE_CLASSES.iter().position(|&c| c == len).unwrap()] += 1;
        }
        assert_eq!(counts[2] + counts[3], 0);
        assert!((5800..6200).contains(&counts[0]), "{counts:?}");
    }
}
