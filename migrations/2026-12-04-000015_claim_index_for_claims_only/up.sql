-- The claim's index of queued jobs also names `run_at IS NOT NULL` (true of every job), which
-- a claim's `run_at <= $1` implies and a lookup of one payment's polls or one order's
-- deadlines does not: those can then no longer pick it. With few jobs queued when the table
-- was last analysed, the planner took it over their own indexes (`jobs_queued_polls`,
-- `jobs_order`), and once the queue grew each lookup read every queued job.
DROP INDEX jobs_claim_queued;
CREATE INDEX jobs_claim_queued ON jobs (priority, run_at, seq)
    WHERE state = 'queued' AND run_at IS NOT NULL;
