//! `--catalogue FILE`: screen metadata (store, name, time zone: an IANA
//! name such as `Europe/Berlin`, with its daylight-saving rules, or a fixed
//! offset such as `+01:00`) and the content catalogue (name, campaign, brand), from TOML
//! or CSV. Without one: UTC, the store from the screen id (`store/screen`),
//! brand and campaign `unknown`.
//!
//! TOML:
//! ```toml
//! [screens."store-12/entrance"]
//! store = "Berlin Mitte"
//! name = "Entrance"
//! time_zone = "Europe/Berlin"
//!
//! [content.spring-sale]
//! name = "Spring sale"
//! campaign = "Spring 2026"
//! brand = "Acme"
//! ```
//! CSV (one header row): `kind,id,name,store,time_zone,campaign,brand`,
//! `kind` = `screen` or `content`, empty fields unknown. (`utc_offset`, the
//! older name of `time_zone`, is still read.) The zone rules are jiff's
//! bundled copy of the IANA database: the same on every machine.

use std::path::Path;

use jiff::tz::TimeZone;

use crate::model::{Catalogue, ContentInfo, ScreenInfo};

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {what}")]
    Bad { path: String, what: String },
}

/// `+01:00`, `-05:30`, `Z`, `UTC` → minutes east of UTC.
pub fn parse_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes()[0] {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=14).contains(&h) && (0..60).contains(&m)).then_some(sign * (h * 60 + m))
}

/// `Europe/Berlin` (IANA, daylight saving included), `+01:00`, `Z`, `UTC` or empty (UTC) → a time zone.
pub fn parse_time_zone(s: &str) -> Option<TimeZone> {
    match parse_offset(s) {
        Some(minutes) => jiff::tz::Offset::from_seconds(minutes * 60).ok().map(TimeZone::fixed),
        None => TimeZone::get(s.trim()).ok(),
    }
}

const ZONE_HELP: &str = "an IANA time zone such as Europe/Berlin, or an offset such as +01:00";

fn opt(v: Option<&toml::Value>) -> Option<String> {
    v.and_then(toml::Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Reads a catalogue (`.toml`, else CSV).
pub fn load(path: &Path) -> Result<Catalogue, CatalogueError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Io { path: name.clone(), source })?;
    let parsed = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) {
        from_toml(&text)
    } else {
        from_csv(&text)
    };
    parsed.map_err(|what| CatalogueError::Bad { path: name, what })
}

pub fn from_toml(text: &str) -> Result<Catalogue, String> {
    let v: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut cat = Catalogue::default();
    for (section, _) in &v {
        if section != "screens" && section != "content" {
            return Err(format!("unknown section [{section}] (screens, content)"));
        }
    }
    for (id, s) in v.get("screens").and_then(toml::Value::as_table).into_iter().flatten() {
        let zone = opt(s.get("time_zone")).or_else(|| opt(s.get("utc_offset"))).unwrap_or_default();
        let time_zone =
            parse_time_zone(&zone).ok_or_else(|| format!("screen {id:?}: time_zone {zone:?} ({ZONE_HELP})"))?;
        cat.screens.insert(id.clone(), ScreenInfo { store: opt(s.get("store")), name: opt(s.get("name")), time_zone });
    }
    for (id, c) in v.get("content").and_then(toml::Value::as_table).into_iter().flatten() {
        cat.contents.insert(
            id.clone(),
            ContentInfo { name: opt(c.get("name")), campaign: opt(c.get("campaign")), brand: opt(c.get("brand")) },
        );
    }
    Ok(cat)
}

pub fn from_csv(text: &str) -> Result<Catalogue, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().ok_or("empty")?.1.split(',').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (kind, id) = (col("kind").ok_or("no `kind` column")?, col("id").ok_or("no `id` column")?);
    let mut cat = Catalogue::default();
    for (n, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |name: &str| col(name).and_then(|i| f.get(i)).filter(|s| !s.is_empty()).map(|s| s.to_string());
        let key = f.get(id).filter(|s| !s.is_empty()).ok_or(format!("line {}: no id", n + 1))?.to_string();
        match f.get(kind).copied() {
            Some("screen") => {
                let zone = get("time_zone").or_else(|| get("utc_offset")).unwrap_or_default();
                let time_zone = parse_time_zone(&zone)
                    .ok_or_else(|| format!("line {}: time_zone {zone:?} ({ZONE_HELP})", n + 1))?;
                cat.screens.insert(key, ScreenInfo { store: get("store"), name: get("name"), time_zone });
            }
            Some("content") => {
                cat.contents
                    .insert(key, ContentInfo { name: get("name"), campaign: get("campaign"), brand: get("brand") });
            }
            other => return Err(format!("line {}: kind {other:?} (screen or content)", n + 1)),
        }
    }
    Ok(cat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use blickfang::time;

    #[test]
    fn toml_and_csv_say_the_same() {
        let t = from_toml(
            "[screens.\"store-12/entrance\"]\nstore = \"Mitte\"\nutc_offset = \"+01:00\"\n\
             [content.spring-sale]\nbrand = \"Acme\"\ncampaign = \"Spring\"\n",
        )
        .unwrap();
        let c = from_csv(
            "kind,id,name,store,utc_offset,campaign,brand\nscreen,store-12/entrance,,Mitte,+01:00,,\n\
             content,spring-sale,,,,Spring,Acme\n",
        )
        .unwrap();
        assert_eq!(t.screens, c.screens);
        assert_eq!(t.contents, c.contents);
        assert_eq!(t.screens["store-12/entrance"].utc_offset_at(0), 3600);
        assert_eq!(parse_offset("-05:30"), Some(-330));
        assert_eq!(parse_offset("CET"), None);
        assert!(from_toml("[stores]\n").is_err());
        // IANA names carry daylight saving: Berlin is +1 in January, +2 in July.
        let z = from_csv("kind,id,time_zone\nscreen,b,Europe/Berlin\n").unwrap();
        let jan = time::days_from_civil(2026, 1, 15) * 86_400;
        let jul = time::days_from_civil(2026, 7, 15) * 86_400;
        assert_eq!((z.screens["b"].utc_offset_at(jan), z.screens["b"].utc_offset_at(jul)), (3600, 7200));
        let e = from_toml("[screens.b]\ntime_zone = \"Europe/Berlinn\"\n").unwrap_err();
        assert!(e.contains("Europe/Berlinn") && e.contains("IANA"), "{e}");
    }
}
