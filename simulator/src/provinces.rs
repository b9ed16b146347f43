//! Vietnam's 63 provinces: their codes, names, 2019 census populations and August 2021 case
//! counts, read from `protocol/cli/data/vn-2021.csv` (the file `bluezone bandwidth --regions`
//! reads; its README, in the same folder, cites the sources), and the apportionment that places
//! agents and districts in them ([`crate::scenario::Provinces`]).

use std::sync::OnceLock;

/// The region distribution shared with `bluezone bandwidth --regions`.
const VN_2021_CSV: &str = include_str!("../../protocol/cli/data/vn-2021.csv");

/// One province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Province {
    /// Its code in the General Statistics Office's list (1 Hà Nội … 79 TP. Hồ Chí Minh … 96 Cà
    /// Mau), the server's region code.
    pub code: u16,
    /// Its name in Vietnamese.
    pub name: &'static str,
    /// Its population in the 2019 census.
    pub population: u64,
    /// COVID-19 cases reported in it from 1 to 31 August 2021.
    pub cases: u64,
}

/// Vietnam's 63 provinces, in the order of the file (ascending code).
///
/// # Panics
/// Never: the shipped file is checked by the tests.
#[must_use]
pub fn vietnam() -> &'static [Province] {
    static TABLE: OnceLock<Vec<Province>> = OnceLock::new();
    TABLE.get_or_init(|| {
        VN_2021_CSV
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("code,"))
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                let number = |i: usize| -> u64 {
                    f[i].trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("vn-2021.csv: bad number in `{line}`"))
                };
                Province {
                    code: number(0) as u16,
                    name: f[1].trim(),
                    population: number(2),
                    cases: number(3),
                }
            })
            .collect()
    })
}

/// The province of code `code`, if Vietnam has one.
#[must_use]
pub fn by_code(code: u16) -> Option<&'static Province> {
    vietnam().iter().find(|p| p.code == code)
}

/// Splits `total` into parts proportional to `weights`, each at least `min`: every part gets
/// `min`, and the rest is shared by the largest-remainder (Hamilton) method, ties to the first.
/// The parts sum to `total` (which must be at least `min × weights.len()`; weights must be
/// non-negative with a positive sum).
#[must_use]
pub fn apportion(total: u32, weights: &[f64], min: u32) -> Vec<u32> {
    let rest = total - min * weights.len() as u32;
    let sum: f64 = weights.iter().sum();
    let quotas: Vec<f64> = weights.iter().map(|w| f64::from(rest) * w / sum).collect();
    let mut parts: Vec<u32> = quotas.iter().map(|q| q.floor() as u32).collect();
    let given: u32 = parts.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (quotas[a] - quotas[a].floor(), quotas[b] - quotas[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().take((rest - given) as usize) {
        parts[i] += 1;
    }
    parts.iter().map(|p| p + min).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_file_lists_the_63_provinces_of_the_census() {
        let t = vietnam();
        assert_eq!(t.len(), 63);
        assert!(t.windows(2).all(|w| w[0].code < w[1].code));
        assert_eq!(t.iter().map(|p| p.population).sum::<u64>(), 96_108_532);
        let hcmc = by_code(79).unwrap();
        assert_eq!((hcmc.name, hcmc.population), ("TP. Hồ Chí Minh", 8_993_082));
        assert_eq!(by_code(1).unwrap().name, "Hà Nội");
        assert!(by_code(0).is_none() && by_code(97).is_none());
        // The server's list of regions holds the same codes and names.
        let server = bluezone_server::domain::regions::RegionConfig::default();
        let ours: Vec<(u16, &str)> = t.iter().map(|p| (p.code, p.name)).collect();
        let theirs: Vec<(u16, &str)> = server
            .regions
            .iter()
            .map(|r| (r.code, r.name.as_str()))
            .collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn apportion_sums_to_the_total_and_respects_the_minimum() {
        assert_eq!(apportion(10, &[1.0, 1.0, 2.0], 0), vec![3, 2, 5]);
        assert_eq!(apportion(10, &[0.0, 1.0], 1), vec![1, 9]);
        assert_eq!(apportion(3, &[5.0, 1.0, 1.0], 1), vec![1, 1, 1]);
        let w: Vec<f64> = vietnam().iter().map(|p| p.population as f64).collect();
        let parts = apportion(10_000, &w, 1);
        assert_eq!(parts.iter().sum::<u32>(), 10_000);
        assert!(parts.iter().all(|&p| p >= 1));
    }
}
