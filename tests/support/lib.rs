//! Helpers shared by the workspace's integration tests and benchmarks.

pub mod gaen;
