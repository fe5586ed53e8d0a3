-- Each claim of a job gets its own token; only the current claim may complete, retry or bury
-- it, so a worker whose lease ran out cannot overwrite the decision of the one that took over.
ALTER TABLE jobs ADD COLUMN claim_token UUID;
