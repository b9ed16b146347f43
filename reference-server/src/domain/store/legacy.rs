//! Record layouts of older store schemas, read only to convert them when a store written by
//! an older server is opened (sled: [`super::SledStore`]'s `schema` tree; PostgreSQL: its
//! record migrations). Each layout is the one that schema wrote with bincode 2; a layout is
//! never edited once released.

/// Schema 2's accounts and cases (schema 1's accounts were the same), read only to convert
/// them: accounts and cases from before facilities belong to none (an empty name, province 0),
/// and no account has to change its password.
pub(crate) mod v2 {
    use serde::Deserialize;

    use crate::domain::password::PasswordHash;
    use crate::domain::store::{
        Account as CurrentAccount, CaseRecord as CurrentCase, CaseStatus, Role as CurrentRole,
    };

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(crate) enum Role {
        Admin,
        TreatmentFacility,
        PreventiveUnit { unit: String },
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(crate) struct Account {
        pub(crate) username: String,
        pub(crate) role: Role,
        pub(crate) password: PasswordHash,
        pub(crate) created_at: u64,
        pub(crate) disabled: bool,
    }

    impl Account {
        pub(crate) fn upgrade(self) -> CurrentAccount {
            CurrentAccount {
                username: self.username,
                role: match self.role {
                    Role::Admin => CurrentRole::Admin,
                    Role::TreatmentFacility => CurrentRole::TreatmentFacility {
                        facility: String::new(),
                    },
                    Role::PreventiveUnit { unit } => CurrentRole::PreventiveUnit { unit },
                },
                password: self.password,
                created_at: self.created_at,
                disabled: self.disabled,
                must_change_password: false,
            }
        }
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(crate) struct CaseRecord {
        pub(crate) case_id: u64,
        pub(crate) reference: String,
        pub(crate) opened_by: String,
        pub(crate) opened_at: u64,
        pub(crate) code_expires_at: u64,
        pub(crate) status: CaseStatus,
        pub(crate) f1_rows: u32,
    }

    impl CaseRecord {
        pub(crate) fn upgrade(self) -> CurrentCase {
            CurrentCase {
                case_id: self.case_id,
                reference: self.reference,
                opened_by: self.opened_by,
                facility: String::new(),
                province: 0,
                opened_at: self.opened_at,
                code_expires_at: self.code_expires_at,
                status: self.status,
                f1_rows: self.f1_rows,
            }
        }
    }
}

/// Schema 1's case records, read only to convert them.
pub(crate) mod v1 {
    use serde::Deserialize;

    use crate::domain::store::{CaseStatus as CurrentStatus, RegionBatch};

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(crate) enum CaseStatus {
        AwaitingUpload,
        UploadReceived { at: u64 },
        TraceRequested { at: u64, by: String },
        Published { batch_id: u64, at: u64 },
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(crate) struct CaseRecord {
        pub(crate) case_id: u64,
        pub(crate) reference: String,
        pub(crate) opened_by: String,
        pub(crate) opened_at: u64,
        pub(crate) code_expires_at: u64,
        pub(crate) status: CaseStatus,
        pub(crate) f1_rows: u32,
    }

    impl CaseRecord {
        /// Schema 2's record: cases traced or published before regions were traced to, and
        /// published in, region 0, the whole country.
        pub(crate) fn upgrade(self) -> super::v2::CaseRecord {
            let status = match self.status {
                CaseStatus::AwaitingUpload => CurrentStatus::AwaitingUpload,
                CaseStatus::UploadReceived { at } => CurrentStatus::UploadReceived { at },
                CaseStatus::TraceRequested { at, by } => CurrentStatus::TraceRequested {
                    at,
                    by,
                    regions: vec![0],
                },
                CaseStatus::Published { batch_id, at } => CurrentStatus::Published {
                    at,
                    batches: vec![RegionBatch {
                        region: 0,
                        batch_id,
                    }],
                },
            };
            super::v2::CaseRecord {
                case_id: self.case_id,
                reference: self.reference,
                opened_by: self.opened_by,
                opened_at: self.opened_at,
                code_expires_at: self.code_expires_at,
                status,
                f1_rows: self.f1_rows,
            }
        }
    }
}
