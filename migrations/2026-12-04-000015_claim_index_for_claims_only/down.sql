DROP INDEX jobs_claim_queued;
CREATE INDEX jobs_claim_queued ON jobs (priority, run_at, seq) WHERE state = 'queued';
