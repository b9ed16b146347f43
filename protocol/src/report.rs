//! F1 reports (seed step 5, second half: "if it suspects a contact with the F0, the App sends
//! that data back to the System"): what the phone matched, its own RPIs for those intervals, and
//! its contact details sealed with HPKE to the preventive-medicine unit.
//!
//! Layout: SPEC.md §10.2 (report) and §10.1 (contact details).

use core::fmt;

use rand_core::CryptoRng;

use crate::error::{DecodeError, Error};
use crate::hpke::{
    self, ENCAPSULATED_KEY_LEN, EncapsulatedKey, HpkeError, HpkePrivateKey, HpkePublicKey,
};
use crate::keys::{RPI_LEN, RollingProximityId};
use crate::sighting::{SIGHTING_RECORD_LEN, Sighting};
use crate::time::{IntervalNumber, UnixTime};
use crate::wire::{self, MessageType, Reader};

/// Format version of F1 reports written and read here.
pub const F1_REPORT_VERSION: u8 = 2;
/// Most matched sightings in one report.
pub const MAX_REPORT_SIGHTINGS: u16 = 1000;
/// Most of the reporter's own RPIs in one report.
pub const MAX_REPORT_OWN_RPIS: u16 = 1000;
/// Bytes of one own-RPI record: interval, RPI.
pub const OWN_RPI_RECORD_LEN: usize = 4 + RPI_LEN;
/// Bytes of the contact details before sealing.
pub const CONTACT_DETAILS_LEN: usize = 128;
/// Bytes of the sealed contact details: encapsulated key, ciphertext, AES-GCM tag.
pub const SEALED_CONTACT_DETAILS_LEN: usize = ENCAPSULATED_KEY_LEN + CONTACT_DETAILS_LEN + 16;
/// The lengths a report is padded to, smallest first.
pub const REPORT_SIZE_CLASSES: [usize; 4] = [1 << 10, 1 << 12, 1 << 14, 1 << 16];
/// Longest phone number, in digits (E.164).
pub const MAX_PHONE_DIGITS: usize = 15;
/// Longest name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 95;
/// HPKE `info` of the contact-details seal.
pub const CONTACT_DETAILS_INFO: &[u8] = b"bluezone v1 F1 contact details";

const REPORT_FIXED_LEN: usize = wire::HEADER_LEN + 16 + 4 + 1 + 1 + 2 + 2;

/// A random identifier the phone gives each report.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReportId(pub [u8; 16]);

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReportId({self})")
    }
}

/// How the F1 can be reached: what only the preventive-medicine unit may read.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactDetails {
    /// Phone number, digits only, in international form without `+` (for example
    /// `84912345678`), 1 to 15 digits.
    pub phone_number: String,
    /// Name, optional (empty when not given), at most 95 bytes of UTF-8.
    pub name: String,
    /// Administrative code of the F1's district, which decides the unit that follows up.
    pub district: u32,
    /// When the F1 consented to the report.
    pub consent_time: UnixTime,
}

impl fmt::Debug for ContactDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: never in logs.
        f.debug_struct("ContactDetails")
            .field("district", &self.district)
            .finish_non_exhaustive()
    }
}

/// Why contact details or their seal are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContactError {
    /// A phone number that is empty, longer than 15 digits, or not all digits.
    BadPhoneNumber,
    /// A name longer than 95 bytes.
    NameTooLong,
    /// The plaintext does not follow SPEC.md §10.1.
    Malformed,
    /// The sealed details name another district than the report carrying them.
    DistrictMismatch,
    /// HPKE refused: the key is not the addressee's, or the ciphertext or its context changed.
    Hpke(HpkeError),
}

