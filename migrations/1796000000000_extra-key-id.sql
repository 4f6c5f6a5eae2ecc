-- Up Migration
-- oauth_extra (the provider's other answer fields: id_token, scope...) is encrypted like the token columns:
-- the column then holds a JSON string, base64(iv | ciphertext | tag), and this is the id of its key; NULL = plaintext.
-- The column type stays jsonb, so existing plaintext rows stay readable; `extauth db encrypt-tokens` encrypts them.
ALTER TABLE external_auth_links ADD COLUMN oauth_extra_key_id text;

-- Down Migration
-- Refuses while encrypted extras exist: dropping the key id would leave ciphertext that reads as the extra.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM external_auth_links WHERE oauth_extra_key_id IS NOT NULL) THEN
    RAISE EXCEPTION 'external_auth_links holds encrypted oauth_extra values: decrypt them before migrating down';
  END IF;
END $$;
ALTER TABLE external_auth_links DROP COLUMN oauth_extra_key_id;
