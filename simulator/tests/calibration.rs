//! The calibrated scenario `scenarios/vn-2021-delta.toml` against its sources, onward tracing
//! (F1s tested, positive ones traced in turn, so that F2s are found), and the studies
//! (`--set`, replicates, sweeps) with the new outputs.
//!
//! Populations and days are small, so that these run in seconds in the dev profile; each check
//! names the source of its range (the full references are in the scenario file).

use bluezone_sim::study::{Replicated, set_field, sweep_csv};
use bluezone_sim::{Options, Outcome, Scenario, Summary, run};

fn delta() -> Scenario {
    Scenario::from_toml_str(include_str!("../scenarios/vn-2021-delta.toml"))
        .expect("the calibrated scenario parses and validates")
}

fn go(s: &Scenario, opts: Options) -> Outcome {
    run(s, opts, |_| {}).expect("valid scenario")
}

fn epidemic_only() -> Options {
    Options {
        protocol: false,
        ..Options::default()
    }
}

fn within(name: &str, x: f64, low: f64, high: f64, source: &str, m: &Summary) {
    assert!(
        (low..=high).contains(&x),
        "{name} = {x}, outside [{low}, {high}] ({source}): {m:#?}"
    );
}

/// Delta's transmissibility: with the lockdown lifted and nobody tested or isolated, the
/// epidemic's reproduction number, from its growth rate and its simulated generation
/// intervals, is Delta's R0; and contacts are Vietnam's.
#[test]
fn vn_2021_delta_calibration_without_interventions() {
    let mut s = delta();
    s.population = 100_000;
    s.days = 24;
    s.containment.lockdown_non_household_share = 1.0;
    s.workflow.test_probability = 0.0;
    s.f1_testing.enabled = false;
    // Ten seeds, all on day 0: the growth window (day 6 to 10% infected, about day 12) holds
    // enough days at this size.
    s.epidemic.initial_infected_per_million = 100.0;
    s.seeding.days = 1;
    let m = go(&s, epidemic_only()).summary;
    // Li et al. 2022 (PLoS Negl Trop Dis): Delta's R_t 6.83 (95% CrI 3.98–10.44) in
    // Guangzhou before control measures; Liu and Rocklöv 2021: mean R0 5.08.
    within(
        "r_effective_without_app",
        m.r_effective_without_app,
        3.98,
        10.44,
        "Li et al. 2022",
        &m,
    );
    // Horby et al. 2011 (PLoS ONE): 6675 contacts from 865 participants, 7.7 a day; the
    // scenario is scaled to it, so it must hold within 0.5.
    within(
        "mean_daily_contacts",
        m.mean_daily_contacts,
        7.2,
        8.2,
        "Horby et al. 2011",
        &m,
    );
    assert!(m.growth_rate_per_day > 0.0 && m.doubling_time_days > 0.0);
    // Every setting transmits, transport (a tenth of the random contacts, with their shape)
    // about a ninth as much as the other random contacts; the shares are shares.
    let t = &m.transmission_share_by_setting;
    assert!(
        t.household > 0.0 && t.occupation > 0.0 && t.random > 0.0 && t.transport > 0.0,
        "{t:?}"
    );
    let ratio = t.transport / t.random;
    assert!(
        (0.07..=0.16).contains(&ratio),
        "transport / random {ratio}: {t:?}"
    );
    assert!((t.household + t.occupation + t.random + t.transport - 1.0).abs() < 1e-5);
}

/// The scenario as written (Directive 16, isolation and quarantine away from home): the
/// household secondary attack rate is Delta's, and the generation interval lies between
/// Delta's realised household and intrinsic generation times.
#[test]
fn vn_2021_delta_calibration_under_directive_16() {
    let mut s = delta();
    s.population = 20_000;
    s.days = 45;
    s.epidemic.initial_infected_per_million = 1_000.0;
    let m = go(&s, epidemic_only()).summary;
    // Madewell et al. 2022 (medRxiv version): Delta household SAR 30.8% (95% CI 23.5–39.3%).
    within(
        "household_secondary_attack_rate",
        m.household_secondary_attack_rate,
        0.235,
        0.393,
        "Madewell et al. 2022",
        &m,
    );
    // Hart et al. 2022 (Lancet Infect Dis): Delta's intrinsic generation time has mean 4.6
    // days, its realised household generation time 3.2; realised intervals in a population
    // with households (and isolation) lie between.
    within(
        "generation_interval_days_mean",
        m.generation_interval_days_mean,
        3.2,
        4.6,
        "Hart et al. 2022",
        &m,
    );
    // The lockdown removes 70% of non-household contacts.
    assert!(m.mean_daily_contacts < 6.0, "{m:#?}");
    // Lifting the lockdown gives a larger epidemic.
    let mut open = s.clone();
    open.containment.lockdown_non_household_share = 1.0;
    let o = go(&open, epidemic_only()).summary;
    assert!(
        o.infections_no_app > m.infections_no_app,
        "{o:#?} vs {m:#?}"
    );
}

