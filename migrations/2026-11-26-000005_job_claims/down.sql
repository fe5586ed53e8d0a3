ALTER TABLE jobs DROP COLUMN claim_token;
