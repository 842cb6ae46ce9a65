-- A recording's bytes live in fixed-size chunks, one row each, so an upload is
-- written and a download read one chunk at a time: no statement ever carries a
-- whole recording, which froze the embedded store (its engine runs on the
-- server's own thread) and held several copies of the file in memory.
CREATE TABLE attachment_chunks (
  attachment_id text NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
  idx integer NOT NULL CHECK (idx >= 0),
  data bytea NOT NULL,
  PRIMARY KEY (attachment_id, idx)
);

-- chunk_bytes: the size of every chunk but the last (a byte range maps to chunk
-- rows without reading the ones before it). completed_at: NULL while the upload
-- is still arriving; such a row is invisible to messages and downloads.
ALTER TABLE attachments ADD COLUMN chunk_bytes integer;
ALTER TABLE attachments ADD COLUMN completed_at timestamptz;

-- Recordings stored whole before this migration become chunked ones.
INSERT INTO attachment_chunks (attachment_id, idx, data)
SELECT a.id, g.idx, substring(a.data FROM g.idx * 262144 + 1 FOR 262144)
FROM attachments a
CROSS JOIN LATERAL generate_series(0, (octet_length(a.data) - 1) / 262144) AS g (idx)
WHERE octet_length(a.data) > 0;
UPDATE attachments SET chunk_bytes = 262144, completed_at = created_at, size_bytes = octet_length(data);

ALTER TABLE attachments ALTER COLUMN chunk_bytes SET NOT NULL;
ALTER TABLE attachments ADD CHECK (chunk_bytes > 0);
ALTER TABLE attachments DROP COLUMN data;

-- Uploads a crashed node left unfinished, found by age and removed.
CREATE INDEX attachments_unfinished ON attachments (created_at) WHERE completed_at IS NULL;
