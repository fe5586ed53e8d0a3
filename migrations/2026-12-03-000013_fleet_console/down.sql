ALTER TABLE drinks
    DROP COLUMN disabled;

ALTER TABLE devices
    DROP COLUMN events_secret_set_at,
    DROP COLUMN disabled;

ALTER TABLE merchants
    DROP COLUMN tbank_password_set_at,
    DROP COLUMN yookassa_secret_key_set_at,
    DROP COLUMN disabled;
