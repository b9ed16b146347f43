//! `bluezone bandwidth`: the daily download per phone for a load, the derivation of the default
//! false-positive rate ε, and the download under regional batches for a region distribution.

use std::fmt::Write as _;
use std::path::Path;

use bluezone_protocol::FilterKind;
use bluezone_protocol::bandwidth::{self, BandwidthLoad, EpsilonBudget, Region};

/// Sightings an app user's phone holds (14 days), measured by the simulator's worked example
/// (`summary.json`'s `sightings_retained_per_phone`; README, "The simulator").
pub const MEASURED_SIGHTINGS_PER_PHONE: f64 = 940.961481;
/// Share of tested sightings that pass the risk rule alone (`tested_share_alone_passing`):
/// none can under the default rule (a sighting spans less than one 600-second interval, so it
/// stands for at most 599 + 300 seconds, under the 900 the threshold needs at weight 100%).
pub const MEASURED_ALONE_SHARE: f64 = 0.0;
/// Same-day pairs of relevant sightings a phone tests against one batch
/// (`same_day_pairs_per_phone_batch`), measured with `--all-phones` on 20,000 agents (README).
pub const MEASURED_PAIRS_PER_BATCH: f64 = 12397.356401;
/// Share of the contagious window's intervals an F0 publishes (`published_interval_share` of
/// the worked example).
pub const MEASURED_PUBLISHED_SHARE: f64 = 0.312807;

/// How the filters' false-positive rate is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TargetFp {
    /// Derived from the false-alert budget (SPEC.md §8.1.3).
    Derived,
    /// Given.
    Rate(f64),
}

/// Parse `--target-fp`: `derived`, a number (1e-7) or a power of two (2^-24).
pub fn parse_target_fp(text: &str) -> Result<TargetFp, String> {
    if text == "derived" {
        return Ok(TargetFp::Derived);
    }
    let rate = match text.strip_prefix("2^") {
        Some(exp) => exp
            .parse::<i32>()
            .map(|e| 2f64.powi(e))
            .map_err(|e| format!("bad exponent: {e}"))?,
        None => text
            .parse::<f64>()
            .map_err(|e| format!("not a number or `derived`: {e}"))?,
    };
    if rate > 0.0 && rate < 1.0 {
        Ok(TargetFp::Rate(rate))
    } else {
        Err(format!("{text} is not a rate strictly between 0 and 1"))
    }
}

/// Everything `bluezone bandwidth` is asked.
#[derive(Clone, Debug)]
pub struct Request {
    /// The load (its `target_fp_rate` is replaced by the derived one when `target_fp` says so).
    pub load: BandwidthLoad,
    /// Given or derived ε.
    pub target_fp: TargetFp,
    /// The inputs of the derivation (its `batches_per_day` is the load's).
    pub budget: EpsilonBudget,
    /// Phones in the country, for the server's expected false reports.
    pub phones: f64,
    /// The region distribution and its file name, if any.
    pub regions: Option<(String, Vec<Region>)>,
    /// Share of cases traced to region 0 (the whole country).
    pub national_case_share: f64,
}

