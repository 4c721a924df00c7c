-- Version 5: room on every rollup (and screens) page for the next versions of its rows. Each
-- batch adds to the cells it touches (an UPDATE: a new row version); with full
-- pages that version lands on another page and every index gets a new entry,
-- which later lookups (the ON CONFLICT probe) step over. With half-empty pages
-- the update stays on its page (a HOT update: no index entry; the page prunes
-- its dead versions itself). Applies to pages written from now on.
ALTER TABLE rollup_hourly SET (fillfactor = 50);
ALTER TABLE rollup_daily SET (fillfactor = 50);
ALTER TABLE rollup_hourly_demographics SET (fillfactor = 50);
-- `screens` too: every batch updates the last_seen of the screens it heard from.
ALTER TABLE screens SET (fillfactor = 50);
