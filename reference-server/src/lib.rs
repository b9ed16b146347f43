//! Reference server of the Bluezone contact-tracing protocol: the "System" of the seven-step
//! F0 → F1 workflow.
//!
//! - [`workflow`]: what each step does (accounts and sessions, F0 cases and declaration codes,
//!   F0 uploads, publication batches, F1 report verification, the F1 table, routing to
//!   preventive-medicine units), over a [`store::Store`] and with time as a parameter.
//! - [`store`]: the storage trait and its embedded default, [`store::SledStore`].
//! - [`http`]: the thin hyper 1 layer, and [`config`]: the TOML configuration.
//! - [`console`]: the health workers' web console (server-rendered HTML, Vietnamese and English).
//! - [`code`], [`password`], [`throttle`]: declaration codes, password hashing, throttling.
//!
//! Every protocol decision is a call into [`bluezone_protocol`]; none is written here a second
//! time.

#![forbid(unsafe_code)]

pub mod code;
pub mod config;
pub mod console;
pub mod error;
pub mod http;
pub mod metrics;
pub mod password;
pub mod store;
pub mod throttle;
pub mod workflow;

pub use config::Config;
pub use error::{ApiError, ErrorCode};
pub use store::{SledStore, Store};
pub use workflow::{Settings, Workflow};
