//! `--catalogue FILE`: screen metadata (store, name, time zone as a fixed
//! UTC offset) and the content catalogue (name, campaign, brand), from TOML
//! or CSV. Without one: UTC, the store from the screen id (`store/screen`),
//! brand and campaign `unknown`.
//!
//! TOML:
//! ```toml
//! [screens."store-12/entrance"]
//! store = "Berlin Mitte"
//! name = "Entrance"
//! utc_offset = "+01:00"
//!
//! [content.spring-sale]
//! name = "Spring sale"
//! campaign = "Spring 2026"
//! brand = "Acme"
//! ```
//! CSV (one header row): `kind,id,name,store,utc_offset,campaign,brand`,
//! `kind` = `screen` or `content`, empty fields unknown.

use std::path::Path;

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
        let offset = opt(s.get("utc_offset")).unwrap_or_default();
        let utc_offset_minutes =
            parse_offset(&offset).ok_or_else(|| format!("screen {id:?}: utc_offset {offset:?} (e.g. +01:00)"))?;
        cat.screens.insert(
            id.clone(),
            ScreenInfo { store: opt(s.get("store")), name: opt(s.get("name")), utc_offset_minutes },
        );
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
                let offset = get("utc_offset").unwrap_or_default();
                let utc_offset_minutes =
                    parse_offset(&offset).ok_or_else(|| format!("line {}: utc_offset {offset:?}", n + 1))?;
                cat.screens.insert(key, ScreenInfo { store: get("store"), name: get("name"), utc_offset_minutes });
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
        assert_eq!(t.screens["store-12/entrance"].utc_offset_minutes, 60);
        assert_eq!(parse_offset("-05:30"), Some(-330));
        assert_eq!(parse_offset("CET"), None);
        assert!(from_toml("[stores]\n").is_err());
    }
}
