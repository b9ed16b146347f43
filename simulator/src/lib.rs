//! Population simulator for the Bluezone contact-tracing protocol.
//!
//! The goal is to run real [`bluezone_protocol`] phones (keys, RPIs, sightings, uploads,
//! publication batches, matching, F1 reports and their verification) over a synthetic population
//! on a virtual clock, to measure F1 recall and precision, false alerts, bytes per phone and
//! server load at national scale.
//!
//! # What exists now
//!
//! Only the first building block, the population and its contacts:
//!
//! - [`scenario`]: the [`Scenario`] read from TOML, every parameter with a documented default
//!   and source, validated with [`ScenarioError`].
//! - [`population`]: the [`Population`] (agents, households, districts and a Watts–Strogatz
//!   occupation network per school or workplace), generated deterministically from a seed, about
//!   53 bytes per agent with the defaults.
//! - [`contacts`]: the [`Contact`]s of one day, generated on the fly (not stored) and
//!   deterministically from (seed, day, agent), with a setting, start, duration and distance.
//! - [`sample`]: the random samplers behind them (negative binomial, gamma, Poisson, log-normal).
//!
//! # Not written yet
//!
//! The BLE model (duty-cycled scanning, attenuation, calibration), the epidemic and the health
//! workflow, the protocol layer that feeds contacts into real phones, the metrics against ground
//! truth, the outputs (JSON, CSV, plots), the command-line program and multi-core execution.
//! None of them exists in this crate yet.

#![forbid(unsafe_code)]

pub mod contacts;
pub mod model;
pub mod output;
pub mod population;
pub mod sample;
pub mod scenario;
pub mod sim;

pub use contacts::{Contact, DayContacts, Setting};
pub use population::{AgeGroup, Agent, Population};
pub use scenario::{Scenario, ScenarioError};
pub use sim::{DayRow, Options, Outcome, Summary, run};
