//! The `[notice]` section: what the privacy notice tells the public (GDPR
//! Art. 13) and the two numbers the fleet must keep to it — k
//! (`min_group_size`) and retention (`retain_days`). One parser for the edge
//! (`blickfang edge`, `blickfang privacy-notice`), the collector
//! (`blickfang collect --config`) and the report (`blickfang report --config`),
//! so the notice, the retention job and the report's suppression read the
//! same keys and cannot drift apart.
//!
//! Precedence: where the file gives a value, a flag may only repeat it — a
//! flag that disagrees is an error naming both (the published k and the
//! retention must be the ones the notice states). A flag alone, without a
//! file, still works.

use std::fmt::Display;
use std::path::Path;

use serde::Deserialize;

/// k when nothing sets it (gazedwell's and the report's default).
pub const DEFAULT_MIN_GROUP_SIZE: u32 = 5;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// The controller: name and postal address.
    pub controller: Option<String>,
    /// How to reach the controller (or its data protection officer) about this processing.
    pub contact: Option<String>,
    /// The data protection officer, if there is one.
    pub dpo: Option<String>,
    /// Why; default: a plain statement of audience measurement.
    pub purpose: Option<String>,
    /// The legal basis, e.g. "Art. 6(1)(f) GDPR (legitimate interest: ...)".
    pub legal_basis: Option<String>,
    /// Days the raw records are kept: the collector's retention job deletes older ones.
    pub retain_days: Option<u32>,
    /// k: every count of fewer people is suppressed (gazedwell's `min-group-size`, the report's
    /// `--min-group-size`).
    pub min_group_size: Option<u32>,
    /// Where the records go after the broker, e.g. "our audience database (blickfang collect)".
    pub recipient: Option<String>,
    /// The supervisory authority a complaint may go to.
    pub authority: Option<String>,
}

/// What the notice cannot be published without (GDPR Art. 13).
#[derive(Debug, Clone, Copy)]
pub struct Required<'a> {
    pub controller: &'a str,
    pub contact: &'a str,
    pub legal_basis: &'a str,
    pub retain_days: u32,
}

impl Notice {
    /// The `[notice]` section of any TOML text (other keys and tables are not looked at);
    /// `None` without one. The error names the key.
    pub fn from_toml(text: &str) -> Result<Option<Self>, String> {
        // Only `notice` is read: the rest of the file belongs to its program.
        #[derive(Deserialize)]
        struct File {
            notice: Option<Notice>,
        }
        let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        if let Some(n) = &file.notice {
            n.check()?;
        }
        Ok(file.notice)
    }

    /// The `[notice]` section of `path`; the error names the file.
    pub fn load(path: &Path) -> Result<Option<Self>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Values given are usable: texts not empty, k and retention at least 1.
    pub fn check(&self) -> Result<(), String> {
        for (k, v) in [
            ("controller", &self.controller),
            ("contact", &self.contact),
            ("legal_basis", &self.legal_basis),
            ("dpo", &self.dpo),
            ("purpose", &self.purpose),
            ("recipient", &self.recipient),
            ("authority", &self.authority),
        ] {
            if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(format!("notice.{k} is empty (leave it out, or say it: GDPR Art. 13)"));
            }
        }
        if self.retain_days == Some(0) {
            return Err("notice.retain_days = 0: say how many days the records are kept".into());
        }
        if self.min_group_size == Some(0) {
            return Err("notice.min_group_size = 0: k must be at least 1 (5 or more is usual)".into());
        }
        Ok(())
    }

    /// k: `min_group_size`, or the default.
    pub fn k(notice: Option<&Self>) -> u32 {
        notice.and_then(|n| n.min_group_size).unwrap_or(DEFAULT_MIN_GROUP_SIZE)
    }

    /// The keys the published notice needs; the error names the first missing one.
    pub fn required(&self) -> Result<Required<'_>, String> {
        let need = |k: &str, v: &'_ Option<String>| -> Result<(), String> {
            match v {
                Some(_) => Ok(()),
                None => Err(format!("notice.{k} is missing (GDPR Art. 13 requires it)")),
            }
        };
        need("controller", &self.controller)?;
        need("contact", &self.contact)?;
        need("legal_basis", &self.legal_basis)?;
        let retain_days = self
            .retain_days
            .ok_or("notice.retain_days is missing: say how many days the records are kept (GDPR Art. 13)")?;
        Ok(Required {
            controller: self.controller.as_deref().unwrap_or_default(),
            contact: self.contact.as_deref().unwrap_or_default(),
            legal_basis: self.legal_basis.as_deref().unwrap_or_default(),
            retain_days,
        })
    }
}

