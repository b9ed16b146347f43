//! The synthetic population: agents, households, districts and the occupation network,
//! generated deterministically from a scenario and a seed.
//!
//! # Layout and memory
//!
//! Agents of one district have consecutive indices, and so do the members of one household, so
//! districts and households are stored as offset arrays rather than member lists. Per agent:
//!
//! | what | bytes |
//! |---|---|
//! | [`Agent`] | 8 (asserted at compile time) |
//! | household offsets (`u32` per household, 3.5 agents each) | ≈ 1.1 |
//! | occupation network CSR offset | 4 |
//! | occupation network neighbours (`u32` per edge, at its lower end) | 2 × degree ≈ 20 with the defaults |
//!
//! With the default scenario (mean degree ≈ 10) this is about 33 bytes per agent, so about
//! 33 MB per million agents; [`Population::heap_bytes`] reports the exact figure. While the
//! network is built, an edge list of 8 bytes per edge (≈ 40 bytes per agent) is held in addition.
//! Each edge is kept once, at its lower-indexed end, because that end owns its daily contact
//! ([`crate::contacts`]) and nothing else walks the network: both ends would double the
//! population's largest array (about 1 GB at 50 million agents).
//!
//! # Limitations
//!
//! By default ages are drawn independently of the household, so a household may hold only
//! children; with [`crate::scenario::Households::adult_in_every_household`] every household's
//! first member is an adult or elderly person. The occupation groups are formed at random within a district and age group.

use std::ops::Range;

use crate::provinces::apportion;
use crate::sample::{below, bernoulli, shuffle, stream_rng, weighted_index};
use crate::scenario::{OccupationNetwork, Scenario, ScenarioError};

/// Stream domain of the population generator (see [`stream_rng`]).
const DOMAIN_POPULATION: u64 = 0x706f_7075_6c61_7469; // "populati"

/// Age group of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AgeGroup {
    /// 0–17: attends a school.
    Child = 0,
    /// 18–64: attends a workplace.
    Adult = 1,
    /// 65 and over: attends an elderly activity group.
    Elderly = 2,
}

impl AgeGroup {
    /// All groups, in index order.
    pub const ALL: [Self; 3] = [Self::Child, Self::Adult, Self::Elderly];

    /// The occupation network parameters of this group in `scenario`.
    #[must_use]
    pub fn network(self, scenario: &Scenario) -> &OccupationNetwork {
        match self {
            Self::Child => &scenario.school,
            Self::Adult => &scenario.work,
            Self::Elderly => &scenario.elderly,
        }
    }
}

/// One person. 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agent {
    /// Index of the agent's household.
    pub household: u32,
    /// Index of the agent's district.
    pub district: u16,
    /// Age group.
    pub age_group: AgeGroup,
    /// Index of the agent's province in [`Population::province_code`]'s numbering (0, the whole
    /// country, without provinces).
    pub province: u8,
}

const _: () = assert!(std::mem::size_of::<Agent>() == 8);

/// The generated population. Agent `i` is `agents()[i]`; agent indices are `u32`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Population {
    agents: Vec<Agent>,
    /// Household `h` holds agents `household_offsets[h]..household_offsets[h + 1]`.
    household_offsets: Vec<u32>,
    /// District `d` holds agents `district_offsets[d]..district_offsets[d + 1]`.
    district_offsets: Vec<u32>,
    /// Province `p` (an index) holds agents `province_offsets[p]..province_offsets[p + 1]`.
    province_offsets: Vec<u32>,
    /// GSO code of province `p` (`[0]`, the whole country, without provinces).
    province_codes: Vec<u16>,
    /// Occupation network in CSR form, each edge once, at its lower end: agent `i`'s neighbours
    /// with a higher index are `neighbours[offsets[i]..offsets[i + 1]]`, sorted.
    network_offsets: Vec<u32>,
    network_neighbours: Vec<u32>,
}

