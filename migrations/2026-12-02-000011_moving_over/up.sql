-- Moving a network over from the original system: orders it left with the money taken and
-- neither a drink made nor the money returned are flagged for an operator.
ALTER TABLE orders DROP CONSTRAINT orders_attention_check;
ALTER TABLE orders ADD CONSTRAINT orders_attention_check CHECK (attention IN
    ('make_outcome_unknown', 'provider_mismatch', 'money_after_order_ended',
     'hold_canceled_after_drink', 'refund_refused', 'unsettled_in_original'));

-- The original's order page named an order by the machine's order id alone.
CREATE INDEX orders_machine_order_id ON orders (machine_order_id);
