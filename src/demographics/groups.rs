//! Age groups: parsing the `age-groups` setting and mapping ages to them.

/// FairFace's nine groups, the default.
pub const FAIRFACE_AGE_GROUPS: &str = "0-2,3-9,10-19,20-29,30-39,40-49,50-59,60-69,70+";

/// Contiguous age groups from 0 years, the last one open-ended
/// ("0-2,3-9,...,70+"). An age belongs to the group holding its whole years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeGroups {
    /// First year of each group, ascending; group i ends where i + 1 starts.
    starts: Vec<u32>,
    names: Vec<String>,
}

impl Default for AgeGroups {
    fn default() -> Self {
        Self::parse(FAIRFACE_AGE_GROUPS).expect("FairFace groups parse")
    }
}

impl AgeGroups {
    /// Parses "a-b,c-d,...,n+": each group starts the year after the previous
    /// one ends, the first starts at 0 and the last is "n+".
    pub fn parse(spec: &str) -> Result<Self, String> {
        let parts: Vec<&str> = spec.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            return Err(format!("no age groups in {spec:?}"));
        }
        let bad =
            |p: &str, why: &str| format!("age group {p:?} in {spec:?}: {why} (expected e.g. {FAIRFACE_AGE_GROUPS})");
        let mut starts = Vec::new();
        let mut names = Vec::new();
        let mut next = 0u32;
        for (i, p) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let (lo, hi) = if let Some(lo) = p.strip_suffix('+') {
                if !last {
                    return Err(bad(p, "only the last group may be open-ended"));
                }
                (lo.trim().parse::<u32>().map_err(|_| bad(p, "not a number"))?, None)
            } else {
                let (a, b) = p.split_once('-').ok_or_else(|| bad(p, "not a range"))?;
                let lo = a.trim().parse::<u32>().map_err(|_| bad(p, "not a number"))?;
                let hi = b.trim().parse::<u32>().map_err(|_| bad(p, "not a number"))?;
                if hi < lo {
                    return Err(bad(p, "ends before it starts"));
                }
                (lo, Some(hi))
            };
            if lo != next {
                return Err(bad(p, &format!("must start at {next}")));
            }
            if last && hi.is_some() {
                return Err(bad(p, "the last group must be open-ended (\"n+\")"));
            }
            starts.push(lo);
            names.push((*p).to_string());
            next = hi.map_or(u32::MAX, |h| h + 1);
        }
        Ok(Self { starts, names })
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Index of the group of an age in years (negative ages count as 0).
    pub fn index_of(&self, age: f64) -> usize {
        let years = if age.is_finite() { age.max(0.0).floor() } else { 0.0 };
        self.starts.iter().rposition(|&s| s as f64 <= years).unwrap_or(0)
    }

    /// Name of the group of an age ("30-39").
    pub fn name_of(&self, age: f64) -> &str {
        &self.names[self.index_of(age)]
    }

    /// Index of a group by name.
    pub fn index_of_name(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name.trim())
    }
}

impl std::fmt::Display for AgeGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fairface_groups_map_whole_years() {
        let g = AgeGroups::default();
        assert_eq!(g.len(), 9);
        assert_eq!(g.name_of(0.0), "0-2");
        assert_eq!(g.name_of(2.99), "0-2");
        assert_eq!(g.name_of(3.0), "3-9");
        assert_eq!(g.name_of(39.9), "30-39");
        assert_eq!(g.name_of(70.0), "70+");
        assert_eq!(g.name_of(116.0), "70+");
        assert_eq!(g.name_of(-1.0), "0-2");
        assert_eq!(g.index_of_name("50-59"), Some(6));
        assert_eq!(g.to_string(), FAIRFACE_AGE_GROUPS);
    }

    #[test]
    fn custom_groups() {
        let g = AgeGroups::parse("0-17, 18-34,35-54,55+").unwrap();
        assert_eq!(g.name_of(17.5), "0-17");
        assert_eq!(g.name_of(18.0), "18-34");
        assert_eq!(g.name_of(80.0), "55+");
    }

    #[test]
    fn malformed_groups_are_errors() {
        for spec in ["", "1-9,10+", "0-9,11+", "0-9,10-19", "0-9,10+,20+", "0-x,10+", "0-9,9-3,10+"] {
            assert!(AgeGroups::parse(spec).is_err(), "{spec:?} accepted");
        }
        let err = AgeGroups::parse("0-9,11+").unwrap_err();
        assert!(err.contains("must start at 10"), "{err}");
    }
}