/// Adds the Watts–Strogatz edges of one group (`members`, global indices) to `edges`.
///
/// Ring lattice with `k / 2` neighbours each side (a complete graph if the group has at most `k`
/// members), then each lattice edge `(i, i + j)` is rewired with probability `beta` to `(i, w)`
/// for a uniformly random `w` that is neither `i` nor already a neighbour of `i`.
fn watts_strogatz<R: rand_core::Rng + ?Sized>(
    rng: &mut R,
    members: &[u32],
    k: u32,
    beta: f64,
    edges: &mut Vec<(u32, u32)>,
) {
    let n = members.len();
    if n < 2 || k == 0 {
        return;
    }
    if n <= k as usize {
        for i in 0..n {
            for j in i + 1..n {
                edges.push((members[i], members[j]));
            }
        }
        return;
    }
    let half = (k / 2) as usize;
    // Local adjacency, small (degree ≈ k), to refuse duplicate edges when rewiring.
    let mut adjacency: Vec<Vec<u32>> = vec![Vec::with_capacity(k as usize + 2); n];
    let mut local: Vec<(u32, u32)> = Vec::with_capacity(n * half);
    for i in 0..n {
        for j in 1..=half {
            let t = (i + j) % n;
            adjacency[i].push(t as u32);
            adjacency[t].push(i as u32);
            local.push((i as u32, t as u32));
        }
    }
    for edge in &mut local {
        if !bernoulli(rng, beta) {
            continue;
        }
        let (i, old) = (edge.0 as usize, edge.1);
        if adjacency[i].len() >= n - 1 {
            continue; // i is joined to everyone: nowhere to rewire to.
        }
        let w = loop {
            let w = below(rng, n as u32);
            if w as usize != i && !adjacency[i].contains(&w) {
                break w;
            }
        };
        adjacency[i].retain(|x| *x != old);
        adjacency[old as usize].retain(|x| *x != i as u32);
        adjacency[i].push(w);
        adjacency[w as usize].push(i as u32);
        edge.1 = w;
    }
    edges.extend(
        local
            .iter()
            .map(|&(a, b)| (members[a as usize], members[b as usize])),
    );
}

/// With an adult or elderly first member in every household: the age shares of that member
/// (children 0, adults and elderly in proportion) and of the other members, adjusted so that the
/// whole population keeps `shares` (expected values, with one first member per `mean_size`
/// agents; negative shares, which only impossible inputs give, are clamped to 0).
fn head_and_other_shares(shares: [f64; 3], mean_size: f64) -> ([f64; 3], [f64; 3]) {
    let total: f64 = shares.iter().sum();
    let [c, a, e] = shares.map(|x| x / total);
    let grown = a + e;
    let head = if grown > 0.0 {
        [0.0, a / grown, e / grown]
    } else {
        [0.0, 1.0, 0.0]
    };
    let h = (1.0 / mean_size).min(1.0);
    let mut others = if h < 1.0 {
        [
            c / (1.0 - h),
            (a - h * head[1]) / (1.0 - h),
            (e - h * head[2]) / (1.0 - h),
        ]
    } else {
        head
    };
    for x in &mut others {
        *x = x.max(0.0);
    }
    let sum: f64 = others.iter().sum();
    (head, others.map(|x| x / sum))
}

/// Each district's agents and province index, in order, and the provinces' GSO codes.
///
/// Without provinces: `districts` districts of one province (code 0), the agents split evenly,
/// the remainder going to the first districts. With provinces
/// ([`crate::scenario::Provinces`]): the agents, then at least 63 districts, apportioned to the
/// provinces by their 2019 census populations (at least one each, no district without agents),
/// and each province's agents split evenly among its districts.
fn district_plan(scenario: &Scenario) -> (Vec<(u32, u8)>, Vec<u16>) {
    let n = scenario.population;
    let split = |total: u32, parts: u32, province: u8| {
        (0..parts).map(move |d| (total / parts + u32::from(d < total % parts), province))
    };
    if !scenario.provinces.enabled {
        return (split(n, scenario.districts, 0).collect(), vec![0]);
    }
    let table = crate::provinces::vietnam();
    let weights: Vec<f64> = table.iter().map(|p| p.population as f64).collect();
    let people = apportion(n, &weights, 1);
    let count = table.len() as u32;
    let districts = apportion(scenario.districts.max(count), &weights, 1);
    let plan = people
        .iter()
        .zip(&districts)
        .enumerate()
        .flat_map(|(p, (&agents, &d))| split(agents, d.min(agents), p as u8))
        .collect();
    (plan, table.iter().map(|p| p.code).collect())
}

