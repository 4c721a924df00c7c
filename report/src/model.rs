//! The report's input cell and its aggregation into a table.
//!
//! A [`ReportCell`] holds the additive counts of one screen × content item ×
//! hour — exactly what the fleet's hourly rollup holds per row, made from it
//! by the one adapter [`crate::input::report_cell`] — so both inputs (the
//! database, a records file) go through the one [`aggregate`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use blickfang::report::{ATTENTION_BINS, DWELL_BINS};

use blickfang::time;
use jiff::tz::TimeZone;

/// Bins of the dwell histogram: [`DWELL_BINS`] plus one open bin.
pub const DWELL_BIN_COUNT: usize = DWELL_BINS.len() + 1;
/// Bins of the attention histogram: [`ATTENTION_BINS`] plus one open bin.
pub const ATTENTION_BIN_COUNT: usize = ATTENTION_BINS.len() + 1;

/// The additive counts of one screen × content item × hour (UTC).
///
/// People are counted per person-content share (a person who saw two content
/// items counts once for each): a share with at least `min_dwell` seconds is
/// an OTS, one with at least `min_attention` seconds of attention a watcher
/// (gazedwell's thresholds, [`blickfang::dwell::DwellConfig`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportCell {
    pub screen: String,
    pub content_id: String,
    /// Start of the hour, Unix seconds (UTC), a multiple of 3600.
    pub hour: i64,
    pub counts: Counts,
}

/// Additive counts: a cell's, a row's or the total's.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    /// Content periods that started in the hour (proof of play).
    pub plays: u64,
    /// Microseconds the content was on screen (proof of play). Times are
    /// summed as integer µs, as the rollup holds them: exact, so a sum is the
    /// same whatever order or grouping the cells come in.
    pub on_screen_us: i64,
    /// Opportunities to see: people present at least `min_dwell`.
    pub ots: u64,
    /// People who looked at least `min_attention`.
    pub watchers: u64,
    /// Attention µs of every OTS.
    pub attention_us: i64,
    /// Attention µs of the watchers only (for the mean per watcher).
    pub watcher_attention_us: i64,
    /// Dwell µs of every OTS.
    pub dwell_us: i64,
    /// OTS per dwell bin ([`DWELL_BINS`], last bin open).
    pub dwell_histogram: [u64; DWELL_BIN_COUNT],
    /// OTS per attention bin ([`ATTENTION_BINS`], last bin open).
    pub attention_histogram: [u64; ATTENTION_BIN_COUNT],
    /// OTS per (gender, age group); `unknown` where not estimated.
    pub demographics: BTreeMap<(String, String), u64>,
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            plays: 0,
            on_screen_us: 0,
            ots: 0,
            watchers: 0,
            attention_us: 0,
            watcher_attention_us: 0,
            dwell_us: 0,
            dwell_histogram: [0; DWELL_BIN_COUNT],
            attention_histogram: [0; ATTENTION_BIN_COUNT],
            demographics: BTreeMap::new(),
        }
    }
}

/// The bin of `value` among upper `bounds` (last bin open), as the edge's
/// content reports bin.
pub fn bin(value: f64, bounds: &[f64]) -> usize {
    bounds.iter().position(|&b| value < b).unwrap_or(bounds.len())
}

/// Seconds as integer µs.
pub fn us(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
}

/// Integer µs as seconds.
pub fn secs(us: i64) -> f64 {
    us as f64 / 1e6
}

impl Counts {
    /// Adds one person-content share (already known to be an OTS; seconds).
    pub fn add_person(&mut self, dwell: f64, attention: f64, watcher: bool, gender: &str, age_group: &str) {
        self.ots += 1;
        self.dwell_us += us(dwell);
        self.attention_us += us(attention);
        self.dwell_histogram[bin(dwell, &DWELL_BINS)] += 1;
        self.attention_histogram[bin(attention, &ATTENTION_BINS)] += 1;
        if watcher {
            self.watchers += 1;
            self.watcher_attention_us += us(attention);
        }
        *self.demographics.entry((gender.to_string(), age_group.to_string())).or_default() += 1;
    }

