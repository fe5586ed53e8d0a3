-- Machines that receive the March-2025 binary frame on the legacy topic.
ALTER TABLE devices DROP CONSTRAINT devices_machine_check;
ALTER TABLE devices ADD CONSTRAINT devices_machine_check
    CHECK (machine IN ('simulated', 'tmetr', 'mqtt', 'mqtt-legacy'));
