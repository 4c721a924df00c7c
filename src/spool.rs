//! Delivery of records to a message broker without silent loss: the bounded
//! [`Spool`] that holds records until the broker acknowledges them, the
//! topic template and the reconnection [`Backoff`].
//!
//! Spool semantics: records are kept in order until acknowledged. When the
//! spool is full, *new* records are dropped (the ones already waiting keep
//! their order and go out first) and counted; the first record accepted after
//! a loss carries `"dropped": n`, the number lost right before it. With a spool
//! file, every accepted record is also appended to it (metadata lines only),
//! so records a crash or a timed-out drain left behind are sent by the next
//! start; the file is emptied whenever everything was acknowledged.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::records;

#[derive(Debug)]
struct Entry {
    line: String,
    acked: bool,
}

/// What [`Spool::push`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued; `dropped` records were lost right before it (and it says so).
    Queued { dropped: u64 },
    /// The spool is full: dropped. `episode` counts the losses since the last
    /// record that got in, `first` is true for the first of them.
    Dropped { episode: u64, first: bool },
}

/// A bounded, ordered queue of records awaiting acknowledgement. Records are
/// addressed by an index that increases by one per queued record.
#[derive(Debug)]
pub struct Spool {
    capacity: usize,
    entries: VecDeque<Entry>,
    /// Index of `entries[0]`.
    first: u64,
    episode: u64,
    total_dropped: u64,
    file: Option<SpoolFile>,
}

#[derive(Debug)]
struct SpoolFile {
    path: PathBuf,
    file: File,
    /// Lines in the file, acknowledged ones included.
    lines: usize,
}

