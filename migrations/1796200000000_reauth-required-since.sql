-- Up Migration
-- When the link entered reauth_required (the provider refused its grant), kept through the re-link until the first
-- token served after it has been announced as `link.recovered` (docs/webhooks.md); NULL otherwise. Runs of a link end
-- when idle, so the row, not a run, remembers that a recovery is still to be announced.
ALTER TABLE external_auth_links ADD COLUMN reauth_required_since timestamptz;

-- Down Migration
ALTER TABLE external_auth_links DROP COLUMN reauth_required_since;
