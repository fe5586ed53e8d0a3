-- Money safety at the edges: make commands whose fate is unknown, orders flagged for an
-- operator, several payment attempts per order, refunds re-checked by id, urgent jobs first.

-- The make command was sent without a clear answer: only a machine report may say the drink
-- was made; at the deadline the money goes back.
ALTER TABLE orders ADD COLUMN make_outcome_unknown BOOLEAN NOT NULL DEFAULT FALSE;
-- Why an operator must look at the order (NULL: nothing to look at).
ALTER TABLE orders ADD COLUMN attention TEXT CHECK (attention IN
    ('make_outcome_unknown', 'provider_mismatch', 'money_after_order_ended',
     'hold_canceled_after_drink', 'refund_refused'));
CREATE INDEX orders_needing_attention ON orders (updated_at DESC) WHERE attention IS NOT NULL;

-- A canceled or refused attempt leaves the order payable: an order may have several payments,
-- but at most one that is not canceled.
ALTER TABLE payments DROP CONSTRAINT payments_order_id_key;
CREATE UNIQUE INDEX payments_one_live_per_order ON payments (order_id) WHERE state <> 'canceled';
CREATE INDEX payments_order ON payments (order_id, created_at);
-- Payments still waiting to be paid, for the per-device limit.
CREATE INDEX payments_pending ON payments (order_id) WHERE state = 'pending';
-- The provider's id of our refund: a pending refund is fetched again, never asked for again.
ALTER TABLE payments ADD COLUMN refund_id TEXT;

-- Money jobs name the payment attempt they act on.
ALTER TABLE jobs ADD COLUMN payment_id UUID REFERENCES payments (id);
-- Claim order among due jobs: make commands and money before polls (0 before 1).
ALTER TABLE jobs ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0;
UPDATE jobs SET priority = 1 WHERE kind = 'poll_payment';
DROP INDEX jobs_claim_queued;
CREATE INDEX jobs_claim_queued ON jobs (priority, run_at, seq) WHERE state = 'queued';
-- Set before a make command is sent; a claim that takes over sees it and does not send again.
ALTER TABLE jobs ADD COLUMN sent_at TIMESTAMPTZ;
