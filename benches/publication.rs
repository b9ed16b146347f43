//! Publication at national scale, on one core:
//! - building a 4,000,000-entry batch from F0 uploads (RPI derivation included);
//! - a phone matching 30,000 sightings against that batch;
//! - the filter's bits per entry against the information-theoretic bound log2(1/eps).

use bluezone_protocol::{
    AssociatedEncryptedMetadata, BatchSpec, BloomParams, CaseId, DEFAULT_TARGET_FP_RATE, DailyKey,
    DeclarationCode, F0Upload, IntervalNumber, PhoneConfig, PublicationBatch, PublishedIntervals,
    PublisherKeyPair, RollingProximityId, Sighting, UnixTime, UploadedKey, match_sightings,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::hint::black_box;

const ENTRIES: usize = 4_000_000;
const SIGHTINGS: usize = 30_000;
const DAY: u32 = 2_833_344; // a UTC midnight's interval

/// F0 uploads of 14 whole-day keys each, every interval published, 4,000,000 RPIs in all.
fn uploads(rng: &mut ChaCha20Rng) -> Vec<F0Upload> {
    let keys_needed = ENTRIES.div_ceil(144);
    let mut all = PublishedIntervals::default();
    (0..144).for_each(|j| all.insert(j));
    let mut uploads = Vec::new();
    let mut made = 0;
    while made < keys_needed {
        let n = (keys_needed - made).min(14);
        let keys = (0..n)
            .map(|d| {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                UploadedKey {
                    key: DailyKey::new(bytes, IntervalNumber(DAY + 144 * d as u32), 144).unwrap(),
                    published: all,
                }
            })
            .collect();
        uploads.push(F0Upload {
            code: DeclarationCode::new("BENCH").unwrap(),
            keys,
            contact_history: Vec::new(),
        });
        made += n;
    }
    uploads
}

fn spec() -> BatchSpec {
    BatchSpec {
        batch_id: 1,
        region: 0,
        created_at: UnixTime(u64::from(DAY + 15 * 144) * 600),
        target_fp_rate: DEFAULT_TARGET_FP_RATE,
        dummy_quantum: 0,
    }
}

fn publication(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let uploads = uploads(&mut rng);
    let publisher = PublisherKeyPair::generate(&mut rng);

    let mut group = c.benchmark_group("publication");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ENTRIES as u64));
    group.bench_function("build 4M-entry batch from uploads", |b| {
        // The builder's entry buffer is reused from batch to batch, as a server's is.
        let mut entries = Vec::with_capacity(ENTRIES + 144);
        b.iter(|| {
            entries.clear();
            for (case, upload) in uploads.iter().enumerate() {
                upload.extend_published_entries(CaseId(case as u64), &mut entries);
            }
            entries.truncate(ENTRIES);
            let (batch, bytes) =
                PublicationBatch::build(&entries, &spec(), &publisher, &mut rng).unwrap();
            black_box((batch.entry_count, bytes.len()))
        })
    });

    let mut entries = Vec::with_capacity(ENTRIES + 144);
    for (case, upload) in uploads.iter().enumerate() {
        entries.extend(upload.published_entries(CaseId(case as u64)));
    }
    entries.truncate(ENTRIES);
    group.bench_function(
        "parts: build from expanded entries (filter and signature)",
        |b| {
            b.iter(|| {
                let (batch, bytes) =
                    PublicationBatch::build(&entries, &spec(), &publisher, &mut rng).unwrap();
                black_box((batch.entry_count, bytes.len()))
            })
        },
    );

    // The batch a phone downloads, and 30,000 sightings (a busy fortnight), none published.
    let (_, bytes) = PublicationBatch::build(&entries, &spec(), &publisher, &mut rng).unwrap();
    let batch = PublicationBatch::open(&bytes, &publisher.public_key()).unwrap();
    let params = batch.filter.params();
    let bits_per_entry = f64::from(params.bits) / ENTRIES as f64;
    let bound = (1.0 / DEFAULT_TARGET_FP_RATE).log2();
    eprintln!(
        "batch of {ENTRIES} entries at eps = 2^-24: {} bytes, k = {}, {bits_per_entry:.2} bits per entry, bound log2(1/eps) = {bound:.0}, ratio {:.3}; predicted false-positive rate {:.3e}",
        bytes.len(),
        params.hashes,
        bits_per_entry / bound,
        params.predicted_fp_rate(ENTRIES as u64),
    );
    assert_eq!(
        BloomParams::for_target(ENTRIES as u64, DEFAULT_TARGET_FP_RATE).unwrap(),
        params
    );

    let sightings: Vec<Sighting> = (0..SIGHTINGS)
        .map(|i| {
            let mut rpi = [0u8; 16];
            rng.fill_bytes(&mut rpi);
            let t = UnixTime(u64::from(DAY) * 600 + (i as u64 * 40) % (14 * 86_400));
            Sighting {
                rpi: RollingProximityId(rpi),
                aem: AssociatedEncryptedMetadata([0; 4]),
                first_seen: t,
                last_seen: t.plus_seconds(300),
                scans: 2,
                rssi_min: -80,
                rssi_max: -70,
                rssi_mean: -75,
            }
        })
        .collect();
    let rule = PhoneConfig::default().risk_rule;
    group.throughput(Throughput::Elements(SIGHTINGS as u64));
    group.sample_size(50);
    group.bench_function("match 30k sightings against the 4M batch", |b| {
        b.iter(|| black_box(match_sightings(&batch, sightings.iter().copied(), &rule, 0)))
    });
    group.finish();
}

criterion_group!(benches, publication);
criterion_main!(benches);
