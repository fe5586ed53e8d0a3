-- Orders, their one payment, their timeline, and provider events seen (webhook dedupe).

CREATE TABLE orders (
    id                     UUID PRIMARY KEY,
    -- The machine's own order id from the QR: unique per device, so a re-scan finds the order.
    machine_order_id       TEXT COLLATE "C" NOT NULL CHECK (length(machine_order_id) BETWEEN 1 AND 255),
    device_uuid            TEXT COLLATE "C" NOT NULL REFERENCES devices (device_uuid),
    merchant_key           TEXT COLLATE "C" NOT NULL REFERENCES merchants (key),
    drink_no               TEXT COLLATE "C" NOT NULL,
    drink_name             TEXT NOT NULL,
    size                   TEXT NOT NULL CHECK (size IN ('small', 'medium', 'big')),
    price_kopecks          BIGINT NOT NULL CHECK (price_kopecks >= 0),
    currency               TEXT NOT NULL CHECK (currency IN ('RUB')),
    status                 TEXT NOT NULL CHECK (status IN
                               ('created', 'pending', 'paid', 'not_paid', 'make_pending', 'successful', 'failed')),
    expires_at             TIMESTAMPTZ NOT NULL,
    failure_reason         TEXT CHECK (failure_reason IN
                               ('payment_rejected', 'payment_canceled', 'expired', 'paid_after_expiry',
                                'machine_unreachable', 'dispense_failed', 'dispense_timed_out')),
    receipt_contact_kind   TEXT CHECK (receipt_contact_kind IN ('email', 'phone')),
    receipt_contact_value  TEXT,
    dispense_assumed       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL,
    CONSTRAINT orders_device_machine_order_id_key UNIQUE (device_uuid, machine_order_id),
    CONSTRAINT orders_receipt_contact_complete
        CHECK ((receipt_contact_kind IS NULL) = (receipt_contact_value IS NULL))
);

-- The expiry sweep: open orders by deadline.
CREATE INDEX orders_due_for_expiry ON orders (expires_at) WHERE status IN ('created', 'pending');

CREATE TABLE payments (
    id                   UUID PRIMARY KEY,
    -- One payment per order.
    order_id             UUID NOT NULL REFERENCES orders (id),
    provider             TEXT NOT NULL CHECK (provider IN ('sandbox', 'yookassa', 'tbank', 'custom')),
    provider_payment_id  TEXT COLLATE "C" NOT NULL,
    amount_kopecks       BIGINT NOT NULL CHECK (amount_kopecks >= 0),
    currency             TEXT NOT NULL CHECK (currency IN ('RUB')),
    capture              TEXT NOT NULL CHECK (capture IN ('immediate', 'after_dispense')),
    state                TEXT NOT NULL CHECK (state IN
                             ('pending', 'authorized', 'succeeded', 'canceled', 'refund_pending', 'refunded')),
    confirmation_url     TEXT NOT NULL,
    idempotency_key      TEXT NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    CONSTRAINT payments_order_id_key UNIQUE (order_id),
    CONSTRAINT payments_provider_payment_id_key UNIQUE (provider, provider_payment_id)
);

-- Every transition and every provider/machine message, oldest first by seq.
CREATE TABLE order_history (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id     UUID NOT NULL REFERENCES orders (id),
    at           TIMESTAMPTZ NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('customer', 'provider', 'machine', 'worker', 'operator')),
    from_status  TEXT CHECK (from_status IN
                     ('created', 'pending', 'paid', 'not_paid', 'make_pending', 'successful', 'failed')),
    to_status    TEXT CHECK (to_status IN
                     ('created', 'pending', 'paid', 'not_paid', 'make_pending', 'successful', 'failed')),
    message      TEXT NOT NULL
);

CREATE INDEX order_history_order ON order_history (order_id, seq);

-- Provider notifications already processed: a redelivery is recognised by its key.
CREATE TABLE provider_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider     TEXT NOT NULL CHECK (provider IN ('sandbox', 'yookassa', 'tbank', 'custom')),
    event_key    TEXT COLLATE "C" NOT NULL,
    order_id     UUID REFERENCES orders (id),
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT provider_events_provider_event_key_key UNIQUE (provider, event_key)
);
