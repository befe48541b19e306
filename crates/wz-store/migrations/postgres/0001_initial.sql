-- wangzheng platform schema, PostgreSQL. Keep in step with ../sqlite/0001_initial.sql:
-- same tables, columns and constraints; only the type names differ.

CREATE TABLE registry (
    citizen_id     BIGSERIAL PRIMARY KEY,
    -- HMAC-SM3(index key, ID number): lookup without storing the number in clear.
    id_index       BYTEA NOT NULL UNIQUE,
    -- SM4-GCM sealed JSON of the personal data (name, ID number, sex, ...).
    pii            BYTEA NOT NULL,
    -- SM4-GCM sealed photo bytes.
    photo          BYTEA,
    face_template  BYTEA,
    template_model TEXT,
    data_key_id    TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE credentials (
    cred_id           BYTEA PRIMARY KEY,
    citizen_id        BIGINT NOT NULL REFERENCES registry (citizen_id),
    level             BIGINT NOT NULL,
    device_public_key BYTEA NOT NULL,
    certificate       BYTEA NOT NULL,
    status            TEXT NOT NULL,
    not_before        BIGINT NOT NULL,
    not_after         BIGINT NOT NULL,
    last_counter      BIGINT NOT NULL DEFAULT -1,
    created_at        BIGINT NOT NULL,
    status_changed_at BIGINT NOT NULL
);
-- One active credential per citizen, enforced by the database itself.
CREATE UNIQUE INDEX credentials_one_active ON credentials (citizen_id) WHERE status = 'active';

CREATE TABLE credential_pins (
    citizen_id    BIGINT PRIMARY KEY REFERENCES registry (citizen_id),
    pin_hash      TEXT NOT NULL,
    failed_count  BIGINT NOT NULL DEFAULT 0,
    locked_until  BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE relying_parties (
    rp_id       TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    modes       TEXT NOT NULL,
    attributes  TEXT NOT NULL,
    rate_per_s  BIGINT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE rp_keys (
    key_id      TEXT PRIMARY KEY,
    rp_id       TEXT NOT NULL REFERENCES relying_parties (rp_id),
    public_key  BYTEA NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX rp_keys_by_rp ON rp_keys (rp_id);

CREATE TABLE rp_nonces (
    rp_id    TEXT NOT NULL,
    nonce    TEXT NOT NULL,
    seen_at  BIGINT NOT NULL,
    PRIMARY KEY (rp_id, nonce)
);
CREATE INDEX rp_nonces_by_time ON rp_nonces (seen_at);

CREATE TABLE verifications (
    serial        TEXT PRIMARY KEY,
    rp_id         TEXT NOT NULL,
    request_nonce TEXT NOT NULL,
    -- SM3 of the request body: a retry must match it to get the stored verdict.
    request_hash  BYTEA NOT NULL,
    citizen_id    BIGINT,
    cred_id       BYTEA,
    mode          BIGINT NOT NULL,
    result        BIGINT NOT NULL,
    time          BIGINT NOT NULL,
    -- The exact signed response, so a retry gets the same verdict.
    response      BYTEA NOT NULL,
    UNIQUE (rp_id, request_nonce)
);
CREATE INDEX verifications_by_citizen ON verifications (citizen_id, time);

CREATE TABLE challenges (
    challenge_id TEXT PRIMARY KEY,
    nonce        BYTEA NOT NULL,
    purpose      TEXT NOT NULL,
    actions      TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used         BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE platform_keys (
    key_id      TEXT PRIMARY KEY,
    usage       TEXT NOT NULL,
    -- Private key wrapped (SM4-GCM) under the master key; raw 32-byte key for data/pseudonym keys.
    wrapped     BYTEA NOT NULL,
    public_key  BYTEA,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retire_at   BIGINT
);

-- One current key per usage, even when several nodes bootstrap at once.
CREATE UNIQUE INDEX platform_keys_one_current ON platform_keys (usage) WHERE status = 'current';

CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    time       BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  BYTEA NOT NULL,
    hash       BYTEA NOT NULL
);
