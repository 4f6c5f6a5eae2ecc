-- Up Migration
-- Keys that operators issue to agents, each scoped to one link (provider_id, user_id). Only the SHA-256 of the
-- whole key is kept: the key itself is shown once, at creation, and cannot be read back.
CREATE TABLE agent_keys (
  id          text        PRIMARY KEY,
  name        text        NOT NULL DEFAULT '',
  provider_id text        NOT NULL,
  user_id     text        NOT NULL,
  key_hash    text        NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  revoked_at  timestamptz
);

-- Every token the agent endpoint handed out, and every request it refused: who (key), which link, what.
-- key_id is the id part of the key presented (NULL when none could be read); it may name no agent_keys row.
CREATE TABLE token_audit (
  served_at         timestamptz NOT NULL DEFAULT now(),
  key_id            text,
  key_name          text        NOT NULL DEFAULT '',
  provider_id       text        NOT NULL DEFAULT '',
  user_id           text        NOT NULL DEFAULT '',
  -- First 12 hex characters of the token's SHA-256 (core/fingerprint.ts); NULL for a refusal.
  token_fingerprint text,
  -- 'served', or the refusal's error code (forbidden, reauth_required, ...).
  outcome           text        NOT NULL
);
CREATE INDEX token_audit_link_time ON token_audit (provider_id, user_id, served_at);

-- Down Migration
DROP TABLE token_audit;
DROP TABLE agent_keys;
