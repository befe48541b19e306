//! Every route path of the platform API, shared by the server's router, the
//! client libraries and the OpenAPI test (which checks that the document
//! and [`ALL`] agree), so that a path is written once.

pub const HEALTHZ: &str = "/healthz";
pub const OPENAPI: &str = "/openapi.json";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";
pub const KEYS: &str = "/v1/keys";
pub const CHALLENGES: &str = "/v1/challenges";
pub const ENROL_LIGHT: &str = "/v1/enrol/light";
pub const ENROL_UPGRADED: &str = "/v1/enrol/upgraded";
pub const VERIFY: &str = "/v1/verify";
pub const WALLET_STATUS: &str = "/v1/wallet/status";
pub const WALLET_HISTORY: &str = "/v1/wallet/history";
pub const WALLET_SUSPEND: &str = "/v1/wallet/suspend";
pub const WALLET_RESUME: &str = "/v1/wallet/resume";
pub const ADMIN_REVOKE_CITIZEN: &str = "/v1/admin/citizens/revoke";
pub const ADMIN_RPS: &str = "/v1/admin/rps";
pub const ADMIN_RP_KEYS: &str = "/v1/admin/rps/{rp_id}/keys";
pub const ADMIN_RP_REVOKE: &str = "/v1/admin/rps/{rp_id}/revoke";
pub const ADMIN_RP_KEY_REVOKE: &str = "/v1/admin/rp-keys/{key_id}/revoke";
pub const ADMIN_ROTATE_KEY: &str = "/v1/admin/platform-keys/{usage}/rotate";
pub const ADMIN_AUDIT_VERIFY: &str = "/v1/admin/audit/verify";
pub const ADMIN_AUDIT: &str = "/v1/admin/audit";
pub const ADMIN_CREDENTIAL_LOOKUP: &str = "/v1/admin/credentials/lookup";
pub const ADMIN_IMPORT_FILES: &str = "/v1/admin/registry/files";
pub const ADMIN_IMPORTS: &str = "/v1/admin/registry/imports";
pub const ADMIN_IMPORT: &str = "/v1/admin/registry/imports/{job}";
/// The operator console (HTML; its API calls carry the admin token).
pub const CONSOLE: &str = "/console";

/// Every route the router serves, as (method, path).
pub const ALL: &[(&str, &str)] = &[
    ("get", HEALTHZ),
    ("get", OPENAPI),
    ("get", READYZ),
    ("get", METRICS),
    ("get", KEYS),
    ("post", CHALLENGES),
    ("post", ENROL_LIGHT),
    ("post", ENROL_UPGRADED),
    ("post", VERIFY),
    ("post", WALLET_STATUS),
    ("post", WALLET_HISTORY),
    ("post", WALLET_SUSPEND),
    ("post", WALLET_RESUME),
    ("post", ADMIN_REVOKE_CITIZEN),
    ("post", ADMIN_RPS),
    ("get", ADMIN_RPS),
    ("post", ADMIN_RP_KEYS),
    ("post", ADMIN_RP_REVOKE),
    ("post", ADMIN_RP_KEY_REVOKE),
    ("post", ADMIN_ROTATE_KEY),
    ("get", ADMIN_AUDIT_VERIFY),
    ("get", ADMIN_AUDIT),
    ("post", ADMIN_CREDENTIAL_LOOKUP),
    ("get", ADMIN_IMPORT_FILES),
    ("post", ADMIN_IMPORTS),
    ("get", ADMIN_IMPORT),
];