/// One value from the file's `[notice]` and a flag: the file's when it has one (a flag may
/// repeat it, a disagreeing one is refused, both named), else the flag's.
pub fn settle<T: PartialEq + Display + Copy>(
    key: &str,
    flag: &str,
    file: Option<(T, &Path)>,
    flag_value: Option<T>,
) -> Result<Option<T>, String> {
    match (file, flag_value) {
        (Some((f, path)), Some(v)) if f != v => Err(format!(
            "{flag} {v} disagrees with {key} = {f} in [notice] of {}: the privacy notice states {f}; \
             change the file (and publish the notice again) or drop the flag",
            path.display()
        )),
        (Some((f, _)), _) => Ok(Some(f)),
        (None, v) => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTICE: &str = "[notice]\ncontroller = \"Shop\"\ncontact = \"p@x\"\nlegal_basis = \"Art. 6(1)(f)\"\n\
                          retain_days = 30\nmin_group_size = 7\n";

    #[test]
    fn the_section_of_any_file() {
        let n = Notice::from_toml(&format!("database = \"x\"\n[mqtt]\nport = 1\n{NOTICE}")).unwrap().unwrap();
        assert_eq!((n.retain_days, n.min_group_size), (Some(30), Some(7)));
        assert_eq!(n.required().unwrap().controller, "Shop");
        assert_eq!(Notice::from_toml("database = \"x\"\n").unwrap(), None);
        assert_eq!(Notice::k(None), DEFAULT_MIN_GROUP_SIZE);
        let partial = Notice::from_toml("[notice]\nretain_days = 9\n").unwrap().unwrap();
        assert!(partial.required().unwrap_err().contains("notice.controller"));
    }

    #[test]
    fn errors_name_the_key() {
        let err = |t: &str| Notice::from_toml(t).unwrap_err();
        assert!(err("[notice]\nmin_group_size = 0\n").contains("notice.min_group_size"));
        assert!(err("[notice]\nretain_days = 0\n").contains("notice.retain_days"));
        assert!(err("[notice]\ncontact = \" \"\n").contains("notice.contact"));
        assert!(err("[notice]\nretain_day = 3\n").contains("retain_day"));
        assert!(err("[notice]\nretain_days = \"x\"\n").contains("retain_days"));
    }

    #[test]
    fn the_packaged_edge_and_collector_examples_carry_the_same_notice() {
        let edge = Notice::from_toml(include_str!("../../packaging/etc/blickfang/edge.toml")).unwrap();
        let collect: crate::collector::Settings =
            toml::from_str(include_str!("../../packaging/central/etc/blickfang/collect.toml")).unwrap();
        assert!(edge.as_ref().is_some_and(|n| n.retain_days.is_some() && n.min_group_size.is_some()));
        assert_eq!(collect.notice, edge);
    }

    #[test]
    fn a_flag_may_repeat_the_file_never_contradict_it() {
        let p = Path::new("/etc/blickfang/collect.toml");
        assert_eq!(settle("retain_days", "--retain-days", Some((30, p)), None), Ok(Some(30)));
        assert_eq!(settle("retain_days", "--retain-days", Some((30, p)), Some(30)), Ok(Some(30)));
        assert_eq!(settle("retain_days", "--retain-days", None, Some(9)), Ok(Some(9)));
        assert_eq!(settle::<u32>("retain_days", "--retain-days", None, None), Ok(None));
        let e = settle("min_group_size", "--min-group-size", Some((5, p)), Some(3)).unwrap_err();
        assert!(e.contains("--min-group-size 3") && e.contains("min_group_size = 5") && e.contains("collect.toml"));
    }
}
