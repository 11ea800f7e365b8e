-- Generic plans: payments migration 0011 sets plan_cache_mode on these functions; reinstalling
-- one (CREATE OR REPLACE) resets it, so a reinstalling migration must set it again.
-- The card payment fast path (payments/fast_authorize.py): starting a card payment and applying
-- its authorisation are one statement each, instead of a dozen ORM statements. The Python path
-- (payment_flows.payment_start, state.payment_transition, order_services.order_mark_paid,
-- order_documents.on_order_paid) stays the reference for the rules: these functions write the
-- same rows, take the same locks in the same order, and answer "fallback" having written nothing
-- for any case they do not replicate, so that Python runs the ordinary path.
--
-- Times come from Python (p_now), as Django's auto_now fields and timezone.now() do there.

-- payments_card_start: lock the order, check it may be paid by this caller, and write the vaulted
-- card (sealed in Python), the Payment (created, provider_attempts 1: the first provider call is
-- counted here) and its "created" PaymentEvent.
-- Outcomes: ok | order_not_found | order_not_payable (detail: the order's status) |
-- payment_in_progress (detail: the active payment's id). Only "ok" writes anything.
-- With "ok" come the order's number, buyer, metadata and its sub-orders
-- ([[id, seller_id, amount_minor, currency], ...] by id), which the authorisation step needs.
CREATE OR REPLACE FUNCTION payments_card_start(
    p_order_id uuid,
    p_check_buyer boolean,
    p_buyer_id bigint,
    p_active text[],
    p_payment_id uuid,
    p_provider text,
    p_actor text,
    p_details jsonb,
    p_card_id uuid,
    p_card_token text,
    p_card_brand text,
    p_card_last4 text,
    p_card_exp_month integer,
    p_card_exp_year integer,
    p_card_key_id text,
    p_card_wrapped_key bytea,
    p_card_ciphertext bytea,
    p_now timestamptz
)
RETURNS TABLE (
    o_outcome text,
    o_detail text,
    o_number text,
    o_buyer_id bigint,
    o_currency text,
    o_total_minor bigint,
    o_metadata jsonb,
    o_sub_orders jsonb
)
LANGUAGE plpgsql
AS $fn$
DECLARE
    o payments_order%ROWTYPE;
    v_active uuid;
BEGIN
    -- The order row lock serialises payment starts: one active payment per order. Only the
    -- caller's own order is locked (the API answers "not found" for anyone else's).
    IF p_check_buyer THEN
        SELECT * INTO o FROM payments_order
         WHERE id = p_order_id AND buyer_id = p_buyer_id
           FOR UPDATE;
    ELSE
        SELECT * INTO o FROM payments_order WHERE id = p_order_id FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'order_not_found', NULL::text, NULL::text, NULL::bigint, NULL::text,
                            NULL::bigint, NULL::jsonb, NULL::jsonb;
        RETURN;
    END IF;
    IF o.status <> 'awaiting_payment' THEN
        RETURN QUERY SELECT 'order_not_payable', o.status::text, NULL::text, NULL::bigint,
                            NULL::text, NULL::bigint, NULL::jsonb, NULL::jsonb;
        RETURN;
    END IF;
    -- As locked.payments.filter(status__in=ACTIVE).first(): the lowest id.
    SELECT p.id INTO v_active
      FROM payments_payment p
     WHERE p.order_id = o.id AND p.status = ANY (p_active)
     ORDER BY p.id
     LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT 'payment_in_progress', v_active::text, NULL::text, NULL::bigint,
                            NULL::text, NULL::bigint, NULL::jsonb, NULL::jsonb;
        RETURN;
    END IF;

    -- vault_store_card: the card belongs to the order's buyer (none for a guest).
    INSERT INTO payments_vaultedcard (
        id, token, owner_id, brand, last4, exp_month, exp_year, key_id, wrapped_key, ciphertext,
        created_at, deleted_at)
    VALUES (
        p_card_id, p_card_token, o.buyer_id, p_card_brand, p_card_last4, p_card_exp_month,
        p_card_exp_year, p_card_key_id, p_card_wrapped_key, p_card_ciphertext, p_now, NULL);

    INSERT INTO payments_payment (
        id, order_id, method, provider, status, amount_minor, currency, provider_reference,
        failure_code, failure_message, created_at, updated_at, details, vaulted_card_id,
        bank_reference, expires_at, captured_minor, provider_attempts)
    VALUES (
        p_payment_id, o.id, 'card', p_provider, 'created', o.total_minor, o.currency, '', '', '',
        p_now, p_now, p_details, p_card_id, NULL, NULL, 0, 1);

    INSERT INTO payments_paymentevent (
        payment_id, from_status, to_status, actor, reason, data, created_at)
    VALUES (p_payment_id, '', 'created', left(p_actor, 64), 'started', '{}'::jsonb, p_now);

    RETURN QUERY
        SELECT 'ok', NULL::text, o.number::text, o.buyer_id, o.currency::text, o.total_minor,
               o.metadata,
               coalesce((SELECT jsonb_agg(jsonb_build_array(s.id, s.seller_id, s.amount_minor,
                                                            s.currency) ORDER BY s.id)
                           FROM payments_suborder s
                          WHERE s.order_id = o.id), '[]'::jsonb);
END
$fn$;


-- payments_card_authorize: the provider authorised the payment. What payment_transition(to
-- authorized) does, with ledger_place_holds, _record_payment_order_event, order_mark_paid and
-- on_order_paid's acceptance windows and order.paid events, in one transaction:
--   lock    Payment -> CheckoutSession (if the order may have one) -> Order -> SubOrders (by id)
--           -> ledger accounts (ledger_create_transfers);
--   check   created|requires_action -> authorized; the order awaiting payment; the sub-orders sum
--           to the payment in its currency, all awaiting payment with no acceptance window yet,
--           and are the ones the hold requests (p_holds, checked in Python) were built for;
--   write   one pending hold per sub-order, escrow_transfer_id, the payment, its PaymentEvent,
--           payment.authorized on the order, order paid, sub-orders awaiting acceptance with
--           accept_by, the session complete, one order.paid event per sub-order.
-- p_sub_orders: [[id, seller_id, amount_minor, hold transfer id], ...] by id.
-- Outcomes: ok (o_event_ids: the OrderEvents written, to dispatch after commit) | already (it is
-- authorized: a replay) | illegal (detail: the status that cannot become authorized) | fallback
-- (anything else: nothing written, Python runs the ordinary path and raises what it raises).
-- A ledger refusal raises SQLSTATE LG001 (nothing written either).
CREATE OR REPLACE FUNCTION payments_card_authorize(
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
    p_holds jsonb,
    p_batch_id uuid,
    p_now timestamptz,
    p_accept_by timestamptz,
    p_accept_by_text text
)
RETURNS TABLE (o_outcome text, o_detail text, o_event_ids bigint[])
LANGUAGE plpgsql
AS $fn$
DECLARE
    pay payments_payment%ROWTYPE;
    o payments_order%ROWTYPE;
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
    v_event_id bigint;
    v_paid_ids bigint[];
BEGIN
    -- lock_payment: FOR UPDATE of the payment only.
    SELECT * INTO pay FROM payments_payment WHERE id = p_payment_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'fallback', 'payment_not_found', NULL::bigint[];
        RETURN;
    END IF;
    IF pay.status = 'authorized' THEN
        RETURN QUERY SELECT 'already', NULL::text, NULL::bigint[];
        RETURN;
    END IF;
    IF pay.status NOT IN ('created', 'requires_action') THEN
        RETURN QUERY SELECT 'illegal', pay.status::text, NULL::bigint[];
        RETURN;
    END IF;
    -- The holds were built for this method, provider, amount and currency.
    IF pay.method <> p_method OR pay.provider <> p_provider OR pay.amount_minor <> p_amount_minor
       OR pay.currency <> p_currency THEN
        RETURN QUERY SELECT 'fallback', 'payment_changed', NULL::bigint[];
        RETURN;
    END IF;

    -- order_mark_paid locks the order's checkout session (if it may have one) before the order;
    -- whether it may is read from the order unlocked, as payment.order is there.
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
        -- Paid already, or its stock was released meanwhile (re-reserved by order_mark_paid).
        RETURN QUERY SELECT 'fallback', 'order_' || o.status, NULL::bigint[];
        RETURN;
    END IF;

    -- ledger_place_holds' _sub_orders: all of the order's sub-orders, locked, by id.
    SELECT count(*)::integer,
           coalesce(sum(s.amount_minor), 0),
           coalesce(bool_or(s.currency <> pay.currency), false),
           coalesce(bool_or(s.status <> 'awaiting_payment' OR s.accept_by IS NOT NULL), false),
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
       OR v_locked IS DISTINCT FROM (
            SELECT jsonb_agg(jsonb_build_array(e.value -> 0, e.value -> 1, e.value -> 2)
                             ORDER BY e.ord)
              FROM jsonb_array_elements(p_sub_orders) WITH ORDINALITY AS e(value, ord)) THEN
        RETURN QUERY SELECT 'fallback', 'sub_orders', NULL::bigint[];
        RETURN;
    END IF;

    -- The holds (all or none; a refusal raises LG001 and this statement writes nothing).
    PERFORM * FROM ledger_create_transfers(p_holds, p_batch_id);

    -- escrow_transfer_id (ledger_place_holds), awaiting acceptance (order_mark_paid) and the
    -- acceptance window (on_order_paid) in one update of the locked rows.
    -- By the order's index (the sub-orders are exactly p_sub_orders, checked above): a join
    -- with the JSON array planned a hash join over a sequential scan of every sub-order.
    UPDATE payments_suborder s
       SET escrow_transfer_id = (SELECT (e.value ->> 3)::uuid
                                   FROM jsonb_array_elements(p_sub_orders) AS e(value)
                                  WHERE (e.value ->> 0)::bigint = s.id),
           status = 'awaiting_acceptance',
           accept_by = p_accept_by,
           updated_at = p_now
     WHERE s.order_id = o.id;

    UPDATE payments_payment
       SET status = 'authorized', provider_reference = p_provider_reference, updated_at = p_now
     WHERE id = pay.id;

    INSERT INTO payments_paymentevent (
        payment_id, from_status, to_status, actor, reason, data, created_at)
    VALUES (pay.id, pay.status, 'authorized', left(p_actor, 64), left(p_reason, 255), p_data,
            p_now);

    -- state._record_payment_order_event
    INSERT INTO payments_orderevent (
        order_id, sub_order_id, kind, actor, data, created_at, dispatched_at)
    VALUES (o.id, NULL, 'payment.authorized', left(p_actor, 64),
            jsonb_build_object(
                'payment_id', pay.id::text,
                'order_id', o.id::text,
                'amount_minor', pay.amount_minor,
                'currency', pay.currency,
                'method', pay.method,
                'status', 'authorized',
                'sub_orders', v_shares),
            p_now, NULL)
    RETURNING id INTO v_event_id;

    -- order_mark_paid
    UPDATE payments_order
       SET status = 'paid', payment_failure_reason = '', updated_at = p_now
     WHERE id = o.id;
    IF v_session_id IS NOT NULL AND v_session_status <> 'complete' THEN
        UPDATE payments_checkoutsession
           SET status = 'complete', completed_at = p_now, updated_at = p_now
         WHERE id = v_session_id;
    END IF;

    -- on_order_paid: one order.paid per sub-order, by id (sealing runs after commit).
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

    RETURN QUERY SELECT 'ok', NULL::text, ARRAY[v_event_id] || v_paid_ids;
END
$fn$;
