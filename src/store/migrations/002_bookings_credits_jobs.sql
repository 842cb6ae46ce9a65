-- Server-wide secrets shared by every node (e.g. the key that signs join links).
CREATE TABLE server_secrets (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Booked sessions: live (video, audio, chat) and messaging sessions.
CREATE TABLE bookings (
  id text PRIMARY KEY,
  room_id text NOT NULL REFERENCES rooms (id),
  client_id text NOT NULL REFERENCES users (id),
  provider_id text NOT NULL REFERENCES users (id),
  modality text NOT NULL CHECK (modality IN ('video', 'audio', 'chat', 'messaging')),
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('pending_confirmation', 'confirmed', 'in_progress', 'completed', 'cancelled',
    'late_cancelled', 'declined', 'expired', 'rescheduled', 'client_no_show', 'provider_no_show')),
  credit_id text,
  confirm_by timestamptz,
  rescheduled_from text REFERENCES bookings (id),
  rescheduled_to text REFERENCES bookings (id),
  started_at timestamptz,
  ended_at timestamptz,
  outcome text,
  created_by text NOT NULL,
  cancel_reason text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CHECK (starts_at < ends_at)
);
CREATE INDEX bookings_provider_time ON bookings (provider_id, starts_at);
CREATE INDEX bookings_room ON bookings (room_id, starts_at);
CREATE INDEX bookings_client ON bookings (client_id, starts_at);

-- The credit ledger: append-only. Each credit is a unit with an id; its state is
-- its latest entry (grant/purchase/restore: available; reserve: held by a
-- booking; consume, forfeit, expire: gone). Balances are derived, never stored.
CREATE TABLE credit_ledger (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  credit_id text NOT NULL,
  client_id text NOT NULL REFERENCES users (id),
  credit_type text NOT NULL CHECK (credit_type IN ('live', 'messaging')),
  kind text NOT NULL CHECK (kind IN ('grant', 'purchase', 'reserve', 'consume', 'restore', 'forfeit', 'expire')),
  booking_id text REFERENCES bookings (id),
  -- Grants expire at their period's end; purchases never do.
  expires_at timestamptz,
  -- Makes grants and purchases idempotent: 'grant:<type>:<periodStart>:<n>', 'purchase:<paymentRef>:<n>'.
  origin_key text UNIQUE,
  payment_ref text,
  reason text,
  created_at timestamptz NOT NULL
);
CREATE INDEX credit_ledger_credit ON credit_ledger (credit_id, seq);
CREATE INDEX credit_ledger_client ON credit_ledger (client_id, seq);

-- A lost credit that costs the client the full session (late cancel, late
-- reschedule, client no-show). Payment itself happens outside talkroom.
CREATE TABLE charge_events (
  id text PRIMARY KEY,
  client_id text NOT NULL REFERENCES users (id),
  booking_id text NOT NULL REFERENCES bookings (id),
  reason text NOT NULL,
  created_at timestamptz NOT NULL,
  UNIQUE (booking_id, reason)
);

-- Durable jobs: claimed with FOR UPDATE SKIP LOCKED under a lease, so each
-- runs once across nodes and a dead node's jobs are picked up after the lease.
-- The id is a deterministic key ('reminder:<booking>:<offset>'), so scheduling twice is harmless.
CREATE TABLE jobs (
  id text PRIMARY KEY,
  kind text NOT NULL,
  run_at timestamptz NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  attempts integer NOT NULL DEFAULT 0,
  locked_by text,
  locked_until timestamptz,
  last_error text,
  dead_at timestamptz,
  created_at timestamptz NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE dead_at IS NULL;
