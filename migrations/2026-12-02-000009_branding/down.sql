ALTER TABLE drinks
    DROP COLUMN receipt_payment_mode,
    DROP COLUMN receipt_payment_subject,
    DROP COLUMN receipt_measure,
    DROP COLUMN receipt_vat_code;

ALTER TABLE devices
    DROP COLUMN status_texts,
    DROP COLUMN client_error_info,
    DROP COLUMN client_info,
    DROP COLUMN logo_url;
