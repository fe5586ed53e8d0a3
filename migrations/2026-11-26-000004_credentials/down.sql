ALTER TABLE devices DROP COLUMN events_secret;

ALTER TABLE merchants
    DROP CONSTRAINT merchants_yookassa_complete,
    DROP COLUMN yookassa_tax_system_code,
    DROP COLUMN yookassa_vat_code,
    DROP COLUMN yookassa_secret_key,
    DROP COLUMN yookassa_shop_id;
