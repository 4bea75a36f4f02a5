-- Whose session a run needs (the model's rules, reference runtime-app-ui.md): an attended run
-- needs its connection's user signed in, with an unlocked session, on the machine; an unattended
-- run needs a machine where that user has no session at all. Both are waiting reasons, not
-- failures: the run starts when a machine matches.
--
-- One account, however it is written: DOMAIN\robot, robot@domain and ROBOT are the same. The
-- dispatcher's claim and the waiting reasons both compare through this function.
CREATE FUNCTION account_name(name text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT lower(regexp_replace(regexp_replace(name, '^.*\\', ''), '@.*$', '')) $$;