/// The report `bluezone bandwidth` prints.
pub fn report(req: &Request) -> Result<String, String> {
    let mut out = String::new();
    let mut load = req.load;
    let budget = EpsilonBudget {
        batches_per_day: load.batches_per_day,
        ..req.budget
    };
    let d = budget.derive().ok_or_else(|| {
        format!(
            "no ε down to 2^-32 meets a budget of {:e} false alerts per phone-day",
            budget.max_false_alert_rate
        )
    })?;
    let _ = writeln!(
        out,
        "epsilon: budget {:e} false alerts per phone-day; {} sightings per phone, {:.4} of them passing the risk rule alone, {} same-day pairs of relevant sightings per batch; {} batches/day",
        budget.max_false_alert_rate,
        budget.sightings_per_phone,
        budget.alone_share,
        budget.pairs_per_batch,
        budget.batches_per_day
    );
    let _ = writeln!(
        out,
        "epsilon: queries/phone/day = {:.0}; on sightings passing alone Q_alone = {:.1}; same-day relevant pairs over the day's batches Pi = {:.0}",
        d.queries_per_day, d.queries_alone_per_day, d.pairs_per_day
    );
    let _ = writeln!(
        out,
        "epsilon: P(false alert per phone-day) <= eps*Q_alone + eps^2*Pi = {:.3e} at 2^-{}, {:.3e} at 2^-{} (over the budget)",
        d.false_alert_bound,
        d.bits,
        d.false_alert_bound_one_bit_less,
        d.bits - 1
    );
    let eps = match req.target_fp {
        TargetFp::Derived => d.epsilon,
        TargetFp::Rate(r) => r,
    };
    let _ = writeln!(
        out,
        "epsilon: derived 2^-{} = {:.3e}; at {} ({eps:.3e}) over {:.0} phones: at most {:.1} phones shown a false match a day (the reports they send, all refused by the server's verification), {:.0} filter false positives a day",
        d.bits,
        d.epsilon,
        if req.target_fp == TargetFp::Derived {
            "it"
        } else {
            "the given rate"
        },
        req.phones,
        req.phones * budget.false_alert_bound(eps),
        req.phones * d.queries_per_day * eps
    );
    load.target_fp_rate = eps;
    let _ = writeln!(
        out,
        "load: {} F0/day, {} contagious days, {:.0}% of intervals published, false-positive target {eps:.3e}, {} batches/day",
        load.f0_per_day,
        load.contagious_days,
        load.published_share * 100.0,
        load.batches_per_day
    );
    let national = bandwidth::estimate(&load);
    for e in &national {
        let _ = writeln!(
            out,
            "{:>12.0} bytes/phone/day  {:>12.0} entries/day  {:>6.2} bits/entry  {}",
            e.bytes_per_phone_per_day, e.entries_per_day, e.bits_per_entry, e.model
        );
    }
    if let Some((file, regions)) = &req.regions {
        let _ = writeln!(
            out,
            "regions: {file}: {} regions, {:.0}% of cases traced to region 0; a phone fetches region 0's and its home region's batches, and a regional index when it changed",
            regions.len(),
            req.national_case_share * 100.0
        );
        let _ = writeln!(
            out,
            "{:>12} {:>12} {:>12} {:>12}  bytes/phone/day",
            "national", "median", "p95", "worst-off"
        );
        for (kind, line) in [(FilterKind::Compressed, 0), (FilterKind::Bloom, 1)] {
            let r = bandwidth::regional(&load, kind, regions, req.national_case_share);
            let _ = writeln!(
                out,
                "{:>12.0} {:>12.0} {:>12.0} {:>12.0}  filter kind {} regional batches (worst off: {} {})",
                national[line].bytes_per_phone_per_day,
                r.median,
                r.p95,
                r.worst,
                kind.code(),
                regions[r.worst_region].code,
                regions[r.worst_region].name
            );
        }
        for e in &national[2..] {
            let _ = writeln!(
                out,
                "{:>12.0} {:>12} {:>12} {:>12}  {} (national only)",
                e.bytes_per_phone_per_day, "-", "-", "-", e.model
            );
        }
    }
    Ok(out)
}

