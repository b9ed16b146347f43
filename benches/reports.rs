//! F1 reports on one core:
//! - HPKE seal and open of the contact details (against a baseline of one bare X25519
//!   Diffie-Hellman, the operation that dominates both);
//! - verifying reports of 4 sightings against a publication index of 10,000,000 RPIs (target:
//!   at least 100,000 reports/s), and the index's memory per entry.

use bluezone_protocol::hpke::{self, HpkePublicKey};
use bluezone_protocol::{
    AemKey, CaseId, ContactDetails, ContactHistoryStore, DailyKey, DeclarationCode, F0Upload,
    F1Report, IntervalNumber, Metadata, NoClaims, OwnRpi, PublicationIndex, PublishedIntervals,
    ReportId, RiskRule, RollingProximityId, SealedContactDetails, Sighting, UnixTime, UploadedKey,
    verify_report,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::hint::black_box;

const INDEXED: usize = 10_000_000;
const DAY: u32 = 2_833_344;
const REPORTS: usize = 10_000;

fn details() -> ContactDetails {
    ContactDetails {
        phone_number: "84912345678".into(),
        name: "Nguyễn Văn An".into(),
        district: 1,
        consent_time: UnixTime(1_700_000_000),
    }
}

fn hpke_bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let (unit_private, unit_public) = hpke::generate_keypair(&mut rng);
    let id = ReportId([7; 16]);
    let mut group = c.benchmark_group("hpke");
    group.bench_function("baseline: one X25519 scalar multiplication", |b| {
        let point = curve25519_dalek::montgomery::MontgomeryPoint(*unit_public.as_bytes());
        b.iter(|| black_box(black_box(point).mul_clamped([9; 32])))
    });
    group.bench_function("seal contact details", |b| {
        b.iter(|| {
            black_box(SealedContactDetails::seal(
                &details(),
                &id,
                &unit_public,
                &mut rng,
            ))
        })
    });
    let sealed = SealedContactDetails::seal(&details(), &id, &unit_public, &mut rng).unwrap();
    group.bench_function("open contact details", |b| {
        b.iter(|| black_box(sealed.open(&id, 1, &unit_private)))
    });
    group.finish();
}

/// An index of 10,000,000 RPIs: 69,445 F0 keys with every interval published, in uploads of
/// 14 keys.
fn index(rng: &mut ChaCha20Rng) -> (PublicationIndex, Vec<DailyKey>) {
    let mut index = PublicationIndex::new([9; 32]);
    index.reserve(INDEXED);
    let mut all = PublishedIntervals::default();
    (0..144).for_each(|j| all.insert(j));
    let mut keys = Vec::new();
    let mut case = 0;
    while index.len() < INDEXED {
        let upload_keys: Vec<UploadedKey> = (0..14)
            .map(|d| {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                let key = DailyKey::new(bytes, IntervalNumber(DAY + 144 * d), 144).unwrap();
                keys.push(key.clone());
                UploadedKey {
                    key,
                    published: all,
                }
            })
            .collect();
        let upload = F0Upload {
            code: DeclarationCode::new("BENCH").unwrap(),
            keys: upload_keys,
            contact_history: Vec::new(),
        };
        index
            .publish(
                &upload,
                CaseId(case),
                UnixTime(u64::from(DAY + 20 * 144) * 600),
            )
            .unwrap();
        case += 1;
    }
    (index, keys)
}

/// Honest reports of 4 sightings each: four consecutive intervals of one F0 key, heard at
/// 30 dB attenuation, with the reporter's 4 own RPIs.
fn reports(rng: &mut ChaCha20Rng, keys: &[DailyKey], unit: &HpkePublicKey) -> Vec<F1Report> {
    (0..REPORTS)
        .map(|i| {
            let key = &keys[(i * 7919) % keys.len()];
            let rpi_key = key.rpi_key();
            let aem_key = AemKey::new(key.key_bytes());
            let first = key.rolling_start().plus((i % 140) as u32);
            let sightings = (0..4)
                .map(|j| {
                    let interval = first.plus(j);
                    let rpi = rpi_key.rpi(interval);
                    Sighting {
                        rpi,
                        aem: aem_key.encrypt(&rpi, &Metadata::v1(-24).to_bytes()),
                        first_seen: interval.start().plus_seconds(60),
                        last_seen: interval.start().plus_seconds(360),
                        scans: 2,
                        rssi_min: -56,
                        rssi_max: -52,
                        rssi_mean: -54,
                    }
                })
                .collect();
            let mut id = ReportId::default();
            rng.fill_bytes(&mut id.0);
            let own_rpis = (0..4)
                .map(|j| {
                    let mut rpi = [0u8; 16];
                    rng.fill_bytes(&mut rpi);
                    OwnRpi {
                        interval: first.plus(j),
                        rpi: RollingProximityId(rpi),
                    }
                })
                .collect();
            F1Report {
                report_id: id,
                district: 1,
                rssi_correction_db: 0,
                sightings,
                own_rpis,
                contact: SealedContactDetails::seal(&details(), &id, unit, rng).unwrap(),
            }
        })
        .collect()
}

fn verification_bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    let (index, keys) = index(&mut rng);
    eprintln!(
        "publication index: {} RPIs, {} bytes of heap, {:.1} bytes per RPI",
        index.len(),
        index.heap_bytes(),
        index.heap_bytes() as f64 / index.len() as f64
    );
    let mut history = ContactHistoryStore::new(&[3; 32]);
    // Every case's F0 heard 2,000 RPIs (none of them the reporters').
    for case in 0..(keys.len() / 14) as u64 {
        let heard: Vec<([u8; 16], UnixTime)> = (0..2_000u32)
            .map(|i| {
                let mut h = [0u8; 16];
                h[..8].copy_from_slice(&case.to_le_bytes());
                h[8..12].copy_from_slice(&i.to_le_bytes());
                (h, UnixTime(u64::from(DAY + 10 * 144) * 600))
            })
            .collect();
        history.store_hashes(CaseId(case), heard);
        if case > 100 {
            break;
        }
    }
    let (_, unit) = hpke::generate_keypair(&mut rng);
    let reports = reports(&mut rng, &keys, &unit);
    let rule = RiskRule::default();
    // Every report verifies.
    for r in &reports {
        let v = verify_report(r, &index, &history, &rule, &NoClaims, |_| false).unwrap();
        assert_eq!(v.rows.len(), 1);
    }

    let mut group = c.benchmark_group("verification");
    group.throughput(Throughput::Elements(REPORTS as u64));
    group.sample_size(20);
    group.bench_function("verify 10k reports of 4 sightings, 10M-RPI index", |b| {
        b.iter(|| {
            for r in &reports {
                black_box(verify_report(r, &index, &history, &rule, &NoClaims, |_| false).is_ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, hpke_bench, verification_bench);
criterion_main!(benches);
