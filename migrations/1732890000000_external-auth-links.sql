-- Up Migration
CREATE TABLE external_auth_links (
  provider_id                  text        NOT NULL,
  user_id                      text        NOT NULL,
  created_at                   timestamptz NOT NULL DEFAULT now(),
  updated_at                   timestamptz NOT NULL DEFAULT now(),
  oauth_access_token           text        NOT NULL DEFAULT '',
  oauth_refresh_token          text        NOT NULL DEFAULT '',
  oauth_expiry                 timestamptz,
  oauth_extra                  jsonb,
  oauth_refresh_failure_reason text        NOT NULL DEFAULT '',
  -- Bumped by every write of the token columns; writers compare-and-set on it.
  token_version                bigint      NOT NULL DEFAULT 1,
  last_refreshed_at            timestamptz,
  -- Set when an exchange request was sent but no answer came back: the provider may have rotated.
  exchange_unanswered_at       timestamptz,
  PRIMARY KEY (provider_id, user_id)
);

-- Down Migration
DROP TABLE external_auth_links;
