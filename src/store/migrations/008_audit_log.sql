-- The audit log: append-only, one row per audited action, chained by hash in
-- `seq` order (see src/store/audit.ts). Rows are only ever inserted.
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY,
  id text NOT NULL UNIQUE,
  at timestamptz NOT NULL,
  actor_id text NOT NULL,
  actor_role text NOT NULL,
  action text NOT NULL,
  room_id text,
  subject_id text,
  request_id text,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_room ON audit_log (room_id, seq) WHERE room_id IS NOT NULL;
CREATE INDEX audit_log_subject ON audit_log (subject_id, seq) WHERE subject_id IS NOT NULL;
