-- Ledger posting of a linked batch: one statement (one round trip) posts the whole batch. A single
-- transfer goes to ledger_create_transfer (ledger_create_transfer_v1.sql), which applies the same
-- checks in the same order; ledger/posting.py calls one or the other.
--
-- ledger_create_transfers(p_requests jsonb, p_batch_id uuid) takes the requests already checked for
-- shape by ledger/requests.py (a JSON array of ValidRequest.as_json()) and applies them all or
-- none, with these checks in this order:
--   lock    accounts with a limit flag, ascending id (before any read of what they protect);
--   pass 1  idempotency: a stored transfer with the same id is a replay, or transfer_exists;
--   pass 2  per new request: account_not_found, currency_mismatch, pending_not_found,
--           pending_not_pending, pending_mismatch, pending_already_closed, pending_expired,
--           exceeds_pending_amount, apply, exceeds_limit.
-- Lock order (ledger/locking.py): accounts with a limit flag, ascending id, FOR NO KEY UPDATE,
-- before any write. Accounts without a limit are not locked: they get one BalanceDelta row.
-- A refusal raises SQLSTATE LG001 with MESSAGE = the error code and DETAIL = JSON details
-- (with the 0-based "index"); the statement then writes nothing.
-- Returns one row per request, in order: (index, created_at, amount_minor, timeout_at, batch_id,
-- replayed).

CREATE OR REPLACE FUNCTION ledger_refuse(p_index integer, p_code text, p_detail jsonb)
RETURNS void
LANGUAGE plpgsql
AS $refuse$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'LG001',
        MESSAGE = p_code,
        DETAIL = (p_detail || jsonb_build_object('index', p_index - 1))::text;
END
$refuse$;

CREATE OR REPLACE FUNCTION ledger_create_transfers(p_requests jsonb, p_batch_id uuid)
RETURNS TABLE (
    o_index integer,
    o_created_at timestamptz,
    o_amount_minor bigint,
    o_timeout_at timestamptz,
    o_batch_id uuid,
    o_replayed boolean
)
LANGUAGE plpgsql
AS $fn$
DECLARE
    n integer;
    -- The requests, column by column (1-based, in request order).
    r_id uuid[];
    r_kind text[];
    r_debit bigint[];
    r_credit bigint[];
    r_amount bigint[];
    r_currency text[];
    r_pending uuid[];
    r_timeout bigint[];
    r_reason text[];
    r_reference text[];
    r_metadata jsonb[];
    -- What each request resolved to.
    res_created timestamptz[];
    res_amount bigint[];
    res_timeout timestamptz[];
    res_batch uuid[];
    res_replayed boolean[];
    replayed_count integer := 0;
    -- Accounts the new requests touch, ascending id, with counters: absolute for locked accounts,
    -- increments (the future BalanceDelta) for the others.
    account_ids bigint[];
    acc_id bigint[];
    acc_currency text[];
    acc_code text[];
    acc_dlimit boolean[];
    acc_climit boolean[];
    acc_locked boolean[];
    c_dp bigint[];
    c_dpo bigint[];
    c_cp bigint[];
    c_cpo bigint[];
    m integer;
    -- Stored transfers named as pending_id (immutable rows: read without a lock).
    pend_id uuid[];
    pend_kind text[];
    pend_debit bigint[];
    pend_credit bigint[];
    pend_amount bigint[];
    pend_currency text[];
    pend_timeout timestamptz[];
    -- Per request: index into acc_* of its debit and credit account, and of its pending in
    -- pend_* (stored) or in r_* (earlier in this batch). Joined once, set-wise: array_position in
    -- the loop would make a batch of n cost n^2.
    r_di integer[];
    r_ci integer[];
    r_pk_stored integer[];
    r_pk_batch integer[];
    has_pending boolean;
    -- Closed yet? For each stored pending (pend_*), and for each request of the batch.
    pend_closed boolean[];
    batch_closed boolean[];
    v_closed boolean;
    now_ts timestamptz;
    rec record;
    i integer;
    k integer;
    di integer;
    ci integer;
    pk integer;
    offset_us integer := 0;
    v_amount bigint;
    v_differs text;
    v_pkind text;
    v_pdebit bigint;
    v_pcredit bigint;
    v_pcurrency text;
    v_pamount bigint;
    v_ptimeout timestamptz;
    v_detail jsonb;
