-- A provider may waive a charge (a late cancel at the client's request, a
-- no-show with a good reason): the charge stays on record, marked waived.
ALTER TABLE charge_events ADD COLUMN waived_at timestamptz;
ALTER TABLE charge_events ADD COLUMN waived_by text;
CREATE INDEX charge_events_client ON charge_events (client_id, created_at);