impl fmt::Display for ContactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContactError::BadPhoneNumber => f.write_str("phone number must be 1 to 15 digits"),
            ContactError::NameTooLong => f.write_str("name longer than 95 bytes"),
            ContactError::Malformed => f.write_str("contact details do not follow their layout"),
            ContactError::DistrictMismatch => {
                f.write_str("sealed district differs from the report's district")
            }
            ContactError::Hpke(e) => write!(f, "cannot open the sealed contact details: {e}"),
        }
    }
}

impl std::error::Error for ContactError {}

impl From<ContactError> for Error {
    fn from(e: ContactError) -> Error {
        Error::Contact(e)
    }
}

impl ContactDetails {
    fn check(&self) -> Result<(), ContactError> {
        let digits = self.phone_number.as_bytes();
        if digits.is_empty()
            || digits.len() > MAX_PHONE_DIGITS
            || !digits.iter().all(u8::is_ascii_digit)
        {
            return Err(ContactError::BadPhoneNumber);
        }
        if self.name.len() > MAX_NAME_LEN {
            return Err(ContactError::NameTooLong);
        }
        Ok(())
    }

    /// The fixed 128-byte plaintext (SPEC.md §10.1).
    pub fn to_bytes(&self) -> Result<[u8; CONTACT_DETAILS_LEN], ContactError> {
        self.check()?;
        let mut out = [0u8; CONTACT_DETAILS_LEN];
        out[0] = self.phone_number.len() as u8;
        out[1..1 + self.phone_number.len()].copy_from_slice(self.phone_number.as_bytes());
        out[16] = self.name.len() as u8;
        out[17..17 + self.name.len()].copy_from_slice(self.name.as_bytes());
        out[112..116].copy_from_slice(&self.district.to_le_bytes());
        out[116..124].copy_from_slice(&self.consent_time.0.to_le_bytes());
        Ok(out)
    }

    /// Read the 128-byte plaintext.
    pub fn parse(bytes: &[u8; CONTACT_DETAILS_LEN]) -> Result<ContactDetails, ContactError> {
        let phone_len = bytes[0] as usize;
        let name_len = bytes[16] as usize;
        if phone_len > MAX_PHONE_DIGITS || name_len > MAX_NAME_LEN {
            return Err(ContactError::Malformed);
        }
        let zero = |range: core::ops::Range<usize>| bytes[range].iter().all(|&b| b == 0);
        if !zero(1 + phone_len..16) || !zero(17 + name_len..112) || !zero(124..128) {
            return Err(ContactError::Malformed);
        }
        let phone_number = core::str::from_utf8(&bytes[1..1 + phone_len])
            .map_err(|_| ContactError::Malformed)?
            .to_owned();
        let name = core::str::from_utf8(&bytes[17..17 + name_len])
            .map_err(|_| ContactError::Malformed)?
            .to_owned();
        let mut district = [0u8; 4];
        district.copy_from_slice(&bytes[112..116]);
        let mut consent = [0u8; 8];
        consent.copy_from_slice(&bytes[116..124]);
        let details = ContactDetails {
            phone_number,
            name,
            district: u32::from_le_bytes(district),
            consent_time: UnixTime(u64::from_le_bytes(consent)),
        };
        details.check().map_err(|_| ContactError::Malformed)?;
        Ok(details)
    }
}

/// Contact details sealed with HPKE (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256),
/// HKDF-SHA256, AES-128-GCM) to a preventive-medicine unit's public key. The server stores and
/// forwards these bytes; it cannot read them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SealedContactDetails(pub [u8; SEALED_CONTACT_DETAILS_LEN]);

impl fmt::Debug for SealedContactDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedContactDetails(..)")
    }
}

/// The HPKE associated data: the report id and district, so that a sealed box moved to another
/// report, or relabelled with another district, no longer opens.
fn contact_aad(report_id: &ReportId, district: u32) -> [u8; 20] {
    let mut aad = [0u8; 20];
    aad[..16].copy_from_slice(&report_id.0);
    aad[16..].copy_from_slice(&district.to_le_bytes());
    aad
}