impl Population {
    /// Generates the population of `scenario` from `seed`.
    ///
    /// The result depends only on the scenario and the seed: each district is built from its own
    /// random stream.
    ///
    /// # Errors
    /// The scenario's validation error, if it is not valid.
    pub fn generate(scenario: &Scenario, seed: u64) -> Result<Self, ScenarioError> {
        scenario.validate()?;
        let n = scenario.population;
        let weights = &scenario.household_size_weights;
        let weight_total: f64 = weights.iter().sum();
        let shares = [
            scenario.age_shares.children,
            scenario.age_shares.adults,
            scenario.age_shares.elderly,
        ];
        let share_total: f64 = shares.iter().sum();
        let head = scenario
            .households
            .adult_in_every_household
            .then(|| head_and_other_shares(shares, scenario.mean_household_size()));

        let (plan, province_codes) = district_plan(scenario);
        let mut province_offsets: Vec<u32> = Vec::new();
        let mut agents = Vec::with_capacity(n as usize);
        let mut household_offsets = vec![0u32];
        let mut district_offsets = vec![0u32];
        let mut edges: Vec<(u32, u32)> = Vec::new();
        let mut group_members: Vec<u32> = Vec::new();

        for (d, &(quota, province)) in plan.iter().enumerate() {
            let d = d as u32;
            let mut rng = stream_rng(seed, DOMAIN_POPULATION, u64::from(d), 0);
            let start = district_offsets[d as usize];
            let end = start + quota;
            if usize::from(province) == province_offsets.len() {
                province_offsets.push(start);
            }
            while (agents.len() as u32) < end {
                let size = weighted_index(&mut rng, weights, weight_total) as u32 + 1;
                let size = size.min(end - agents.len() as u32);
                let household = (household_offsets.len() - 1) as u32;
                for member in 0..size {
                    let age_group = match (&head, member) {
                        (Some((head_shares, _)), 0) => {
                            AgeGroup::ALL[weighted_index(&mut rng, head_shares, 1.0)]
                        }
                        (Some((_, others)), _) => {
                            AgeGroup::ALL[weighted_index(&mut rng, others, 1.0)]
                        }
                        (None, _) => AgeGroup::ALL[weighted_index(&mut rng, &shares, share_total)],
                    };
                    agents.push(Agent {
                        household,
                        district: d as u16,
                        age_group,
                        province,
                    });
                }
                household_offsets.push(agents.len() as u32);
            }
            district_offsets.push(end);

            // Occupation groups: the district's members of each age group, shuffled and split
            // into groups whose sizes differ by at most one.
            for group in AgeGroup::ALL {
                let params = group.network(scenario);
                group_members.clear();
                group_members
                    .extend((start..end).filter(|&i| agents[i as usize].age_group == group));
                shuffle(&mut rng, &mut group_members);
                let total = group_members.len();
                if total == 0 {
                    continue;
                }
                let count = total.div_ceil(params.group_size as usize);
                let mut from = 0;
                for g in 0..count {
                    let len = total / count + usize::from(g < total % count);
                    watts_strogatz(
                        &mut rng,
                        &group_members[from..from + len],
                        params.mean_degree,
                        params.rewire_probability,
                        &mut edges,
                    );
                    from += len;
                }
            }
        }

        // Edge list → CSR, each edge at its lower end only.
        let mut network_offsets = vec![0u32; n as usize + 1];
        for &(a, b) in &edges {
            network_offsets[a.min(b) as usize + 1] += 1;
        }
        for i in 0..n as usize {
            network_offsets[i + 1] += network_offsets[i];
        }
        let mut cursor = network_offsets.clone();
        let mut network_neighbours = vec![0u32; edges.len()];
        for &(a, b) in &edges {
            let (low, high) = (a.min(b), a.max(b));
            network_neighbours[cursor[low as usize] as usize] = high;
            cursor[low as usize] += 1;
        }
        drop(edges);
        province_offsets.push(n);
        for i in 0..n as usize {
            let range = network_offsets[i] as usize..network_offsets[i + 1] as usize;
            network_neighbours[range].sort_unstable();
        }

        Ok(Self {
            agents,
            household_offsets,
            district_offsets,
            province_offsets,
            province_codes,
            network_offsets,
            network_neighbours,
        })
    }

    /// Number of provinces (1, the whole country, without provinces).
    #[must_use]
    pub fn province_count(&self) -> u32 {
        self.province_codes.len() as u32
    }

