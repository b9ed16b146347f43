//! Provinces (`[provinces]`): the population placed by the 2019 census, contacts across
//! provinces at the configured share, seeds in the configured provinces. Regional publication
//! (a phone downloads and matches only the batches of its province and region 0) is tested in
//! `acceptance.rs`, with its perfect-conditions scenario.

use bluezone_sim::provinces::vietnam;
use bluezone_sim::scenario::SeedProvince;
use bluezone_sim::sim::seeds;
use bluezone_sim::{DayContacts, Population, Scenario, Setting};

fn with_provinces(population: u32) -> Scenario {
    let mut s = Scenario {
        population,
        districts: 70,
        ..Scenario::default()
    };
    s.provinces.enabled = true;
    s
}

#[test]
fn agents_follow_the_census_and_districts_nest_in_provinces() {
    let s = with_provinces(20_000);
    let p = Population::generate(&s, 3).unwrap();
    let table = vietnam();
    assert_eq!(p.province_count() as usize, table.len());
    let total: u64 = table.iter().map(|x| x.population).sum();
    for (i, province) in table.iter().enumerate() {
        let members = p.province_members(i as u8);
        assert_eq!(p.province_code(i as u8), province.code);
        let want = 20_000.0 * province.population as f64 / total as f64;
        // Apportioned with at least one agent each: the 63 agents given first shift a
        // province by at most its share of them, plus one for rounding.
        let share = province.population as f64 / total as f64;
        assert!(
            (members.len() as f64 - want).abs() <= 2.0 + 63.0 * share,
            "{}: {} agents, census share {want:.1}",
            province.name,
            members.len()
        );
        assert!(
            members
                .clone()
                .all(|a| p.agents()[a as usize].province == i as u8)
        );
    }
    // Districts (at least one a province) and households never cross a province.
    assert!(p.district_count() >= 70);
    for d in 0..p.district_count() {
        let r = p.district_members(d);
        assert!(!r.is_empty());
        let first = p.agents()[r.start as usize].province;
        assert!(r.clone().all(|a| p.agents()[a as usize].province == first));
    }
    // Without provinces: one region, the whole country.
    let q = Population::generate(&Scenario::default(), 3).unwrap();
    assert_eq!((q.province_count(), q.province_code(0)), (1, 0));
}

#[test]
fn random_contacts_cross_provinces_at_the_configured_share() {
    for share in [0.0, 0.2] {
        let mut s = with_provinces(20_000);
        s.provinces.other_province_share = share;
        // Transport contacts are random contacts too, and cross provinces alike.
        s.transport.share_of_random = 0.25;
        let p = Population::generate(&s, 5).unwrap();
        let (mut random, mut across) = (0u64, 0u64);
        for c in DayContacts::new(&p, &s, 5, 0).collect() {
            let crossed = p.agents()[c.a as usize].province != p.agents()[c.b as usize].province;
            if matches!(c.setting, Setting::Random | Setting::Transport) {
                random += 1;
                across += u64::from(crossed);
            } else {
                assert!(
                    !crossed,
                    "{c:?}: households and workplaces are within a province"
                );
            }
        }
        let measured = across as f64 / random as f64;
        assert!(
            (measured - share).abs() < 0.01,
            "share {share}: measured {measured} over {random} random contacts"
        );
    }
}

#[test]
fn seeds_land_in_the_configured_provinces() {
    let mut s = with_provinces(20_000);
    s.epidemic.initial_infected_per_million = 10_000.0; // 200 seeds
    s.provinces.seeds = vec![
        SeedProvince {
            code: 79,
            weight: 131_306.0,
        },
        SeedProvince {
            code: 1,
            weight: 2_187.0,
        },
    ];
    let p = Population::generate(&s, s.seed).unwrap();
    let placed: Vec<u32> = seeds(&s, &p).into_values().flatten().collect();
    assert_eq!(placed.len(), 200);
    let code = |a: u32| p.province_code(p.agents()[a as usize].province);
    assert!(placed.iter().all(|&a| [79, 1].contains(&code(a))));
    let in_hcmc = placed.iter().filter(|&&a| code(a) == 79).count();
    assert!(in_hcmc >= 190, "{in_hcmc} of 200 in Ho Chi Minh City");
    // Without a list, seeds land anywhere (more than two provinces).
    s.provinces.seeds.clear();
    let anywhere: std::collections::BTreeSet<u16> =
        seeds(&s, &p).into_values().flatten().map(code).collect();
    assert!(anywhere.len() > 20, "{anywhere:?}");
}
