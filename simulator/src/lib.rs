//! Population simulator for the Bluezone contact-tracing protocol.
//!
//! This crate is not written yet. It will run real [`bluezone_protocol`] phones (keys, RPIs,
//! sightings, uploads, publication batches, matching, F1 reports and their verification) over a
//! synthetic population on a virtual clock, to measure F1 recall and precision, false alerts,
//! bytes per phone and server load at national scale.