impl SealedContactDetails {
    /// Seal `details` to `unit` for the report `report_id`.
    pub fn seal<R: CryptoRng + ?Sized>(
        details: &ContactDetails,
        report_id: &ReportId,
        unit: &HpkePublicKey,
        rng: &mut R,
    ) -> Result<SealedContactDetails, ContactError> {
        let plaintext = details.to_bytes()?;
        let aad = contact_aad(report_id, details.district);
        let (enc, ciphertext) = hpke::seal_base(unit, CONTACT_DETAILS_INFO, &aad, &plaintext, rng)
            .map_err(ContactError::Hpke)?;
        let mut out = [0u8; SEALED_CONTACT_DETAILS_LEN];
        out[..ENCAPSULATED_KEY_LEN].copy_from_slice(enc.as_bytes());
        out[ENCAPSULATED_KEY_LEN..].copy_from_slice(&ciphertext);
        Ok(SealedContactDetails(out))
    }

    /// Open with the unit's private key (on the unit worker's machine, never on the server).
    /// The report id and district are those the report carries in clear.
    pub fn open(
        &self,
        report_id: &ReportId,
        district: u32,
        unit: &HpkePrivateKey,
    ) -> Result<ContactDetails, ContactError> {
        let enc = EncapsulatedKey::from_bytes(&self.0[..ENCAPSULATED_KEY_LEN])
            .map_err(ContactError::Hpke)?;
        let plaintext = hpke::open_base(
            &enc,
            unit,
            CONTACT_DETAILS_INFO,
            &contact_aad(report_id, district),
            &self.0[ENCAPSULATED_KEY_LEN..],
        )
        .map_err(ContactError::Hpke)?;
        let plaintext: &[u8; CONTACT_DETAILS_LEN] = plaintext
            .as_slice()
            .try_into()
            .map_err(|_| ContactError::Malformed)?;
        let details = ContactDetails::parse(plaintext)?;
        if details.district != district {
            return Err(ContactError::DistrictMismatch);
        }
        Ok(details)
    }
}

/// One of the reporter's own RPIs: what it broadcast in `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnRpi {
    /// The interval.
    pub interval: IntervalNumber,
    /// The RPI the reporter broadcast in it.
    pub rpi: RollingProximityId,
}

/// An F1 report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct F1Report {
    /// Random identifier; the server refuses a second report with the same one.
    pub report_id: ReportId,
    /// The reporter's district, in clear so that the server can route the F1 to its unit.
    pub district: u32,
    /// The reporter's RSSI correction (its device calibration), for exact rescoring.
    pub rssi_correction_db: i8,
    /// The matched sightings (the hits of one candidate exposure), each RPI once.
    pub sightings: Vec<Sighting>,
    /// The reporter's own RPIs for the intervals those sightings cover, and nothing else of its
    /// keys: what lets the server find the reporter in an F0's contact history.
    pub own_rpis: Vec<OwnRpi>,
    /// Contact details sealed to the unit of `district`.
    pub contact: SealedContactDetails,
}

impl F1Report {
    fn content_len(&self) -> usize {
        REPORT_FIXED_LEN
            + self.sightings.len() * SIGHTING_RECORD_LEN
            + self.own_rpis.len() * OWN_RPI_RECORD_LEN
            + SEALED_CONTACT_DETAILS_LEN
    }

    fn check_structure(&self) -> Result<(), DecodeError> {
        if self.sightings.is_empty() {
            return Err(DecodeError::InvalidField {
                field: "report.sighting_count",
                rule: "at least one sighting",
            });
        }
        if self.sightings.len() > usize::from(MAX_REPORT_SIGHTINGS) {
            return Err(DecodeError::TooMany {
                what: "report sightings",
                limit: MAX_REPORT_SIGHTINGS.into(),
                found: self.sightings.len() as u64,
            });
        }
        if self.own_rpis.len() > usize::from(MAX_REPORT_OWN_RPIS) {
            return Err(DecodeError::TooMany {
                what: "report own RPIs",
                limit: MAX_REPORT_OWN_RPIS.into(),
                found: self.own_rpis.len() as u64,
            });
        }
        let mut rpis: Vec<_> = self.sightings.iter().map(|s| s.rpi).collect();
        rpis.sort_unstable();
        if rpis.windows(2).any(|w| w[0] == w[1]) {
            return Err(DecodeError::InvalidField {
                field: "report.sightings",
                rule: "each RPI at most once",
            });
        }
        Ok(())
    }

