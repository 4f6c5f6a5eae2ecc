-- Up Migration
-- The workflow run that sent the exchange marked by exchange_unanswered_at. When that run ended before its answer
-- was written (a failed or terminated run), the next run recovers the rotated tokens from its history.
ALTER TABLE external_auth_links
  ADD COLUMN exchange_run_id text;

-- Down Migration
ALTER TABLE external_auth_links
  DROP COLUMN exchange_run_id;
