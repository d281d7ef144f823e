//! Every end-to-end suite in one test binary: each module used to be a binary of its own,
//! and each linked local-api, every function and three SDKs. One link instead of nine.

mod account_stores_contract;
mod accounts_api;
mod admin_operations;
mod arm64_bootstraps;
mod binaries_e2e;
mod bootstrap;
mod code_limits_api;
mod cold_path;
mod fault_scenarios;
mod faults;
mod iam_enforced;
mod layers;
mod log_hygiene;
mod message_store_contract;
mod messages_api;
mod mfa_api;
mod oauth_api;
mod oauth_stores_contract;
mod origin_secret;
mod recovery_api;
mod registration_privacy_api;
mod route_table;
mod scaling_doc;
mod ses_mailer;
mod sessions_api;
mod shared_target;
mod task_store_contract;
mod tasks_api;
mod template_checks;
mod tuning;
