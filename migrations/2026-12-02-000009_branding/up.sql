-- Each device's face to its customers (plain text, never HTML) and each drink's receipt data.
ALTER TABLE devices
    ADD COLUMN logo_url TEXT NULL CHECK (logo_url ~ '^https?://'),
    ADD COLUMN client_info TEXT NULL,
    ADD COLUMN client_error_info TEXT NULL,
    -- Our status names ("created", "pending", …) to the device's own text.
    ADD COLUMN status_texts JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(status_texts) = 'object');

-- Each set value overrides the merchant's default on the drink's receipt item.
ALTER TABLE drinks
    ADD COLUMN receipt_vat_code SMALLINT NULL CHECK (receipt_vat_code BETWEEN 1 AND 12),
    ADD COLUMN receipt_measure TEXT NULL,
    ADD COLUMN receipt_payment_subject TEXT NULL,
    ADD COLUMN receipt_payment_mode TEXT NULL;