impl Spool {
    /// A memory-only spool of `capacity` records (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), entries: VecDeque::new(), first: 0, episode: 0, total_dropped: 0, file: None }
    }

    /// A spool backed by `path`: records a previous run left there are queued
    /// first (at most `capacity`; the rest count as dropped).
    pub fn with_file(capacity: usize, path: &Path) -> io::Result<Self> {
        let mut spool = Self::new(capacity);
        if path.exists() {
            for line in BufReader::new(File::open(path)?).lines() {
                let line = line?;
                let line = line.trim();
                // A line cut short by a crash is not a record.
                if line.is_empty() || serde_json::from_str::<serde_json::Value>(line).is_err() {
                    continue;
                }
                if let Push::Dropped { .. } = spool.push(line)? {}
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        spool.file = Some(SpoolFile { path: path.to_path_buf(), file, lines: 0 });
        spool.rewrite_file()?;
        Ok(spool)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records waiting (not yet acknowledged).
    pub fn len(&self) -> usize {
        self.entries.iter().filter(|e| !e.acked).count()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Index of the oldest record still held.
    pub fn first_index(&self) -> u64 {
        self.first
    }

    /// Index the next queued record will get.
    pub fn end_index(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    pub fn total_dropped(&self) -> u64 {
        self.total_dropped
    }

    /// Losses since the last record that got in (not yet reported in one).
    pub fn unreported_dropped(&self) -> u64 {
        self.episode
    }

    /// Queues `line` (a JSON object), or drops it when the spool is full.
    pub fn push(&mut self, line: &str) -> io::Result<Push> {
        if self.entries.len() >= self.capacity {
            self.episode += 1;
            self.total_dropped += 1;
            return Ok(Push::Dropped { episode: self.episode, first: self.episode == 1 });
        }
        let dropped = self.episode;
        let line = match dropped {
            0 => line.to_string(),
            n => records::with_dropped(line, n).unwrap_or_else(|| line.to_string()),
        };
        self.episode = 0;
        if let Some(f) = &mut self.file {
            writeln!(f.file, "{line}")?;
            f.lines += 1;
        }
        self.entries.push_back(Entry { line, acked: false });
        Ok(Push::Queued { dropped })
    }

    /// The record at `index`, unless it was acknowledged or is not held.
    pub fn get(&self, index: u64) -> Option<&str> {
        let i = usize::try_from(index.checked_sub(self.first)?).ok()?;
        self.entries.get(i).filter(|e| !e.acked).map(|e| e.line.as_str())
    }

    /// The broker has the record at `index`: forget it (and every
    /// acknowledged record before it).
    pub fn ack(&mut self, index: u64) -> io::Result<()> {
        let Some(i) = index.checked_sub(self.first).and_then(|i| usize::try_from(i).ok()) else { return Ok(()) };
        if let Some(e) = self.entries.get_mut(i) {
            e.acked = true;
        }
        while self.entries.front().is_some_and(|e| e.acked) {
            self.entries.pop_front();
            self.first += 1;
        }
        // Empty the file once everything is delivered; compact it when it
        // holds mostly delivered records.
        if let Some(f) = &self.file
            && ((self.entries.is_empty() && f.lines > 0) || f.lines > 2 * self.capacity)
        {
            self.rewrite_file()?;
        }
        Ok(())
    }

    /// Writes what the file holds to disk (at EOS and stop).
    pub fn sync(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.file.sync_data(),
            None => Ok(()),
        }
    }

    /// Replaces the file's contents with the records still waiting.
    fn rewrite_file(&mut self) -> io::Result<()> {
        let Some(f) = &mut self.file else { return Ok(()) };
        let waiting: Vec<&str> = self.entries.iter().filter(|e| !e.acked).map(|e| e.line.as_str()).collect();
        if waiting.is_empty() {
            f.file.set_len(0)?;
        } else {
            let tmp = f.path.with_extension("tmp");
            {
                let mut out = io::BufWriter::new(File::create(&tmp)?);
                for line in &waiting {
                    writeln!(out, "{line}")?;
                }
                out.flush()?;
            }
            std::fs::rename(&tmp, &f.path)?;
            f.file = OpenOptions::new().append(true).open(&f.path)?;
        }
        f.lines = waiting.len();
        Ok(())
    }
}

/// `s` as one topic level: the characters that would change a topic's meaning
/// or its level structure (`/`, `+`, `#`, NUL) replaced by `_`. Used for the
/// `{screen}` and `{type}` of every topic, and for the default screen id.
pub fn topic_level(s: &str) -> String {
    s.chars().map(|c| if matches!(c, '/' | '+' | '#' | '\0') { '_' } else { c }).collect()
}

/// Checks a topic template: not empty, no wildcards, only `{screen}` and
/// `{type}` as placeholders.
pub fn check_topic_template(template: &str) -> Result<(), String> {
    if template.is_empty() {
        return Err("the topic is empty".into());
    }
    if template.contains(['+', '#']) {
        return Err(format!("topic '{template}' has a wildcard (+ or #): a record needs one concrete topic"));
    }
    let rest = template.replace("{screen}", "").replace("{type}", "");
    if rest.contains(['{', '}']) {
        return Err(format!("topic '{template}' has a placeholder other than {{screen}} and {{type}}"));
    }
    Ok(())
}

/// The topic of a record: `template` with `{screen}` and `{type}` filled in
/// (slashes and wildcards in them replaced by `_`).
pub fn topic(template: &str, screen: &str, kind: &str) -> String {
    template.replace("{screen}", &topic_level(screen)).replace("{type}", &topic_level(kind))
}

/// Exponential reconnection delays: `min`, doubling up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Self { min, max, next: min }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// After a successful connection.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u32) -> String {
        format!(r#"{{"seq":{i}}}"#)
    }

    #[test]
    fn keeps_order_and_forgets_acknowledged() {
        let mut s = Spool::new(3);
        for i in 0..3 {
            assert_eq!(s.push(&rec(i)).unwrap(), Push::Queued { dropped: 0 });
        }
        assert_eq!(s.get(0), Some(r#"{"seq":0}"#));
        // Out of order: 1 acked first, held until 0 is.
        s.ack(1).unwrap();
        assert_eq!(s.first_index(), 0);
        assert_eq!(s.get(1), None);
        assert_eq!(s.len(), 2);
        s.ack(0).unwrap();
        assert_eq!(s.first_index(), 2);
        assert_eq!(s.get(2), Some(r#"{"seq":2}"#));
        assert_eq!(s.end_index(), 3);
    }

    #[test]
    fn full_spool_drops_new_records_and_reports_them_in_the_next() {
        let mut s = Spool::new(2);
        s.push(&rec(0)).unwrap();
        s.push(&rec(1)).unwrap();
        assert_eq!(s.push(&rec(2)).unwrap(), Push::Dropped { episode: 1, first: true });
        assert_eq!(s.push(&rec(3)).unwrap(), Push::Dropped { episode: 2, first: false });
        assert_eq!(s.unreported_dropped(), 2);
        s.ack(0).unwrap();
        assert_eq!(s.push(&rec(4)).unwrap(), Push::Queued { dropped: 2 });
        let v: serde_json::Value = serde_json::from_str(s.get(2).unwrap()).unwrap();
        assert_eq!(v["dropped"], 2);
        assert_eq!(v["seq"], 4);
        assert_eq!(s.total_dropped(), 2);
        assert_eq!(s.unreported_dropped(), 0);
    }

    #[test]
    fn file_spool_survives_a_restart_and_empties_when_acknowledged() {
        let dir = std::env::temp_dir().join(format!("blickfang-spool-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spool.ndjson");
        std::fs::remove_file(&path).ok();
        {
            let mut s = Spool::with_file(10, &path).unwrap();
            for i in 0..4 {
                s.push(&rec(i)).unwrap();
            }
            s.ack(0).unwrap();
            s.sync().unwrap();
        }
        // A torn last line from a crash is ignored.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"seq\":9").unwrap();
        let mut s = Spool::with_file(10, &path).unwrap();
        // 0 was acknowledged but the file had not been compacted: at least once.
        let held: Vec<_> = (s.first_index()..s.end_index()).filter_map(|i| s.get(i).map(String::from)).collect();
        assert_eq!(held, (0..4).map(rec).collect::<Vec<_>>());
        for i in s.first_index()..s.end_index() {
            s.ack(i).unwrap();
        }
        assert!(s.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        s.push(&rec(5)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", rec(5)));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn file_is_compacted_when_it_grows() {
        let dir = std::env::temp_dir().join(format!("blickfang-spool-compact-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spool.ndjson");
        let mut s = Spool::with_file(2, &path).unwrap();
        for i in 0..10 {
            s.push(&rec(i)).unwrap();
            s.push(&rec(100 + i)).unwrap();
            s.ack(s.first_index()).unwrap();
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 5, "{lines} lines");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn topics() {
        assert_eq!(topic("blickfang/{screen}/{type}", "lobby/1", "frame"), "blickfang/lobby_1/frame");
        assert_eq!(topic_level("a/b+c#d\0e"), "a_b_c_d_e");
        assert_eq!(topic_level("lobby-1.local"), "lobby-1.local");
        assert!(check_topic_template("blickfang/{screen}/{type}").is_ok());
        assert!(check_topic_template("a/#").is_err());
        assert!(check_topic_template("a/{id}").is_err());
        assert!(check_topic_template("").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_max() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let d: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(d, vec![100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }
}
