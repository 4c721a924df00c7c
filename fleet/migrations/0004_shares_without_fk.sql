-- Version 4: person_shares without the foreign key to person_events. The
-- collector inserts a person's shares in the transaction that inserted the
-- person (only for rows the ON CONFLICT insert returned), so the key adds no
-- safety, and its per-row check (a locking lookup into person_events) was a
-- large part of each batch's cost. The retention job deletes the shares of the
-- events it deletes (what ON DELETE CASCADE did).
ALTER TABLE person_shares DROP CONSTRAINT IF EXISTS person_shares_screen_run_seq_fkey;
