-- Cloud core: identity, environments and roles, machines, machine groups, sharing, audit.
-- Runs in one transaction. Ids are uuids made by the server (gen_random_uuid, PostgreSQL 13+).

CREATE TABLE server_secrets (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL,
  display_name text NOT NULL,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE environments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  is_default boolean NOT NULL DEFAULT false,
  restrict_machine_registration boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- At most one default environment.
CREATE UNIQUE INDEX environments_one_default ON environments (is_default) WHERE is_default;

CREATE TABLE role_assignments (
  environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('EnvironmentAdmin', 'EnvironmentMaker', 'MachineOwner', 'MachineUser', 'MachineUserCanShare')),
  PRIMARY KEY (environment_id, user_id, role)
);
CREATE INDEX role_assignments_user ON role_assignments (user_id);

-- Refresh tokens rotate on use; a replayed (already used) token revokes its whole family.
CREATE TABLE refresh_tokens (
  token_hash text PRIMARY KEY,
  family_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE registration_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  token_hash text NOT NULL UNIQUE,
  environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
  creator_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  uses_left integer NOT NULL CHECK (uses_left >= 0),
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE machine_groups (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL REFERENCES users (id),
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  -- Zero-knowledge group password: the server keeps the public keys and the wrapped private
  -- keys it cannot open (ARCHITECTURE.md, "Group password"). NULL until the first machine joins.
  key_bundle text,
  signing_public_key text,
  encryption_public_key text,
  key_version integer NOT NULL DEFAULT 0,
  password_changed_at timestamptz,
  maintenance boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX machine_groups_name_key ON machine_groups (environment_id, lower(name));

CREATE TABLE group_access (
  group_id uuid NOT NULL REFERENCES machine_groups (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  level text NOT NULL CHECK (level IN ('CoOwner', 'User')),
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_access_user ON group_access (user_id);

CREATE TABLE machines (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL REFERENCES users (id),
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  signing_public_key text NOT NULL,
  encryption_public_key text NOT NULL,
  fingerprint_hash text NOT NULL,
  os text,
  runtime_version text,
  -- One group at most, by construction.
  group_id uuid REFERENCES machine_groups (id) ON DELETE RESTRICT,
  joined_group_at timestamptz,
  status text NOT NULL DEFAULT 'Offline' CHECK (status IN ('Online', 'Offline')),
  last_seen_at timestamptz,
  clone_suspected boolean NOT NULL DEFAULT false,
  maintenance boolean NOT NULL DEFAULT false,
  registration_token_id uuid REFERENCES registration_tokens (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX machines_group ON machines (group_id);
CREATE INDEX machines_owner ON machines (owner_id);

-- Single-use, short-lived nonces a machine signs with the group key to prove it holds it.
CREATE TABLE join_challenges (
  nonce text PRIMARY KEY,
  group_id uuid NOT NULL REFERENCES machine_groups (id) ON DELETE CASCADE,
  machine_id uuid NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
  purpose text NOT NULL CHECK (purpose IN ('join', 'password')),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);

-- Machine JWT assertions are single use (jti), kept until they expire.
CREATE TABLE used_assertions (
  jti text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);

-- Connections (the credentials runs use on the machines). Only what joining needs now:
-- joining a group breaks the connections that targeted the machine itself.
CREATE TABLE connections (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL REFERENCES users (id),
  name text NOT NULL,
  target_type text NOT NULL CHECK (target_type IN ('MachineGroup', 'Machine')),
  target_id uuid NOT NULL,
  username text NOT NULL,
  sealed_password text NOT NULL,
  status text NOT NULL DEFAULT 'Connected' CHECK (status IN ('Connected', 'Broken')),
  broken_reason text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connections_target ON connections (target_type, target_id);

-- Fixed-window counters shared by every instance (sign-in, bundle fetches, join attempts).
CREATE TABLE rate_limit_windows (
  bucket text NOT NULL,
  window_start timestamptz NOT NULL,
  hits integer NOT NULL,
  PRIMARY KEY (bucket, window_start)
);

CREATE TABLE audit_events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  environment_id uuid,
  actor_type text NOT NULL CHECK (actor_type IN ('user', 'machine', 'registrationToken', 'system')),
  actor_id uuid,
  action text NOT NULL,
  target_type text NOT NULL,
  target_id text,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_at ON audit_events (at DESC);