/// Read a region distribution from a CSV file (see [`parse_regions`]).
pub fn read_regions(path: &Path) -> Result<Vec<Region>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_regions(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parse a region distribution: lines starting with `#` and blank lines are skipped; the first
/// other line is the header `code,name,<phones>,<cases>` where `<phones>` is `phones_share` or
/// `population` and `<cases>` is `cases_share` or `cases`; then one line per region: its code
/// (1 to 999; 0 is the whole country and is not listed), its name (no comma) and two
/// non-negative numbers. Shares are normalised, so counts and shares read alike.
pub fn parse_regions(text: &str) -> Result<Vec<Region>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (n, header) = lines.next().ok_or("no header line")?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let ok = columns.len() == 4
        && columns[0] == "code"
        && columns[1] == "name"
        && ["phones_share", "population"].contains(&columns[2])
        && ["cases_share", "cases"].contains(&columns[3]);
    if !ok {
        return Err(format!(
            "line {n}: the header must be `code,name,phones_share|population,cases_share|cases`, not `{header}`"
        ));
    }
    let mut regions: Vec<Region> = Vec::new();
    for (n, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [code, name, phones, cases] = fields[..] else {
            return Err(format!(
                "line {n}: {} fields, want 4 (code,name,{},{})",
                fields.len(),
                columns[2],
                columns[3]
            ));
        };
        let code: u32 = code
            .parse()
            .ok()
            .filter(|c| (1..=999).contains(c))
            .ok_or_else(|| format!("line {n}: region code `{code}` is not a number in 1..=999"))?;
        if regions.iter().any(|r| r.code == code) {
            return Err(format!("line {n}: region code {code} listed twice"));
        }
        if name.is_empty() {
            return Err(format!("line {n}: empty name"));
        }
        let number = |text: &str, what: &str| {
            text.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("line {n}: {what} `{text}` is not a non-negative number"))
        };
        regions.push(Region {
            code,
            name: name.to_string(),
            phone_share: number(phones, columns[2])?,
            case_share: number(cases, columns[3])?,
        });
    }
    if regions.is_empty() {
        return Err("no region listed".into());
    }
    if regions.iter().map(|r| r.phone_share).sum::<f64>() <= 0.0 {
        return Err(format!("the {} column sums to 0", columns[2]));
    }
    Ok(regions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_parse_with_counts_or_shares() {
        let text = "# comment\n\ncode,name,population,cases\n01,Hà Nội,8053664,2187\n79,TP. Hồ Chí Minh,8993082,131306\n";
        let r = parse_regions(text).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].code, r[0].name.as_str()), (1, "Hà Nội"));
        assert_eq!(
            (r[1].phone_share, r[1].case_share),
            (8_993_082.0, 131_306.0)
        );
        let shares = parse_regions("code,name,phones_share,cases_share\n1,a,0.5,0\n2,b,0.5,1\n");
        assert_eq!(shares.unwrap()[1].case_share, 1.0);
    }

    #[test]
    fn bad_region_files_name_the_line() {
        let cases = [
            ("", "no header line"),
            ("code,name,people,cases\n", "line 1: the header"),
            ("code,name,population,cases\n", "no region listed"),
            ("code,name,population,cases\n1,a,1\n", "line 2: 3 fields"),
            (
                "#x\ncode,name,population,cases\n1,a,1,2\nx,b,1,2\n",
                "line 4: region code `x`",
            ),
            (
                "code,name,population,cases\n0,a,1,2\n",
                "line 2: region code `0`",
            ),
            (
                "code,name,population,cases\n1,a,1,2\n1,b,1,2\n",
                "line 3: region code 1 listed twice",
            ),
            ("code,name,population,cases\n1,,1,2\n", "line 2: empty name"),
            (
                "code,name,population,cases\n1,a,-1,2\n",
                "line 2: population `-1`",
            ),
            (
                "code,name,population,cases\n1,a,1,NaN\n",
                "line 2: cases `NaN`",
            ),
            (
                "code,name,population,cases\n1,a,0,2\n",
                "the population column sums to 0",
            ),
        ];
        for (text, want) in cases {
            let err = parse_regions(text).unwrap_err();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_shipped_vietnam_file_parses() {
        let text = include_str!("../data/vn-2021.csv");
        let r = parse_regions(text).unwrap();
        assert_eq!(r.len(), 63);
        assert!(
            r.iter()
                .any(|r| r.code == 79 && r.name == "TP. Hồ Chí Minh")
        );
    }

    #[test]
    fn target_fp_is_derived_or_given() {
        assert_eq!(parse_target_fp("derived"), Ok(TargetFp::Derived));
        assert_eq!(parse_target_fp("2^-24"), Ok(TargetFp::Rate(2f64.powi(-24))));
        assert_eq!(parse_target_fp("1e-7"), Ok(TargetFp::Rate(1e-7)));
        assert!(parse_target_fp("1").is_err());
        assert!(parse_target_fp("derive").is_err());
    }
}
