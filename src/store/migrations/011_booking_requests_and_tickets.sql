-- A client who may not message can still ask their provider to cancel or
-- reschedule a booking: a message of kind 'request' naming the booking
-- (booking_id) and what is asked (request).
ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check
  CHECK (kind IN ('text', 'voice', 'video', 'availability', 'system', 'request'));
ALTER TABLE messages ADD COLUMN request text CHECK (request IN ('cancel', 'reschedule'));
ALTER TABLE messages ADD CONSTRAINT messages_request_kind CHECK ((kind = 'request') = (request IS NOT NULL) OR erased);

-- Support rooms are tickets. An internal note shares the room's seq (staff read
-- one timeline) but is never shown to the requester; it stays flagged as a
-- tombstone too, so erasure and retention hide it as well as they hide text.
ALTER TABLE messages ADD COLUMN internal boolean NOT NULL DEFAULT false;
ALTER TABLE rooms ADD COLUMN ticket_status text CHECK (ticket_status IN ('open', 'pending', 'resolved'));
ALTER TABLE rooms ADD COLUMN ticket_assignee_id text REFERENCES users (id);
-- NULL on a support room reads as 'open' (a node of the release before
-- writes none while a rolling upgrade runs).
UPDATE rooms SET ticket_status = 'open' WHERE kind = 'support';