    /// The message bytes, padded with zeros to the smallest size class that holds them.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        self.check_structure()?;
        let total = REPORT_SIZE_CLASSES
            .iter()
            .copied()
            .find(|&c| c >= self.content_len())
            .ok_or(DecodeError::TooMany {
                what: "report bytes",
                limit: REPORT_SIZE_CLASSES[3] as u64,
                found: self.content_len() as u64,
            })?;
        let mut out = Vec::with_capacity(total);
        wire::write_header(&mut out, MessageType::F1Report, F1_REPORT_VERSION);
        out.extend_from_slice(&self.report_id.0);
        out.extend_from_slice(&self.district.to_le_bytes());
        out.push(self.rssi_correction_db as u8);
        out.push(0); // reserved
        out.extend_from_slice(&(self.sightings.len() as u16).to_le_bytes());
        out.extend_from_slice(&(self.own_rpis.len() as u16).to_le_bytes());
        for s in &self.sightings {
            s.write_record(&mut out);
        }
        for own in &self.own_rpis {
            out.extend_from_slice(&own.interval.0.to_le_bytes());
            out.extend_from_slice(&own.rpi.0);
        }
        out.extend_from_slice(&self.contact.0);
        out.resize(total, 0);
        Ok(out)
    }

    /// Parse a report: every length checked, every rule of SPEC.md §10.2 enforced.
    pub fn parse(bytes: &[u8]) -> Result<F1Report, Error> {
        let mut r = Reader::new(bytes);
        r.header(MessageType::F1Report, F1_REPORT_VERSION)?;
        let report_id = ReportId(r.array()?);
        let district = r.u32()?;
        let rssi_correction_db = r.i8()?;
        r.reserved::<1>("report.reserved")?;
        let sighting_count = r.u16()?;
        let own_count = r.u16()?;
        if sighting_count > MAX_REPORT_SIGHTINGS || own_count > MAX_REPORT_OWN_RPIS {
            return Err(DecodeError::TooMany {
                what: "report records",
                limit: MAX_REPORT_SIGHTINGS.into(),
                found: sighting_count.max(own_count).into(),
            }
            .into());
        }
        let mut sightings = Vec::with_capacity(sighting_count.into());
        for _ in 0..sighting_count {
            sightings.push(Sighting::read_record(&mut r)?);
        }
        let mut own_rpis = Vec::with_capacity(own_count.into());
        for _ in 0..own_count {
            own_rpis.push(OwnRpi {
                interval: IntervalNumber(r.u32()?),
                rpi: RollingProximityId(r.array()?),
            });
        }
        let contact = SealedContactDetails(r.array()?);
        let padding = r.take(r.remaining())?;
        if padding.iter().any(|&b| b != 0) || !REPORT_SIZE_CLASSES.contains(&bytes.len()) {
            return Err(DecodeError::InvalidField {
                field: "report.padding",
                rule: "zeros up to one of the report size classes",
            }
            .into());
        }
        let report = F1Report {
            report_id,
            district,
            rssi_correction_db,
            sightings,
            own_rpis,
            contact,
        };
        report.check_structure()?;
        Ok(report)
    }

    /// Open the contact details with the unit's private key.
    pub fn open_contact(&self, unit: &HpkePrivateKey) -> Result<ContactDetails, ContactError> {
        self.contact.open(&self.report_id, self.district, unit)
    }
}
