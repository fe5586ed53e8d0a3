-- The console edits the fleet: an operator can switch a merchant, a device or a drink off
-- (no new orders; orders already made carry on), and each secret records when it was last
-- set, so a page can say «задан 2026-12-01» without ever showing it. NULL: set before this
-- was recorded, or not set.
ALTER TABLE merchants
    ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN yookassa_secret_key_set_at TIMESTAMPTZ NULL,
    ADD COLUMN tbank_password_set_at TIMESTAMPTZ NULL;

ALTER TABLE devices
    ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN events_secret_set_at TIMESTAMPTZ NULL;

ALTER TABLE drinks
    ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT false;
