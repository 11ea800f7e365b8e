-- Generic plans: payments migration 0011 sets plan_cache_mode on these functions; reinstalling
-- one (CREATE OR REPLACE) resets it, so a reinstalling migration must set it again.
-- The card "sale" fast path (payments/fast_sale.py): the processor authorised AND captured an
-- automatic-capture payment in one call, and this applies it in one statement. It does what
-- payments_card_authorize then payments_capture_full do (the Python path: payment_flows._apply_sale,
-- payment_transition to authorized then to captured in one transaction), with ONE ledger batch
-- (the pending holds, then the post_pending closes of those holds) and the order events of both
-- steps returned together for one dispatch after commit:
--   lock    Payment -> CheckoutSession (if the order may have one) -> Order -> SubOrders (by id)
--           -> ledger accounts (ledger_create_transfers);
--   check   created|requires_action -> authorized -> captured; the order awaiting payment; the
--           sub-orders sum to the payment in its currency, all awaiting payment with no
--           acceptance window yet, and are the ones the ledger requests (p_transfers, checked in
--           Python) were built for;
--   write   one pending hold per sub-order and its post (one batch), escrow_transfer_id, the
--           sub-orders awaiting acceptance with accept_by and captured_minor, the payment
--           (captured, provider reference, captured_minor), its two PaymentEvents,
--           payment.authorized, order paid, the session complete, one order.paid per sub-order,
--           payment.captured.
-- p_sub_orders: [[id, seller_id, amount_minor, hold transfer id], ...] by id.
-- Outcomes: ok (o_event_ids: the OrderEvents written, in order) | already (it is captured: a
-- replay) | illegal (detail: the status that cannot become authorized) | fallback (anything else,
-- an authorized payment included: nothing written, Python runs the ordinary path and raises what
-- it raises). A ledger refusal raises SQLSTATE LG001 (nothing written either).
-- Times: p_now for the authorisation's rows (as payments_card_authorize), clock_timestamp() for
-- the capture's (as payments_capture_full).
CREATE OR REPLACE FUNCTION payments_card_sale(
    p_payment_id uuid,
    p_method text,
    p_provider text,
    p_amount_minor bigint,
    p_currency text,
    p_actor text,
    p_reason text,
    p_data jsonb,
    p_provider_reference text,
    p_sub_orders jsonb,
    p_transfers jsonb,
    p_batch_id uuid,
    p_now timestamptz,
    p_accept_by timestamptz,
    p_accept_by_text text,
    p_event_captured_minor bigint
)
RETURNS TABLE (
    o_outcome text,
    o_detail text,
    o_captured_minor bigint,
    o_updated_at timestamptz,
    o_event_ids bigint[]
)
LANGUAGE plpgsql
AS $fn$
DECLARE
    pay payments_payment%ROWTYPE;
    o payments_order%ROWTYPE;
    v_actor text := left(p_actor, 64);
    v_metadata jsonb;
    v_buyer_id bigint;
    v_session_id uuid;
    v_session_status text;
    v_count integer;
    v_total bigint;
    v_other_currency boolean;
    v_unusual boolean;
    v_locked jsonb;
    v_shares jsonb;
    v_authorized_id bigint;
    v_paid_ids bigint[];
    v_captured_id bigint;
    v_now timestamptz;
    v_updated_at timestamptz;
