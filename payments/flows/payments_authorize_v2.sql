-- Generic plans: payments migration 0014 sets plan_cache_mode on these functions; reinstalling
-- one (CREATE OR REPLACE) resets it, so a reinstalling migration must set it again.
--
-- A payment's authorisation (and a sale: authorisation and capture at once), the one
-- implementation of it, for every method (card, wallet, bank transfer: the hold requests come
-- from Python, built from the right source account), and the order's side of it (order paid), the
-- one implementation of that too (order_services.order_mark_paid calls it alone).
-- A refusal raises SQLSTATE PM001 (MESSAGE the code, DETAIL JSON), so the statement writes
-- nothing whatever it had done; Python raises the matching error (fast_authorize._refusal).
-- Times come from Python (p_now), as Django's auto_now fields and timezone.now() do there.

CREATE OR REPLACE FUNCTION payments_refuse(p_code text, p_detail jsonb)
RETURNS void
LANGUAGE plpgsql
AS $refuse$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'PM001', MESSAGE = p_code, DETAIL = p_detail::text;
END
$refuse$;


-- payments_order_mark_paid: the order is paid (order_mark_paid, on_order_paid). Locks the order's
-- checkout session (if the order may have one) -> the order -> its sub-orders (by id) -> the
-- products of its lines (by id, when its stock must be taken again). An order already paid is
-- left as it is (idempotent: no events). An order whose payment failed or that expired takes its
-- stock again (refusals: unknown_product, out_of_stock {product_id, title, wanted, stock}) and its
-- cancelled sub-orders back; any other order that is not awaiting payment is refused
-- (order_not_payable {status, number}). Then: order paid, sub-orders awaiting acceptance, the
-- session complete, and each sub-order awaiting acceptance without a window gets one (accept_by)
-- and an order.paid event. Returns the order.paid events' ids, by sub-order id.
-- For payments_authorize, in the same UPDATE of the sub-orders: p_holds ([[id, seller, amount,
-- hold transfer id], ...]) sets each one's escrow_transfer_id, and p_capture its captured_minor
-- (all of it: a sale).
CREATE OR REPLACE FUNCTION payments_order_mark_paid(
    p_order_id uuid,
    p_now timestamptz,
    p_accept_by timestamptz,
    p_accept_by_text text,
    p_holds jsonb DEFAULT NULL,
    p_capture boolean DEFAULT false
)
RETURNS bigint[]
LANGUAGE plpgsql
AS $fn$
DECLARE
    o payments_order%ROWTYPE;
    v_metadata jsonb;
    v_buyer_id bigint;
    v_session_id uuid;
    v_session_status text;
    v_mark boolean;
    v_reopen boolean;
    v_wanted record;
    v_product_ids bigint[];
    v_quantities bigint[];
    v_windowed bigint[];
    v_paid_ids bigint[];
