-- ashby-sync schema: the sole source of the database's shape.
-- Idempotent: `ashby-sync db migrate` applies it whole, any number of times.
-- Every mirror table is keyed by (account_id, id): one deployment serves many Ashby orgs.

create extension if not exists pg_trgm;

-- `create index if not exists` and `alter table ... add column if not exists` lock their table even when there is
-- nothing to do, and hold the lock until the migration commits: migrating again beside a running worker would
-- stall its writes (or deadlock with them). Indexes and columns added after their table are created through these
-- instead, only when missing (functions of this session only).
create or replace function pg_temp.create_index_once(index_name text, ddl text) returns void
language plpgsql as $f$
begin
  if to_regclass(index_name) is null then
    execute ddl;
  end if;
end
$f$;

create or replace function pg_temp.add_column_once(tbl regclass, col text, definition text) returns void
language plpgsql as $f$
begin
  if not exists (select 1 from pg_attribute where attrelid = tbl and attname = col and not attisdropped) then
    execute format('alter table %s add column %I %s', tbl, col, definition);
  end if;
end
$f$;

create table if not exists schema_version (
  version integer primary key,
  applied_at timestamptz not null default now()
);
insert into schema_version (version) values (1) on conflict do nothing;

-- A connected Ashby org. Secrets are Fernet tokens (ASHBY_SYNC_SECRET_KEY); never stored in clear.
create table if not exists accounts (
  id uuid primary key default gen_random_uuid(),
  name text not null unique,
  base_url text not null,
  api_key_enc bytea not null,
  webhook_secret_enc bytea,
  previous_webhook_secret_enc bytea,
  max_in_flight integer not null default 4 check (max_in_flight between 1 and 64),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Raw webhook deliveries, committed before the receiver answers 2xx.
create table if not exists webhook_inbox (
  account_id uuid not null references accounts (id) on delete cascade,
  webhook_action_id text not null,
  action text not null,
  body bytea not null,
  status text not null default 'pending'
    check (status in ('pending', 'applied', 'skipped', 'failed', 'rejected')),
  attempts integer not null default 0,
  last_error text,
  received_at timestamptz not null default now(),
  applied_at timestamptz,
  primary key (account_id, webhook_action_id, action)
);
select pg_temp.create_index_once('webhook_inbox_pending', $ddl$create index webhook_inbox_pending on webhook_inbox (received_at) where status = 'pending'$ddl$);

-- Ashby webhooks this deployment registered (Ashby has no webhook.list).
create table if not exists ashby_webhooks (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  webhook_type text not null,
  request_url text not null,
  enabled boolean not null,
  created_at timestamptz not null default now(),
  primary key (account_id, id)
);

-- One row per (account, resource): the stored syncToken, the cursor of a pass in progress, the last outcome.
create table if not exists sync_state (
  account_id uuid not null references accounts (id) on delete cascade,
  resource text not null,
  sync_token text,
  cursor text,
  pass_mode text check (pass_mode in ('full', 'incremental')),
  pass_started_at timestamptz,
  pass_rows bigint not null default 0,
  pass_pages integer not null default 0,
  last_success_at timestamptz,
  last_mode text,
  last_rows bigint,
  last_pages integer,
  last_duration_ms bigint,
  last_error text,
  last_error_at timestamptz,
  full_requested boolean not null default false,
  primary key (account_id, resource)
);

-- Outbox of derived events (offer.accepted, candidate.hired), written in the mirror's transaction.
create table if not exists events (
  id text primary key,
  account_id uuid not null references accounts (id) on delete cascade,
  type text not null,
  subject_id text not null,
  payload jsonb not null,
  created_at timestamptz not null default now(),
  unique (account_id, type, subject_id)
);
select pg_temp.create_index_once('events_account_created', $ddl$create index events_account_created on events (account_id, created_at)$ddl$);

-- Platforms that receive events by push. The secret is encrypted at rest.
create table if not exists subscriptions (
  id uuid primary key default gen_random_uuid(),
  account_id uuid references accounts (id) on delete cascade,
  url text not null,
  event_types text[] not null,
  secret_enc bytea not null,
  enabled boolean not null default true,
  created_at timestamptz not null default now()
);

create table if not exists deliveries (
  event_id text not null references events (id) on delete cascade,
  subscription_id uuid not null references subscriptions (id) on delete cascade,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed', 'dead')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_status integer,
  last_error text,
  delivered_at timestamptz,
  primary key (event_id, subscription_id)
);
select pg_temp.create_index_once('deliveries_due', $ddl$create index deliveries_due on deliveries (next_attempt_at) where status in ('pending', 'failed')$ddl$);

-- Bearer tokens for MCP and the events feed, stored as SHA-256 hashes only.
create table if not exists mcp_tokens (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references accounts (id) on delete cascade,
  token_hash bytea not null unique,
  scope text not null check (scope in ('read', 'write')),
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  revoked_at timestamptz
);

-- Mirror tables: typed columns for what is filtered or joined, the whole object in raw.
create table if not exists candidates (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  name text,
  primary_email text,
  primary_phone text,
  emails text[] not null default '{}',
  phones text[] not null default '{}',
  company text,
  position text,
  school text,
  tag_ids text[] not null default '{}',
  tags text[] not null default '{}',
  source_id text,
  application_ids text[] not null default '{}',
  created_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists applications (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  candidate_id text,
  job_id text,
  status text,
  stage_id text,
  stage_title text,
  stage_type text,
  source_id text,
  archive_reason_id text,
  archived_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists jobs (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  title text,
  status text,
  employment_type text,
  department_id text,
  location_id text,
  default_interview_plan_id text,
  confidential boolean,
  opened_at timestamptz,
  closed_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists offers (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  application_id text,
  acceptance_status text,
  offer_status text,
  approval_status text,
  decided_at timestamptz,
  start_date timestamptz,
  salary_value numeric,
  salary_currency text,
  created_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists interview_schedules (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  application_id text,
  interview_stage_id text,
  status text,
  created_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists interview_events (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  interview_schedule_id text,
  interview_id text,
  start_time timestamptz,
  end_time timestamptz,
  has_submitted_feedback boolean,
  created_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists interviews (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  title text,
  job_id text,
  is_archived boolean,
  is_debrief boolean,
  feedback_form_definition_id text,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists interview_plans (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  title text,
  is_archived boolean,
  created_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists users (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  first_name text,
  last_name text,
  email text,
  global_role text,
  is_enabled boolean,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists departments (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  name text,
  parent_id text,
  is_archived boolean,
  created_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists locations (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  name text,
  parent_location_id text,
  is_archived boolean,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists openings (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  opening_state text,
  is_archived boolean,
  opened_at timestamptz,
  closed_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists projects (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  title text,
  is_archived boolean,
  created_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists candidate_tags (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  title text,
  is_archived boolean,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists custom_fields (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  title text,
  object_type text,
  field_type text,
  is_archived boolean,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists feedback_form_definitions (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  title text,
  is_archived boolean,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists application_feedback (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  application_id text,
  interview_id text,
  submitted_by_user_id text,
  submitted_at timestamptz,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists job_postings (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  job_id text,
  title text,
  is_listed boolean,
  employment_type text,
  published_date date,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists sources (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  title text,
  source_type text,
  is_archived boolean,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists archive_reasons (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  text text,
  reason_type text,
  is_archived boolean,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

create table if not exists interview_stages (
  account_id uuid not null references accounts (id) on delete cascade,
  id text not null,
  interview_plan_id text,
  title text,
  type text,
  order_in_plan integer,
  updated_at timestamptz,
  raw jsonb not null,
  synced_at timestamptz not null default now(),
  deleted_at timestamptz,
  primary key (account_id, id)
);

-- sync_state.pass_claim: the run that owns a pass in progress. Each run that begins or resumes the pass claims it,
-- and only the holder of the claim can checkpoint (a run whose lock connection dropped stops at its next page).
--
-- Candidate search: full text over names, contacts, employer, school and tags; trigrams for fuzzy lookups.
-- search_text (names, emails, phones, employer, position, school, tags) is assembled by the writer.
select pg_temp.add_column_once('sync_state', 'pass_claim', 'uuid');
select pg_temp.add_column_once('candidates', 'search_text', 'text');
select pg_temp.add_column_once(
  'candidates', 'search', $d$tsvector generated always as (to_tsvector('simple', coalesce(search_text, ''))) stored$d$
);
select pg_temp.create_index_once('candidates_search', $ddl$create index candidates_search on candidates using gin (search)$ddl$);
select pg_temp.create_index_once('candidates_name_trgm', $ddl$create index candidates_name_trgm on candidates using gin (name gin_trgm_ops)$ddl$);
select pg_temp.create_index_once('candidates_email_trgm', $ddl$create index candidates_email_trgm on candidates using gin (primary_email gin_trgm_ops)$ddl$);
select pg_temp.create_index_once('candidates_tag_ids', $ddl$create index candidates_tag_ids on candidates using gin (tag_ids)$ddl$);
select pg_temp.create_index_once('candidates_updated', $ddl$create index candidates_updated on candidates (account_id, updated_at)$ddl$);

select pg_temp.create_index_once('applications_candidate', $ddl$create index applications_candidate on applications (account_id, candidate_id)$ddl$);
select pg_temp.create_index_once('applications_job_stage', $ddl$create index applications_job_stage on applications (account_id, job_id, stage_id)$ddl$);
select pg_temp.create_index_once('applications_status', $ddl$create index applications_status on applications (account_id, status)$ddl$);
select pg_temp.create_index_once('offers_application', $ddl$create index offers_application on offers (account_id, application_id)$ddl$);
select pg_temp.create_index_once('interview_schedules_application', $ddl$create index interview_schedules_application on interview_schedules (account_id, application_id)$ddl$);
select pg_temp.create_index_once('interview_events_schedule', $ddl$create index interview_events_schedule on interview_events (account_id, interview_schedule_id)$ddl$);
select pg_temp.create_index_once('application_feedback_application', $ddl$create index application_feedback_application on application_feedback (account_id, application_id)$ddl$);
select pg_temp.create_index_once('interview_stages_plan', $ddl$create index interview_stages_plan on interview_stages (account_id, interview_plan_id)$ddl$);

-- Storage of the large columns. Only columns not yet set are altered, so migrating again takes no lock.
--
-- Webhook bodies and mirror objects of a few KB are compressed with lz4, which costs Postgres less than the
-- default pglz (a third less per inbox batch, 9-13 % less per page of a full pass).
--
-- A candidate row (its raw object, the typed copies and the search text) is 2.3-2.8 KB, over Postgres' 2 KB
-- TOAST threshold even with raw compressed, so by default nearly every raw went out of line: a second row and
-- index entry in the TOAST table per candidate, written and read back. With every variable-length column on
-- MAIN storage the values are compressed in the row, and one moves out of line only when a row is still over
-- a page once compressed (5 % less Postgres CPU per candidate written, 3 % more space). Every column: Postgres
-- would move an EXTENDED column out before compressing a MAIN one.
do $$
declare
  col record;
begin
  perform set_config('lock_timeout', '2s', true);
  for col in
    select c.relname, a.attname
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relkind = 'r' and not a.attisdropped and a.attcompression <> 'l'
      and ((a.attname = 'raw' and a.atttypid = 'jsonb'::regtype) or (c.relname = 'webhook_inbox' and a.attname = 'body'))
  loop
    begin
      execute format('alter table %I alter column %I set compression lz4', col.relname, col.attname);
    exception when feature_not_supported or invalid_parameter_value or lock_not_available then
      null;  -- no lz4 on this server, or the table stayed busy: it keeps pglz until the next migrate
    end;
  end loop;
  for col in
    select a.attname
    from pg_attribute a
    where a.attrelid = 'candidates'::regclass and a.attnum > 0 and not a.attisdropped and a.attlen = -1
      and a.attstorage <> 'm'
  loop
    begin
      execute format('alter table candidates alter column %I set storage main', col.attname);
    exception when lock_not_available then
      null;  -- the table stayed busy: the next migrate sets it
    end;
  end loop;
end
$$;

-- Two columns of every mirror table (those with deleted_at and synced_at), last in this file, so on a live database
-- the tables they alter stay locked only until the migration commits (they are needed, so each waits for its lock
-- rather than skip):
-- - deleted_by: who marked the row deleted, 'webhook' (Ashby said the object is gone) or 'sync' (a completed full
--   pass did not list it). A sync page fetched before a webhook's delete still lists the object: it may bring such a
--   row back only with an updatedAt later than the delete, never with a version the delete superseded;
-- - fetched_at: when the row's version was read from Ashby (the request's start). It orders versions of objects that
--   have no updatedAt (offers, openings, sources...), so a sync page read before a webhook's `.info` cannot undo it.
do $$
declare
  tbl regclass;
begin
  set local lock_timeout to default;  -- the storage block above set 2 s for its optional changes; this one waits
  for tbl in
    select c.oid::regclass
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relkind = 'r'
      and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'deleted_at' and not a.attisdropped)
      and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'synced_at' and not a.attisdropped)
  loop
    perform pg_temp.add_column_once(tbl, 'deleted_by', 'text');
    perform pg_temp.add_column_once(tbl, 'fetched_at', 'timestamptz');
  end loop;
end
$$;
