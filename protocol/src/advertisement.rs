//! The 20 bytes a phone broadcasts over Bluetooth Low Energy.

use crate::error::DecodeError;
use crate::keys::{AEM_LEN, AssociatedEncryptedMetadata, RPI_LEN, RollingProximityId};

/// Length of an advertisement payload: RPI (16) then AEM (4).
pub const ADVERTISEMENT_LEN: usize = RPI_LEN + AEM_LEN;

/// What a phone broadcasts during one interval: `RPI || AEM`, the service data layout of GAEN.
///
/// The payload has no version byte of its own, so that it stays byte-for-byte GAEN's: its
/// version is the major/minor version inside the encrypted metadata, which only the server
/// reads (after an F0 publishes the key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// The rolling proximity identifier of the interval.
    pub rpi: RollingProximityId,
    /// The sender's metadata, encrypted under its AEMK.
    pub aem: AssociatedEncryptedMetadata,
}

impl Advertisement {
    /// The 20-byte payload.
    pub fn to_bytes(&self) -> [u8; ADVERTISEMENT_LEN] {
        let mut out = [0u8; ADVERTISEMENT_LEN];
        out[..RPI_LEN].copy_from_slice(&self.rpi.0);
        out[RPI_LEN..].copy_from_slice(&self.aem.0);
        out
    }

    /// Parse a received payload, which must be exactly 20 bytes long.
    pub fn parse(bytes: &[u8]) -> Result<Advertisement, DecodeError> {
        let bytes: &[u8; ADVERTISEMENT_LEN] =
            bytes.try_into().map_err(|_| DecodeError::WrongLength {
                expected: ADVERTISEMENT_LEN,
                found: bytes.len(),
            })?;
        let mut rpi = [0u8; RPI_LEN];
        let mut aem = [0u8; AEM_LEN];
        rpi.copy_from_slice(&bytes[..RPI_LEN]);
        aem.copy_from_slice(&bytes[RPI_LEN..]);
        Ok(Advertisement {
            rpi: RollingProximityId(rpi),
            aem: AssociatedEncryptedMetadata(aem),
        })
    }
}
