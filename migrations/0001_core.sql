-- sluice core tables. Run with search_path set to the runtime's schema.

CREATE TABLE events (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type          text        NOT NULL,
  routing_key   text,
  payload       jsonb       NOT NULL,
  metadata      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  dedup_key     text,
  created_at    timestamptz NOT NULL,
  available_at  timestamptz NOT NULL
);

CREATE UNIQUE INDEX events_dedup_key ON events (type, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX events_created_at ON events (created_at);

CREATE TABLE consumer_groups (
  name              text        PRIMARY KEY,
  claim_timeout_ms  bigint      NOT NULL CHECK (claim_timeout_ms > 0),
  max_attempts      integer     NOT NULL CHECK (max_attempts > 0),
  updated_at        timestamptz NOT NULL
);

CREATE TABLE subscriptions (
  consumer_group  text NOT NULL REFERENCES consumer_groups (name) ON DELETE CASCADE,
  event_type      text NOT NULL,
  routing_key     text
);

CREATE UNIQUE INDEX subscriptions_key ON subscriptions (consumer_group, event_type, coalesce(routing_key, ''));
CREATE INDEX subscriptions_event_type ON subscriptions (event_type);

CREATE TABLE deliveries (
  event_id        bigint      NOT NULL,
  consumer_group  text        NOT NULL,
  status          text        NOT NULL CHECK (status IN ('pending', 'claimed', 'delivered', 'failed', 'skipped')),
  attempts        integer     NOT NULL DEFAULT 0,
  routing_key     text,
  available_at    timestamptz NOT NULL,
  claimed_at      timestamptz,
  claim_token     uuid,
  last_error      text,
  updated_at      timestamptz NOT NULL,
  PRIMARY KEY (event_id, consumer_group)
) WITH (fillfactor = 80);

CREATE INDEX deliveries_pending ON deliveries (consumer_group, available_at, event_id) WHERE status = 'pending';
CREATE INDEX deliveries_pending_by_key ON deliveries (consumer_group, (coalesce(routing_key, '')), available_at, event_id) WHERE status = 'pending';
CREATE INDEX deliveries_claimed ON deliveries (claimed_at) WHERE status = 'claimed';
CREATE INDEX deliveries_settled ON deliveries (updated_at) WHERE status IN ('delivered', 'skipped');
CREATE INDEX deliveries_failed ON deliveries (consumer_group, updated_at) WHERE status = 'failed';
