//! `sighting_log`: what a phone's sighting log costs to fill, against a baseline of the layout it
//! replaced (one `BTreeMap` entry per RPI, with the same update rule), in the same run:
//!
//! - a busy fortnight: 30,000 RPIs, each heard in 5 scans, heard 20 at a time as a phone hears
//!   the people around it (the busy fortnight of SPEC.md §6);
//! - a flood: 200,000 forged RPIs, each heard once (the default capacity), the worst an attacker
//!   can make a phone do before the log is full.

use std::collections::BTreeMap;
use std::hint::black_box;

use bluezone_protocol::{
    Advertisement, AssociatedEncryptedMetadata, RollingProximityId, SightingLog, UnixTime,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// SplitMix64: the RPIs only need to be spread over the identifier space, the same every run.
fn split_mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn advertisements(n: usize) -> Vec<Advertisement> {
    let mut state = 7;
    (0..n)
        .map(|_| {
            let mut rpi = [0u8; 16];
            rpi[..8].copy_from_slice(&split_mix(&mut state).to_le_bytes());
            rpi[8..].copy_from_slice(&split_mix(&mut state).to_le_bytes());
            Advertisement {
                rpi: RollingProximityId(rpi),
                aem: AssociatedEncryptedMetadata([1, 2, 3, 4]),
            }
        })
        .collect()
}

/// (advertisement index, time, RSSI) of every scan: groups of 20 RPIs, each group scanned 5
/// times a minute apart.
fn scans(rpis: usize, per_rpi: u64, group: usize) -> Vec<(usize, UnixTime, i8)> {
    let mut out = Vec::new();
    let mut t = 1_600_000_000;
    for start in (0..rpis).step_by(group) {
        for round in 0..per_rpi {
            for i in start..(start + group).min(rpis) {
                out.push((i, UnixTime(t + 60 * round), -50 - (i % 40) as i8));
            }
        }
        t += 60 * per_rpi;
    }
    out
}

/// The former layout: the RPI as the key, 40 bytes of state, updated as the log updates.
#[derive(Clone, Copy)]
#[expect(
    dead_code,
    reason = "the bench only writes the state, which must take the bytes it took in the log"
)]
struct Stats {
    first_seen: u64,
    last_seen: u64,
    rssi_sum: i64,
    scans: u32,
    aem: AssociatedEncryptedMetadata,
    rssi_min: i8,
    rssi_max: i8,
}

fn baseline_record(
    map: &mut BTreeMap<RollingProximityId, Stats>,
    a: &Advertisement,
    rssi: i8,
    now: UnixTime,
) {
    if let Some(s) = map.get_mut(&a.rpi) {
        s.first_seen = s.first_seen.min(now.0);
        s.last_seen = s.last_seen.max(now.0);
        if s.scans < u32::MAX {
            s.scans += 1;
            s.rssi_sum += i64::from(rssi);
        }
        s.rssi_min = s.rssi_min.min(rssi);
        s.rssi_max = s.rssi_max.max(rssi);
    } else if map.len() < 200_000 {
        map.insert(
            a.rpi,
            Stats {
                first_seen: now.0,
                last_seen: now.0,
                rssi_sum: i64::from(rssi),
                scans: 1,
                aem: a.aem,
                rssi_min: rssi,
                rssi_max: rssi,
            },
        );
    }
}

fn sighting_log(c: &mut Criterion) {
    let mut group = c.benchmark_group("sighting_log");
    group.sample_size(20);
    for (name, rpis, per_rpi) in [("busy fortnight", 30_000, 5), ("flood", 200_000, 1)] {
        let ads = advertisements(rpis);
        let scans = scans(rpis, per_rpi, 20);
        group.throughput(Throughput::Elements(scans.len() as u64));
        group.bench_function(format!("baseline: BTreeMap, {name}"), |b| {
            b.iter_batched(
                BTreeMap::new,
                |mut map| {
                    for &(i, t, rssi) in &scans {
                        baseline_record(&mut map, &ads[i], rssi, t);
                    }
                    black_box(map)
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("SightingLog, {name}"), |b| {
            b.iter_batched(
                SightingLog::default,
                |mut log| {
                    for &(i, t, rssi) in &scans {
                        log.record(&ads[i], rssi, t);
                    }
                    black_box(log)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, sighting_log);
criterion_main!(benches);
