-- settlement_payout_due(schedule, weekday, monthday, day): whether a seller's payout schedule
-- falls on `day`. The one implementation of the schedule rule: batch creation filters with it and
-- the pages ask it for the next payout day.
--   daily    every day
--   weekly   on the ISO weekday (1 = Monday ... 7 = Sunday)
--   monthly  on the day of the month; in a month without that day, on its last day
--   manual   never (a payout is asked for)
CREATE OR REPLACE FUNCTION settlement_payout_due(
    p_schedule text, p_weekday integer, p_monthday integer, p_day date)
RETURNS boolean
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
    SELECT CASE p_schedule
        WHEN 'daily' THEN true
        WHEN 'weekly' THEN extract(isodow FROM p_day)::integer = p_weekday
        WHEN 'monthly' THEN extract(day FROM p_day)::integer = least(
            p_monthday,
            extract(day FROM date_trunc('month', p_day) + interval '1 month - 1 day')::integer)
        ELSE false
    END
$fn$;
