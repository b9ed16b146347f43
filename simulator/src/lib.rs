//! Population simulator for the Bluezone contact-tracing protocol.
//!
//! The goal is to run real [`bluezone_protocol`] phones (keys, RPIs, sightings, uploads,
//! publication batches, matching, F1 reports and their verification) over a synthetic population
//! on a virtual clock, to measure F1 recall and precision, false alerts, bytes per phone and
//! server load at national scale.
//!
//! # What exists now
//!
//! - [`scenario`]: the [`Scenario`] read from TOML, every parameter with a documented default
//!   and source, validated with [`ScenarioError`]: population and contacts (transport split out
//!   of the random ones), the close-contact distance, and the BLE model (a per-contact
//!   environment offset by setting on top of per-scan shadowing), risk rule, epidemic, app
//!   uptake and consent, health-worker delays and an optional relay attacker.
//! - [`population`]: the [`Population`] (agents, households, districts and a Watts–Strogatz
//!   occupation network per school or workplace), generated deterministically from a seed.
//! - [`contacts`]: the [`Contact`]s of one day, generated on the fly (not stored) and
//!   deterministically from (seed, day, agent), with a setting (household, occupation, random,
//!   transport), start, duration and distance.
//! - [`model`]: each agent's [`model::Traits`] (natural history if infected, app, consents,
//!   platform and calibration error), the transmission model and the BLE detection model.
//! - [`sim`]: the run: both epidemics (with and without the app) over the same contacts, and the
//!   protocol layer with real [`bluezone_protocol::Phone`]s and the reference server's
//!   `Workflow` (declaration codes, uploads, Bloom-filter batches, matching, HPKE-sealed F1
//!   reports, verification), on a virtual clock; metrics
//!   against ground truth in [`Summary`] and [`DayRow`]. The module documentation describes the
//!   day, the memory scheme (real phones only where an F1 can come from) and determinism.
//! - [`output`]: `summary.json`, `daily.csv` and the SVG plots of [`plot`] (infections, daily
//!   incidence on a log axis, the cohort reproduction number, recall and precision; with
//!   replicates, means with 95% bands; a sweep's `sweep.svg`), byte-identical for the same
//!   scenario and seed.
//! - [`provinces`]: Vietnam's provinces (2019 census populations, shared with `bluezone
//!   bandwidth --regions`), placing agents, districts and seeds in them, with contacts across
//!   provinces and regional publication ([`scenario::Provinces`]).
//! - [`sample`]: the random samplers (negative binomial, gamma, Poisson, log-normal) and keyed
//!   streams.
//! - Two scenarios: the default (simple, uncalibrated, unchanged so that earlier figures stay
//!   comparable) and `scenarios/vn-2021-delta.toml`, calibrated to the Delta epidemic of
//!   Vietnam in 2021 with every value sourced (see [`scenario`]); onward tracing
//!   ([`scenario::F1Testing`]): verified F1s are tested and positive ones become cases with
//!   their own declaration code and upload; epidemiological outputs (growth, reproduction
//!   numbers from the simulated generation intervals, household attack rate, contacts,
//!   transmission by setting, cases by tracing generation) in [`Summary`]; per setting, the
//!   risk rule's true- and false-positive rates against a notify-everyone baseline, judged at
//!   the scenario's close-contact distance, and the distance the risk rule reaches under the
//!   path-loss model.
//! - [`study`]: `--set key=value` (one scenario field), `--replicates N` (means and 95%
//!   intervals over seeds) and `--sweep key=v1,v2,…` (a table over one field).
//! - The `bluezone-sim` binary: `--scenario`, `--population`, `--days`, `--seed`, `--out`,
//!   `--no-protocol`, `--threads`, `--print-scenario`, `--set`, `--replicates`, `--sweep`,
//!   `--force` (an output folder that holds files is refused without it); a progress bar with
//!   ETA on a terminal, none when `CI` is set or standard error is not a terminal.
//!
//! # Memory
//!
//! Per agent, about 47 bytes with the defaults (see [`Summary::bytes_per_agent`]): the 8-byte
//! [`Agent`], about 25 bytes of household, district and network structure, the 8-byte
//! [`model::Traits`], and 2 + 2 + 2 bytes of state (infection day in each run, end of
//! quarantine). Contacts are never stored. Per phone, [`sim::phone_bytes`]: the `Phone` struct,
//! 24 bytes per retained daily key and 48 bytes per sighting; phones exist only for
//! sources and the app users who met them ([`sim`]), and [`Summary::peak_phone_bytes`] reports
//! their peak.
//!
//! # Not done
//!
//! The workflow uses `bluezone_server::Workflow` over the in-memory store, without accounts or
//! HTTP (the health workers act as a `Principal` built in process); with [`scenario::Provinces`]
//! batches are regional but a phone subscribes to its home province only; the run without the app has no manual contact tracing.

#![forbid(unsafe_code)]

pub mod contacts;
pub mod model;
pub mod output;
pub mod plot;
pub mod population;
pub mod provinces;
pub mod sample;
pub mod scenario;
pub mod sim;
pub mod study;

pub use contacts::{Contact, DayContacts, Setting};
pub use population::{AgeGroup, Agent, Population};
pub use scenario::{Scenario, ScenarioError};
pub use sim::{DayRow, Options, Outcome, Summary, run};
