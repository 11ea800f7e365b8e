-- Ledger posting of ONE transfer: ledger_create_transfer(...) with scalar arguments.
--
-- The same checks, in the same order, with the same results as ledger_create_transfers (the
-- batch function, ledger_create_transfers_v1.sql) called with one request; it exists because a
-- single transfer is the common case and scalar arguments with primary-key statements cost about
-- half the server time of unpacking a JSON batch into arrays.
-- Lock order (ledger/locking.py): accounts with a limit flag, ascending id, FOR NO KEY UPDATE,
-- before any write. A refusal raises SQLSTATE LG001 through ledger_refuse (index 0).
-- Returns one row: (created_at, amount_minor, timeout_at, batch_id, replayed).

CREATE OR REPLACE FUNCTION ledger_create_transfer(
    p_id uuid,
    p_kind text,
    p_debit bigint,
    p_credit bigint,
    p_amount bigint,
    p_currency text,
    p_pending uuid,
    p_timeout_s bigint,
    p_reason text,
    p_reference text,
    p_metadata jsonb
)
RETURNS TABLE (
    o_created_at timestamptz,
    o_amount_minor bigint,
    o_timeout_at timestamptz,
    o_batch_id uuid,
    o_replayed boolean
)
LANGUAGE plpgsql
AS $fn$
DECLARE
    d_found boolean;
    c_found boolean;
    d_currency text;
    c_currency text;
    d_code text;
    c_code text;
    d_dlimit boolean;
    d_climit boolean;
    c_dlimit boolean;
    c_climit boolean;
    d_locked boolean := false;
    c_locked boolean := false;
    -- Counters: absolute for a locked account, increments (the BalanceDelta) for the others.
    d_dp bigint := 0;
    d_dpo bigint := 0;
    d_cp bigint := 0;
    d_cpo bigint := 0;
    c_dp bigint := 0;
    c_dpo bigint := 0;
    c_cp bigint := 0;
    c_cpo bigint := 0;
    rec record;
    stored record;
    pend record;
    is_closed boolean := false;
    now_ts timestamptz;
    v_amount bigint := p_amount;
    v_timeout timestamptz;
    v_differs text;
    v_detail jsonb;
