-- T-Bank terminals: a merchant's TerminalKey, its password sealed under SECRET_KEY (never in
-- plain text), the receipt's Taxation and Tax values, and whether SBP is offered.
ALTER TABLE merchants ADD COLUMN tbank_terminal_key TEXT;
ALTER TABLE merchants ADD COLUMN tbank_password TEXT;
ALTER TABLE merchants ADD COLUMN tbank_taxation TEXT;
ALTER TABLE merchants ADD COLUMN tbank_vat TEXT;
ALTER TABLE merchants ADD COLUMN tbank_sbp BOOLEAN NOT NULL DEFAULT FALSE;
-- A notification names its terminal only: one terminal, one merchant.
CREATE UNIQUE INDEX merchants_tbank_terminal_key ON merchants (tbank_terminal_key)
    WHERE tbank_terminal_key IS NOT NULL;
