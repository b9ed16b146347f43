//! The domain layer: what the System does, with no HTTP in it.
//!
//! The one rule of this layer: it imports nothing from [`crate::web`] (nor from the
//! deployment's [`crate::config`]). Time is a parameter of every call and randomness comes from
//! the generator the workflow is opened with, so the simulator drives the same code on a
//! virtual clock.
//!
//! - [`workflow`]: the seven steps, one file per step, over a [`store::Store`].
//! - [`store`]: the storage trait and its backends (sled, memory).
//! - [`settings`]: what the workflow is configured with (units, throttles, lifetimes).
//! - [`code`], [`password`], [`throttle`]: declaration codes, password hashing, throttling.
//! - [`paging`]: keyset paging of the lists (cases, F1 rows, accounts).
//! - [`files`]: files and directories only the server's user may read.
//! - [`error`]: the stable error codes every refusal carries; [`metrics`]: the counters.

pub mod backup;
pub mod code;
pub mod error;
pub mod files;
pub mod metrics;
pub mod paging;
pub mod password;
pub mod regions;
pub mod settings;
pub mod store;
pub mod throttle;
pub mod workflow;
