//! The crate's error type: one enum, with a sub-enum for malformed bytes.

use core::fmt;

use crate::batch::BatchError;
use crate::report::ContactError;
use crate::state::StateError;
use crate::time::IntervalNumber;
use crate::upload::UploadError;
use crate::verify::VerifyError;

/// Everything that can go wrong in this crate. No function panics on untrusted input; it
/// returns one of these instead.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that do not follow the layout SPEC.md gives them.
    Decode(DecodeError),
    /// A daily key's rolling period outside `1..=144`.
    InvalidRollingPeriod(u32),
    /// A daily key whose validity would run past the last interval number.
    InvalidRollingStart(IntervalNumber),
    /// Decrypted metadata of a major version this implementation does not know (or an AEM
    /// opened with a key that did not make it).
    UnsupportedMetadataVersion(u8),
    /// An F0 upload that breaks a rule of SPEC.md §7.
    Upload(UploadError),
    /// A publication batch or batch index that is refused (SPEC.md §8.3, §8.4).
    Batch(BatchError),
    /// Contact details, or their HPKE seal, refused (SPEC.md §10.1).
    Contact(ContactError),
    /// An F1 report that does not verify (SPEC.md §10.4).
    Verify(VerifyError),
    /// A saved phone state was refused.
    State(StateError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Decode(e) => write!(f, "malformed input: {e}"),
            Error::InvalidRollingPeriod(p) => {
                write!(f, "rolling period {p} is outside 1..=144 intervals")
            }
            Error::InvalidRollingStart(s) => {
                write!(f, "rolling start {s} leaves no room for the key's period")
            }
            Error::UnsupportedMetadataVersion(v) => {
                write!(f, "metadata major version {v} is not supported (only 1 is)")
            }
            Error::Upload(e) => write!(f, "F0 upload refused: {e}"),
            Error::Batch(e) => write!(f, "publication batch refused: {e}"),
            Error::Contact(e) => write!(f, "contact details refused: {e}"),
            Error::Verify(e) => write!(f, "F1 report refused: {e}"),
            Error::State(e) => write!(f, "saved phone state refused: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Decode(e) => Some(e),
            Error::Upload(e) => Some(e),
            Error::Batch(e) => Some(e),
            Error::Contact(e) => Some(e),
            Error::Verify(e) => Some(e),
            Error::State(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Error {
        Error::Decode(e)
    }
}

/// Why a byte string is not a valid record. Every parser checks lengths before it reads and
/// returns one of these for truncated, oversized, wrong-version or inconsistent input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the record did.
    Truncated {
        /// Byte offset at which more input was needed.
        offset: usize,
        /// How many bytes the field at `offset` needs.
        needed: usize,
        /// How many bytes were left.
        available: usize,
    },
    /// The record ended but the input goes on.
    TrailingBytes {
        /// How many bytes are left over.
        extra: usize,
    },
    /// A fixed-size record of the wrong length.
    WrongLength {
        /// The record's length.
        expected: usize,
        /// The input's length.
        found: usize,
    },
    /// The message does not start with the magic bytes `"BZ"`.
    BadMagic([u8; 2]),
    /// A message of another type than the one asked for.
    WrongMessageType {
        /// The type the caller parses.
        expected: u8,
        /// The type byte of the input.
        found: u8,
    },
    /// A format version this implementation does not read.
    UnsupportedVersion {
        /// The message type.
        message_type: u8,
        /// The version byte of the input.
        found: u8,
    },
    /// A count field above the limit this implementation accepts.
    TooMany {
        /// What is counted.
        what: &'static str,
        /// The largest accepted count.
        limit: u64,
        /// The count in the input.
        found: u64,
    },
    /// A field whose value breaks a rule SPEC.md states for it.
    InvalidField {
        /// The field, as SPEC.md names it.
        field: &'static str,
        /// The rule it breaks.
        rule: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated {
                offset,
                needed,
                available,
            } => write!(
                f,
                "truncated at byte {offset}: {needed} bytes needed, {available} left"
            ),
            DecodeError::TrailingBytes { extra } => {
                write!(f, "{extra} unexpected bytes after the end of the record")
            }
            DecodeError::WrongLength { expected, found } => {
                write!(
                    f,
                    "record is {found} bytes long, expected exactly {expected}"
                )
            }
            DecodeError::BadMagic(m) => {
                write!(
                    f,
                    "bad magic bytes {:02x}{:02x}, expected 425a (\"BZ\")",
                    m[0], m[1]
                )
            }
            DecodeError::WrongMessageType { expected, found } => {
                write!(f, "message type {found:#04x}, expected {expected:#04x}")
            }
            DecodeError::UnsupportedVersion {
                message_type,
                found,
            } => write!(
                f,
                "format version {found} of message type {message_type:#04x} is not supported"
            ),
            DecodeError::TooMany { what, limit, found } => {
                write!(f, "{found} {what}, more than the limit of {limit}")
            }
            DecodeError::InvalidField { field, rule } => write!(f, "field {field}: {rule}"),
        }
    }
}

impl std::error::Error for DecodeError {}