    /// The GSO code of province `p` (0, the whole country, without provinces).
    #[must_use]
    pub fn province_code(&self, p: u8) -> u16 {
        self.province_codes[usize::from(p)]
    }

    /// The agents of province `p`, a range of consecutive indices (the whole population
    /// without provinces).
    #[must_use]
    pub fn province_members(&self, p: u8) -> Range<u32> {
        let p = usize::from(p);
        self.province_offsets[p]..self.province_offsets[p + 1]
    }

    /// Number of agents.
    #[must_use]
    pub fn len(&self) -> u32 {
        self.agents.len() as u32
    }

    /// Whether there are no agents (never true for a generated population).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// All agents, indexed by agent index.
    #[must_use]
    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    /// Number of households.
    #[must_use]
    pub fn household_count(&self) -> u32 {
        (self.household_offsets.len() - 1) as u32
    }

    /// The agents of household `h`, a range of consecutive indices.
    #[must_use]
    pub fn household_members(&self, h: u32) -> Range<u32> {
        self.household_offsets[h as usize]..self.household_offsets[h as usize + 1]
    }

    /// Number of districts.
    #[must_use]
    pub fn district_count(&self) -> u32 {
        (self.district_offsets.len() - 1) as u32
    }

    /// The agents of district `d`, a range of consecutive indices.
    #[must_use]
    pub fn district_members(&self, d: u32) -> Range<u32> {
        self.district_offsets[d as usize]..self.district_offsets[d as usize + 1]
    }

    /// The occupation-network neighbours of agent `i` whose index is higher than `i`, sorted:
    /// the edges `i` owns ([`crate::contacts`]). Each edge is stored once, at its lower end;
    /// the neighbours with a lower index are those `j < i` that list `i`.
    #[must_use]
    pub fn occupation_later_neighbours(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.network_neighbours
            [self.network_offsets[i] as usize..self.network_offsets[i + 1] as usize]
    }

    /// Number of undirected occupation-network edges.
    #[must_use]
    pub fn occupation_edge_count(&self) -> u64 {
        self.network_neighbours.len() as u64
    }

