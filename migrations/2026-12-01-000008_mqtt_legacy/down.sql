-- Fails while an mqtt-legacy device is stored: remove or re-declare those devices first.
ALTER TABLE devices DROP CONSTRAINT devices_machine_check;
ALTER TABLE devices ADD CONSTRAINT devices_machine_check
    CHECK (machine IN ('simulated', 'tmetr', 'mqtt'));
