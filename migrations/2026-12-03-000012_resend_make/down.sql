DROP INDEX payments_console_recent;
DELETE FROM jobs WHERE kind = 'resend_make_command';
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN
    ('send_make_command', 'capture_payment', 'cancel_payment', 'refund_payment',
     'poll_payment', 'dispense_deadline'));
ALTER TABLE orders DROP COLUMN make_resent;