BEGIN
    SELECT count(*)::integer,
           array_agg((e.value ->> 'id')::uuid ORDER BY e.ord),
           array_agg(e.value ->> 'kind' ORDER BY e.ord),
           array_agg((e.value ->> 'debit_account_id')::bigint ORDER BY e.ord),
           array_agg((e.value ->> 'credit_account_id')::bigint ORDER BY e.ord),
           array_agg((e.value ->> 'amount_minor')::bigint ORDER BY e.ord),
           array_agg(e.value ->> 'currency' ORDER BY e.ord),
           array_agg((e.value ->> 'pending_id')::uuid ORDER BY e.ord),
           array_agg((e.value ->> 'timeout_s')::bigint ORDER BY e.ord),
           array_agg(e.value ->> 'reason' ORDER BY e.ord),
           array_agg(e.value ->> 'reference' ORDER BY e.ord),
           array_agg(e.value -> 'metadata' ORDER BY e.ord),
           coalesce(bool_or(e.value ->> 'pending_id' IS NOT NULL), false)
      INTO n, r_id, r_kind, r_debit, r_credit, r_amount, r_currency, r_pending, r_timeout,
           r_reason, r_reference, r_metadata, has_pending
      FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS e(value, ord);
    IF n = 0 THEN
        RETURN;
    END IF;
    res_created := array_fill(NULL::timestamptz, ARRAY[n]);
    res_amount := r_amount;
    res_timeout := array_fill(NULL::timestamptz, ARRAY[n]);
    res_batch := array_fill(p_batch_id, ARRAY[n]);
    res_replayed := array_fill(false, ARRAY[n]);
    batch_closed := array_fill(false, ARRAY[n]);

    SELECT array_agg(DISTINCT x.account_id)
      INTO account_ids
      FROM unnest(r_debit, r_credit) AS u(debit_id, credit_id)
     CROSS JOIN LATERAL (VALUES (u.debit_id), (u.credit_id)) AS x(account_id);

    SELECT array_agg(a.id ORDER BY a.id),
           array_agg(a.currency ORDER BY a.id),
           array_agg(a.code ORDER BY a.id),
           array_agg(a.debits_must_not_exceed_credits ORDER BY a.id),
           array_agg(a.credits_must_not_exceed_debits ORDER BY a.id)
      INTO acc_id, acc_currency, acc_code, acc_dlimit, acc_climit
      FROM ledger_account a
     WHERE a.id = ANY (account_ids);
    m := coalesce(array_length(acc_id, 1), 0);
    SELECT array_agg(da.k::integer ORDER BY u.i), array_agg(ca.k::integer ORDER BY u.i)
      INTO r_di, r_ci
      FROM unnest(r_debit, r_credit) WITH ORDINALITY AS u(debit_id, credit_id, i)
      LEFT JOIN unnest(acc_id) WITH ORDINALITY AS da(id, k) ON da.id = u.debit_id
      LEFT JOIN unnest(acc_id) WITH ORDINALITY AS ca(id, k) ON ca.id = u.credit_id;
    acc_locked := array_fill(false, ARRAY[m]);
    c_dp := array_fill(0::bigint, ARRAY[m]);
    c_dpo := array_fill(0::bigint, ARRAY[m]);
    c_cp := array_fill(0::bigint, ARRAY[m]);
    c_cpo := array_fill(0::bigint, ARRAY[m]);

    -- The lock, in ascending id order: before any write, and before reading what a concurrent
    -- poster of the same accounts may have just committed (a twin of this request, or a close).
    k := 1;
    FOR rec IN
        SELECT a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted
          FROM ledger_account a
         WHERE a.id = ANY (acc_id)
           AND (a.debits_must_not_exceed_credits OR a.credits_must_not_exceed_debits)
         ORDER BY a.id
           FOR NO KEY UPDATE
    LOOP
        -- Rows come in ascending id, as acc_id is sorted: walk a pointer.
        WHILE acc_id[k] <> rec.id LOOP
            k := k + 1;
        END LOOP;
        acc_locked[k] := true;
        c_dp[k] := rec.debits_pending;
        c_dpo[k] := rec.debits_posted;
        c_cp[k] := rec.credits_pending;
        c_cpo[k] := rec.credits_posted;
    END LOOP;

    -- Pending transfers named by closes (immutable rows), then whether each is closed: read
    -- before the idempotency read, so that a twin of this request that commits in between is seen
    -- as stored (a replay), never as "someone else closed it".
    IF has_pending THEN
        SELECT array_agg(t.id), array_agg(t.kind), array_agg(t.debit_account_id),
               array_agg(t.credit_account_id), array_agg(t.amount_minor), array_agg(t.currency),
               array_agg(t.timeout_at)
          INTO pend_id, pend_kind, pend_debit, pend_credit, pend_amount, pend_currency,
               pend_timeout
          FROM ledger_transfer t
         WHERE t.id = ANY (r_pending);
        SELECT array_agg(EXISTS (SELECT 1 FROM ledger_transfer c WHERE c.pending_id = p.id)
                         ORDER BY p.k)
          INTO pend_closed
          FROM unnest(pend_id) WITH ORDINALITY AS p(id, k);
        SELECT array_agg(ps.k::integer ORDER BY u.i), array_agg(pb.k::integer ORDER BY u.i)
          INTO r_pk_stored, r_pk_batch
          FROM unnest(r_pending) WITH ORDINALITY AS u(pending_id, i)
          LEFT JOIN unnest(pend_id) WITH ORDINALITY AS ps(id, k) ON ps.id = u.pending_id
          LEFT JOIN unnest(r_id) WITH ORDINALITY AS pb(id, k) ON pb.id = u.pending_id;
    END IF;

    -- Pass 1: idempotency, in request order.
    FOR rec IN
        SELECT t.id, t.kind, t.debit_account_id, t.credit_account_id, t.amount_minor, t.currency,
               t.pending_id, t.timeout_at, t.batch_id, t.reason, t.reference, t.metadata,
               t.created_at, p.amount_minor AS pending_amount,
               array_position(r_id, t.id) AS pos  -- only for stored rows, i.e. replays
          FROM ledger_transfer t
          LEFT JOIN ledger_transfer p ON p.id = t.pending_id
         WHERE t.id = ANY (r_id)
         ORDER BY pos
    LOOP
        i := rec.pos;
        v_differs := CASE
            WHEN rec.kind <> r_kind[i] THEN 'kind'
            WHEN rec.debit_account_id <> r_debit[i] THEN 'debit_account_id'
            WHEN rec.credit_account_id <> r_credit[i] THEN 'credit_account_id'
            WHEN rec.currency <> r_currency[i] THEN 'currency'
            WHEN rec.pending_id IS DISTINCT FROM r_pending[i] THEN 'pending_id'
            WHEN r_kind[i] <> 'void_pending'
                 AND rec.amount_minor IS DISTINCT FROM coalesce(r_amount[i], rec.pending_amount)
                THEN 'amount_minor'
            WHEN r_timeout[i] IS NULL AND rec.timeout_at IS NOT NULL THEN 'timeout_s'
            WHEN r_timeout[i] IS NOT NULL
                 AND rec.timeout_at IS DISTINCT FROM rec.created_at + r_timeout[i] * interval '1 second'
                THEN 'timeout_s'
            WHEN rec.reason <> r_reason[i] THEN 'reason'
            WHEN rec.reference <> r_reference[i] THEN 'reference'
            WHEN rec.metadata <> r_metadata[i] THEN 'metadata'
        END;
        IF v_differs IS NOT NULL THEN
            PERFORM ledger_refuse(i, 'transfer_exists',
                jsonb_build_object('transfer_id', r_id[i], 'differs', v_differs));
        END IF;
        res_replayed[i] := true;
        res_created[i] := rec.created_at;
        res_amount[i] := rec.amount_minor;
        res_timeout[i] := rec.timeout_at;
        res_batch[i] := rec.batch_id;
        replayed_count := replayed_count + 1;
    END LOOP;

    IF replayed_count < n THEN
        now_ts := clock_timestamp();

        -- Pass 2: each new request in order.
        FOR i IN 1 .. n LOOP
            CONTINUE WHEN res_replayed[i];
            di := r_di[i];
            IF di IS NULL THEN
                PERFORM ledger_refuse(i, 'account_not_found', jsonb_build_object(
                    'transfer_id', r_id[i], 'account_id', r_debit[i], 'field', 'debit_account_id'));
            END IF;
            ci := r_ci[i];
            IF ci IS NULL THEN
                PERFORM ledger_refuse(i, 'account_not_found', jsonb_build_object(
                    'transfer_id', r_id[i], 'account_id', r_credit[i], 'field', 'credit_account_id'));
            END IF;
            FOREACH k IN ARRAY ARRAY[di, ci] LOOP
                IF acc_currency[k] <> r_currency[i] THEN
                    PERFORM ledger_refuse(i, 'currency_mismatch', jsonb_build_object(
                        'transfer_id', r_id[i], 'currency', r_currency[i], 'account_id', acc_id[k],
                        'account_code', acc_code[k], 'account_currency', acc_currency[k]));
                END IF;
            END LOOP;
            -- A microsecond apart within a batch, so (created_at, id) is application order.
            res_created[i] := now_ts + offset_us * interval '1 microsecond';
            offset_us := offset_us + 1;
            v_amount := r_amount[i];
            IF r_kind[i] IN ('post_pending', 'void_pending') THEN
                v_detail := jsonb_build_object('transfer_id', r_id[i], 'pending_id', r_pending[i]);
                pk := r_pk_stored[i];
                IF pk IS NOT NULL THEN
                    v_pkind := pend_kind[pk];
                    v_pdebit := pend_debit[pk];
                    v_pcredit := pend_credit[pk];
                    v_pcurrency := pend_currency[pk];
                    v_pamount := pend_amount[pk];
                    v_ptimeout := pend_timeout[pk];
                    v_closed := pend_closed[pk];
                ELSE
                    -- An earlier new transfer of this batch.
                    pk := r_pk_batch[i];
                    IF pk IS NULL OR pk >= i THEN
                        PERFORM ledger_refuse(i, 'pending_not_found', v_detail);
                    END IF;
                    v_pkind := r_kind[pk];
                    v_pdebit := r_debit[pk];
                    v_pcredit := r_credit[pk];
                    v_pcurrency := r_currency[pk];
                    v_pamount := res_amount[pk];
                    v_ptimeout := res_timeout[pk];
                    v_closed := batch_closed[pk];
                END IF;
                IF v_pkind <> 'pending' THEN
                    PERFORM ledger_refuse(i, 'pending_not_pending', v_detail);
                END IF;
                IF r_debit[i] <> v_pdebit THEN
                    PERFORM ledger_refuse(i, 'pending_mismatch',
                        v_detail || jsonb_build_object('field', 'debit_account_id'));
                END IF;
                IF r_credit[i] <> v_pcredit THEN
                    PERFORM ledger_refuse(i, 'pending_mismatch',
                        v_detail || jsonb_build_object('field', 'credit_account_id'));
                END IF;
                IF r_currency[i] <> v_pcurrency THEN
                    PERFORM ledger_refuse(i, 'pending_mismatch',
                        v_detail || jsonb_build_object('field', 'currency'));
                END IF;
                IF v_closed THEN
                    PERFORM ledger_refuse(i, 'pending_already_closed', v_detail);
                END IF;
                IF r_kind[i] = 'post_pending' THEN
                    IF v_ptimeout IS NOT NULL AND v_ptimeout <= res_created[i] THEN
                        PERFORM ledger_refuse(i, 'pending_expired', v_detail);
                    END IF;
                    v_amount := coalesce(v_amount, v_pamount);
                    IF v_amount > v_pamount THEN
                        PERFORM ledger_refuse(i, 'exceeds_pending_amount', v_detail
                            || jsonb_build_object('amount_minor', v_amount,
                                                  'pending_amount_minor', v_pamount));
                    END IF;
                    -- The whole pending amount leaves *_pending; v_amount of it is posted.
                    c_dp[di] := c_dp[di] - v_pamount;
                    c_dpo[di] := c_dpo[di] + v_amount;
                    c_cp[ci] := c_cp[ci] - v_pamount;
                    c_cpo[ci] := c_cpo[ci] + v_amount;
                ELSE
                    v_amount := v_pamount;
                    c_dp[di] := c_dp[di] - v_pamount;
                    c_cp[ci] := c_cp[ci] - v_pamount;
                END IF;
                IF r_pk_stored[i] IS NOT NULL THEN
                    pend_closed[pk] := true;
                ELSE
                    batch_closed[pk] := true;
                END IF;
            ELSIF r_kind[i] = 'pending' THEN
                c_dp[di] := c_dp[di] + v_amount;
                c_cp[ci] := c_cp[ci] + v_amount;
                IF r_timeout[i] IS NOT NULL THEN
                    res_timeout[i] := res_created[i] + r_timeout[i] * interval '1 second';
                END IF;
            ELSE
                c_dpo[di] := c_dpo[di] + v_amount;
                c_cpo[ci] := c_cpo[ci] + v_amount;
            END IF;
            res_amount[i] := v_amount;
            FOREACH k IN ARRAY ARRAY[di, ci] LOOP
                IF acc_locked[k] AND (
                    (acc_dlimit[k] AND c_dp[k] + c_dpo[k] > c_cpo[k])
                    OR (acc_climit[k] AND c_cp[k] + c_cpo[k] > c_dpo[k])
                ) THEN
                    PERFORM ledger_refuse(i, 'exceeds_limit', jsonb_build_object(
                        'transfer_id', r_id[i], 'account_id', acc_id[k], 'account_code', acc_code[k],
                        'limit', CASE WHEN acc_dlimit[k] THEN 'debits_must_not_exceed_credits'
                                      ELSE 'credits_must_not_exceed_debits' END));
                END IF;
            END LOOP;
        END LOOP;

        -- Every request passed: write.
        INSERT INTO ledger_transfer (
            id, kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id,
            timeout_at, batch_id, reason, reference, metadata, created_at)
        SELECT u.id, u.kind, u.debit_id, u.credit_id, u.amount, u.currency, u.pending_id,
               u.timeout_at, p_batch_id, u.reason, u.reference, u.metadata, u.created_at
          FROM unnest(r_id, r_kind, r_debit, r_credit, res_amount, r_currency, r_pending,
                      res_timeout, r_reason, r_reference, r_metadata, res_created, res_replayed)
               AS u(id, kind, debit_id, credit_id, amount, currency, pending_id, timeout_at,
                    reason, reference, metadata, created_at, replayed)
         WHERE NOT u.replayed;

        INSERT INTO ledger_logqueue (transfer_id)
        SELECT u.id FROM unnest(r_id, res_replayed) AS u(id, replayed) WHERE NOT u.replayed;

        UPDATE ledger_account a
           SET debits_pending = u.dp, debits_posted = u.dpo,
               credits_pending = u.cp, credits_posted = u.cpo
          FROM unnest(acc_id, c_dp, c_dpo, c_cp, c_cpo, acc_locked)
               AS u(id, dp, dpo, cp, cpo, locked)
         WHERE u.locked AND a.id = u.id;

        INSERT INTO ledger_balancedelta (
            account_id, debits_pending, debits_posted, credits_pending, credits_posted)
        SELECT u.id, u.dp, u.dpo, u.cp, u.cpo
          FROM unnest(acc_id, c_dp, c_dpo, c_cp, c_cpo, acc_locked)
               AS u(id, dp, dpo, cp, cpo, locked)
         WHERE NOT u.locked AND (u.dp <> 0 OR u.dpo <> 0 OR u.cp <> 0 OR u.cpo <> 0);
    END IF;

    RETURN QUERY
        SELECT (u.ord - 1)::integer, u.created_at, u.amount, u.timeout_at, u.batch_id, u.replayed
          FROM unnest(res_created, res_amount, res_timeout, res_batch, res_replayed)
               WITH ORDINALITY AS u(created_at, amount, timeout_at, batch_id, replayed, ord)
         ORDER BY u.ord;
END
$fn$;
