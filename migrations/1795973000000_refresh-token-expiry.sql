-- Up Migration
-- When the refresh token itself expires (the provider's refresh_token_expires_in, e.g. GitHub's 6 months);
-- NULL = unknown (the provider gave no lifetime, or the row predates this column).
ALTER TABLE external_auth_links
  ADD COLUMN oauth_refresh_token_expiry timestamptz;

-- Down Migration
ALTER TABLE external_auth_links
  DROP COLUMN oauth_refresh_token_expiry;
