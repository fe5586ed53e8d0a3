DROP TABLE provider_events;
DROP TABLE order_history;
DROP TABLE payments;
DROP TABLE orders;
