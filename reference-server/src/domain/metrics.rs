//! Counters and latency histograms, rendered in the Prometheus text format at `/metrics`.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency buckets, seconds.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The routes whose latency is measured apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /phone/v1/uploads`.
    Upload,
    /// `POST /phone/v1/reports`.
    Report,
    /// The publication files.
    Publication,
    /// The health workers' JSON API.
    Api,
}

impl Endpoint {
    const ALL: [Endpoint; 4] = [
        Endpoint::Upload,
        Endpoint::Report,
        Endpoint::Publication,
        Endpoint::Api,
    ];

    fn label(self) -> &'static str {
        match self {
            Endpoint::Upload => "upload",
            Endpoint::Report => "report",
            Endpoint::Publication => "publication",
            Endpoint::Api => "api",
        }
    }
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Everything `/metrics` shows.
#[derive(Default)]
pub struct Metrics {
    /// Uploads accepted.
    pub uploads_accepted: AtomicU64,
    /// Uploads refused (any reason).
    pub uploads_refused: AtomicU64,
    /// Wrong declaration codes (unknown, used or expired).
    pub code_failures: AtomicU64,
    /// Reports that verified.
    pub reports_verified: AtomicU64,
    /// Reports refused (malformed, duplicate, or nothing verified).
    pub reports_refused: AtomicU64,
    /// F1 rows created.
    pub f1_rows: AtomicU64,
    /// Sightings of accepted reports that did not verify (filter false positives mostly).
    pub sightings_unverified: AtomicU64,
    /// Rows that were confirmed both ways.
    pub confirmed_both_ways: AtomicU64,
    /// Rows that were one-sided.
    pub one_sided: AtomicU64,
    /// Batches built.
    pub batches: AtomicU64,
    /// RPIs published (real entries).
    pub published_rpis: AtomicU64,
    /// Bytes of the latest batch.
    pub last_batch_bytes: AtomicU64,
    /// Entries of the latest batch, dummies included.
    pub last_batch_entries: AtomicU64,
    /// Failed logins.
    pub login_failures: AtomicU64,
    /// Audit entries that could not be written.
    pub audit_failures: AtomicU64,
    /// Records the retention purges erased.
    pub retention_purged: AtomicU64,
    /// Requests answered with a 5xx status.
    pub server_errors: AtomicU64,
    latency: Mutex<[Histogram; 4]>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Metrics {
    /// Add one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Record how long a request to `endpoint` took.
    pub fn observe(&self, endpoint: Endpoint, seconds: f64) {
        let Ok(mut all) = self.latency.lock() else {
            return;
        };
        let h = &mut all[endpoint as usize];
        for (bucket, bound) in h.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The Prometheus text exposition, with the store's record counts.
    pub fn render(
        &self,
        counts: Option<crate::domain::store::StoreCounts>,
        index_rpis: usize,
    ) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &AtomicU64); 17] = [
            (
                "bluezone_uploads_accepted_total",
                "F0 uploads accepted",
                &self.uploads_accepted,
            ),
            (
                "bluezone_uploads_refused_total",
                "F0 uploads refused",
                &self.uploads_refused,
            ),
            (
                "bluezone_declaration_code_failures_total",
                "Unknown, used or expired declaration codes",
                &self.code_failures,
            ),
            (
                "bluezone_reports_verified_total",
                "F1 reports that verified",
                &self.reports_verified,
            ),
            (
                "bluezone_reports_refused_total",
                "F1 reports refused",
                &self.reports_refused,
            ),
            ("bluezone_f1_rows_total", "F1 rows created", &self.f1_rows),
            (
                "bluezone_sightings_unverified_total",
                "Sightings of accepted reports that did not verify",
                &self.sightings_unverified,
            ),
            (
                "bluezone_f1_confirmed_both_ways_total",
                "F1 rows confirmed both ways",
                &self.confirmed_both_ways,
            ),
            (
                "bluezone_f1_one_sided_total",
                "F1 rows confirmed one-sided",
                &self.one_sided,
            ),
            (
                "bluezone_batches_total",
                "Publication batches built",
                &self.batches,
            ),
            (
                "bluezone_published_rpis_total",
                "RPIs published",
                &self.published_rpis,
            ),
            (
                "bluezone_login_failures_total",
                "Failed logins",
                &self.login_failures,
            ),
            (
                "bluezone_retention_purged_total",
                "Records the retention purges erased",
                &self.retention_purged,
            ),
            (
                "bluezone_audit_failures_total",
                "Audit entries that could not be written",
                &self.audit_failures,
            ),
            (
                "bluezone_server_errors_total",
                "Requests answered with a 5xx status",
                &self.server_errors,
            ),
            (
                "bluezone_last_batch_bytes",
                "Bytes of the latest batch",
                &self.last_batch_bytes,
            ),
            (
                "bluezone_last_batch_entries",
                "Entries of the latest batch, dummies included",
                &self.last_batch_entries,
            ),
        ];
        for (name, help, counter) in counters {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                get(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP bluezone_index_rpis RPIs in the verification index\n# TYPE bluezone_index_rpis gauge\nbluezone_index_rpis {index_rpis}"
        );
        if let Some(c) = counts {
            let _ = writeln!(
                out,
                "# HELP bluezone_store_records Records in the store\n# TYPE bluezone_store_records gauge"
            );
            for (kind, n) in [
                ("accounts", c.accounts),
                ("sessions", c.sessions),
                ("cases", c.cases),
                ("uploads", c.uploads),
                ("batches", c.batches),
                ("reports", c.reports),
                ("f1_rows", c.f1_rows),
            ] {
                let _ = writeln!(out, "bluezone_store_records{{kind=\"{kind}\"}} {n}");
            }
        }
        let name = "bluezone_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Request latency\n# TYPE {name} histogram"
        );
        if let Ok(all) = self.latency.lock() {
            for endpoint in Endpoint::ALL {
                let h = &all[endpoint as usize];
                let label = endpoint.label();
                for (bucket, bound) in h.buckets.iter().zip(LATENCY_BUCKETS) {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{endpoint=\"{label}\",le=\"{bound}\"}} {bucket}"
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{{endpoint=\"{label}\",le=\"+Inf\"}} {}\n{name}_sum{{endpoint=\"{label}\"}} {}\n{name}_count{{endpoint=\"{label}\"}} {}",
                    h.count, h.sum, h.count
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.observe(Endpoint::Upload, 0.003);
        m.observe(Endpoint::Upload, 0.2);
        Metrics::inc(&m.uploads_accepted);
        let text = m.render(None, 7);
        assert!(text.contains("bluezone_uploads_accepted_total 1\n"));
        assert!(text.contains("bluezone_index_rpis 7\n"));
        let bucket = |le: &str| {
            format!("bluezone_request_duration_seconds_bucket{{endpoint=\"upload\",le=\"{le}\"}} ")
        };
        assert!(text.contains(&format!("{}0\n", bucket("0.0025"))));
        assert!(text.contains(&format!("{}1\n", bucket("0.005"))));
        assert!(text.contains(&format!("{}2\n", bucket("0.25"))));
        assert!(text.contains(&format!("{}2\n", bucket("+Inf"))));
    }
}
