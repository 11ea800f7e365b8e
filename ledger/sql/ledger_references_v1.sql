-- Referential integrity for the ledger's hot tables, checked set-wise instead of by FOREIGN KEYs.
--
-- A declared FOREIGN KEY checks every inserted row on its own (SELECT 1 ... FOR KEY SHARE on the
-- referenced row, deferred to commit by Django's DEFERRABLE INITIALLY DEFERRED): three checks per
-- transfer (debit account, credit account, and its LogQueue row's transfer), about a quarter of a
-- 1,000-transfer batch's server time, and each KEY SHARE lock on an account that another posting
-- also locks (a hot account) creates a MultiXact.
--
-- The same guarantee, set-wise:
--   1. an account or a transfer is never deleted and its id never changes (triggers below; a
--      TRUNCATE of accounts or transfers must take everything that refers to them along), so a
--      row that exists once exists until the end of every transaction that saw it;
--   2. one statement-level trigger per INSERT (or UPDATE) of transfers, balance deltas and log
--      queue rows checks, with one anti-join over the statement's new rows, that every account
--      and transfer they name exists; a missing one raises foreign_key_violation (23503), so the
--      statement and its transaction fail as with the FOREIGN KEY.
-- The posting paths have already looked the accounts up (account_not_found) before writing;
-- these triggers guard everything else (raw SQL, future code). LogEntry.transfer and
-- Transfer.pending keep their FOREIGN KEYs: they are written off the posting path or rarely.

CREATE OR REPLACE FUNCTION ledger_refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'rows of % are never deleted: transfers and balances refer to them',
        TG_TABLE_NAME USING ERRCODE = 'foreign_key_violation';
END
$fn$;

CREATE OR REPLACE FUNCTION ledger_refuse_id_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'the id of a row of % never changes', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$fn$;

-- After TRUNCATE (fired once every table of the command is empty): nothing may still refer to
-- the truncated accounts or transfers.
CREATE OR REPLACE FUNCTION ledger_check_truncate() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_TABLE_NAME = 'ledger_account' AND (
        EXISTS (SELECT 1 FROM ledger_transfer) OR EXISTS (SELECT 1 FROM ledger_balancedelta)
    ) THEN
        RAISE EXCEPTION 'ledger_account truncated while transfers or balance deltas refer to it'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF TG_TABLE_NAME = 'ledger_transfer' AND EXISTS (SELECT 1 FROM ledger_logqueue) THEN
        RAISE EXCEPTION 'ledger_transfer truncated while ledger_logqueue refers to it'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION ledger_check_transfer_refs() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    bad record;
BEGIN
    SELECT n.id, n.debit_account_id, n.credit_account_id INTO bad
      FROM new_rows n
     WHERE NOT EXISTS (SELECT 1 FROM ledger_account a WHERE a.id = n.debit_account_id)
        OR NOT EXISTS (SELECT 1 FROM ledger_account a WHERE a.id = n.credit_account_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'transfer % names an account that does not exist (debit %, credit %)',
            bad.id, bad.debit_account_id, bad.credit_account_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION ledger_check_delta_refs() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    bad bigint;
BEGIN
    SELECT n.account_id INTO bad
      FROM new_rows n
     WHERE NOT EXISTS (SELECT 1 FROM ledger_account a WHERE a.id = n.account_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'balance delta names account %, which does not exist', bad
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION ledger_check_queue_refs() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    bad uuid;
BEGIN
    SELECT n.transfer_id INTO bad
      FROM new_rows n
     WHERE NOT EXISTS (SELECT 1 FROM ledger_transfer t WHERE t.id = n.transfer_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'log queue names transfer %, which does not exist', bad
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER ledger_account_no_delete BEFORE DELETE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_delete();
CREATE TRIGGER ledger_account_fixed_id BEFORE UPDATE OF id ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_id_change();
CREATE TRIGGER ledger_account_truncate AFTER TRUNCATE ON ledger_account
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_truncate();

CREATE TRIGGER ledger_transfer_no_delete BEFORE DELETE ON ledger_transfer
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_delete();
CREATE TRIGGER ledger_transfer_fixed_id BEFORE UPDATE OF id ON ledger_transfer
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_id_change();
CREATE TRIGGER ledger_transfer_truncate AFTER TRUNCATE ON ledger_transfer
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_truncate();

CREATE TRIGGER ledger_transfer_refs_insert AFTER INSERT ON ledger_transfer
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_transfer_refs();
CREATE TRIGGER ledger_transfer_refs_update AFTER UPDATE ON ledger_transfer
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_transfer_refs();
CREATE TRIGGER ledger_balancedelta_refs_insert AFTER INSERT ON ledger_balancedelta
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_delta_refs();
CREATE TRIGGER ledger_balancedelta_refs_update AFTER UPDATE ON ledger_balancedelta
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_delta_refs();
CREATE TRIGGER ledger_logqueue_refs_insert AFTER INSERT ON ledger_logqueue
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_queue_refs();
CREATE TRIGGER ledger_logqueue_refs_update AFTER UPDATE ON ledger_logqueue
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_queue_refs();
