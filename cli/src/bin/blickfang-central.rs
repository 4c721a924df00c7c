//! `blickfang-central`: the fleet side of `blickfang` (collect, simulate,
//! report) without GStreamer, for the central server's Debian package
//! (blickfang-central): the same arguments as `blickfang collect|simulate|report`.
//! It uses nothing of GStreamer, so the linker (--as-needed) leaves
//! libgstreamer out and the package does not depend on it.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "blickfang-central", version, about = "blickfang's fleet side: collect records, write the report")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every screen's records from an MQTT broker into PostgreSQL (a long-running service).
    Collect(blickfang_fleet::cli::CollectArgs),
    /// Virtual screens' records to a broker or a records file, and their exact truth.
    Simulate(blickfang_fleet::cli::SimulateArgs),
    /// The audience report (HTML, CSV or JSON), k-anonymous, from the fleet's database or records files.
    Report(blickfang_report::cli::ReportArgs),
}

fn main() {
    let result = match Cli::parse().command {
        Command::Collect(args) => blickfang_fleet::cli::collect(args),
        Command::Simulate(args) => blickfang_fleet::cli::simulate(args),
        Command::Report(args) => blickfang_report::cli::run(args),
    };
    if let Err(e) = result {
        eprintln!("blickfang-central: {e}");
        std::process::exit(1);
    }
}