BEGIN
    SELECT ord.metadata, ord.buyer_id INTO v_metadata, v_buyer_id
      FROM payments_order ord WHERE ord.id = p_order_id;
    IF v_buyer_id IS NULL
       OR (jsonb_typeof(v_metadata) = 'object' AND v_metadata ? 'checkout_session') THEN
        SELECT cs.id, cs.status INTO v_session_id, v_session_status
          FROM payments_checkoutsession cs
         WHERE cs.order_id = p_order_id
         ORDER BY cs.id
         LIMIT 1
           FOR UPDATE;
    END IF;

    SELECT * INTO o FROM payments_order WHERE id = p_order_id FOR UPDATE;
    IF o.status NOT IN ('paid', 'awaiting_payment', 'payment_failed', 'expired') THEN
        PERFORM payments_refuse('order_not_payable',
                                jsonb_build_object('status', o.status, 'number', o.number));
    END IF;
    v_mark := o.status <> 'paid';
    v_reopen := o.status IN ('payment_failed', 'expired');
    -- The sub-orders, locked by id; those that get their acceptance window now.
    SELECT array_agg(s.id ORDER BY s.id) FILTER (
               WHERE v_mark AND s.accept_by IS NULL
                 AND (s.status IN ('awaiting_payment', 'awaiting_acceptance')
                      OR (v_reopen AND s.status = 'cancelled')))
      INTO v_windowed
      FROM (SELECT * FROM payments_suborder WHERE order_id = o.id ORDER BY id FOR UPDATE) s;
    IF NOT v_mark AND p_holds IS NULL THEN
        RETURN '{}'::bigint[];
    END IF;

    IF v_reopen AND NOT o.stock_reserved THEN
        -- Its units again: products locked by id, every line checked, then taken.
        SELECT array_agg(w.product_id ORDER BY w.product_id),
               array_agg(w.quantity ORDER BY w.product_id)
          INTO v_product_ids, v_quantities
          FROM (SELECT l.product_id, sum(l.quantity)::bigint AS quantity
                  FROM payments_orderline l
                  JOIN payments_suborder s ON s.id = l.sub_order_id
                 WHERE s.order_id = o.id AND l.product_id IS NOT NULL
                 GROUP BY l.product_id) w;
        PERFORM 1 FROM payments_product p
         WHERE p.id = ANY (v_product_ids)
         ORDER BY p.id
           FOR UPDATE;
        IF (SELECT count(*) FROM payments_product p WHERE p.id = ANY (v_product_ids))
           <> coalesce(cardinality(v_product_ids), 0) THEN
            PERFORM payments_refuse('unknown_product', '{}'::jsonb);
        END IF;
        SELECT w.product_id, p.title, w.quantity, p.stock INTO v_wanted
          FROM unnest(v_product_ids, v_quantities) AS w(product_id, quantity)
          JOIN payments_product p ON p.id = w.product_id
         WHERE p.stock < w.quantity
         ORDER BY w.product_id
         LIMIT 1;
        IF FOUND THEN
            PERFORM payments_refuse('out_of_stock', jsonb_build_object(
                'product_id', v_wanted.product_id, 'title', v_wanted.title,
                'wanted', v_wanted.quantity, 'stock', v_wanted.stock));
        END IF;
        UPDATE payments_product p
           SET stock = p.stock - w.quantity
          FROM unnest(v_product_ids, v_quantities) AS w(product_id, quantity)
         WHERE p.id = w.product_id;
        o.stock_reserved := true;
    END IF;

    IF v_mark THEN
        UPDATE payments_order
           SET status = 'paid', payment_failure_reason = '', stock_reserved = o.stock_reserved,
               updated_at = p_now
         WHERE id = o.id;
        IF v_session_id IS NOT NULL AND v_session_status <> 'complete' THEN
            UPDATE payments_checkoutsession
               SET status = 'complete', completed_at = p_now, updated_at = p_now
             WHERE id = v_session_id;
        END IF;
    END IF;

    -- Awaiting acceptance (a cancelled one back too when the order is taken back), the
    -- acceptance windows, and the payment's holds, in one UPDATE. By the order's index: a join
    -- with the JSON array planned a hash join over a sequential scan of every sub-order.
    UPDATE payments_suborder s
       SET status = CASE WHEN v_mark AND (s.status = 'awaiting_payment'
                                          OR (v_reopen AND s.status = 'cancelled'))
                         THEN 'awaiting_acceptance' ELSE s.status END,
           accept_by = CASE WHEN s.id = ANY (v_windowed) THEN p_accept_by ELSE s.accept_by END,
           escrow_transfer_id = CASE WHEN p_holds IS NULL THEN s.escrow_transfer_id
                                     ELSE (SELECT (e.value ->> 3)::uuid
                                             FROM jsonb_array_elements(p_holds) AS e(value)
                                            WHERE (e.value ->> 0)::bigint = s.id) END,
           captured_minor = CASE WHEN p_capture THEN s.amount_minor ELSE s.captured_minor END,
           updated_at = p_now
     WHERE s.order_id = o.id
       AND (p_holds IS NOT NULL OR s.status = 'awaiting_payment' OR s.id = ANY (v_windowed)
            OR (v_reopen AND s.status = 'cancelled'));

    -- Each seller's order.paid (sealing rides on their dispatch).
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
         WHERE s.id = ANY (v_windowed)
         ORDER BY s.id
        RETURNING id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}'::bigint[]) INTO v_paid_ids FROM written;
    RETURN v_paid_ids;
END
$fn$;


