-- Provider credentials and device report keys, stored sealed (AES-256-GCM under SECRET_KEY).
ALTER TABLE merchants
    ADD COLUMN yookassa_shop_id TEXT,
    ADD COLUMN yookassa_secret_key TEXT,
    ADD COLUMN yookassa_vat_code SMALLINT CHECK (yookassa_vat_code BETWEEN 1 AND 12),
    ADD COLUMN yookassa_tax_system_code SMALLINT CHECK (yookassa_tax_system_code BETWEEN 1 AND 6),
    ADD CONSTRAINT merchants_yookassa_complete CHECK (
        (yookassa_shop_id IS NULL AND yookassa_secret_key IS NULL AND yookassa_vat_code IS NULL
            AND yookassa_tax_system_code IS NULL)
        OR (yookassa_shop_id IS NOT NULL AND yookassa_secret_key IS NOT NULL AND yookassa_vat_code IS NOT NULL)
    );

ALTER TABLE devices
    ADD COLUMN events_secret TEXT;
