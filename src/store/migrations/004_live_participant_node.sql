-- The node whose socket a participant is present through: "present" counts
-- only while that node is alive (a node that dies without a clean stop never
-- clears its participants' flags). NULL: recorded before this column existed.
ALTER TABLE live_participants ADD COLUMN node_id text;