BEGIN
    -- lock_payment: FOR UPDATE of the payment only.
    SELECT * INTO pay FROM payments_payment WHERE id = p_payment_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'fallback', 'payment_not_found', NULL::bigint, NULL::timestamptz,
                            NULL::bigint[];
        RETURN;
    END IF;
    IF pay.status = 'captured' THEN
        RETURN QUERY SELECT 'already', NULL::text, pay.captured_minor, pay.updated_at,
                            NULL::bigint[];
        RETURN;
    END IF;
    IF pay.status = 'authorized' THEN
        -- Authorised already (only the capture is left): the Python path does just that.
        RETURN QUERY SELECT 'fallback', 'authorized', NULL::bigint, NULL::timestamptz,
                            NULL::bigint[];
        RETURN;
    END IF;
    IF pay.status NOT IN ('created', 'requires_action') THEN
        RETURN QUERY SELECT 'illegal', pay.status::text, NULL::bigint, NULL::timestamptz,
                            NULL::bigint[];
        RETURN;
    END IF;
    IF pay.method <> p_method OR pay.provider <> p_provider OR pay.amount_minor <> p_amount_minor
       OR pay.currency <> p_currency THEN
        RETURN QUERY SELECT 'fallback', 'payment_changed', NULL::bigint, NULL::timestamptz,
                            NULL::bigint[];
        RETURN;
    END IF;

    -- order_mark_paid locks the order's checkout session (if it may have one) before the order.
    SELECT ord.metadata, ord.buyer_id INTO v_metadata, v_buyer_id
      FROM payments_order ord WHERE ord.id = pay.order_id;
    IF v_buyer_id IS NULL
       OR (jsonb_typeof(v_metadata) = 'object' AND v_metadata ? 'checkout_session') THEN
        SELECT cs.id, cs.status INTO v_session_id, v_session_status
          FROM payments_checkoutsession cs
         WHERE cs.order_id = pay.order_id
         ORDER BY cs.id
         LIMIT 1
           FOR UPDATE;
    END IF;

    SELECT * INTO o FROM payments_order WHERE id = pay.order_id FOR UPDATE;
    IF o.status <> 'awaiting_payment' THEN
        RETURN QUERY SELECT 'fallback', 'order_' || o.status, NULL::bigint, NULL::timestamptz,
                            NULL::bigint[];
        RETURN;
    END IF;

    -- All of the order's sub-orders, locked, by id.
    SELECT count(*)::integer,
           coalesce(sum(s.amount_minor), 0),
           coalesce(bool_or(s.currency <> pay.currency), false),
           coalesce(bool_or(s.status <> 'awaiting_payment' OR s.accept_by IS NOT NULL
                            OR s.captured_minor <> 0), false),
           coalesce(jsonb_agg(jsonb_build_array(s.id, s.seller_id, s.amount_minor)
                              ORDER BY s.id), '[]'::jsonb),
           coalesce(jsonb_agg(jsonb_build_object('id', s.id, 'seller_id', s.seller_id,
                                                 'amount_minor', s.amount_minor)
                              ORDER BY s.id), '[]'::jsonb)
      INTO v_count, v_total, v_other_currency, v_unusual, v_locked, v_shares
      FROM (SELECT * FROM payments_suborder
             WHERE order_id = o.id
             ORDER BY id
               FOR UPDATE) s;
    IF v_count = 0 OR v_total <> pay.amount_minor OR v_other_currency OR v_unusual
       OR jsonb_array_length(p_transfers) <> 2 * v_count
       OR v_locked IS DISTINCT FROM (
            SELECT jsonb_agg(jsonb_build_array(e.value -> 0, e.value -> 1, e.value -> 2)
                             ORDER BY e.ord)
              FROM jsonb_array_elements(p_sub_orders) WITH ORDINALITY AS e(value, ord)) THEN
        RETURN QUERY SELECT 'fallback', 'sub_orders', NULL::bigint, NULL::timestamptz,
                            NULL::bigint[];
        RETURN;
    END IF;

    -- The holds and their posts, all or none (a refusal raises LG001: nothing written).
    PERFORM * FROM ledger_create_transfers(p_transfers, p_batch_id);

    -- payment.authorized (state._record_payment_order_event), before the order is paid.
    UPDATE payments_payment
       SET status = 'authorized', provider_reference = p_provider_reference, updated_at = p_now
     WHERE id = pay.id;
    INSERT INTO payments_paymentevent (
        payment_id, from_status, to_status, actor, reason, data, created_at)
    VALUES (pay.id, pay.status, 'authorized', v_actor, left(p_reason, 255), p_data, p_now);
    INSERT INTO payments_orderevent (
        order_id, sub_order_id, kind, actor, data, created_at, dispatched_at)
    VALUES (o.id, NULL, 'payment.authorized', v_actor,
            jsonb_build_object(
                'payment_id', pay.id::text,
                'order_id', o.id::text,
                'amount_minor', pay.amount_minor,
                'currency', pay.currency,
                'method', pay.method,
                'status', 'authorized',
                'sub_orders', v_shares),
            p_now, NULL)
    RETURNING id INTO v_authorized_id;

    -- order_mark_paid
    UPDATE payments_order
       SET status = 'paid', payment_failure_reason = '', updated_at = p_now
     WHERE id = o.id;
    IF v_session_id IS NOT NULL AND v_session_status <> 'complete' THEN
        UPDATE payments_checkoutsession
           SET status = 'complete', completed_at = p_now, updated_at = p_now
         WHERE id = v_session_id;
    END IF;

    -- on_order_paid: one order.paid per sub-order, by id (sealing rides on their dispatch).
    WITH written AS (
        INSERT INTO payments_orderevent (
            order_id, sub_order_id, kind, actor, data, created_at, dispatched_at)
        SELECT o.id, s.id, 'order.paid', 'system',
               jsonb_build_object(
                   'sub_order', s.id,
                   'seller', s.seller_id,
                   'amount_minor', s.amount_minor,
                   'currency', s.currency,
                   'accept_by', p_accept_by_text),
               p_now, NULL
          FROM payments_suborder s
         WHERE s.order_id = o.id
         ORDER BY s.id
        RETURNING id
    )
    SELECT array_agg(id ORDER BY id) INTO v_paid_ids FROM written;

    -- The capture (payments_capture_full): every hold posted in full.
    v_now := clock_timestamp();
    -- escrow_transfer_id (ledger_place_holds), awaiting acceptance (order_mark_paid), the
    -- acceptance window (on_order_paid) and captured_minor (ledger_capture_holds) at once.
    -- By the order's index (the sub-orders are exactly p_sub_orders, checked above): a join
    -- with the JSON array planned a hash join over a sequential scan of every sub-order.
    UPDATE payments_suborder s
       SET escrow_transfer_id = (SELECT (e.value ->> 3)::uuid
                                   FROM jsonb_array_elements(p_sub_orders) AS e(value)
                                  WHERE (e.value ->> 0)::bigint = s.id),
           status = 'awaiting_acceptance',
           accept_by = p_accept_by,
           captured_minor = s.amount_minor,
           updated_at = v_now
     WHERE s.order_id = o.id;

    UPDATE payments_payment
       SET status = 'captured', captured_minor = v_total, updated_at = clock_timestamp()
     WHERE id = pay.id
    RETURNING updated_at INTO v_updated_at;

    INSERT INTO payments_paymentevent (
        payment_id, from_status, to_status, actor, reason, data, created_at)
    VALUES (pay.id, 'authorized', 'captured', v_actor, 'captured',
            jsonb_build_object('captured_minor', p_event_captured_minor), clock_timestamp());

    INSERT INTO payments_orderevent (
        order_id, sub_order_id, kind, actor, data, created_at, dispatched_at)
    VALUES (o.id, NULL, 'payment.captured', v_actor,
            jsonb_build_object(
                'payment_id', pay.id::text,
                'order_id', o.id::text,
                'amount_minor', pay.amount_minor,
                'currency', pay.currency,
                'method', pay.method,
                'status', 'captured',
                'sub_orders', v_shares,
                'captured_minor', v_total),
            clock_timestamp(), NULL)
    RETURNING id INTO v_captured_id;

    RETURN QUERY SELECT 'ok', NULL::text, v_total, v_updated_at,
                        ARRAY[v_authorized_id] || v_paid_ids || ARRAY[v_captured_id];
END
$fn$;
