-- Erasure and retention leave a message as a tombstone: its row keeps id,
-- room, seq, sender, kind and time (so seq stays gapless), its content is gone.
ALTER TABLE messages ADD COLUMN erased boolean NOT NULL DEFAULT false;
-- A user on legal hold is never erased, and retention skips them.
ALTER TABLE users ADD COLUMN legal_hold boolean NOT NULL DEFAULT false;
