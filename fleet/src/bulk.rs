//! A simulated fleet at report scale (1,000 screens × weeks) and its bulk
//! load into the collector's rollup tables, for the report's exactness test
//! and benchmark. `blickfang simulate` writes every record (about 60 µs
//! each, 60 million a week for 1,000 screens: hours); here the same kind of
//! fleet — the simulator's screen ids, playlists, arrivals, dwell, looks,
//! gender and age group — is drawn as typed plays and `left` events, never
//! as JSON, and summed by the rollup's own arithmetic ([`Rollup::add_left`];
//! plays by [`Rollup::add_period`]'s rule, summed per hour): the truth,
//! exactly as the collector would have summed the same records.
//!
//! [`load`] writes a rollup into `rollup_hourly`, `rollup_daily`,
//! `rollup_hourly_demographics` and `rollup_daily_demographics` as plain inserts (an empty database; the
//! collector's upsert is for deltas), not through a broker.

use std::collections::BTreeMap;

use tokio_postgres::GenericClient;

use crate::db::{daily, demographic_rows};
use crate::ingest::{Key, PersonLeft, Share};
use crate::rollup::{Cell, CellKey, Rollup, Thresholds, US_PER_HOUR, hour_of};
use crate::simulate::{AGE_GROUPS, GENDERS, Rng, screen_id};

/// What [`fleet_rollup`] simulates.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub screens: usize,
    pub days: i64,
    pub seed: u64,
    /// UTC midnight of the first day, µs since the epoch.
    pub start_us: i64,
    /// Opening hours (UTC) each day: the screens play and people pass from `open` to `close`.
    pub open_hour: i64,
    pub close_hour: i64,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            screens: 1000,
            days: 7,
            seed: 1,
            // 2026-11-02T00:00:00Z, a Monday.
            start_us: 1_793_577_600_000_000,
            open_hour: 8,
            close_hour: 20,
        }
    }
}

const US: i64 = 1_000_000;