BEGIN
    SELECT a.currency, a.code, a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits
      INTO d_currency, d_code, d_dlimit, d_climit
      FROM ledger_account a WHERE a.id = p_debit;
    d_found := FOUND;
    SELECT a.currency, a.code, a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits
      INTO c_currency, c_code, c_dlimit, c_climit
      FROM ledger_account a WHERE a.id = p_credit;
    c_found := FOUND;

    -- The lock, in ascending id order: before any write, and before reading what a concurrent
    -- poster of the same accounts may have just committed (a twin of this request, or a close).
    IF (d_found AND (d_dlimit OR d_climit)) OR (c_found AND (c_dlimit OR c_climit)) THEN
        FOR rec IN
            SELECT a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted
              FROM ledger_account a
             WHERE a.id IN (p_debit, p_credit)
               AND (a.debits_must_not_exceed_credits OR a.credits_must_not_exceed_debits)
             ORDER BY a.id
               FOR NO KEY UPDATE
        LOOP
            IF rec.id = p_debit THEN
                d_locked := true;
                d_dp := rec.debits_pending;
                d_dpo := rec.debits_posted;
                d_cp := rec.credits_pending;
                d_cpo := rec.credits_posted;
            ELSE
                c_locked := true;
                c_dp := rec.debits_pending;
                c_dpo := rec.debits_posted;
                c_cp := rec.credits_pending;
                c_cpo := rec.credits_posted;
            END IF;
        END LOOP;
    END IF;

    -- Closes before the idempotency read (see the batch function).
    IF p_pending IS NOT NULL THEN
        is_closed := EXISTS (SELECT 1 FROM ledger_transfer t WHERE t.pending_id = p_pending);
    END IF;

    -- Idempotency.
    SELECT t.kind, t.debit_account_id, t.credit_account_id, t.amount_minor, t.currency,
           t.pending_id, t.timeout_at, t.batch_id, t.reason, t.reference, t.metadata,
           t.created_at, p.amount_minor AS pending_amount
      INTO stored
      FROM ledger_transfer t
      LEFT JOIN ledger_transfer p ON p.id = t.pending_id
     WHERE t.id = p_id;
    IF FOUND THEN
        v_differs := CASE
            WHEN stored.kind <> p_kind THEN 'kind'
            WHEN stored.debit_account_id <> p_debit THEN 'debit_account_id'
            WHEN stored.credit_account_id <> p_credit THEN 'credit_account_id'
            WHEN stored.currency <> p_currency THEN 'currency'
            WHEN stored.pending_id IS DISTINCT FROM p_pending THEN 'pending_id'
            WHEN p_kind <> 'void_pending'
                 AND stored.amount_minor IS DISTINCT FROM coalesce(p_amount, stored.pending_amount)
                THEN 'amount_minor'
            WHEN p_timeout_s IS NULL AND stored.timeout_at IS NOT NULL THEN 'timeout_s'
            WHEN p_timeout_s IS NOT NULL
                 AND stored.timeout_at IS DISTINCT FROM
                     stored.created_at + p_timeout_s * interval '1 second'
                THEN 'timeout_s'
            WHEN stored.reason <> p_reason THEN 'reason'
            WHEN stored.reference <> p_reference THEN 'reference'
            WHEN stored.metadata <> p_metadata THEN 'metadata'
        END;
        IF v_differs IS NOT NULL THEN
            PERFORM ledger_refuse(1, 'transfer_exists',
                jsonb_build_object('transfer_id', p_id, 'differs', v_differs));
        END IF;
        RETURN QUERY SELECT stored.created_at, stored.amount_minor, stored.timeout_at,
                            stored.batch_id, true;
        RETURN;
    END IF;

    IF NOT d_found THEN
        PERFORM ledger_refuse(1, 'account_not_found', jsonb_build_object(
            'transfer_id', p_id, 'account_id', p_debit, 'field', 'debit_account_id'));
    END IF;
    IF NOT c_found THEN
        PERFORM ledger_refuse(1, 'account_not_found', jsonb_build_object(
            'transfer_id', p_id, 'account_id', p_credit, 'field', 'credit_account_id'));
    END IF;
    IF d_currency <> p_currency THEN
        PERFORM ledger_refuse(1, 'currency_mismatch', jsonb_build_object(
            'transfer_id', p_id, 'currency', p_currency, 'account_id', p_debit,
            'account_code', d_code, 'account_currency', d_currency));
    END IF;
    IF c_currency <> p_currency THEN
        PERFORM ledger_refuse(1, 'currency_mismatch', jsonb_build_object(
            'transfer_id', p_id, 'currency', p_currency, 'account_id', p_credit,
            'account_code', c_code, 'account_currency', c_currency));
    END IF;
    now_ts := clock_timestamp();

    IF p_kind IN ('post_pending', 'void_pending') THEN
        v_detail := jsonb_build_object('transfer_id', p_id, 'pending_id', p_pending);
        SELECT t.kind, t.debit_account_id, t.credit_account_id, t.amount_minor, t.currency,
               t.timeout_at
          INTO pend
          FROM ledger_transfer t WHERE t.id = p_pending;
        IF NOT FOUND THEN
            PERFORM ledger_refuse(1, 'pending_not_found', v_detail);
        END IF;
        IF pend.kind <> 'pending' THEN
            PERFORM ledger_refuse(1, 'pending_not_pending', v_detail);
        END IF;
        IF p_debit <> pend.debit_account_id THEN
            PERFORM ledger_refuse(1, 'pending_mismatch',
                v_detail || jsonb_build_object('field', 'debit_account_id'));
        END IF;
        IF p_credit <> pend.credit_account_id THEN
            PERFORM ledger_refuse(1, 'pending_mismatch',
                v_detail || jsonb_build_object('field', 'credit_account_id'));
        END IF;
        IF p_currency <> pend.currency THEN
            PERFORM ledger_refuse(1, 'pending_mismatch',
                v_detail || jsonb_build_object('field', 'currency'));
        END IF;
        IF is_closed THEN
            PERFORM ledger_refuse(1, 'pending_already_closed', v_detail);
        END IF;
        IF p_kind = 'post_pending' THEN
            IF pend.timeout_at IS NOT NULL AND pend.timeout_at <= now_ts THEN
                PERFORM ledger_refuse(1, 'pending_expired', v_detail);
            END IF;
            v_amount := coalesce(v_amount, pend.amount_minor);
            IF v_amount > pend.amount_minor THEN
                PERFORM ledger_refuse(1, 'exceeds_pending_amount', v_detail
                    || jsonb_build_object('amount_minor', v_amount,
                                          'pending_amount_minor', pend.amount_minor));
            END IF;
            -- The whole pending amount leaves *_pending; v_amount of it is posted.
            d_dp := d_dp - pend.amount_minor;
            d_dpo := d_dpo + v_amount;
            c_cp := c_cp - pend.amount_minor;
            c_cpo := c_cpo + v_amount;
        ELSE
            v_amount := pend.amount_minor;
            d_dp := d_dp - pend.amount_minor;
            c_cp := c_cp - pend.amount_minor;
        END IF;
    ELSIF p_kind = 'pending' THEN
        d_dp := d_dp + v_amount;
        c_cp := c_cp + v_amount;
        IF p_timeout_s IS NOT NULL THEN
            v_timeout := now_ts + p_timeout_s * interval '1 second';
        END IF;
    ELSE
        d_dpo := d_dpo + v_amount;
        c_cpo := c_cpo + v_amount;
    END IF;

    IF d_locked AND ((d_dlimit AND d_dp + d_dpo > d_cpo) OR (d_climit AND d_cp + d_cpo > d_dpo)) THEN
        PERFORM ledger_refuse(1, 'exceeds_limit', jsonb_build_object(
            'transfer_id', p_id, 'account_id', p_debit, 'account_code', d_code,
            'limit', CASE WHEN d_dlimit THEN 'debits_must_not_exceed_credits'
                          ELSE 'credits_must_not_exceed_debits' END));
    END IF;
    IF c_locked AND ((c_dlimit AND c_dp + c_dpo > c_cpo) OR (c_climit AND c_cp + c_cpo > c_dpo)) THEN
        PERFORM ledger_refuse(1, 'exceeds_limit', jsonb_build_object(
            'transfer_id', p_id, 'account_id', p_credit, 'account_code', c_code,
            'limit', CASE WHEN c_dlimit THEN 'debits_must_not_exceed_credits'
                          ELSE 'credits_must_not_exceed_debits' END));
    END IF;

    -- Every check passed: write.
    INSERT INTO ledger_transfer (
        id, kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id,
        timeout_at, batch_id, reason, reference, metadata, created_at)
    VALUES (p_id, p_kind, p_debit, p_credit, v_amount, p_currency, p_pending, v_timeout, NULL,
            p_reason, p_reference, p_metadata, now_ts);
    INSERT INTO ledger_logqueue (transfer_id) VALUES (p_id);
    IF d_locked THEN
        UPDATE ledger_account
           SET debits_pending = d_dp, debits_posted = d_dpo
         WHERE id = p_debit;
    END IF;
    IF c_locked THEN
        UPDATE ledger_account
           SET credits_pending = c_cp, credits_posted = c_cpo
         WHERE id = p_credit;
    END IF;
    IF NOT (d_locked AND c_locked) THEN
        INSERT INTO ledger_balancedelta (
            account_id, debits_pending, debits_posted, credits_pending, credits_posted)
        SELECT v.account_id, v.dp, v.dpo, v.cp, v.cpo
          FROM (VALUES (p_debit, d_dp, d_dpo, 0::bigint, 0::bigint, d_locked),
                       (p_credit, 0::bigint, 0::bigint, c_cp, c_cpo, c_locked))
               AS v(account_id, dp, dpo, cp, cpo, locked)
         WHERE NOT v.locked AND (v.dp <> 0 OR v.dpo <> 0 OR v.cp <> 0 OR v.cpo <> 0);
    END IF;

    RETURN QUERY SELECT now_ts, v_amount, v_timeout, NULL::uuid, false;
END
$fn$;
