//! `blickfang simulate`: a fleet of virtual screens, faster than real time.
//! Per screen a playlist (content switches), people arriving at random
//! (dwell, looks, gender and age group drawn from plausible distributions),
//! some screens idle (nobody passes), some off (no records); records made by
//! the product's writer (`blickfang::records::RecordBuilder`), some
//! published twice (as QoS 1 allows). The truth — per screen × content ×
//! hour — is the `rollup` module applied to the records once each.

use std::io::Write;

use blickfang::records::{RecordBuilder, RecordType, Timing};
use blickfang::time::utc_rfc3339;
use serde_json::{Value, json};

use crate::ingest::{self, Ingested, Rules};
use crate::rollup::{Rollup, Thresholds};

#[derive(Debug, Clone)]
pub struct SimSettings {
    pub screens: usize,
    pub duration_s: u64,
    pub seed: u64,
    /// Wall clock of the simulation's start, µs since the epoch.
    pub start_us: i64,
    /// Records published a second time, per thousand.
    pub duplicates_per_mille: u64,
    /// The edges' topic template.
    pub topic: String,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            screens: 50,
            duration_s: 600,
            seed: 1,
            // 2026-11-02T08:00:00Z, a Monday morning.
            start_us: 1_793_606_400_000_000,
            duplicates_per_mille: 10,
            topic: ingest::DEFAULT_TOPIC.into(),
        }
    }
}

/// The messages (in publish order, duplicates included) and the truth.
#[derive(Debug, Clone, Default)]
pub struct Simulation {
    /// (topic, payload).
    pub messages: Vec<(String, String)>,
    /// Distinct records.
    pub records: usize,
    pub truth: Rollup,
}

/// splitmix64: small, seedable, the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.unit() * (hi - lo) as f64) as i64
    }

    pub(crate) fn pick<'a, T>(&mut self, weighted: &'a [(T, f64)]) -> &'a T {
        let total: f64 = weighted.iter().map(|w| w.1).sum();
        let mut x = self.unit() * total;
        for (v, w) in weighted {
            if x < *w {
                return v;
            }
            x -= w;
        }
        &weighted[weighted.len() - 1].0
    }
}

pub(crate) const AGE_GROUPS: [(&str, f64); 7] =
    [("0-17", 0.08), ("18-24", 0.15), ("25-34", 0.22), ("35-44", 0.2), ("45-54", 0.16), ("55-64", 0.11), ("65+", 0.08)];
pub(crate) const GENDERS: [(Option<&str>, f64); 3] = [(Some("female"), 0.48), (Some("male"), 0.47), (None, 0.05)];

/// A screen id as a store would name it: `store-NNN/screen-N` (the `/` is escaped in topics).
pub fn screen_id(i: usize) -> String {
    format!("store-{:03}/screen-{}", i / 4 + 1, i % 4 + 1)
}

struct Period {
    content_id: String,
    start: i64,
    end: i64,
}

