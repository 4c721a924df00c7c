//! Per-content audience reports, aggregated and k-anonymised: any cell
//! counting between 1 and `min_group_size - 1` people is suppressed (`None`),
//! never published.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dwell::{ClosedPeriod, DwellConfig, Ending};

/// Upper bounds (seconds) of the dwell-time histogram bins; the last is open.
pub const DWELL_BINS: [f64; 5] = [2.0, 5.0, 10.0, 30.0, 60.0];
/// Upper bounds (seconds) of the attention-time histogram bins; the last is open.
pub const ATTENTION_BINS: [f64; 5] = [1.0, 2.0, 5.0, 10.0, 30.0];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContentReport {
    pub content_id: String,
    /// Running time, seconds.
    pub start: f64,
    pub end: f64,
    pub ots: Option<u32>,
    pub watchers: Option<u32>,
    /// watchers / OTS.
    pub conversion: Option<f64>,
    pub attention_time_total: Option<f64>,
    /// Mean attention time of the watchers.
    pub attention_time_mean: Option<f64>,
    pub dwell_time_total: Option<f64>,
    /// Counts per bin, bins as in [`DWELL_BINS`] plus one open bin.
    pub dwell_histogram: Vec<Option<u32>>,
    pub attention_histogram: Vec<Option<u32>>,
    /// OTS per "gender/age-group" ("unknown" where not estimated).
    pub demographics: BTreeMap<String, Option<u32>>,
    /// The k of k-anonymity applied to every count.
    pub min_group_size: u32,
    /// Why the period ended (a content change, the end of the stream, a flush).
    pub ending: Ending,
}

fn bin(value: f64, bounds: &[f64]) -> usize {
    bounds.iter().position(|&b| value < b).unwrap_or(bounds.len())
}

/// Aggregates the presences of a closed content period over [start, end).
pub fn content_report(period: &ClosedPeriod, config: &DwellConfig, min_group_size: u32) -> ContentReport {
    let (start, end) = (period.start, period.end);
    let k = |n: u32| (n == 0 || n >= min_group_size).then_some(n);
    let mut dwell_histogram = vec![0u32; DWELL_BINS.len() + 1];
    let mut attention_histogram = vec![0u32; ATTENTION_BINS.len() + 1];
    let mut demographics: BTreeMap<String, u32> = BTreeMap::new();
    let (mut ots, mut watchers) = (0u32, 0u32);
    let (mut attention_total, mut watcher_attention, mut dwell_total) = (0.0, 0.0, 0.0);
    for p in &period.presences {
        let (dwell, attention) = p.within(start, end);
        if dwell < config.min_dwell {
            continue;
        }
        ots += 1;
        dwell_total += dwell;
        attention_total += attention;
        dwell_histogram[bin(dwell, &DWELL_BINS)] += 1;
        attention_histogram[bin(attention, &ATTENTION_BINS)] += 1;
        if attention >= config.min_attention {
            watchers += 1;
            watcher_attention += attention;
        }
        let key = match &p.profile {
            Some(d) => format!("{}/{}", d.gender, d.age_group),
            None => "unknown/unknown".to_string(),
        };
        *demographics.entry(key).or_default() += 1;
    }
    // Totals and means are published only with the counts they derive from.
    let published = k(ots).is_some();
    ContentReport {
        content_id: period.content_id.clone(),
        start,
        end,
        ots: k(ots),
        watchers: if published { k(watchers) } else { None },
        // With nobody there is nothing to convert: 0 rather than 0/0.
        conversion: (published && k(watchers).is_some())
            .then(|| if ots > 0 { watchers as f64 / ots as f64 } else { 0.0 }),
        attention_time_total: published.then_some(attention_total),
        attention_time_mean: k(watchers)
            .filter(|_| published)
            .map(|w| if w > 0 { watcher_attention / w as f64 } else { 0.0 }),
        dwell_time_total: published.then_some(dwell_total),
        dwell_histogram: dwell_histogram.into_iter().map(k).collect(),
        attention_histogram: attention_histogram.into_iter().map(k).collect(),
        demographics: demographics.into_iter().map(|(key, n)| (key, k(n))).collect(),
        min_group_size,
        ending: period.ending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dwell::{Audience, Observation};

    fn audience_with(people: u32, looking_frames: usize) -> Audience {
        let config = DwellConfig { grace: 0.2, min_dwell: 0.5, min_attention: 1.0 };
        let mut a = Audience::new(config);
        for f in 0..30 {
            let obs: Vec<Observation> =
                (1..=people).map(|id| Observation { id, looking: Some(f < looking_frames), profile: None }).collect();
            a.update(f as f64 / 10.0, 0.1, &obs);
        }
        a
    }

    /// The period "ad-1" over [0, 3), closed.
    fn period(a: &mut Audience) -> ClosedPeriod {
        let ps = a.take_period(0.0, 3.0);
        ClosedPeriod { content_id: "ad-1".into(), start: 0.0, end: 3.0, presences: ps, ending: Ending::Normal }
    }

    #[test]
    fn counts_ots_and_watchers() {
        let mut a = audience_with(6, 20);
        let r = content_report(&period(&mut a), a.config(), 5);
        assert_eq!(r.ots, Some(6));
        assert_eq!(r.watchers, Some(6));
        assert!((r.attention_time_mean.unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(r.dwell_histogram[1], Some(6));
        assert_eq!(r.dwell_histogram[0], Some(0), "nobody is nobody: zero is safe to publish");
    }

    #[test]
    fn an_empty_period_has_no_nan() {
        let empty = ClosedPeriod {
            content_id: "ad-0".into(),
            start: 0.0,
            end: 1.0,
            presences: Vec::new(),
            ending: Ending::Normal,
        };
        let r = content_report(&empty, &DwellConfig::default(), 5);
        assert_eq!((r.ots, r.watchers, r.conversion, r.attention_time_mean), (Some(0), Some(0), Some(0.0), Some(0.0)));
    }

    #[test]
    fn small_groups_are_suppressed() {
        let mut a = audience_with(3, 20);
        let p = period(&mut a);
        let r = content_report(&p, a.config(), 5);
        assert_eq!((r.ots, r.watchers, r.conversion, r.attention_time_total), (None, None, None, None));
        assert!(r.demographics.values().all(|v| v.is_none()));
        let r = content_report(&p, a.config(), 1);
        assert_eq!(r.ots, Some(3));
    }
}