/// The rollup (truth) of a simulated fleet: every play and every person's
/// shares, summed as the collector sums them (default thresholds).
pub fn fleet_rollup(s: &FleetSettings) -> Rollup {
    let mut rng = Rng::new(s.seed);
    let t = Thresholds::default();
    let mut out = Rollup::default();
    for i in 0..s.screens {
        let mut r = Rng::new(rng.next_u64());
        let kind = r.unit();
        if kind < 0.04 {
            continue; // off: the player is down
        }
        let idle = kind < 0.12;
        let screen = screen_id(i);
        let key = |seq: i64| Key { screen: screen.clone(), run: "bulk".into(), seq };
        let playlist: Vec<(String, i64)> =
            (0..r.range(3, 7)).map(|_| (format!("ad-{:02}", r.range(1, 21)), r.range(10, 41) * US)).collect();
        let mean_gap_us = r.range(45, 300) as f64 * US as f64;
        let mut screen_rollup = Rollup::default();
        let mut seq = 0;
        for day in 0..s.days {
            let open = s.start_us + day * 24 * US_PER_HOUR + s.open_hour * US_PER_HOUR;
            let close = s.start_us + day * 24 * US_PER_HOUR + s.close_hour * US_PER_HOUR;
            // Playlist periods, looped from opening time.
            let mut periods: Vec<(usize, i64, i64)> = Vec::new();
            let (mut at, mut k) = (open, 0usize);
            while at < close {
                let item = k % playlist.len();
                let end = (at + playlist[item].1).min(close);
                periods.push((item, at, end));
                at = end;
                k += 1;
            }
            // Proof of play, by the rule of `Rollup::add_period` (a play counts in the hour in which it
            // started, with its whole on-screen time), summed per item and hour here: a `ContentPeriod`
            // per play would cost allocations for each of ~12 million plays a week.
            let mut plays: BTreeMap<(usize, i64), (i64, i64)> = BTreeMap::new();
            for &(item, start_us, end_us) in &periods {
                let p = plays.entry((item, hour_of(start_us))).or_default();
                p.0 += 1;
                p.1 += end_us - start_us;
            }
            for ((item, hour), (n, on_screen_us)) in plays {
                let key = CellKey { screen: screen.clone(), content_id: playlist[item].0.clone(), hour };
                let c = screen_rollup.cells.entry(key).or_default();
                c.plays += n;
                c.on_screen_us += on_screen_us;
            }
            if idle {
                continue;
            }
            let mut at = open;
            let mut first_period = 0usize;
            loop {
                at += (-(1.0 - r.unit()).ln() * mean_gap_us) as i64 + 1;
                if at >= close {
                    break;
                }
                let dwell = match r.unit() {
                    x if x < 0.6 => r.range(300_000, 5 * US),
                    x if x < 0.9 => r.range(5 * US, 30 * US),
                    _ => r.range(30 * US, 120 * US),
                };
                let (a, b) = (at, (at + dwell).min(close));
                if b - a < US {
                    continue; // never announced at the edge (gazedwell's min-dwell)
                }
                let mut looks = Vec::new();
                if r.unit() < 0.6 {
                    let n = r.range(1, 4);
                    let slot = (b - a) / n;
                    for j in 0..n {
                        let len = (slot as f64 * (0.2 + 0.7 * r.unit())) as i64;
                        let from = a + j * slot + r.range(0, (slot - len).max(1));
                        looks.push((from, from + len));
                    }
                }
                let attention =
                    |x: i64, y: i64| -> i64 { looks.iter().map(|&(p, q)| (q.min(y) - p.max(x)).max(0)).sum() };
                let gender = r.pick(&GENDERS);
                let age = if gender.is_some() { Some(*r.pick(&AGE_GROUPS)) } else { None };
                while periods[first_period].2 <= a {
                    first_period += 1;
                }
                let contents: Vec<Share> = periods[first_period..]
                    .iter()
                    .take_while(|p| p.1 < b)
                    .map(|&(item, ps, pe)| {
                        let (x, y) = (a.max(ps), b.min(pe));
                        Share {
                            content_id: playlist[item].0.clone(),
                            start_us: x,
                            end_us: y,
                            dwell_us: y - x,
                            attention_us: attention(x, y),
                        }
                    })
                    .collect();
                seq += 1;
                let left = PersonLeft {
                    key: key(seq),
                    at_us: b,
                    dwell_us: b - a,
                    attention_us: attention(a, b),
                    glances: looks.len() as i32,
                    gender: gender.map(str::to_string),
                    age_group: age.map(str::to_string),
                    ending: None,
                    contents,
                };
                screen_rollup.add_left(&left, &t);
            }
        }
        // Screen ids grow with i: inserting in key order (`append` would rebuild the whole map per screen).
        out.cells.extend(screen_rollup.cells);
    }
    out
}

/// Inserts `rollup` into the (empty) rollup tables: hourly, daily (its UTC
/// days, as the collector keeps them), and gender × age group by hour and by day.
pub async fn load(client: &impl GenericClient, rollup: &Rollup) -> Result<(), tokio_postgres::Error> {
    let by_day = daily(rollup);
    insert_cells(client, "rollup_hourly", "hour", rollup).await?;
    insert_cells(client, "rollup_daily", "day", &by_day).await?;
    insert_demographics(client, "rollup_hourly_demographics", "hour", rollup).await?;
    insert_demographics(client, "rollup_daily_demographics", "day", &by_day).await?;
    client
        .batch_execute(
            "ANALYZE rollup_hourly; ANALYZE rollup_daily; ANALYZE rollup_hourly_demographics;
             ANALYZE rollup_daily_demographics",
        )
        .await
}

