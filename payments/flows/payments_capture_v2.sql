-- Generic plans: payments migration 0013 sets plan_cache_mode on this function; reinstalling it
-- (CREATE OR REPLACE) resets it, so a reinstalling migration must set it again.
--
-- payments_capture: a payment's capture, authorized -> captured, the one implementation of it
-- (payments/fast_capture.py calls it for staff and automatic captures, whole or per sub-order, a
-- bank transfer's capture on arrival, and the end of a payment whose sellers each captured their
-- own part). Python reads the payment and its sub-orders, calls the provider, and builds the
-- ledger requests (payment_ledger._close_hold, ids uuid5 of the payment and sub-order); this:
--   lock    Payment -> SubOrders (ascending id) -> ledger accounts (ledger_create_transfers);
--   check   the payment is authorized (captured already: "already", a replay; anything else:
--           "illegal"); its sub-orders are the ones the requests were built from (p_sub_ids,
--           p_sub_amounts; else "stale": nothing written, Python reads them again and calls
--           again); they sum to the payment (else "sub_orders_do_not_match_payment", detail:
--           their sum) in its currency (else "currency");
--   write   the holds posted (p_captures[i] of sub-order p_sub_ids[i]) or voided (0) in one
--           ledger batch, the sub-orders' captured_minor, the payment (captured, captured_minor:
--           the sum), its PaymentEvent (p_reason, p_data) and the payment.captured OrderEvent.
-- p_settled: every hold was already captured or released on its own (per-seller acceptance,
-- multicapture): no requests, no sub-order writes; captured_minor is the sub-orders' sum.
-- A ledger refusal raises SQLSTATE LG001 (nothing written): Python raises it as BatchFailed.
-- Returns one row (outcome, detail, captured_minor, updated_at, order event id).

CREATE OR REPLACE FUNCTION payments_capture(
    p_payment_id uuid,
    p_actor text,
    p_reason text,
    p_data jsonb,
    p_sub_ids bigint[],
    p_sub_amounts bigint[],
    p_captures bigint[],
    p_transfers jsonb,
    p_batch_id uuid,
    p_settled boolean
)
RETURNS TABLE (
    o_outcome text,
    o_detail text,
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
    v_captured bigint;
    v_sub_orders jsonb;
    v_updated_at timestamptz;
    v_event_id bigint;
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

    IF p_settled THEN
        SELECT coalesce(sum(s.captured_minor), 0),
               jsonb_agg(jsonb_build_object('id', s.id, 'seller_id', s.seller_id,
                                            'amount_minor', s.amount_minor) ORDER BY s.id)
          INTO v_captured, v_sub_orders
          FROM payments_suborder s
         WHERE s.order_id = v_pay.order_id;
    ELSE
        -- The sub-orders, locked in ascending id (as the holds were placed).
        SELECT array_agg(s.id ORDER BY s.id),
               array_agg(s.amount_minor ORDER BY s.id),
               bool_and(s.currency = v_pay.currency),
               coalesce(sum(s.amount_minor), 0),
               jsonb_agg(jsonb_build_object('id', s.id, 'seller_id', s.seller_id,
                                            'amount_minor', s.amount_minor) ORDER BY s.id)
          INTO v_ids, v_amounts, v_same_currency, v_total, v_sub_orders
          FROM (SELECT so.id, so.amount_minor, so.currency, so.seller_id
                  FROM payments_suborder so
                 WHERE so.order_id = v_pay.order_id
                 ORDER BY so.id
                   FOR UPDATE) s;
        IF v_ids IS DISTINCT FROM p_sub_ids OR v_amounts IS DISTINCT FROM p_sub_amounts THEN
            RETURN QUERY SELECT 'stale'::text, NULL::text, NULL::bigint, NULL::timestamptz,
                                NULL::bigint;
            RETURN;
        END IF;
        IF v_ids IS NULL OR v_total <> v_pay.amount_minor THEN
            RETURN QUERY SELECT 'sub_orders_do_not_match_payment'::text, v_total::text,
                                NULL::bigint, NULL::timestamptz, NULL::bigint;
            RETURN;
        END IF;
        IF NOT v_same_currency THEN
            RETURN QUERY SELECT 'currency'::text, NULL::text, NULL::bigint, NULL::timestamptz,
                                NULL::bigint;
            RETURN;
        END IF;

        PERFORM 1 FROM ledger_create_transfers(p_transfers, p_batch_id);

        UPDATE payments_suborder s
           SET captured_minor = c.amount, updated_at = clock_timestamp()
          FROM unnest(p_sub_ids, p_captures) AS c(id, amount)
         WHERE s.id = c.id;
        SELECT sum(c) INTO v_captured FROM unnest(p_captures) AS c;
    END IF;

    UPDATE payments_payment
       SET status = 'captured', captured_minor = v_captured, updated_at = clock_timestamp()
     WHERE id = p_payment_id
    RETURNING updated_at INTO v_updated_at;

    INSERT INTO payments_paymentevent (
        payment_id, from_status, to_status, actor, reason, data, created_at)
    VALUES (p_payment_id, 'authorized', 'captured', left(p_actor, 64), left(p_reason, 255),
            p_data, clock_timestamp());

    INSERT INTO payments_orderevent (order_id, sub_order_id, kind, actor, data, created_at)
    VALUES (v_pay.order_id, NULL, 'payment.captured', left(p_actor, 64),
            jsonb_build_object(
                'payment_id', p_payment_id::text,
                'order_id', v_pay.order_id::text,
                'amount_minor', v_pay.amount_minor,
                'currency', v_pay.currency,
                'method', v_pay.method,
                'status', 'captured',
                'sub_orders', coalesce(v_sub_orders, '[]'::jsonb),
                'captured_minor', v_captured),
            clock_timestamp())
    RETURNING id INTO v_event_id;

    RETURN QUERY SELECT 'captured'::text, NULL::text, v_captured, v_updated_at, v_event_id;
END
$fn$;