    pub fn add(&mut self, o: &Counts) {
        self.plays += o.plays;
        self.on_screen_us += o.on_screen_us;
        self.ots += o.ots;
        self.watchers += o.watchers;
        self.attention_us += o.attention_us;
        self.watcher_attention_us += o.watcher_attention_us;
        self.dwell_us += o.dwell_us;
        for (a, b) in self.dwell_histogram.iter_mut().zip(o.dwell_histogram) {
            *a += b;
        }
        for (a, b) in self.attention_histogram.iter_mut().zip(o.attention_histogram) {
            *a += b;
        }
        // Both maps are sorted and o's keys are mostly among ours: one walk over both, no lookups.
        let mut mine = self.demographics.iter_mut().peekable();
        let mut missing = Vec::new();
        for (k, v) in &o.demographics {
            while mine.next_if(|(m, _)| *m < k).is_some() {}
            match mine.next_if(|(m, _)| *m == k) {
                Some((_, n)) => *n += v,
                None => missing.push((k, *v)),
            }
        }
        for (k, v) in missing {
            self.demographics.insert(k.clone(), v);
        }
    }
}

/// What a row of the table groups by. Hours, days and weekdays are local to
/// the screen's store ([`ScreenInfo::time_zone`], UTC by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Content,
    Screen,
    /// The screen id up to its first `/` (`store-12/entrance` → `store-12`),
    /// unless the screen catalogue names a store.
    Store,
    /// Hour of the day, `00`..`23`.
    Hour,
    /// The date, `YYYY-MM-DD`.
    Day,
    /// `Mon`..`Sun`.
    Weekday,
    Brand,
    Campaign,
}

impl Dimension {
    pub const ALL: [Dimension; 8] = [
        Dimension::Content,
        Dimension::Screen,
        Dimension::Store,
        Dimension::Hour,
        Dimension::Day,
        Dimension::Weekday,
        Dimension::Brand,
        Dimension::Campaign,
    ];

    /// The column name, in every format.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Content => "content",
            Dimension::Screen => "screen",
            Dimension::Store => "store",
            Dimension::Hour => "hour",
            Dimension::Day => "day",
            Dimension::Weekday => "weekday",
            Dimension::Brand => "brand",
            Dimension::Campaign => "campaign",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }

    /// `content,day` → [Content, Day].
    pub fn parse_list(s: &str) -> Result<Vec<Self>, String> {
        s.split(',')
            .map(|p| {
                Self::parse(p.trim()).ok_or_else(|| {
                    let names: Vec<_> = Self::ALL.iter().map(|d| d.name()).collect();
                    format!("unknown --by {p:?} (one or more of {})", names.join(", "))
                })
            })
            .collect()
    }
}

/// What the catalogue knows about a screen.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenInfo {
    pub store: Option<String>,
    pub name: Option<String>,
    /// The store's time zone: an IANA name with its daylight-saving rules
    /// (`Europe/Berlin`) or a fixed offset; UTC by default.
    pub time_zone: TimeZone,
}

impl Default for ScreenInfo {
    fn default() -> Self {
        Self { store: None, name: None, time_zone: TimeZone::UTC }
    }
}

impl ScreenInfo {
    /// Seconds east of UTC at the instant `utc` (Unix seconds): local time = UTC + this.
    pub fn utc_offset_at(&self, utc: i64) -> i64 {
        jiff::Timestamp::from_second(utc).map_or(0, |t| i64::from(self.time_zone.to_offset(t).seconds()))
    }

    /// Whether local time is UTC at every instant (days are UTC days).
    pub fn is_utc(&self) -> bool {
        self.time_zone.to_fixed_offset().is_ok_and(|o| o.seconds() == 0)
    }
}

/// What the catalogue knows about a content item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContentInfo {
    pub name: Option<String>,
    pub campaign: Option<String>,
    pub brand: Option<String>,
}