/// One screen's records, in time order: (time ms, record).
fn screen_records(i: usize, s: &SimSettings, rng: &mut Rng) -> Vec<(i64, Value)> {
    let kind = rng.unit();
    if kind < 0.04 {
        return Vec::new(); // off: the player is down
    }
    let idle = kind < 0.12;
    let end_ms = s.duration_s as i64 * 1000;
    let run = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rng.next_u64() as u32,
        rng.next_u64() as u16,
        rng.next_u64() & 0xfff,
        rng.next_u64() & 0xfff,
        rng.next_u64() & 0xffff_ffff_ffff
    );
    let mut builder = RecordBuilder::new(screen_id(i), run, Some("camera-0".into()));
    // Playlist: 3..6 items of 10..40 s, looped.
    let playlist: Vec<(String, i64)> =
        (0..rng.range(3, 7)).map(|_| (format!("ad-{:02}", rng.range(1, 21)), rng.range(10, 41) * 1000)).collect();
    let mut periods = Vec::new();
    let (mut t, mut k) = (0i64, 0usize);
    while t < end_ms {
        let (id, len) = &playlist[k % playlist.len()];
        periods.push(Period { content_id: id.clone(), start: t, end: (t + len).min(end_ms) });
        t += len;
        k += 1;
    }
    let mut out: Vec<(i64, u8, Value)> = Vec::new();
    let timing = |t: i64| Timing {
        pts: Some(t as f64 / 1000.0),
        running_time: Some(t as f64 / 1000.0),
        utc: Some(utc_rfc3339(i128::from(s.start_us + t * 1000) * 1000)),
    };
    let mut person_id = 0u32;
    let mut shares_per_period: Vec<Vec<(i64, i64)>> = vec![Vec::new(); periods.len()];
    if !idle {
        let mean_gap_ms = rng.range(8_000, 60_000) as f64;
        let mut at = 0i64;
        loop {
            at += (-(1.0 - rng.unit()).ln() * mean_gap_ms) as i64 + 1;
            if at >= end_ms {
                break;
            }
            person_id += 1;
            let dwell = match rng.unit() {
                x if x < 0.6 => rng.range(300, 5_000),
                x if x < 0.9 => rng.range(5_000, 30_000),
                _ => rng.range(30_000, 120_000),
            };
            let (a, b) = (at, (at + dwell).min(end_ms));
            // Brief passers-by are never announced at the edge (gazedwell's min-dwell, 1 s).
            if b - a < 1000 {
                continue;
            }
            let mut looks = Vec::new();
            if rng.unit() < 0.6 {
                let n = rng.range(1, 4);
                let slot = (b - a) / n;
                for j in 0..n {
                    let len = (slot as f64 * (0.2 + 0.7 * rng.unit())) as i64;
                    let from = a + j * slot + rng.range(0, (slot - len).max(1));
                    if len > 0 {
                        looks.push((from, from + len));
                    }
                }
            }
            let attention = |x: i64, y: i64| -> i64 { looks.iter().map(|&(p, q)| (q.min(y) - p.max(x)).max(0)).sum() };
            let gender = rng.pick(&GENDERS);
            let age = if gender.is_some() { Some(*rng.pick(&AGE_GROUPS)) } else { None };
            let mut contents = Vec::new();
            for (pi, p) in periods.iter().enumerate() {
                let (x, y) = (a.max(p.start), b.min(p.end));
                if y > x {
                    contents
                        .push(json!({"content_id": p.content_id, "start": x as f64 / 1000.0, "end": y as f64 / 1000.0,
                        "dwell_time": (y - x) as f64 / 1000.0, "attention_time": attention(x, y) as f64 / 1000.0}));
                    shares_per_period[pi].push((y - x, attention(x, y)));
                }
            }
            let mut appeared = json!({"event": "appeared", "id": person_id, "dwell_time": 1.0, "attention_time": 0.0,
                "glances": 0, "running_time": (a + 1000) as f64 / 1000.0});
            let mut left = json!({"event": "left", "id": person_id, "dwell_time": (b - a) as f64 / 1000.0,
                "attention_time": attention(a, b) as f64 / 1000.0, "glances": looks.len(),
                "contents": contents, "ending": if b == end_ms { "eos" } else { "normal" }});
            if let (Some(g), Some(age)) = (gender, age) {
                for e in [&mut appeared, &mut left] {
                    e["gender"] = json!(g);
                    e["age_group"] = json!(age);
                }
            }
            out.push((a + 1000, 0, appeared));
            out.push((b, 1, left));
        }
    }
    for (pi, p) in periods.iter().enumerate() {
        // The edge's own k-suppressed report (k = 5): the fleet keeps it as proof of play.
        let ots = shares_per_period[pi].iter().filter(|x| x.0 >= 1000).count();
        let watchers = shares_per_period[pi].iter().filter(|x| x.0 >= 1000 && x.1 >= 1000).count();
        let mut r = json!({"content_id": p.content_id, "start": p.start as f64 / 1000.0, "end": p.end as f64 / 1000.0,
            "running_time": p.end as f64 / 1000.0, "ending": if p.end == end_ms { "eos" } else { "normal" },
            "min_group_size": 5});
        let mut suppressed = Vec::new();
        for (name, n) in [("ots", ots), ("watchers", watchers)] {
            if n == 0 || n >= 5 {
                r[name] = json!(n);
            } else {
                suppressed.push(name);
            }
        }
        r["suppressed"] = json!(suppressed);
        out.push((p.end, 2, r));
    }
    out.sort_by_key(|x| (x.0, x.1));
    out.into_iter()
        .map(|(t, order, fields)| {
            let kind = if order == 2 { RecordType::ContentReport } else { RecordType::PersonEvent };
            let fields = fields.as_object().cloned().unwrap_or_default();
            (t, builder.event(kind, &timing(t), &fields))
        })
        .collect()
}

