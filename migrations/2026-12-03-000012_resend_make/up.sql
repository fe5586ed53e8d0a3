-- An operator may have the make command of an order whose first command's fate is unknown
-- sent once more. `make_resent` is set by compare-and-set, so five operators pressing the
-- button at once queue one resend, and an order is never resent a second time.
ALTER TABLE orders ADD COLUMN make_resent BOOLEAN NOT NULL DEFAULT false;

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN
    ('send_make_command', 'capture_payment', 'cancel_payment', 'refund_payment',
     'poll_payment', 'dispense_deadline', 'resend_make_command'));

-- The console overview's sales join recent orders to their live payments: a payment is never
-- older than its order, so the window on orders bounds the payments too, read from this index
-- alone instead of every payment ever made.
CREATE INDEX payments_console_recent ON payments (created_at) INCLUDE (order_id, state)
    WHERE state <> 'canceled';
