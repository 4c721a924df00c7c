//! Accuracy measurement against third-party ground truth.

pub mod headpose;
pub mod wider;

use std::path::PathBuf;

/// The shared folder of dev data and models the evaluations, benchmarks and
/// tests read: `$BLICKFANG_SHARED_DIR`, default `../shared` relative to the
/// current directory (beside a checkout run from its root). Resolved at run
/// time, so an installed binary carries no build path.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("BLICKFANG_SHARED_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared"))
}

/// Resamples behind [`bootstrap_ci95`]: enough for stable 2.5/97.5 percentiles.
const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The 95 % bootstrap interval (percentile method) of the mean of `values`:
/// how far a score measured on these images could move on another sample of
/// the same kind. Deterministic (fixed seed), so reports compare run to run.
/// `None` for no values.
pub fn bootstrap_ci95(values: &[f64]) -> Option<[f64; 2]> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    // SplitMix64: small, good enough for resampling indices, no dependency.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| (0..n).map(|_| values[(next() % n as u64) as usize]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (BOOTSTRAP_RESAMPLES - 1) as f64).round() as usize).min(BOOTSTRAP_RESAMPLES - 1)];
    Some([at(0.025), at(0.975)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_interval_holds_the_mean_and_narrows_with_more_data() {
        assert_eq!(bootstrap_ci95(&[]), None);
        assert_eq!(bootstrap_ci95(&[3.0; 50]), Some([3.0, 3.0]));
        // 80 % right out of 100 images: binomial standard error 4 points, so
        // the interval is about 72..88 %.
        let small: Vec<f64> = (0..100).map(|i| if i % 5 == 0 { 0.0 } else { 1.0 }).collect();
        let [lo, hi] = bootstrap_ci95(&small).unwrap();
        assert!(lo < 0.8 && hi > 0.8, "{lo}..{hi}");
        assert!((0.70..0.75).contains(&lo) && (0.85..0.90).contains(&hi), "{lo}..{hi}");
        // Sixteen times the images: a quarter of the width.
        let large: Vec<f64> = small.iter().cycle().take(1600).copied().collect();
        let [llo, lhi] = bootstrap_ci95(&large).unwrap();
        let ratio = (lhi - llo) / (hi - lo);
        assert!((0.18..0.33).contains(&ratio), "{ratio}");
        assert_eq!(bootstrap_ci95(&small), Some([lo, hi]), "deterministic");
    }
}
