-- Users are provisioned by the platform's backend (PUT /v1/users/:id).
CREATE TABLE users (
  id text PRIMARY KEY,
  role text NOT NULL CHECK (role IN ('client', 'provider', 'support', 'clinical', 'bot', 'admin')),
  display_name text NOT NULL,
  timezone text NOT NULL,
  specialty text CHECK (specialty IN ('therapy', 'psychiatry')),
  working_hours jsonb,
  supervisor boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- How a client pays, which decides when they may message (DOMAIN.md).
CREATE TABLE plans (
  user_id text PRIMARY KEY REFERENCES users (id),
  kind text NOT NULL CHECK (kind IN ('out_of_pocket', 'organization', 'eap', 'bh_insurance')),
  includes_messaging boolean NOT NULL,
  live_sessions_per_period integer NOT NULL CHECK (live_sessions_per_period >= 0),
  messaging_sessions_per_period integer NOT NULL DEFAULT 0 CHECK (messaging_sessions_per_period >= 0),
  period_start date NOT NULL,
  updated_at timestamptz NOT NULL
);

-- A therapy room joins one client and one provider; a support room joins one
-- requester with the support team. last_seq is the per-room sequence counter:
-- taking its row lock is what serialises concurrent senders into gapless seqs.
CREATE TABLE rooms (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('therapy', 'support')),
  service text CHECK (service IN ('therapy', 'psychiatry')),
  client_id text REFERENCES users (id),
  provider_id text REFERENCES users (id),
  requester_id text REFERENCES users (id),
  last_seq integer NOT NULL DEFAULT 0,
  -- createdAt of the client's oldest message the provider has not answered yet.
  awaiting_reply_since timestamptz,
  created_at timestamptz NOT NULL,
  CHECK ((kind = 'therapy' AND service IS NOT NULL AND client_id IS NOT NULL AND provider_id IS NOT NULL)
      OR (kind = 'support' AND requester_id IS NOT NULL))
);
CREATE UNIQUE INDEX rooms_one_per_pair ON rooms (client_id, provider_id, service) WHERE kind = 'therapy';
CREATE INDEX rooms_client ON rooms (client_id);
CREATE INDEX rooms_provider ON rooms (provider_id);
CREATE INDEX rooms_requester ON rooms (requester_id);

CREATE TABLE escalations (
  id text PRIMARY KEY,
  room_id text NOT NULL REFERENCES rooms (id),
  target text NOT NULL CHECK (target IN ('supervisor', 'clinical')),
  escalated_by text NOT NULL,
  created_at timestamptz NOT NULL,
  UNIQUE (room_id, target)
);

CREATE TABLE attachments (
  id text PRIMARY KEY,
  room_id text NOT NULL REFERENCES rooms (id),
  uploader_id text NOT NULL,
  mime_type text NOT NULL,
  size_bytes integer NOT NULL,
  data bytea NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE messages (
  id text PRIMARY KEY,
  room_id text NOT NULL REFERENCES rooms (id),
  seq integer NOT NULL,
  sender_id text NOT NULL,
  sender_role text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('text', 'voice', 'video', 'availability', 'system')),
  text text,
  attachment jsonb,
  availability jsonb,
  booking_id text,
  meta jsonb,
  client_msg_id text,
  created_at timestamptz NOT NULL,
  UNIQUE (room_id, seq),
  UNIQUE (room_id, sender_id, client_msg_id)
);
-- An attachment belongs to at most one message.
CREATE UNIQUE INDEX messages_attachment_once ON messages ((attachment ->> 'id')) WHERE attachment IS NOT NULL;

-- How far each user has read in each room (read receipts, unread counts).
CREATE TABLE read_cursors (
  room_id text NOT NULL REFERENCES rooms (id),
  user_id text NOT NULL,
  seq integer NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (room_id, user_id)
);
