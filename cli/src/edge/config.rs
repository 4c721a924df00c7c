//! The edge configuration (`/etc/blickfang/edge.toml`): what `blickfang edge`
//! runs and what `blickfang privacy-notice` tells the public, from one file,
//! so that the notice cannot drift from what runs. Every error names its key.

use std::path::{Path, PathBuf};

use blickfang_fleet::notice::Notice;
use serde::Deserialize;

pub const DEFAULT_PATH: &str = "/etc/blickfang/edge.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The screen id of inputs that do not name their own.
    pub screen: Option<String>,
    /// Run `blickfang-demographics` (estimated age group and gender).
    #[serde(default = "yes")]
    pub demographics: bool,
    /// A window on the local display with faces blurred (`blickfang-blurredact`); never on the network.
    #[serde(default)]
    pub preview: bool,
    /// Where each input's mqttsink keeps the records the broker has not acknowledged.
    #[serde(default = "default_spool_dir")]
    pub spool_dir: PathBuf,
    /// A Unix socket on which local players say what is on screen (`<screen> <content-id>` lines).
    pub content_socket: Option<PathBuf>,
    #[serde(default)]
    pub mqtt: Mqtt,
    #[serde(default)]
    pub retry: Retry,
    /// The cameras (at least one).
    #[serde(default, rename = "input")]
    pub inputs: Vec<Input>,
    /// What the privacy notice names (GDPR Art. 13) and k (`min_group_size`, gazedwell's
    /// `min-group-size`): the same section the collector and the report read.
    pub notice: Option<Notice>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mqtt {
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// mqttsink's `topic` template.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// The retained topic a screen's content is announced on; `{screen}` is replaced.
    #[serde(default = "default_content_topic")]
    pub content_topic: String,
    #[serde(default)]
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
}

impl Default for Mqtt {
    fn default() -> Self {
        Self {
            host: default_host(),
            port: default_port(),
            username: None,
            password: None,
            topic: default_topic(),
            content_topic: default_content_topic(),
            tls: false,
            ca_file: None,
        }
    }
}

/// The backoff of an input that failed or ended: `min_ms`, doubling up to `max_ms`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    #[serde(default = "default_retry_min")]
    pub min_ms: u64,
    #[serde(default = "default_retry_max")]
    pub max_ms: u64,
}

