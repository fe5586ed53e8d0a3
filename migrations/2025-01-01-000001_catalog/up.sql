-- The fleet: merchants, their coffee machines and the drinks those sell.
-- Keys are compared byte-wise (COLLATE "C") so listings order exactly like the in-memory store.

CREATE TABLE merchants (
    key            TEXT COLLATE "C" PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 100),
    name           TEXT NOT NULL,
    contact_email  TEXT NOT NULL,
    -- Last day of the service subscription, inclusive.
    valid_until    DATE NOT NULL,
    capture        TEXT NOT NULL CHECK (capture IN ('immediate', 'after_dispense')),
    receipt        TEXT NOT NULL CHECK (receipt IN ('off', 'optional', 'required')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    device_uuid                TEXT COLLATE "C" PRIMARY KEY CHECK (length(device_uuid) BETWEEN 1 AND 255),
    merchant_key               TEXT COLLATE "C" NOT NULL REFERENCES merchants (key),
    location                   TEXT NOT NULL,
    provider                   TEXT NOT NULL CHECK (provider IN ('sandbox', 'yookassa', 'tbank', 'custom')),
    redirect_url               TEXT,
    machine                    TEXT NOT NULL CHECK (machine IN ('simulated', 'tmetr', 'mqtt')),
    test                       BOOLEAN NOT NULL,
    dispense_deadline_seconds  BIGINT NOT NULL CHECK (dispense_deadline_seconds BETWEEN 0 AND 4294967295),
    on_dispense_deadline       TEXT NOT NULL CHECK (on_dispense_deadline IN ('assume_success', 'fail_and_refund')),
    simulation_outcome         TEXT NOT NULL CHECK (simulation_outcome IN ('dispensed', 'failed', 'silent')),
    simulation_delay_ms        BIGINT NOT NULL CHECK (simulation_delay_ms >= 0),
    created_at                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                 TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX devices_merchant ON devices (merchant_key);

CREATE TABLE drinks (
    device_uuid    TEXT COLLATE "C" NOT NULL REFERENCES devices (device_uuid),
    drink_no       TEXT COLLATE "C" NOT NULL CHECK (length(drink_no) BETWEEN 1 AND 255),
    name           TEXT NOT NULL,
    -- Local prices in kopecks; NULL = the size is not sold.
    price_small    BIGINT CHECK (price_small >= 0),
    price_medium   BIGINT CHECK (price_medium >= 0),
    price_big      BIGINT CHECK (price_big >= 0),
    currency       TEXT NOT NULL DEFAULT 'RUB' CHECK (currency IN ('RUB')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (device_uuid, drink_no)
);
