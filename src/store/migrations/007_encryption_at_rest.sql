-- Encryption at rest: the id of the key that sealed a message's text and meta,
-- or a recording chunk's bytes. NULL: stored before encryption, in clear (a
-- rekey seals it). A sealed text is base64 in `text`; a sealed meta is a JSON
-- string of base64 in `meta`.
ALTER TABLE messages ADD COLUMN kid text;
ALTER TABLE attachment_chunks ADD COLUMN kid text;
