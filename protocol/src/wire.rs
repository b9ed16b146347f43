//! Byte-level reading and writing shared by every message of SPEC.md.
//!
//! Every message that crosses a boundary (other than the 20-byte Bluetooth advertisement,
//! whose layout is GAEN's) starts with the same 4-byte header:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | magic `"BZ"` (0x42 0x5a) |
//! | 2 | 1 | message type ([`MessageType`]) |
//! | 3 | 1 | format version of that message type |
//!
//! Integers are little-endian; signed ones are two's complement.

use crate::error::DecodeError;

/// The two bytes every message starts with.
pub const MAGIC: [u8; 2] = *b"BZ";

/// Length of the common message header.
pub const HEADER_LEN: usize = 4;

/// The message types of SPEC.md, with their type byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum MessageType {
    /// A list of sightings ([`SightingExport`](crate::SightingExport)).
    SightingExport = 0x01,
    /// An F0 upload ([`F0Upload`](crate::F0Upload)).
    F0Upload = 0x02,
    /// A publication batch ([`PublicationBatch`](crate::PublicationBatch)).
    PublicationBatch = 0x03,
    /// A batch index ([`BatchIndex`](crate::BatchIndex)).
    BatchIndex = 0x04,
    /// An F1 report ([`F1Report`](crate::F1Report)).
    F1Report = 0x05,
    /// A phone's state, inside a sealed state (SPEC.md appendix A.2).
    PhoneState = 0x06,
    /// A phone's sealed state ([`Phone::save`](crate::Phone::save), SPEC.md appendix A.1).
    SealedPhoneState = 0x07,
}

/// A cursor over untrusted bytes that checks every length before it reads.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, offset: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                offset: self.offset,
                needed: n,
                available: self.remaining(),
            });
        }
        let out = &self.bytes[self.offset..self.offset + n];
        self.offset += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(self.u8()? as i8)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Read `N` reserved bytes, which must all be zero.
    pub(crate) fn reserved<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<(), DecodeError> {
        if self.array::<N>()? != [0; N] {
            return Err(DecodeError::InvalidField {
                field,
                rule: "reserved, must be zero",
            });
        }
        Ok(())
    }

    /// Read and check the common header of a message of type `expected`, version `version`.
    pub(crate) fn header(&mut self, expected: MessageType, version: u8) -> Result<(), DecodeError> {
        let magic = self.array::<2>()?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic(magic));
        }
        let found = self.u8()?;
        if found != expected as u8 {
            return Err(DecodeError::WrongMessageType {
                expected: expected as u8,
                found,
            });
        }
        let found = self.u8()?;
        if found != version {
            return Err(DecodeError::UnsupportedVersion {
                message_type: expected as u8,
                found,
            });
        }
        Ok(())
    }

    /// Read a record count and check it against `limit` and against the bytes left, each
    /// record being `record_len` bytes, so that no allocation is sized from an unchecked count.
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        limit: u32,
        record_len: usize,
    ) -> Result<usize, DecodeError> {
        let found = self.u32()?;
        if found > limit {
            return Err(DecodeError::TooMany {
                what,
                limit: limit.into(),
                found: found.into(),
            });
        }
        let count = found as usize;
        let needed = count * record_len;
        if needed > self.remaining() {
            return Err(DecodeError::Truncated {
                offset: self.offset,
                needed,
                available: self.remaining(),
            });
        }
        Ok(count)
    }

    /// The input must end here.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
}

/// Append the common header.
pub(crate) fn write_header(out: &mut Vec<u8>, message_type: MessageType, version: u8) {
    out.extend_from_slice(&MAGIC);
    out.push(message_type as u8);
    out.push(version);
}
