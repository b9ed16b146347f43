//! The Bluezone phone for apps: [`bluezone_protocol::Phone`] behind a C ABI that
//! [UniFFI](https://mozilla.github.io/uniffi-rs/) turns into Kotlin (Android), Swift (iOS) and
//! Python bindings.
//!
//! This crate wraps the protocol; it holds no protocol logic of its own. What it adds is what
//! a sans-IO library leaves to its caller and a foreign-language app cannot supply: randomness
//! (taken from the operating system, through `getrandom`, inside every call that needs it), a
//! lock around the phone's state, and plain types (byte arrays, integers, strings, records)
//! in place of Rust's.
//!
//! # The phone's life
//!
//! | the app … | calls |
//! |---|---|
//! | starts for the first time | [`generate_state_key`] (keep it in the Android Keystore or the iOS Keychain), [`Phone::new`] |
//! | starts again | [`Phone::restore`] with the saved bytes and the key |
//! | advertises over Bluetooth | [`Phone::broadcast`]: the 20 bytes to send and when to ask again |
//! | hears an advertisement | [`Phone::hear`] with its RSSI and the time |
//! | the user is an F0 | [`Phone::prepare_f0_upload`] with the declaration code: the bytes to POST |
//! | polls the publication | [`Phone::batches_to_fetch`] with the signed index and the phone's regions, then [`Phone::match_batch`] for each batch |
//! | the user consents to report | [`Phone::prepare_f1_report`] with the contact details, sealed to the unit's key |
//! | once a day | [`Phone::purge`]: forget what is past the 14-day retention |
//! | after any change | [`Phone::save`]: the sealed state to write to storage |
//!
//! Every time is a parameter in unix seconds (`now`): the app reads its clock, the library
//! never does. Keys are byte arrays of their SPEC.md lengths (publisher key 32 bytes, unit
//! HPKE key 32 bytes, state key 32 bytes); anything else is refused with
//! [`PhoneError::InvalidArgument`].
//!
//! # Errors
//!
//! Every refusal is a [`PhoneError`], which the bindings turn into an exception
//! (`PhoneException` in Kotlin and Python, `PhoneError` in Swift) with one subclass per
//! variant, so an app can tell a wrong state key from tampered bytes or a replayed batch from
//! a forged one. A panic (a bug: no input should cause one) becomes the bindings' internal
//! error rather than crashing the process.
//!
//! # Threads
//!
//! [`Phone`] is `Send + Sync`: its state sits behind a [`Mutex`], so the app may call it from
//! any thread (the Bluetooth callback thread, a background worker, the UI). Each call takes
//! the lock for its whole duration, so calls are serialised and each sees the effects of the
//! previous one; matching a large batch holds the lock for tens of milliseconds, so call
//! [`Phone::match_batch`] off the UI thread.
//!
//! # Unsafe code
//!
//! The scaffolding UniFFI's macros generate (the `extern "C"` functions the bindings call,
//! exported with `#[unsafe(no_mangle)]`) is unsafe code, but it is the expansion of another
//! crate's macros, which rustc's `unsafe_code` lint does not report. So this crate keeps the
//! workspace's `unsafe_code = "forbid"` unchanged: every line written here is checked, and an
//! `unsafe` block in it fails the build. (Should a UniFFI release make the lint see its
//! expansions, the build fails loudly; the remedy is a lints table of this crate's own with
//! `unsafe_code = "deny"`, which the scaffolding's expansions could then be allowed under.)
//!
//! # Bindings
//!
//! `cargo run -p bluezone-ffi --features bindgen --bin uniffi-bindgen -- <out-dir>` builds
//! this library and writes `<out-dir>/kotlin`, `<out-dir>/swift` and `<out-dir>/python`
//! (see README.md next to this crate).

#![warn(missing_docs)]

uniffi::setup_scaffolding!();

pub mod phone;

pub use phone::*;
