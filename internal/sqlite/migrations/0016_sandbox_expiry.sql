-- The sandbox inbox is forgotten after --sandbox-keep (24 h): found by time.
CREATE INDEX sandbox_by_time ON sandbox_messages (created_at);
