-- The archive's tables. Run with search_path set to the archive's schema.

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE source_runs (
  run_id        text        PRIMARY KEY,
  source        text        NOT NULL,
  since         date        NOT NULL,
  record_limit  integer     NOT NULL CHECK (record_limit > 0),
  chunk_size    integer     NOT NULL CHECK (chunk_size > 0),
  status        text        NOT NULL CHECK (status IN ('running', 'completed')),
  pulled        integer     NOT NULL DEFAULT 0,
  total         integer,
  started_at    timestamptz NOT NULL,
  completed_at  timestamptz
);

CREATE INDEX source_runs_source ON source_runs (source, status);

CREATE TABLE depositions (
  srn           text        PRIMARY KEY,
  source        text        NOT NULL,
  upstream_id   text        NOT NULL,
  payload       jsonb       NOT NULL,
  state         text        NOT NULL CHECK (state IN ('submitted', 'rejected', 'awaiting_curation', 'approved', 'published')),
  validation    jsonb,
  curated_by    text,
  record_srn    text,
  submitted_at  timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  UNIQUE (source, upstream_id)
);

CREATE INDEX depositions_state ON depositions (state);

CREATE TABLE records (
  srn             text        PRIMARY KEY,
  record_id       text        NOT NULL,
  version         integer     NOT NULL CHECK (version >= 1),
  deposition_srn  text        NOT NULL REFERENCES depositions (srn),
  source          text        NOT NULL,
  upstream_id     text        NOT NULL,
  title           text        NOT NULL,
  metadata        jsonb       NOT NULL,
  published_at    timestamptz NOT NULL,
  UNIQUE (record_id, version),
  UNIQUE (source, upstream_id, version)
);

CREATE TABLE keyword_index (
  backend     text        NOT NULL,
  record_srn  text        NOT NULL,
  title       text        NOT NULL,
  body        text        NOT NULL,
  document    tsvector    NOT NULL,
  indexed_at  timestamptz NOT NULL,
  PRIMARY KEY (backend, record_srn)
);

CREATE INDEX keyword_index_document ON keyword_index USING gin (document);
CREATE INDEX keyword_index_title_trgm ON keyword_index USING gin (title public.gin_trgm_ops);

CREATE TABLE vector_index (
  backend     text        NOT NULL,
  record_srn  text        NOT NULL,
  title       text        NOT NULL,
  embedding   real[]      NOT NULL,
  indexed_at  timestamptz NOT NULL,
  PRIMARY KEY (backend, record_srn)
);
