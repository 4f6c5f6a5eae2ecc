-- Up Migration
-- Id of the key that encrypted each token column (AES-256-GCM, see store/token-cipher.ts); NULL = plaintext.
-- Existing rows stay readable as they are; `extauth db encrypt-tokens` encrypts them.
ALTER TABLE external_auth_links
  ADD COLUMN oauth_access_token_key_id  text,
  ADD COLUMN oauth_refresh_token_key_id text;

-- Down Migration
-- Refuses while encrypted rows exist: dropping the key ids would leave ciphertext that reads as a token.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM external_auth_links
             WHERE oauth_access_token_key_id IS NOT NULL OR oauth_refresh_token_key_id IS NOT NULL) THEN
    RAISE EXCEPTION 'external_auth_links holds encrypted tokens: decrypt them before migrating down';
  END IF;
END $$;
ALTER TABLE external_auth_links
  DROP COLUMN oauth_access_token_key_id,
  DROP COLUMN oauth_refresh_token_key_id;
