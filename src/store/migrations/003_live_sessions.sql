-- Who has joined each live session, durable and shared by every node: the
-- "starts when both have joined" rule and the no-show check read it.
CREATE TABLE live_participants (
  booking_id text NOT NULL REFERENCES bookings (id),
  user_id text NOT NULL,
  role text NOT NULL CHECK (role IN ('client', 'provider')),
  present boolean NOT NULL,
  first_joined_at timestamptz NOT NULL,
  last_change_at timestamptz NOT NULL,
  PRIMARY KEY (booking_id, user_id)
);
