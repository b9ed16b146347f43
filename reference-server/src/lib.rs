//! Reference server of the Bluezone contact-tracing protocol: the "System" of the seven-step
//! F0 → F1 workflow.
//!
//! Two layers, and the one rule between them: [`web`] imports [`domain`], never the reverse.
//!
//! - [`domain`]: what each step does, over a [`Store`] and with time as a parameter: the
//!   [`Workflow`] (accounts and sessions, F0 cases and declaration codes, F0 uploads,
//!   publication batches, F1 report verification, the F1 table, routing to preventive-medicine
//!   units), the storage backends, declaration codes, passwords and throttles.
//! - [`web`]: the HTTP binding: one route table, the JSON API, the phone routes, the
//!   publication files and the health workers' console.
//! - [`config`]: the deployment's TOML file, which configures both layers; with `main.rs`, the
//!   only place that knows both.
//!
//! Every protocol decision is a call into [`bluezone_protocol`]; none is written here a second
//! time. `ARCHITECTURE.md` at the repository root maps the seven steps to these modules.

#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod web;

pub use config::Config;
pub use domain::error::{ApiError, ErrorCode};
pub use domain::settings::Settings;
pub use domain::store::{MemoryStore, SledStore, Store};
pub use domain::workflow::{Answered, MemorySink, PublicationSink, Workflow};