async fn insert_demographics(
    client: &impl GenericClient,
    table: &str,
    time: &str,
    rollup: &Rollup,
) -> Result<(), tokio_postgres::Error> {
    let sql = format!(
        "INSERT INTO {table} (screen, content_id, {time}, gender, age_group, ots)
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::int8[])"
    );
    for chunk in demographic_rows(rollup).chunks(50_000) {
        client
            .execute(
                &sql,
                &[
                    &chunk.iter().map(|x| x.0.screen.as_str()).collect::<Vec<_>>(),
                    &chunk.iter().map(|x| x.0.content_id.as_str()).collect::<Vec<_>>(),
                    &chunk.iter().map(|x| ts(x.0.hour)).collect::<Vec<_>>(),
                    &chunk.iter().map(|x| x.1).collect::<Vec<_>>(),
                    &chunk.iter().map(|x| x.2).collect::<Vec<_>>(),
                    &chunk.iter().map(|x| x.3).collect::<Vec<_>>(),
                ],
            )
            .await?;
    }
    Ok(())
}

fn ts(hour: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_micros((hour * US_PER_HOUR) as u64)
}

async fn insert_cells(
    client: &impl GenericClient,
    table: &str,
    time: &str,
    rollup: &Rollup,
) -> Result<(), tokio_postgres::Error> {
    let cells: Vec<(&CellKey, &Cell)> = rollup.cells.iter().collect();
    let sql = format!(
        "INSERT INTO {table} (screen, content_id, {time}, plays, on_screen_us, ots, watchers, dwell_us,
             attention_us, watcher_attention_us, dwell_h0, dwell_h1, dwell_h2, dwell_h3, dwell_h4, dwell_h5,
             attention_h0, attention_h1, attention_h2, attention_h3, attention_h4, attention_h5)
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
             $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::int8[], $15::int8[],
             $16::int8[], $17::int8[], $18::int8[], $19::int8[], $20::int8[], $21::int8[], $22::int8[])"
    );
    for chunk in cells.chunks(20_000) {
        let col = |f: &dyn Fn(&Cell) -> i64| chunk.iter().map(|(_, c)| f(c)).collect::<Vec<i64>>();
        let mut columns: Vec<Vec<i64>> = vec![
            col(&|c| c.plays),
            col(&|c| c.on_screen_us),
            col(&|c| c.ots),
            col(&|c| c.watchers),
            col(&|c| c.dwell_us),
            col(&|c| c.attention_us),
            col(&|c| c.watcher_attention_us),
        ];
        for i in 0..6 {
            columns.push(col(&|c| c.dwell_histogram[i]));
        }
        for i in 0..6 {
            columns.push(col(&|c| c.attention_histogram[i]));
        }
        let screens: Vec<&str> = chunk.iter().map(|(k, _)| k.screen.as_str()).collect();
        let contents: Vec<&str> = chunk.iter().map(|(k, _)| k.content_id.as_str()).collect();
        let hours: Vec<std::time::SystemTime> = chunk.iter().map(|(k, _)| ts(k.hour)).collect();
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&screens, &contents, &hours];
        params.extend(columns.iter().map(|c| c as &(dyn tokio_postgres::types::ToSql + Sync)));
        client.execute(&sql, &params).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_fleet_is_deterministic_and_consistent() {
        let s = FleetSettings { screens: 12, days: 2, ..FleetSettings::default() };
        let a = fleet_rollup(&s);
        assert_eq!(a, fleet_rollup(&s));
        let mut total = Cell::default();
        a.cells.values().for_each(|c| total.add(c));
        assert!(total.plays > 0 && total.ots > 0 && total.watchers > 0);
        assert_eq!(total.dwell_histogram.iter().sum::<i64>(), total.ots);
        assert_eq!(total.demographics.values().sum::<i64>(), total.ots);
        let hours: std::collections::BTreeSet<i64> = a.cells.keys().map(|k| k.hour.rem_euclid(24)).collect();
        assert_eq!(hours, (8..20).collect(), "open 08:00 to 20:00 UTC");
    }
}
