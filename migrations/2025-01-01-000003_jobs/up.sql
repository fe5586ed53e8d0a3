-- The durable side-effect queue. Jobs are inserted in the same transaction as the transition
-- that causes them; workers claim them with SELECT ... FOR UPDATE SKIP LOCKED.

CREATE TABLE jobs (
    id            UUID PRIMARY KEY,
    -- Insertion order: ties on run_at are claimed first-in, first-out.
    seq           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN
                      ('send_make_command', 'capture_payment', 'cancel_payment', 'refund_payment',
                       'poll_payment', 'dispense_deadline')),
    order_id      UUID NOT NULL REFERENCES orders (id),
    state         TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts  INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_at        TIMESTAMPTZ NOT NULL,
    -- Set while running: past it, the worker is presumed dead and the job is claimable again.
    lease_until   TIMESTAMPTZ,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT jobs_running_has_lease CHECK (state <> 'running' OR lease_until IS NOT NULL)
);

-- The claim query: queued jobs by run time, and running jobs whose lease ran out.
CREATE INDEX jobs_claim_queued ON jobs (run_at, seq) WHERE state = 'queued';
CREATE INDEX jobs_claim_expired_lease ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_order ON jobs (order_id, seq);