-- payments_authorize: the provider authorised the payment (p_capture: and captured it, a sale).
--   lock    Payment -> CheckoutSession -> Order -> SubOrders (by id) -> products (when the
--           order takes its stock again) -> ledger accounts (ledger_create_transfers);
--   check   created|requires_action|awaiting_transfer -> authorized; the payment and its
--           sub-orders are what the requests were built for (else refused "stale": Python reads
--           them again); the sub-orders sum to the payment (sub_orders_do_not_match_payment
--           {total}) in its currency (currency); the order may be paid (payments_order_mark_paid);
--   write   the payment (authorized, provider reference unless p_provider_reference is NULL), its
--           PaymentEvent, payment.authorized on the order, the order paid with the sub-orders'
--           escrow_transfer_id (and with p_capture their captured_minor), the holds (and with
--           p_capture their posts: one ledger batch); with p_capture payments_capture's end of
--           it (captured, its PaymentEvent with p_capture_data, payment.captured).
-- p_sub_orders: [[id, seller_id, amount_minor, hold transfer id], ...] by id.
-- Outcomes: ok (o_event_ids: the OrderEvents written, in order) | already (authorized already;
-- with p_capture: captured already) | authorized (p_capture, but only the capture is left: Python
-- captures with payments_capture) | illegal (detail: the status) | payment_not_found.
-- Refusals raise PM001 (payments_refuse) or LG001 (the ledger): nothing written.
CREATE OR REPLACE FUNCTION payments_authorize(
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
    p_capture boolean,
    p_capture_data jsonb
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
    v_actor text := left(p_actor, 64);
    v_shares jsonb;
    v_count integer;
    v_total bigint;
    v_other_currency boolean;
    v_locked jsonb;
    v_authorized_id bigint;
    v_paid_ids bigint[];
    v_captured record;
BEGIN
    SELECT * INTO pay FROM payments_payment WHERE id = p_payment_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'payment_not_found', NULL::text, NULL::bigint, NULL::timestamptz,
                            NULL::bigint[];
        RETURN;
    END IF;
    IF pay.status = 'authorized' OR (p_capture AND pay.status = 'captured') THEN
        RETURN QUERY SELECT CASE WHEN p_capture AND pay.status = 'authorized' THEN 'authorized'
                                 ELSE 'already' END,
                            NULL::text, pay.captured_minor, pay.updated_at, NULL::bigint[];
        RETURN;
    END IF;
    IF pay.status NOT IN ('created', 'requires_action', 'awaiting_transfer') THEN
        RETURN QUERY SELECT 'illegal', pay.status::text, NULL::bigint, NULL::timestamptz,
                            NULL::bigint[];
        RETURN;
    END IF;
    IF pay.method <> p_method OR pay.provider <> p_provider OR pay.amount_minor <> p_amount_minor
       OR pay.currency <> p_currency THEN
        PERFORM payments_refuse('stale', '{}'::jsonb);
    END IF;

    UPDATE payments_payment
       SET status = 'authorized',
           provider_reference = coalesce(p_provider_reference, provider_reference),
           updated_at = p_now
     WHERE id = pay.id;
    INSERT INTO payments_paymentevent (
        payment_id, from_status, to_status, actor, reason, data, created_at)
    VALUES (pay.id, pay.status, 'authorized', v_actor, left(p_reason, 255), p_data, p_now);
    -- The sub-orders' shares as the requests were built (checked against the locked rows below).
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', e.value -> 0, 'seller_id', e.value -> 1,
                                                 'amount_minor', e.value -> 2) ORDER BY e.ord),
                    '[]'::jsonb)
      INTO v_shares
      FROM jsonb_array_elements(p_sub_orders) WITH ORDINALITY AS e(value, ord);
    INSERT INTO payments_orderevent (
        order_id, sub_order_id, kind, actor, data, created_at, dispatched_at)
    VALUES (pay.order_id, NULL, 'payment.authorized', v_actor,
            jsonb_build_object(
                'payment_id', pay.id::text,
                'order_id', pay.order_id::text,
                'amount_minor', pay.amount_minor,
                'currency', pay.currency,
                'method', pay.method,
                'status', 'authorized',
                'sub_orders', v_shares),
            p_now, NULL)
    RETURNING id INTO v_authorized_id;

    -- The order paid, and the sub-orders' holds (a sale: captured) in the same UPDATE.
    v_paid_ids := payments_order_mark_paid(pay.order_id, p_now, p_accept_by, p_accept_by_text,
                                           p_sub_orders, p_capture);

    -- The sub-orders (locked by payments_order_mark_paid) as the requests were built for.
    SELECT count(*)::integer,
           coalesce(sum(s.amount_minor), 0),
           coalesce(bool_or(s.currency <> pay.currency), false),
           coalesce(jsonb_agg(jsonb_build_array(s.id, s.seller_id, s.amount_minor)
                              ORDER BY s.id), '[]'::jsonb)
      INTO v_count, v_total, v_other_currency, v_locked
      FROM payments_suborder s
     WHERE s.order_id = pay.order_id;
    IF v_locked IS DISTINCT FROM (
            SELECT coalesce(jsonb_agg(jsonb_build_array(e.value -> 0, e.value -> 1, e.value -> 2)
                                      ORDER BY e.ord), '[]'::jsonb)
              FROM jsonb_array_elements(p_sub_orders) WITH ORDINALITY AS e(value, ord)) THEN
        PERFORM payments_refuse('stale', '{}'::jsonb);
    END IF;
    IF v_count = 0 OR v_total <> pay.amount_minor THEN
        PERFORM payments_refuse('sub_orders_do_not_match_payment',
                                jsonb_build_object('total', v_total));
    END IF;
    IF v_other_currency THEN
        PERFORM payments_refuse('currency', '{}'::jsonb);
    END IF;

    -- The holds (and a sale's posts), all or none: a refusal raises LG001.
    PERFORM * FROM ledger_create_transfers(p_transfers, p_batch_id);

    IF NOT p_capture THEN
        RETURN QUERY SELECT 'ok', NULL::text, 0::bigint, p_now,
                            ARRAY[v_authorized_id] || v_paid_ids;
        RETURN;
    END IF;
    -- The capture's end (its posts went with the holds): payments_capture, settled.
    SELECT * INTO v_captured
      FROM payments_capture(pay.id, p_actor, 'captured', p_capture_data, NULL, NULL, NULL, NULL,
                            NULL, true);
    RETURN QUERY SELECT 'ok', NULL::text, v_captured.o_captured_minor, v_captured.o_updated_at,
                        ARRAY[v_authorized_id] || v_paid_ids || ARRAY[v_captured.o_event_id];
END
$fn$;
