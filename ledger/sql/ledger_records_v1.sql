-- Log records (ledger.records) are written once and never changed nor deleted: the log commits to
-- their bytes, and a correction is a new record that points to the old one. ledger_verify would
-- name a changed record (its leaf hash no longer matches); these triggers refuse the change first.
-- (TRUNCATE, which only a test database's flush uses, fires no row trigger.)

CREATE OR REPLACE FUNCTION ledger_refuse_record_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'log record % is never changed nor deleted: append a new record instead',
        OLD.id USING ERRCODE = 'integrity_constraint_violation';
END
$fn$;

CREATE TRIGGER ledger_logrecord_immutable BEFORE UPDATE OR DELETE ON ledger_logrecord
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_record_change();