fn traced() -> Scenario {
    let mut s = delta();
    s.population = 4_000;
    s.days = 30;
    s.epidemic.initial_infected_per_million = 5_000.0;
    s
}

/// A verified F1 is tested; a positive one becomes a case with its own declaration code and
/// upload, and its F1s (the F2s of the first case) are found. Without F1 testing, no case is
/// found by tracing.
#[test]
fn onward_tracing_finds_f2s() {
    let s = traced();
    let m = go(&s, Options::default()).summary;
    assert!(m.cases_by_tracing_generation[0] > 0, "{m:#?}");
    assert!(
        m.cases_by_tracing_generation[1] > 0,
        "no F1 became a case: {m:#?}"
    );
    assert!(
        m.true_f1_found_by_case_generation[1] > 0,
        "no F2 found: {m:#?}"
    );
    // Every found case uploaded through the server: uploads count them all.
    let found_by_tracing: u64 = m.true_f1_found_by_case_generation[1..].iter().sum();
    assert!(found_by_tracing <= m.true_f1_found);
    assert!(m.notifications_per_uploading_case > 0.0);

    let mut off = s.clone();
    off.f1_testing.enabled = false;
    let n = go(&off, Options::default()).summary;
    assert!(n.cases_by_tracing_generation[1..].iter().all(|&x| x == 0));
    assert!(
        n.true_f1_found_by_case_generation[1..]
            .iter()
            .all(|&x| x == 0)
    );
    // Testing F1s finds cases sooner, so the epidemic with the app is no larger.
    assert!(m.infections_app <= n.infections_app, "{m:#?} vs {n:#?}");
}

/// The lazy phones (sources and those who met one) give the same F1 rows as every app user
/// holding a phone, also when F1s found by testing become sources of their own.
#[test]
fn lazy_phones_equal_all_phones_with_onward_tracing() {
    let mut s = traced();
    s.population = 2_000;
    s.days = 20;
    let [lazy, all] = [false, true].map(|all_phones| {
        go(
            &s,
            Options {
                all_phones,
                ..Options::default()
            },
        )
    });
    assert!(
        lazy.summary.cases_by_tracing_generation[1] > 0,
        "{:#?}",
        lazy.summary
    );
    assert_eq!(lazy.verified, all.verified);
    assert_eq!(
        lazy.summary.cases_by_tracing_generation,
        all.summary.cases_by_tracing_generation
    );
    assert_eq!(
        lazy.summary.true_f1_found_by_case_generation,
        all.summary.true_f1_found_by_case_generation
    );
}

/// `--set` changes one field of the calibrated scenario; replicates estimate the new outputs,
/// members and generations included; the sweep table carries the reproduction numbers.
#[test]
fn studies_carry_the_new_outputs() {
    let base = traced();
    let changed = set_field(&base, "f1_testing.result_hours", "48").unwrap();
    assert_eq!(changed.f1_testing.result_hours, 48);
    assert_eq!(
        Scenario {
            f1_testing: base.f1_testing.clone(),
            ..changed.clone()
        },
        base
    );
    let changed = set_field(&base, "infectiousness.profile", "\"flat\"").unwrap();
    assert_eq!(
        changed.infectiousness.profile,
        bluezone_sim::scenario::InfectiousnessProfile::Flat
    );
    assert!(set_field(&base, "infectiousness.profile", "\"square\"").is_err());

    let mut s = base.clone();
    s.population = 2_000;
    s.days = 15;
    let summaries: Vec<Summary> = [s.seed, s.seed + 1]
        .iter()
        .map(|&seed| go(&Scenario { seed, ..s.clone() }, Options::default()).summary)
        .collect();
    let r = Replicated::of(&summaries);
    for name in [
        "growth_rate_per_day",
        "doubling_time_days",
        "r_effective_without_app",
        "r_effective_with_app",
        "generation_interval_days_mean",
        "household_secondary_attack_rate",
        "mean_daily_contacts",
        "notifications_per_uploading_case",
        "transmission_share_by_setting.household",
        "transmission_share_by_setting.random",
        "transmission_share_by_setting.transport",
        "risk_rule_true_positive_rate_by_setting.household",
        "notify_everyone_false_positive_rate_by_setting.occupation",
        "close_pairs_by_setting.transport",
        "risk_rule_reach_m",
        "cases_by_tracing_generation.0",
        "true_f1_found_by_case_generation.1",
    ] {
        let e = r
            .estimates
            .get(name)
            .unwrap_or_else(|| panic!("no estimate of {name}: {:?}", r.estimates.keys()));
        assert!(
            e.ci95_low <= e.mean && e.mean <= e.ci95_high,
            "{name}: {e:?}"
        );
    }
    let mean = |m: &str| r.estimates[m].mean;
    let by_hand = (summaries[0].mean_daily_contacts + summaries[1].mean_daily_contacts) / 2.0;
    assert!((mean("mean_daily_contacts") - by_hand).abs() < 1e-6);
    let table = sweep_csv("f1_testing.enabled", &[("true".into(), r)]);
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .contains("r_effective_with_app_mean")
    );
}
