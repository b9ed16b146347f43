//! Reference server of the Bluezone contact-tracing protocol: the "System" of the seven-step
//! F0 → F1 workflow.
//!
//! This crate is not written yet. It will hold the workflow (health-worker accounts and roles,
//! F0 declaration codes, F0 uploads, publication batches, F1 report verification, the F1 table
//! and its routing to preventive-medicine units) over a storage trait with sled as the embedded
//! default, a thin hyper HTTP layer, and the health-worker web console. Every protocol decision
//! is a call into [`bluezone_protocol`]; none is written here a second time.
