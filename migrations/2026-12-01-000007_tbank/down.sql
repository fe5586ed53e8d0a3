DROP INDEX merchants_tbank_terminal_key;
ALTER TABLE merchants DROP COLUMN tbank_sbp;
ALTER TABLE merchants DROP COLUMN tbank_vat;
ALTER TABLE merchants DROP COLUMN tbank_taxation;
ALTER TABLE merchants DROP COLUMN tbank_password;
ALTER TABLE merchants DROP COLUMN tbank_terminal_key;
