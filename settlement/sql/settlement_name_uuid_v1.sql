-- settlement_name_uuid(ns, name): the RFC 4122 version-3 (MD5, name-based) UUID of `name` in the
-- namespace `ns`, as Python's uuid.uuid3(ns, name) computes it. Set-based jobs (maturation) derive
-- their transfers' ids in the database with it, so a replayed row posts nothing twice.
CREATE OR REPLACE FUNCTION settlement_name_uuid(ns uuid, name text)
RETURNS uuid
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
    SELECT (substr(h, 1, 12) || '3' || substr(h, 14, 3)
            || to_hex((('x' || substr(h, 17, 1))::bit(4)::int & 3) | 8)
            || substr(h, 18))::uuid
      FROM (SELECT md5(uuid_send(ns) || convert_to(name, 'UTF8')) AS h) AS digest
$fn$;
