-- Two lookups on the paths every order takes, bounded by what they look for instead of by
-- the size of the tables.

-- Initiating a payment counts the device's pending payments (junk scans must not pile them
-- up). Joined through orders, that read every pending payment of the network; the device on
-- the payment itself, indexed where pending, reads only the device's own. It is the order's
-- device, copied when the payment is written, so no writer can get it wrong.
ALTER TABLE payments ADD COLUMN device_uuid TEXT COLLATE "C";
UPDATE payments p SET device_uuid = o.device_uuid FROM orders o WHERE o.id = p.order_id;
ALTER TABLE payments ALTER COLUMN device_uuid SET NOT NULL;

CREATE FUNCTION payments_take_order_device() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT device_uuid INTO STRICT NEW.device_uuid FROM orders WHERE id = NEW.order_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER payments_take_order_device BEFORE INSERT OR UPDATE OF order_id ON payments
    FOR EACH ROW EXECUTE FUNCTION payments_take_order_device();

CREATE INDEX payments_pending_on_device ON payments (device_uuid) WHERE state = 'pending';

-- A settled payment ends its queued polls in the same commit; found by the payment, not by
-- walking every queued job.
CREATE INDEX jobs_queued_polls ON jobs (payment_id) WHERE state = 'queued' AND kind = 'poll_payment';

-- The same index twice (the console's and the import's): every new order paid for both.
DROP INDEX orders_machine_order_id;