/// Screen metadata and the content catalogue (empty: UTC, stores from ids).
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub screens: HashMap<String, ScreenInfo>,
    pub contents: HashMap<String, ContentInfo>,
}

/// The part of a screen id that names its store: up to the first `/`.
pub fn store_of(screen: &str) -> &str {
    screen.split('/').next().unwrap_or(screen)
}

/// Which cells a report covers.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Unix seconds (UTC), inclusive.
    pub from: Option<i64>,
    /// Unix seconds (UTC), exclusive.
    pub to: Option<i64>,
    /// Screen ids or patterns with a trailing `*` (`store-12/*`); empty: all.
    pub screens: Vec<String>,
    /// Content ids; empty: all.
    pub contents: Vec<String>,
}

impl Filter {
    pub fn accepts(&self, c: &ReportCell) -> bool {
        self.from.is_none_or(|f| c.hour >= f)
            && self.to.is_none_or(|t| c.hour < t)
            && (self.screens.is_empty() || self.screens.iter().any(|p| screen_matches(p, &c.screen)))
            && (self.contents.is_empty() || self.contents.contains(&c.content_id))
    }
}

fn screen_matches(pattern: &str, screen: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => screen.starts_with(prefix),
        None => pattern == screen,
    }
}

/// One row of a [`Table`]: its key (one value per [`Table::by`]) and counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: Vec<String>,
    pub counts: Counts,
}

/// Cells aggregated by some dimensions: rows sorted by key, and the total.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub by: Vec<Dimension>,
    pub rows: Vec<Row>,
    pub total: Counts,
    /// Every (gender, age group) seen, sorted: the demographics columns.
    pub demographics: Vec<(String, String)>,
    /// Distinct screens among the cells.
    pub screens: BTreeSet<String>,
    /// First and last hour (Unix seconds) among the cells.
    pub hours: Option<(i64, i64)>,
}

/// The key value of `cell` for `dim`.
pub fn key_of(cell: &ReportCell, dim: Dimension, catalogue: &Catalogue) -> String {
    let screen = catalogue.screens.get(&cell.screen);
    let local = cell.hour + screen.map_or(0, |s| s.utc_offset_at(cell.hour));
    let content = || catalogue.contents.get(&cell.content_id);
    let unknown = || "unknown".to_string();
    match dim {
        Dimension::Content => cell.content_id.clone(),
        Dimension::Screen => cell.screen.clone(),
        Dimension::Store => screen.and_then(|s| s.store.clone()).unwrap_or_else(|| store_of(&cell.screen).to_string()),
        Dimension::Hour => format!("{:02}", local.rem_euclid(86_400) / 3600),
        Dimension::Day => time::date(local.div_euclid(86_400)),
        Dimension::Weekday => time::WEEKDAYS[time::weekday(local.div_euclid(86_400))].to_string(),
        Dimension::Brand => content().and_then(|c| c.brand.clone()).unwrap_or_else(unknown),
        Dimension::Campaign => content().and_then(|c| c.campaign.clone()).unwrap_or_else(unknown),
    }
}

/// Sort order of key values: hours and days sort as text; weekdays Mon..Sun.
fn sort_key(by: &[Dimension], key: &[String]) -> Vec<(usize, String)> {
    by.iter()
        .zip(key)
        .map(|(d, v)| match d {
            Dimension::Weekday => (time::WEEKDAYS.iter().position(|w| w == v).unwrap_or(7), String::new()),
            _ => (0, v.clone()),
        })
        .collect()
}

/// What a dimension's value depends on: a cell's key is computed once per
/// distinct screen, content item or local hour, not once per cell.
pub(crate) fn depends_on_screen(d: Dimension) -> bool {
    matches!(d, Dimension::Screen | Dimension::Store)
}

fn depends_on_content(d: Dimension) -> bool {
    matches!(d, Dimension::Content | Dimension::Brand | Dimension::Campaign)
}