impl Default for Retry {
    fn default() -> Self {
        Self { min_ms: default_retry_min(), max_ms: default_retry_max() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Unique; names the input in messages and its spool file.
    pub name: String,
    /// The screen this camera watches; default: the top-level `screen`.
    pub screen: Option<String>,
    /// A V4L2 camera, e.g. /dev/video0.
    pub device: Option<String>,
    /// A URI: rtsp://, http://, file://.
    pub uri: Option<String>,
    /// A video file (played once per run; for demonstrations and tests).
    pub file: Option<PathBuf>,
    /// What is on screen until a player says otherwise.
    pub content_id: Option<String>,
}

fn yes() -> bool {
    true
}
fn default_spool_dir() -> PathBuf {
    PathBuf::from("/var/lib/blickfang/spool")
}
fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    1883
}
fn default_topic() -> String {
    "blickfang/{screen}/{type}".into()
}
fn default_content_topic() -> String {
    "blickfang/{screen}/content".into()
}
fn default_retry_min() -> u64 {
    1_000
}
fn default_retry_max() -> u64 {
    30_000
}

/// A screen id fit for an MQTT topic level and a file name.
fn check_id(key: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || v.starts_with('.') {
        return Err(format!("{key} = {v:?}: use letters, digits, '-', '_' and '.' only (it names a topic and a file)"));
    }
    Ok(())
}

impl Config {
    /// Reads and validates `path`; the error names the file and the key.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        if let Some(s) = &self.screen {
            check_id("screen", s)?;
        }
        if self.inputs.is_empty() {
            return Err("no [[input]]: give at least one camera (device, uri or file)".into());
        }
        let mut names = std::collections::HashSet::new();
        for (i, input) in self.inputs.iter().enumerate() {
            let key = |k: &str| format!("input[{i}].{k}");
            check_id(&key("name"), &input.name)?;
            if !names.insert(input.name.as_str()) {
                return Err(format!("{} = {:?}: another input has this name", key("name"), input.name));
            }
            if let Some(s) = &input.screen {
                check_id(&key("screen"), s)?;
            }
            if input.screen.is_none() && self.screen.is_none() {
                return Err(format!("{}: no screen (set it, or the top-level `screen`)", key("screen")));
            }
            let sources = [input.device.is_some(), input.uri.is_some(), input.file.is_some()];
            if sources.iter().filter(|s| **s).count() != 1 {
                return Err(format!("input[{i}] ({}): give exactly one of device, uri, file", input.name));
            }
            if let Some(u) = &input.uri
                && !u.contains("://")
            {
                return Err(format!("{} = {u:?}: not a URI (rtsp://..., file://...)", key("uri")));
            }
            if let Some(f) = &input.file
                && !f.is_file()
            {
                return Err(format!("{} = {:?}: no such file", key("file"), f.display().to_string()));
            }
        }
        if self.retry.min_ms == 0 || self.retry.max_ms < self.retry.min_ms {
            return Err(format!(
                "retry.min_ms = {}, retry.max_ms = {}: need 0 < min_ms <= max_ms",
                self.retry.min_ms, self.retry.max_ms
            ));
        }
        if self.mqtt.host.is_empty() {
            return Err("mqtt.host is empty".into());
        }
        if self.mqtt.port == 0 {
            return Err("mqtt.port = 0: not a port".into());
        }
        if self.mqtt.password.is_some() && self.mqtt.username.is_none() {
            return Err("mqtt.password without mqtt.username".into());
        }
        if self.mqtt.tls && self.mqtt.ca_file.is_none() {
            return Err("mqtt.tls = true needs mqtt.ca_file".into());
        }
        if !self.mqtt.content_topic.contains("{screen}") {
            return Err(format!("mqtt.content_topic = {:?}: must contain {{screen}}", self.mqtt.content_topic));
        }
        if let Some(n) = &self.notice {
            n.check()?;
        }
        Ok(())
    }

    /// k: gazedwell's `min-group-size`, what the notice states.
    pub fn min_group_size(&self) -> u32 {
        Notice::k(self.notice.as_ref())
    }

    /// The screen of input `i`.
    pub fn screen_of(&self, input: &Input) -> String {
        input.screen.clone().or_else(|| self.screen.clone()).unwrap_or_default()
    }

    /// The distinct screens, in order of first appearance.
    pub fn screens(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in &self.inputs {
            let s = self.screen_of(i);
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "screen = \"lobby-1\"\n[[input]]\nname = \"door\"\ndevice = \"/dev/video0\"\n";

    #[test]
    fn defaults_and_screens() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.min_group_size(), 5);
        assert!(c.demographics && !c.preview);
        assert_eq!(c.mqtt.port, 1883);
        assert_eq!(c.screens(), ["lobby-1"]);
    }

    #[test]
    fn the_packaged_example_is_valid() {
        let c = Config::parse(include_str!("../../../packaging/etc/blickfang/edge.toml")).unwrap();
        assert_eq!(c.spool_dir, Path::new("/var/lib/blickfang/spool"));
        assert!(c.notice.is_some());
    }

    #[test]
    fn errors_name_the_key() {
        let err = |t: &str| Config::parse(t).unwrap_err();
        assert!(err(&format!("{MINIMAL}bogus = 1\n")).contains("bogus"));
        assert!(err(&MINIMAL.replace("device = \"/dev/video0\"", "")).contains("input[0] (door)"));
        assert!(err(&format!("{MINIMAL}[notice]\nmin_group_size = 0\n")).contains("notice.min_group_size"));
        assert!(err(&format!("min_group_size = 5\n{MINIMAL}")).contains("min_group_size"), "k lives in [notice]");
        assert!(err(&MINIMAL.replace("\"lobby-1\"", "\"a/b\"")).contains("screen = \"a/b\""));
        assert!(err(&format!("{MINIMAL}[[input]]\nname = \"door\"\nuri = \"rtsp://x\"\n")).contains("input[1].name"));
        assert!(err(&format!("{MINIMAL}[[input]]\nname = \"b\"\nuri = \"x\"\n")).contains("input[1].uri"));
        assert!(err(&format!("{MINIMAL}[mqtt]\nport = \"x\"\n")).contains("port"));
        assert!(err(&format!("{MINIMAL}[retry]\nmin_ms = 10\nmax_ms = 1\n")).contains("retry.min_ms"));
        let notice = "[notice]\ncontroller = \"\"\ncontact = \"c\"\nlegal_basis = \"l\"\nretain_days = 30\n";
        assert!(err(&format!("{MINIMAL}{notice}")).contains("notice.controller"));
        assert!(err("screen = \"s\"\n").contains("[[input]]"));
    }
}
