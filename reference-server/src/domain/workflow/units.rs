//! Preventive-medicine units (seed step 7): those of the configuration and those an admin
//! registers, held to one rule ([`validate_unit`]) and kept together in memory.

use super::{Principal, Workflow, read, write};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::settings::{Unit, UnitConfig, UnitRefusal, validate_unit};
use crate::domain::store::{Seconds, Store, UnitRecord};

/// The configured units followed by the registered ones (by name), each checked against those
/// before it: a registered unit that a later configuration contradicts (its name or a district
/// now configured) stops the start with the reason.
pub(super) fn load_units(configured: &[Unit], store: &dyn Store) -> Result<Vec<Unit>, ApiError> {
    let mut units = configured.to_vec();
    for record in store.units()? {
        let config = UnitConfig {
            name: record.name.clone(),
            districts: record.districts.clone(),
            public_key: hex::encode(record.public_key),
        };
        let unit = validate_unit(&config, &units).map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!(
                    "registered unit {} conflicts with the configuration: {}",
                    record.name,
                    e.message()
                ),
            )
        })?;
        units.push(unit);
    }
    Ok(units)
}

fn refusal(e: UnitRefusal) -> ApiError {
    let code = match e {
        UnitRefusal::Invalid(_) => ErrorCode::UnitInvalid,
        UnitRefusal::NameTaken(_) => ErrorCode::UnitExists,
        UnitRefusal::DistrictTaken(_) => ErrorCode::UnitDistrictTaken,
    };
    ApiError::new(code, e.message())
}

impl Workflow {
    /// Read the units again from the store: another instance sharing it may have registered
    /// one (units are only ever added, so a unit this instance lacks is found this way). On a
    /// store error the units in memory stay.
    fn reload_units(&self) -> Vec<Unit> {
        match load_units(&self.settings.units, &*self.store) {
            Ok(fresh) => {
                *write(&self.units) = fresh.clone();
                fresh
            }
            Err(e) => {
                tracing::error!(error = %e, "units not reloaded");
                read(&self.units).clone()
            }
        }
    }

    /// Every unit, the configured ones first, then the registered ones by name, as the store
    /// holds them now.
    pub fn units(&self) -> Vec<Unit> {
        self.reload_units()
    }

    /// [`units`](Self::units), for a health worker of any role (`GET /api/v1/units`), once its
    /// password is its own.
    pub fn units_for(&self, principal: &Principal) -> Result<Vec<Unit>, ApiError> {
        Self::require_own_password(principal)?;
        Ok(self.units())
    }

    /// The unit named `name` (read again from the store when this instance lacks it).
    pub fn unit(&self, name: &str) -> Option<Unit> {
        let find = |units: &[Unit]| units.iter().find(|u| u.name == name).cloned();
        // The read guard goes at the end of this statement, before a reload writes.
        let held = find(&read(&self.units));
        held.or_else(|| find(&self.reload_units()))
    }

    /// The unit that covers `district` (read again from the store when this instance lacks
    /// it).
    pub fn unit_of_district(&self, district: u32) -> Option<Unit> {
        let find = |units: &[Unit]| {
            units
                .iter()
                .find(|u| u.districts.contains(&district))
                .cloned()
        };
        let held = find(&read(&self.units));
        held.or_else(|| find(&self.reload_units()))
    }

    /// Register a unit (admins only), checked against every configured and registered unit by
    /// the rule configured units follow: `unit_invalid` (name or key), `unit_exists` (name
    /// taken), `unit_district_taken` (a district covered by another unit). Stored before it is
    /// used; reports to its districts are verified from then on.
    pub fn register_unit(
        &self,
        principal: &Principal,
        config: &UnitConfig,
        now: Seconds,
    ) -> Result<Unit, ApiError> {
        Self::require_admin(principal)?;
        // Against every unit the store holds, those another instance registered included.
        self.reload_units();
        let mut units = write(&self.units);
        let unit = validate_unit(config, &units).map_err(refusal)?;
        self.store.insert_unit(&UnitRecord {
            name: unit.name.clone(),
            districts: unit.districts.clone(),
            public_key: *unit.public_key.as_bytes(),
            registered_at: now,
            registered_by: principal.username.clone(),
        })?;
        units.push(unit.clone());
        drop(units);
        let districts: Vec<String> = unit.districts.iter().map(u32::to_string).collect();
        let object = format!("unit {} districts {}", unit.name, districts.join(","));
        self.audit_by(principal, "unit_registered", object, now);
        Ok(unit)
    }
}
