-- Identity: what the registration-token list and the maintenance queries need.

-- How many uses a registration token was created with (uses_left counts down). NULL for rows
-- written before this column existed.
ALTER TABLE registration_tokens ADD COLUMN max_uses integer CHECK (max_uses IS NULL OR max_uses > 0);
UPDATE registration_tokens SET max_uses = GREATEST(uses_left, 1) WHERE max_uses IS NULL;
CREATE INDEX registration_tokens_environment ON registration_tokens (environment_id, created_at DESC);

-- Pruning expired single-use assertion ids, and revoking a user's sessions.
CREATE INDEX used_assertions_expires ON used_assertions (expires_at);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Audit paging per environment, newest first.
CREATE INDEX audit_events_environment ON audit_events (environment_id, id DESC);
