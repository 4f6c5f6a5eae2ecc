-- Up Migration
-- The keep-alive sweep's due query (store/links.ts listKeepAliveDue) runs hourly over every link: without these it
-- reads the whole table. Both are partial (only links with a refresh token and no recorded failure can be due) and
-- keyed by provider, as the query joins on it. The first serves "last stored long ago", oldest first; the second
-- "refresh token expiring soon".
CREATE INDEX external_auth_links_keep_alive_due
  ON external_auth_links (provider_id, (GREATEST(last_refreshed_at, updated_at, created_at)))
  WHERE oauth_refresh_token <> '' AND oauth_refresh_failure_reason = '';
CREATE INDEX external_auth_links_refresh_token_expiry
  ON external_auth_links (provider_id, oauth_refresh_token_expiry)
  WHERE oauth_refresh_token <> '' AND oauth_refresh_failure_reason = '' AND oauth_refresh_token_expiry IS NOT NULL;

-- Down Migration
DROP INDEX external_auth_links_refresh_token_expiry;
DROP INDEX external_auth_links_keep_alive_due;
