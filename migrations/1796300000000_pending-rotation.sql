-- Up Migration
-- The rotation journal: the provider's answer to an exchange, written the moment it arrives and before the exchange
-- activity returns, so that a worker killed before Temporal records the answer does not lose a single-use refresh
-- token (docs/reliability.md, "The one window that can still cost a rotation"). pending_rotation holds the whole
-- TokenSet as JSON, encrypted like the token columns (base64(iv | ciphertext | tag), key id beside it; NULL key id =
-- plaintext); pending_rotation_version is the token_version whose refresh token was exchanged: the journal applies
-- only while the row still holds that version, and every write that bumps the version clears it.
ALTER TABLE external_auth_links
  ADD COLUMN pending_rotation text,
  ADD COLUMN pending_rotation_key_id text,
  ADD COLUMN pending_rotation_version bigint,
  ADD COLUMN pending_rotation_at timestamptz;

-- Down Migration
-- Refuses while a journaled rotation is unapplied: dropping it would lose the provider's live refresh token.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM external_auth_links WHERE pending_rotation IS NOT NULL AND pending_rotation_version = token_version) THEN
    RAISE EXCEPTION 'external_auth_links holds unapplied pending rotations: let the workers apply them (any request for the link does) before migrating down';
  END IF;
END $$;
ALTER TABLE external_auth_links
  DROP COLUMN pending_rotation_at,
  DROP COLUMN pending_rotation_version,
  DROP COLUMN pending_rotation_key_id,
  DROP COLUMN pending_rotation;