/// Runs the simulation: messages in publish order and the truth.
pub fn simulate(s: &SimSettings) -> Simulation {
    let mut rng = Rng::new(s.seed);
    let mut all: Vec<(i64, usize, String, String)> = Vec::new();
    for i in 0..s.screens {
        let mut screen_rng = Rng::new(rng.next_u64());
        for (t, record) in screen_records(i, s, &mut screen_rng) {
            let kind = record["type"].as_str().unwrap_or_default().to_string();
            let topic = blickfang::spool::topic(&s.topic, &screen_id(i), &kind);
            all.push((t, i, topic, record.to_string()));
        }
    }
    all.sort_by_key(|x| (x.0, x.1));
    let rules = Rules { topic_template: s.topic.clone(), ..Rules::default() };
    let thresholds = Thresholds::default();
    let mut truth = Rollup::default();
    for (_, _, topic, payload) in &all {
        match ingest::ingest(topic, payload.as_bytes(), &rules) {
            Ingested::Left(l, _) => truth.add_left(&l, &thresholds),
            Ingested::Period(p, _) => truth.add_period(&p),
            _ => {}
        }
    }
    // Duplicates: a copy published again a little later (a QoS 1 redelivery).
    let records = all.len();
    let mut order: Vec<(usize, u8, usize)> = (0..records).map(|i| (i, 0, i)).collect();
    for i in 0..records {
        if rng.next_u64() % 1000 < s.duplicates_per_mille {
            order.push((i + rng.range(1, 50) as usize, 1, i));
        }
    }
    order.sort();
    let messages = order.into_iter().map(|(_, _, i)| (all[i].2.clone(), all[i].3.clone())).collect();
    Simulation { messages, records, truth }
}

impl Simulation {
    /// The records as NDJSON (duplicates included), as a `metajson` file would hold them.
    pub fn write_records(&self, out: &mut impl Write) -> std::io::Result<()> {
        for (_, payload) in &self.messages {
            writeln!(out, "{payload}")?;
        }
        Ok(())
    }

    /// The truth file: settings and the cells.
    pub fn truth_json(&self, s: &SimSettings) -> Value {
        let mut v = self.truth.to_json();
        v["screens"] = json!(s.screens);
        v["duration_s"] = json!(s.duration_s);
        v["seed"] = json!(s.seed);
        v["records"] = json!(self.records);
        v["messages"] = json!(self.messages.len());
        v["rules"] = json!({"hour": "a share or play counts in the UTC hour in which it started",
            "min_dwell_s": 1.0, "min_attention_s": 1.0});
        v
    }
}

/// Publishes `messages` with QoS 1 and waits until the broker acknowledged every one.
pub async fn publish(url: &str, client_id: &str, messages: &[(String, String)]) -> anyhow::Result<()> {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{AsyncClient, Event, Incoming};
    let url = crate::collector::parse_mqtt_url(url)?;
    let mut o = rumqttc::v5::MqttOptions::new(client_id, url.host.clone(), url.port);
    o.set_keep_alive(std::time::Duration::from_secs(15));
    if let Some(u) = &url.user {
        o.set_credentials(u.clone(), url.password.clone().unwrap_or_default());
    }
    let (client, mut eventloop) = AsyncClient::new(o, 1000);
    let total = messages.len();
    let acks = tokio::spawn(async move {
        let mut acked = 0usize;
        while acked < total {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => return Err(anyhow::anyhow!("publishing: {e}")),
            }
        }
        // Let the last requests go out before the loop is dropped.
        Ok::<_, anyhow::Error>(eventloop)
    });
    for (topic, payload) in messages {
        client.publish(topic.clone(), QoS::AtLeastOnce, false, payload.clone().into_bytes()).await?;
    }
    let _eventloop = acks.await??;
    let _ = client.disconnect().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_with_duplicates_and_valid_records() {
        let s = SimSettings { screens: 8, duration_s: 300, ..SimSettings::default() };
        let a = simulate(&s);
        let b = simulate(&s);
        assert_eq!(a.messages, b.messages);
        assert_eq!(a.truth, b.truth);
        assert!(a.messages.len() > a.records, "some records are published twice");
        assert!(a.truth.cells.values().any(|c| c.ots > 0 && c.plays > 0));
        // Every message is accepted data (or an ignored person event), and the truth is the rollup of them once each.
        let mut again = Rollup::default();
        let mut seen = std::collections::HashSet::new();
        for (topic, payload) in &a.messages {
            match ingest::ingest(topic, payload.as_bytes(), &Rules::default()) {
                Ingested::Left(l, _) => {
                    if seen.insert(l.key.clone()) {
                        again.add_left(&l, &Thresholds::default());
                    }
                }
                Ingested::Period(p, _) => {
                    if seen.insert(p.key.clone()) {
                        again.add_period(&p);
                    }
                }
                Ingested::Ignored(_) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(again, a.truth);
    }
}
