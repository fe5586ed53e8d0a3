CREATE INDEX orders_machine_order_id ON orders (machine_order_id);
DROP INDEX jobs_queued_polls;
DROP INDEX payments_pending_on_device;
DROP TRIGGER payments_take_order_device ON payments;
DROP FUNCTION payments_take_order_device();
ALTER TABLE payments DROP COLUMN device_uuid;
