//! What the benchmark binaries share: the generated input clip.

pub mod fixture;

/// This process's user+system CPU seconds (Linux /proc; ticks of 1/100 s).
pub fn cpu_seconds() -> anyhow::Result<f64> {
    use anyhow::Context;
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at "state";
    // utime and stime are the 12th and 13th of them.
    let rest = stat.rsplit_once(')').context("bad /proc/self/stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).context("no utime")?.parse::<u64>()? + f.get(12).context("no stime")?.parse::<u64>()?;
    Ok(ticks as f64 / 100.0)
}
