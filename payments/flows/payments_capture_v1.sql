-- Generic plans: payments migration 0011 sets plan_cache_mode on these functions; reinstalling
-- one (CREATE OR REPLACE) resets it, so a reinstalling migration must set it again.
-- The capture fast path (see payments/fastpath.py and payments/fast_capture.py): two calls, each
-- one statement, in place of the Python path's two transactions of ORM statements.
--
-- payments_sandbox_capture(processor, key, reference, amount)
--     The sandbox card processor's "capture" operation (SandboxCardProcessor._operation and
--     _apply_operation, kind "capture"). It stands for the far side of a network: the caller holds
--     no transaction or lock of its own. Claims the idempotency key by INSERT (a repeated or a
--     concurrent call, after waiting on the first, answers the first call's result), locks the
--     charge, applies the same rules (released parts included) and stores the result.
--     Returns (outcome, result): "captured" or "replay" with the processor's answer, or a refusal
--     code (no_such_charge, multicapture, not_authorized, amount_out_of_range) with NULL, having
--     written nothing (the claim is taken back, as the Python path's rollback does).
--
-- payments_capture_full(payment, actor, event captured_minor, sub-order ids, their amounts,
--                       the ledger requests, batch id)
--     authorized -> captured for a full capture, as payment_transition does it: lock the payment;
--     a payment already captured answers "already" (a replay, as _transition_once); any other
--     state "illegal"; lock its sub-orders (ascending id) and check them against what the caller
--     built the ledger requests from and against the payment (else "fallback": the Python path
--     then runs and raises what it raises); post the holds (ledger_create_transfer[s], the same
--     call the ledger's own fast path makes); set the sub-orders' captured_minor; update the
--     payment; write the PaymentEvent and the payment.captured OrderEvent. Lock order as the
--     Python path: Payment -> SubOrders -> ledger accounts. A ledger refusal raises LG001 (the
--     caller falls back to the Python path, which raises the same refusal).
--     Returns one row (outcome, status, captured_minor, updated_at, order event id).

CREATE OR REPLACE FUNCTION payments_sandbox_capture(
    p_processor text,
    p_key text,
    p_reference text,
    p_amount bigint
)
RETURNS TABLE (o_outcome text, o_result jsonb)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_op_id bigint;
    v_charge record;
    v_released bigint;
    v_amount bigint;
    v_refusal text;
    v_result jsonb;
BEGIN
    INSERT INTO payments_sandboxoperation (
        processor, idempotency_key, reference, kind, amount_minor, result, created_at)
    VALUES (p_processor, p_key, p_reference, 'capture', coalesce(p_amount, 0), '{}'::jsonb,
            clock_timestamp())
    ON CONFLICT (processor, idempotency_key) DO NOTHING
    RETURNING id INTO v_op_id;
    IF v_op_id IS NULL THEN
        -- Same key, same answer (a concurrent first call has committed: we waited on it).
        RETURN QUERY
            SELECT 'replay'::text, o.result
              FROM payments_sandboxoperation o
             WHERE o.processor = p_processor AND o.idempotency_key = p_key;
        RETURN;
    END IF;

    SELECT c.id, c.reference, c.status, c.amount_minor, c.currency, c.captured_minor,
           c.refunded_minor, c.failure_code, c.brand, c.last4, c.attempts
      INTO v_charge
      FROM payments_sandboxcardcharge c
     WHERE c.reference = p_reference
       FOR UPDATE;
    IF NOT FOUND THEN
        v_refusal := 'no_such_charge';
    ELSE
        SELECT coalesce(sum(o.amount_minor), 0)
          INTO v_released
          FROM payments_sandboxoperation o
         WHERE o.processor = p_processor AND o.reference = p_reference
           AND o.kind = 'release_part' AND o.id <> v_op_id;
        v_amount := coalesce(p_amount, v_charge.amount_minor);
        IF v_released <> 0 OR v_charge.captured_minor <> 0 THEN
            v_refusal := 'multicapture';
        ELSIF v_charge.status <> 'authorized' THEN
            v_refusal := 'not_authorized';
        ELSIF NOT (0 < v_amount AND v_amount <= v_charge.amount_minor) THEN
            v_refusal := 'amount_out_of_range';
        END IF;
    END IF;
    IF v_refusal IS NOT NULL THEN
        -- Refused: nothing kept, so a retry under the key is processed again.
        DELETE FROM payments_sandboxoperation WHERE id = v_op_id;
        RETURN QUERY SELECT v_refusal, NULL::jsonb;
        RETURN;
    END IF;

    UPDATE payments_sandboxcardcharge
       SET status = 'captured', captured_minor = v_amount, updated_at = clock_timestamp()
     WHERE id = v_charge.id;
    v_result := jsonb_build_object(
        'reference', v_charge.reference,
        'status', 'captured',
        'amount_minor', v_charge.amount_minor,
        'currency', v_charge.currency,
        'captured_minor', v_amount,
        'refunded_minor', v_charge.refunded_minor,
        'failure_code', v_charge.failure_code,
        'brand', v_charge.brand,
        'last4', v_charge.last4,
        'attempts', v_charge.attempts);
    UPDATE payments_sandboxoperation SET result = v_result WHERE id = v_op_id;
    RETURN QUERY SELECT 'captured'::text, v_result;
END
$fn$;


CREATE OR REPLACE FUNCTION payments_capture_full(
    p_payment_id uuid,
    p_actor text,
    p_event_captured_minor bigint,
    p_sub_ids bigint[],
    p_sub_amounts bigint[],
    p_transfers jsonb,
    p_batch_id uuid
)
RETURNS TABLE (
    o_outcome text,
    o_status text,
    o_captured_minor bigint,
    o_updated_at timestamptz,
    o_event_id bigint
)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_pay record;
    v_ids bigint[];
    v_amounts bigint[];
    v_same_currency boolean;
    v_total bigint;
    v_sub_orders jsonb;
    v_now timestamptz;
    v_updated_at timestamptz;
    v_event_id bigint;
    r jsonb;
BEGIN
    SELECT p.id, p.order_id, p.method, p.status, p.amount_minor, p.currency, p.captured_minor,
           p.updated_at
      INTO v_pay
      FROM payments_payment p
     WHERE p.id = p_payment_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'payment_not_found'::text, NULL::text, NULL::bigint,
                            NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF v_pay.status <> 'authorized' THEN
        RETURN QUERY SELECT CASE WHEN v_pay.status = 'captured' THEN 'already' ELSE 'illegal' END,
                            v_pay.status::text, v_pay.captured_minor, v_pay.updated_at,
                            NULL::bigint;
        RETURN;
    END IF;

    -- The sub-orders, locked in ascending id (as payment_ledger._sub_orders).
    SELECT array_agg(s.id ORDER BY s.id),
           array_agg(s.amount_minor ORDER BY s.id),
           bool_and(s.currency = v_pay.currency),
           sum(s.amount_minor),
           jsonb_agg(jsonb_build_object('id', s.id, 'seller_id', s.seller_id,
                                        'amount_minor', s.amount_minor) ORDER BY s.id)
      INTO v_ids, v_amounts, v_same_currency, v_total, v_sub_orders
      FROM (SELECT so.id, so.amount_minor, so.currency, so.seller_id
              FROM payments_suborder so
             WHERE so.order_id = v_pay.order_id
             ORDER BY so.id
               FOR UPDATE) s;
    IF v_ids IS NULL
       OR v_ids IS DISTINCT FROM p_sub_ids
       OR v_amounts IS DISTINCT FROM p_sub_amounts
       OR NOT v_same_currency
       OR v_total <> v_pay.amount_minor
       OR jsonb_array_length(p_transfers) <> array_length(v_ids, 1) THEN
        RETURN QUERY SELECT 'fallback'::text, NULL::text, NULL::bigint, NULL::timestamptz,
                            NULL::bigint;
        RETURN;
    END IF;

    v_now := clock_timestamp();
    IF jsonb_array_length(p_transfers) = 1 THEN
        -- One transfer: the single-transfer function, as ledger.posting calls it.
        r := p_transfers -> 0;
        PERFORM 1 FROM ledger_create_transfer(
            (r ->> 'id')::uuid, r ->> 'kind', (r ->> 'debit_account_id')::bigint,
            (r ->> 'credit_account_id')::bigint, (r ->> 'amount_minor')::bigint,
            r ->> 'currency', (r ->> 'pending_id')::uuid, (r ->> 'timeout_s')::bigint,
            r ->> 'reason', r ->> 'reference', coalesce(r -> 'metadata', '{}'::jsonb));
    ELSE
        PERFORM 1 FROM ledger_create_transfers(p_transfers, p_batch_id);
    END IF;

    UPDATE payments_suborder
       SET captured_minor = amount_minor, updated_at = v_now
     WHERE id = ANY (v_ids);

    UPDATE payments_payment
       SET status = 'captured', captured_minor = v_total, updated_at = clock_timestamp()
     WHERE id = p_payment_id
    RETURNING updated_at INTO v_updated_at;

    INSERT INTO payments_paymentevent (
        payment_id, from_status, to_status, actor, reason, data, created_at)
    VALUES (p_payment_id, 'authorized', 'captured', p_actor, 'captured',
            jsonb_build_object('captured_minor', p_event_captured_minor), clock_timestamp());

    INSERT INTO payments_orderevent (order_id, sub_order_id, kind, actor, data, created_at)
    VALUES (v_pay.order_id, NULL, 'payment.captured', p_actor,
            jsonb_build_object(
                'payment_id', p_payment_id::text,
                'order_id', v_pay.order_id::text,
                'amount_minor', v_pay.amount_minor,
                'currency', v_pay.currency,
                'method', v_pay.method,
                'status', 'captured',
                'sub_orders', v_sub_orders,
                'captured_minor', v_total),
            clock_timestamp())
    RETURNING id INTO v_event_id;

    RETURN QUERY SELECT 'captured'::text, 'captured'::text, v_total, v_updated_at, v_event_id;
END
$fn$;
