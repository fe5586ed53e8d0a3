-- The operator console: users, sessions, API tokens, login attempts and the audit log.
-- Passwords are argon2id PHC strings; session and API tokens are stored as SHA-256 digests.

CREATE TABLE console_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'merchant')),
    merchant_key  TEXT REFERENCES merchants (key),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((role = 'merchant') = (merchant_key IS NOT NULL))
);

CREATE TABLE console_sessions (
    token_hash   TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    ip           TEXT
);
CREATE INDEX console_sessions_user ON console_sessions (user_name);

CREATE TABLE console_api_tokens (
    token_hash   TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'merchant')),
    merchant_key TEXT REFERENCES merchants (key),
    disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    CHECK ((role = 'merchant') = (merchant_key IS NOT NULL))
);

CREATE TABLE console_login_attempts (
    id        BIGSERIAL PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    name      TEXT NOT NULL,
    ip        TEXT,
    succeeded BOOLEAN NOT NULL
);
CREATE INDEX console_login_attempts_name ON console_login_attempts (name, at);
CREATE INDEX console_login_attempts_ip ON console_login_attempts (ip, at);

CREATE TABLE console_audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    ip          TEXT,
    order_id    UUID,
    device_uuid TEXT,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX console_audit_order ON console_audit (order_id, id) WHERE order_id IS NOT NULL;
CREATE INDEX console_audit_device ON console_audit (device_uuid, id) WHERE device_uuid IS NOT NULL;
CREATE INDEX console_audit_actor ON console_audit (actor, id);

-- The console's order list: newest first, keyset-paginated, under every filter it offers.
CREATE INDEX orders_console_recent ON orders (created_at DESC, id DESC);
CREATE INDEX orders_console_merchant ON orders (merchant_key, created_at DESC, id DESC);
CREATE INDEX orders_console_device ON orders (device_uuid, created_at DESC, id DESC);
CREATE INDEX orders_console_status ON orders (status, created_at DESC, id DESC);
CREATE INDEX orders_console_attention ON orders (created_at DESC, id DESC) WHERE attention IS NOT NULL;
-- Search by the machine's order id, the receipt contact and the provider's payment id.
CREATE INDEX orders_console_machine_order_id ON orders (machine_order_id);
CREATE INDEX orders_console_contact ON orders (receipt_contact_value) WHERE receipt_contact_value IS NOT NULL;
CREATE INDEX payments_console_provider_payment_id ON payments (provider_payment_id);
