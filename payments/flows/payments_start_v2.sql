-- Generic plans: payments migration 0015 sets plan_cache_mode on this function; reinstalling it
-- (CREATE OR REPLACE) resets it, so a reinstalling migration must set it again.
--
-- payments_start: a payment's start, the one implementation of it (payment_flows.payment_start
-- for every method, through fast_authorize.start_payment): lock the order, check it may be paid
-- by this caller, and write the vaulted card (a card payment: sealed in Python; none otherwise),
-- the Payment (created, provider_attempts 1: the first provider call is counted here) and its
-- "created" PaymentEvent.
-- Outcomes: ok | order_not_found | order_not_payable (detail: the order's status) |
-- payment_in_progress (detail: the active payment's id). Only "ok" writes anything.
-- With "ok" come the order's number, buyer, metadata and its sub-orders
-- ([[id, seller_id, amount_minor, currency], ...] by id), which the authorisation step needs.
CREATE OR REPLACE FUNCTION payments_start(
    p_order_id uuid,
    p_check_buyer boolean,
    p_buyer_id bigint,
    p_active text[],
    p_payment_id uuid,
    p_method text,
    p_provider text,
    p_actor text,
    p_details jsonb,
    p_bank_reference text,
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
    -- The active payment with the lowest id.
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

    IF p_card_id IS NOT NULL THEN
        -- The card belongs to the order's buyer (none for a guest).
        INSERT INTO payments_vaultedcard (
            id, token, owner_id, brand, last4, exp_month, exp_year, key_id, wrapped_key,
            ciphertext, created_at, deleted_at)
        VALUES (
            p_card_id, p_card_token, o.buyer_id, p_card_brand, p_card_last4, p_card_exp_month,
            p_card_exp_year, p_card_key_id, p_card_wrapped_key, p_card_ciphertext, p_now, NULL);
    END IF;

    INSERT INTO payments_payment (
        id, order_id, method, provider, status, amount_minor, currency, provider_reference,
        failure_code, failure_message, created_at, updated_at, details, vaulted_card_id,
        bank_reference, expires_at, captured_minor, provider_attempts)
    VALUES (
        p_payment_id, o.id, p_method, p_provider, 'created', o.total_minor, o.currency, '', '', '',
        p_now, p_now, p_details, p_card_id, p_bank_reference, NULL, 0, 1);

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