    /// Heap memory held by the population, in bytes (lengths, not capacities).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.agents.len() * std::mem::size_of::<Agent>()
            + 2 * self.province_codes.len()
            + 4 * (self.household_offsets.len()
                + self.district_offsets.len()
                + self.province_offsets.len()
                + self.network_offsets.len()
                + self.network_neighbours.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(population: u32) -> Scenario {
        Scenario {
            population,
            districts: 4,
            ..Scenario::default()
        }
    }

    #[test]
    fn same_seed_same_population_different_seed_different() {
        let s = small(5_000);
        let a = Population::generate(&s, 1).unwrap();
        assert_eq!(a, Population::generate(&s, 1).unwrap());
        let b = Population::generate(&s, 2).unwrap();
        assert_ne!(a.agents(), b.agents());
        assert_ne!(a.network_neighbours, b.network_neighbours);
    }

    #[test]
    fn invalid_scenario_is_refused() {
        let s = Scenario {
            population: 0,
            ..Scenario::default()
        };
        assert!(matches!(
            Population::generate(&s, 1),
            Err(ScenarioError::Invalid { .. })
        ));
    }

    #[test]
    fn households_districts_and_ages_at_100k() {
        let s = Scenario::default(); // 100 000 agents, 10 districts
        let p = Population::generate(&s, 42).unwrap();
        assert_eq!(p.len(), 100_000);
        let mean = f64::from(p.len()) / f64::from(p.household_count());
        assert!((mean - 3.5).abs() < 0.1, "mean household size {mean}");
        for h in 0..p.household_count() {
            let members = p.household_members(h);
            assert!(!members.is_empty());
            let d = p.agents()[members.start as usize].district;
            for i in members {
                assert_eq!(p.agents()[i as usize].household, h);
                assert_eq!(p.agents()[i as usize].district, d);
            }
        }
        assert_eq!(p.district_count(), 10);
        for d in 0..10 {
            let r = p.district_members(d);
            assert_eq!(r.len(), 10_000);
            assert!(
                r.clone()
                    .all(|i| u32::from(p.agents()[i as usize].district) == d)
            );
        }
        let mut counts = [0u32; 3];
        for a in p.agents() {
            counts[a.age_group as usize] += 1;
        }
        let expected = [0.24, 0.68, 0.08];
        for (c, e) in counts.iter().zip(expected) {
            assert!((f64::from(*c) / 1e5 - e).abs() < 0.01, "{counts:?}");
        }
        // Memory per agent documented in the module docs: about 33 bytes.
        let per_agent = p.heap_bytes() as f64 / 1e5;
        assert!(
            (28.0..38.0).contains(&per_agent),
            "{per_agent} bytes per agent"
        );
    }

    #[test]
    fn an_adult_heads_every_household_and_the_age_shares_hold() {
        let mut s = small(40_000);
        s.households.adult_in_every_household = true;
        let p = Population::generate(&s, 9).unwrap();
        let mut counts = [0u32; 3];
        for h in 0..p.household_count() {
            let first = p.household_members(h).start;
            assert_ne!(p.agents()[first as usize].age_group, AgeGroup::Child);
        }
        for a in p.agents() {
            counts[a.age_group as usize] += 1;
        }
        for (c, e) in counts.iter().zip([0.24, 0.68, 0.08]) {
            assert!((f64::from(*c) / 40_000.0 - e).abs() < 0.01, "{counts:?}");
        }
        // Without the option, some households hold only children.
        let q = Population::generate(&small(40_000), 9).unwrap();
        let children_only = (0..q.household_count()).any(|h| {
            q.household_members(h)
                .all(|i| q.agents()[i as usize].age_group == AgeGroup::Child)
        });
        assert!(children_only);
    }

    #[test]
    fn occupation_network_is_a_valid_small_world_with_configured_degree() {
        let s = small(20_000);
        let p = Population::generate(&s, 3).unwrap();
        let mut degree_sum = [0u64; 3];
        let mut counts = [0u64; 3];
        for i in 0..p.len() {
            let a = p.agents()[i as usize];
            let nb = p.occupation_later_neighbours(i);
            assert!(
                nb.windows(2).all(|w| w[0] < w[1]),
                "duplicate or unsorted neighbours"
            );
            for &j in nb {
                assert!(j > i, "edge {i}-{j} not at its lower end");
                let b = p.agents()[j as usize];
                assert_eq!(b.age_group, a.age_group);
                assert_eq!(b.district, a.district);
                // Both ends count the edge in their degree.
                degree_sum[a.age_group as usize] += 2;
            }
            counts[a.age_group as usize] += 1;
        }
        for g in AgeGroup::ALL {
            let mean = degree_sum[g as usize] as f64 / counts[g as usize] as f64;
            let k = f64::from(g.network(&s).mean_degree);
            // Rewiring preserves the edge count; only groups smaller than k + 1 lose degree.
            assert!(
                (mean - k).abs() < 0.05 * k,
                "{g:?}: mean degree {mean} vs {k}"
            );
        }
    }

    #[test]
    fn watts_strogatz_degree_and_rewiring() {
        let mut rng = stream_rng(5, 0, 0, 0);
        let members: Vec<u32> = (0..1000).collect();
        for (beta, expect_lattice) in [(0.0, true), (0.1, false), (1.0, false)] {
            let mut edges = Vec::new();
            watts_strogatz(&mut rng, &members, 6, beta, &mut edges);
            assert_eq!(edges.len(), 3000, "mean degree 6 ⇒ 3 edges per node");
            let lattice = edges.iter().all(|&(a, b)| {
                let d = a.abs_diff(b);
                d <= 3 || d >= 997
            });
            assert_eq!(lattice, expect_lattice, "beta {beta}");
            let mut sorted: Vec<(u32, u32)> =
                edges.iter().map(|&(a, b)| (a.min(b), a.max(b))).collect();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 3000, "no duplicate edges");
            if beta == 0.1 {
                let rewired = edges.iter().filter(|&&(a, b)| {
                    let d = a.abs_diff(b);
                    d > 3 && d < 997
                });
                let frac = rewired.count() as f64 / 3000.0;
                assert!((frac - 0.1).abs() < 0.03, "rewired fraction {frac}");
            }
        }
        // A group no larger than k becomes complete.
        let mut edges = Vec::new();
        watts_strogatz(&mut rng, &members[..5], 6, 0.1, &mut edges);
        assert_eq!(edges.len(), 10);
    }
}