/// Key values per dimension, each stored once and named by its index.
struct Interned {
    ids: Vec<HashMap<String, u32>>,
}

impl Interned {
    fn id(&mut self, dim: usize, value: String) -> u32 {
        let n = self.ids[dim].len() as u32;
        *self.ids[dim].entry(value).or_insert(n)
    }

    fn values(self) -> Vec<Vec<String>> {
        self.ids
            .into_iter()
            .map(|m| {
                let mut v = vec![String::new(); m.len()];
                for (s, i) in m {
                    v[i as usize] = s;
                }
                v
            })
            .collect()
    }
}

/// The cells `filter` accepts, summed per key of `by`, plus the total. The
/// one aggregation both inputs (the fleet's rollup, a records file) go
/// through; it takes a slice so a benchmark can time it.
pub fn aggregate(cells: &[ReportCell], by: &[Dimension], filter: &Filter, catalogue: &Catalogue) -> Table {
    aggregate_many(cells, &[by], filter, catalogue).remove(0)
}

/// Several tables of the same cells (a report's main table and its charts'),
/// in one pass over the cells: they are summed once by every dimension of
/// every table (the finest grouping), then each table from those groups.
/// Counts are integers, so every table sums to the same as [`aggregate`] alone.
pub fn aggregate_many(
    cells: &[ReportCell],
    tables: &[&[Dimension]],
    filter: &Filter,
    catalogue: &Catalogue,
) -> Vec<Table> {
    let mut by: Vec<Dimension> = Vec::new();
    for d in tables.iter().flat_map(|t| t.iter()) {
        if !by.contains(d) {
            by.push(*d);
        }
    }
    let by = by.as_slice();
    let mut interned = Interned { ids: vec![HashMap::new(); by.len()] };
    // Per screen: its time zone (None: UTC) and the ids of its screen dimensions; per content item and
    // per local hour: the ids of theirs. u32::MAX: filled from another memo.
    let mut per_screen: HashMap<&str, (Option<&ScreenInfo>, Vec<u32>)> = HashMap::new();
    let mut per_content: HashMap<&str, Vec<u32>> = HashMap::new();
    let mut per_hour: HashMap<i64, Vec<u32>> = HashMap::new();
    let mut groups: HashMap<Vec<u32>, Counts> = HashMap::new();
    let mut screens = BTreeSet::new();
    let mut hours: Option<(i64, i64)> = None;
    let mut key: Vec<u32> = vec![0; by.len()];
    // Cells come sorted by screen, then content: the memos are looked up when these change, not per cell.
    let mut last_screen: Option<(&str, Option<&ScreenInfo>, Vec<u32>)> = None;
    let mut last_content: Option<(&str, Vec<u32>)> = None;
    for c in cells.iter().filter(|c| filter.accepts(c)) {
        if last_screen.as_ref().is_none_or(|(s, _, _)| *s != c.screen) {
            let (zone, ids) = per_screen.entry(c.screen.as_str()).or_insert_with(|| {
                let zone = catalogue.screens.get(&c.screen).filter(|s| !s.is_utc());
                let ids = by
                    .iter()
                    .enumerate()
                    .map(
                        |(i, &d)| {
                            if depends_on_screen(d) { interned.id(i, key_of(c, d, catalogue)) } else { u32::MAX }
                        },
                    )
                    .collect();
                (zone, ids)
            });
            last_screen = Some((c.screen.as_str(), *zone, ids.clone()));
            if !screens.contains(&c.screen) {
                screens.insert(c.screen.clone());
            }
        }
        if last_content.as_ref().is_none_or(|(s, _)| *s != c.content_id) {
            let ids = per_content.entry(c.content_id.as_str()).or_insert_with(|| {
                by.iter()
                    .enumerate()
                    .map(
                        |(i, &d)| {
                            if depends_on_content(d) { interned.id(i, key_of(c, d, catalogue)) } else { u32::MAX }
                        },
                    )
                    .collect()
            });
            last_content = Some((c.content_id.as_str(), ids.clone()));
        }
        let (Some((_, zone, screen_ids)), Some((_, content_ids))) = (&last_screen, &last_content) else {
            continue;
        };
        // The offset at this hour: daylight saving moves it twice a year.
        let local = c.hour + zone.map_or(0, |z| z.utc_offset_at(c.hour));
        let hour_ids = per_hour.entry(local).or_insert_with(|| {
            // The time dimensions of a UTC cell at this local hour (key_of adds the offset back).
            let utc = ReportCell { hour: local, ..Default::default() };
            by.iter()
                .enumerate()
                .map(|(i, &d)| {
                    if depends_on_screen(d) || depends_on_content(d) {
                        u32::MAX
                    } else {
                        interned.id(i, key_of(&utc, d, &Catalogue::default()))
                    }
                })
                .collect()
        });
        for (i, k) in key.iter_mut().enumerate() {
            *k = screen_ids[i].min(content_ids[i]).min(hour_ids[i]);
        }
        match groups.get_mut(key.as_slice()) {
            Some(g) => g.add(&c.counts),
            None => {
                groups.insert(key.clone(), c.counts.clone());
            }
        }
        hours = Some(hours.map_or((c.hour, c.hour), |(a, b)| (a.min(c.hour), b.max(c.hour))));
    }
    let values = interned.values();
    tables
        .iter()
        .map(|dims| {
            // This table's key: its dimensions' columns of the finest key.
            let columns: Vec<usize> = dims.iter().map(|d| by.iter().position(|b| b == d).unwrap_or(0)).collect();
            let mut own: HashMap<Vec<u32>, Counts> = HashMap::new();
            for (ids, counts) in &groups {
                let k: Vec<u32> = columns.iter().map(|&i| ids[i]).collect();
                match own.get_mut(&k) {
                    Some(g) => g.add(counts),
                    None => {
                        own.insert(k, counts.clone());
                    }
                }
            }
            let mut rows: Vec<Row> = own
                .into_iter()
                .map(|(ids, counts)| Row {
                    key: ids.iter().zip(&columns).map(|(&id, &i)| values[i][id as usize].clone()).collect(),
                    counts,
                })
                .collect();
            rows.sort_by_cached_key(|r| sort_key(dims, &r.key));
            let mut total = Counts::default();
            for r in &rows {
                total.add(&r.counts);
            }
            let demographics = total.demographics.keys().cloned().collect();
            Table { by: dims.to_vec(), rows, total, demographics, screens: screens.clone(), hours }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(screen: &str, content: &str, hour: i64, ots: u64) -> ReportCell {
        let mut counts = Counts { plays: 1, on_screen_us: 30_000_000, ..Default::default() };
        for _ in 0..ots {
            counts.add_person(3.0, 1.5, true, "female", "20-29");
        }
        ReportCell { screen: screen.into(), content_id: content.into(), hour, counts }
    }

    #[test]
    fn aggregates_by_content_and_weekday() {
        // 2026-11-02 is a Monday.
        let mon = time::days_from_civil(2026, 11, 2) * 86_400;
        let cells = vec![
            cell("store-1/a", "ad-1", mon + 9 * 3600, 3),
            cell("store-1/b", "ad-1", mon + 10 * 3600, 4),
            cell("store-2/a", "ad-2", mon + 86_400, 6),
        ];
        let t = aggregate(&cells, &[Dimension::Content, Dimension::Weekday], &Filter::default(), &Catalogue::default());
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].key, vec!["ad-1", "Mon"]);
        assert_eq!(t.rows[0].counts.ots, 7);
        assert_eq!(t.rows[0].counts.plays, 2);
        assert_eq!(t.rows[1].key, vec!["ad-2", "Tue"]);
        assert_eq!(t.total.ots, 13);
        assert_eq!(t.screens.len(), 3);
        let by_store = aggregate(&cells, &[Dimension::Store], &Filter::default(), &Catalogue::default());
        assert_eq!(by_store.rows.iter().map(|r| r.key[0].as_str()).collect::<Vec<_>>(), ["store-1", "store-2"]);
        let f = Filter { screens: vec!["store-1/*".into()], to: Some(mon + 10 * 3600), ..Default::default() };
        let t = aggregate(&cells, &[Dimension::Hour], &f, &Catalogue::default());
        assert_eq!((t.rows.len(), t.rows[0].key[0].as_str(), t.total.ots), (1, "09", 3));
    }

    fn fixed(minutes: i32) -> TimeZone {
        TimeZone::fixed(jiff::tz::Offset::from_seconds(minutes * 60).unwrap())
    }

    #[test]
    fn days_and_hours_follow_daylight_saving() {
        let mut cat = Catalogue::default();
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        cat.screens.insert("berlin".into(), ScreenInfo { time_zone: berlin, ..Default::default() });
        let rows = |cells: &[ReportCell], by: &[Dimension]| -> Vec<(String, u64)> {
            let t = aggregate(cells, by, &Filter::default(), &cat);
            t.rows.iter().map(|r| (r.key.join(" "), r.counts.ots)).collect()
        };
        // 2026-10-25 01:00 UTC: Berlin goes back from CEST (+2) to CET (+1); that local day has 25 hours.
        let oct25 = time::days_from_civil(2026, 10, 25) * 86_400;
        let cells: Vec<ReportCell> = (-4..28).map(|h| cell("berlin", "ad", oct25 + h * 3600, 1)).collect();
        let days = rows(&cells, &[Dimension::Day]);
        assert_eq!(days, [("2026-10-24".into(), 2), ("2026-10-25".into(), 25), ("2026-10-26".into(), 5)]);
        let hours = rows(&cells, &[Dimension::Day, Dimension::Hour]);
        assert!(hours.contains(&("2026-10-25 02".into(), 2)), "02:00 twice (CEST, then CET): {hours:?}");
        assert!(hours.contains(&("2026-10-25 03".into(), 1)));
        assert!(rows(&cells, &[Dimension::Weekday]).contains(&("Sun".into(), 25)), "2026-10-25 is a Sunday");
        // 2026-03-29 01:00 UTC: from CET to CEST; that local day has 23 hours and no 02:00.
        let mar29 = time::days_from_civil(2026, 3, 29) * 86_400;
        let cells: Vec<ReportCell> = (-1..23).map(|h| cell("berlin", "ad", mar29 + h * 3600, 1)).collect();
        assert_eq!(rows(&cells, &[Dimension::Day]), [("2026-03-29".into(), 23), ("2026-03-30".into(), 1)]);
        let hours = rows(&cells, &[Dimension::Day, Dimension::Hour]);
        assert!(!hours.iter().any(|(k, _)| k == "2026-03-29 02"), "no 02:00 that night: {hours:?}");
        assert!(!cat.screens["berlin"].is_utc());
        assert!(ScreenInfo::default().is_utc());
    }

    #[test]
    fn local_time_and_catalogue() {
        let mut cat = Catalogue::default();
        cat.screens.insert("s".into(), ScreenInfo { time_zone: fixed(60), ..Default::default() });
        cat.contents.insert("ad".into(), ContentInfo { brand: Some("Acme".into()), ..Default::default() });
        let c = cell("s", "ad", 23 * 3600, 1);
        assert_eq!(key_of(&c, Dimension::Hour, &cat), "00");
        assert_eq!(key_of(&c, Dimension::Day, &cat), "1970-01-02");
        assert_eq!(key_of(&c, Dimension::Brand, &cat), "Acme");
        assert_eq!(key_of(&c, Dimension::Campaign, &cat), "unknown");
        assert_eq!(Dimension::parse_list("content, day").unwrap(), [Dimension::Content, Dimension::Day]);
        assert!(Dimension::parse_list("color").is_err());
    }
}
