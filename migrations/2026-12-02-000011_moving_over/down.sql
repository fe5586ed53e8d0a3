DROP INDEX orders_machine_order_id;
ALTER TABLE orders DROP CONSTRAINT orders_attention_check;
ALTER TABLE orders ADD CONSTRAINT orders_attention_check CHECK (attention IN
    ('make_outcome_unknown', 'provider_mismatch', 'money_after_order_ended',
     'hold_canceled_after_drink', 'refund_refused'));
