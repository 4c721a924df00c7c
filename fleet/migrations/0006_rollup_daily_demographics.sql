-- Version 6: OTS per gender × age group by UTC day (screen × content × day), the hourly
-- table summed by day, kept up to date in the same transaction as the hourly one (as
-- rollup_daily is). A report by day over a month reads its demographics from here: about
-- a tenth of the hourly rows. Filled here from the hourly table already there.
CREATE TABLE rollup_daily_demographics (
    screen text NOT NULL,
    content_id text NOT NULL,
    day timestamptz NOT NULL,
    gender text NOT NULL,
    age_group text NOT NULL,
    ots bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (screen, content_id, day, gender, age_group)
) WITH (fillfactor = 50);
CREATE INDEX rollup_daily_demographics_day ON rollup_daily_demographics (day);
INSERT INTO rollup_daily_demographics
SELECT screen, content_id, date_trunc('day', hour, 'UTC'), gender, age_group, sum(ots)
FROM rollup_hourly_demographics GROUP BY 1, 2, 3, 4, 5;
