-- Numbered 4: main has 0003_digests.sql since this branch started.
-- HTML sources (issue 4). An HTML page of a kind = "auto" source that
-- announces a feed is watched through that feed: its URL, polled instead of
-- the page until it stops answering as a feed. NULL: the source's own URL.
ALTER TABLE sources ADD COLUMN via_feed TEXT;
