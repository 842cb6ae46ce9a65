-- What /metrics reads on every scrape, and the failed-jobs list, without
-- walking whole tables: the open live sessions, who is present in one, and
-- the jobs kept after their last attempt.
CREATE INDEX bookings_live ON bookings (status) WHERE status IN ('confirmed', 'in_progress');
CREATE INDEX live_participants_present ON live_participants (booking_id) WHERE present;
CREATE INDEX jobs_failed ON jobs (dead_at, id) WHERE dead_at IS NOT NULL;
