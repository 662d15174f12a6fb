//! The `flexprice-collector` command line. `flexprice-collector -c config.yaml` runs a config,
//! exactly like `bento -c`.

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;

mod blobl;

/// mimalloc instead of glibc malloc: every event allocates on a processor thread and is freed
/// on the batcher or a sender thread, and glibc's arenas pay for that hand-over with
/// consolidation and locking (a quarter of the collector's CPU in the first flamegraph,
/// perf/README.md). mimalloc's per-thread free lists make those frees cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use flexprice_collector::observe::logs;
use flexprice_collector::pipeline::Control;
use flexprice_collector::runtime::{self, Plan};

/// Kafka → Bloblang → Flexprice events API, at-least-once.
/// Run a config with `flexprice-collector -c config.yaml`.
#[derive(FromArgs)]
struct Cli {
    /// config file to run (same as `run -c`)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// override `logger.level` (OFF, ERROR, WARN, INFO, DEBUG, TRACE)
    #[argh(option)]
    log_level: Option<String>,
    /// print the version and exit
    #[argh(switch, short = 'V')]
    version: bool,
    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Run(RunCmd),
    Lint(LintCmd),
    Echo(EchoCmd),
    Blobl(BloblCmd),
}

/// Run a Bloblang mapping over JSON lines from stdin, like `bento blobl`: a string result is
/// printed raw, anything else as compact JSON; a deleted message prints an empty line.
#[derive(FromArgs)]
#[argh(subcommand, name = "blobl")]
struct BloblCmd {
    /// the mapping
    #[argh(option, short = 'm')]
    mapping: Option<String>,
    /// a file holding the mapping
    #[argh(option, short = 'f')]
    file: Option<PathBuf>,
}

/// Run a pipeline from a config file.
#[derive(FromArgs)]
#[argh(subcommand, name = "run")]
struct RunCmd {
    /// config file
    #[argh(option, short = 'c')]
    config: PathBuf,
}

/// Check config files and report every error with its location; exit 1 if any.
#[derive(FromArgs)]
#[argh(subcommand, name = "lint")]
struct LintCmd {
    /// config files
    #[argh(positional)]
    files: Vec<PathBuf>,
}

/// Print the resolved config (env vars substituted, defaults filled, secrets redacted).
#[derive(FromArgs)]
#[argh(subcommand, name = "echo")]
struct EchoCmd {
    /// config file
    #[argh(option, short = 'c')]
    config: PathBuf,
}

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    if cli.version {
        println!("flexprice-collector {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    match cli.command {
        Some(Command::Lint(l)) => lint(&l.files),
        Some(Command::Echo(e)) => match Plan::load(&e.config) {
            Ok(plan) => {
                print!("{}", plan.config.to_redacted_yaml());
                ExitCode::SUCCESS
            }
            Err(errs) => {
                eprintln!("{errs}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Blobl(b)) => blobl::run(b.mapping, b.file),
        Some(Command::Run(r)) => run(&r.config, cli.log_level.as_deref()),
        None => match cli.config {
            Some(path) => run(&path, cli.log_level.as_deref()),
            None => {
                eprintln!("flexprice-collector: no config given; run `flexprice-collector -c config.yaml` (see --help)");
                ExitCode::from(2)
            }
        },
    }
}

fn lint(files: &[PathBuf]) -> ExitCode {
    if files.is_empty() {
        eprintln!("lint: give one or more config files");
        return ExitCode::from(2);
    }
    let mut bad = 0;
    for f in files {
        if let Err(errs) = Plan::load(f) {
            bad += 1;
            eprintln!("{errs}");
        }
    }
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run(path: &std::path::Path, level: Option<&str>) -> ExitCode {
    let mut plan = match Plan::load(path) {
        Ok(p) => p,
        Err(errs) => {
            eprintln!("{errs}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(l) = level {
        plan.config.logger.level = l.to_string();
    }
    logs::init(&plan.config.logger);
    // Redacted: secrets print as `!!!SECRET_SCRUBBED!!!`, as in `echo`.
    tracing::debug!(config = %plan.config.to_redacted_yaml(), "config loaded");
    let ctl = Control::new(plan.config.shutdown_timeout.get());
    if let Err(e) = runtime::signals::install(ctl.clone()) {
        tracing::error!(error = %e, "cannot install signal handlers");
        return ExitCode::FAILURE;
    }
    match runtime::run(plan, &ctl) {
        Ok(s) => {
            tracing::info!(
                received = s.received,
                sent = s.sent,
                filtered = s.filtered,
                failed = s.failed,
                dead_lettered = s.dead_lettered,
                batches = s.batches,
                elapsed = ?s.elapsed,
                e2e_p50_ms = ms(s.e2e_latency.quantile(0.5)),
                e2e_p99_ms = ms(s.e2e_latency.quantile(0.99)),
                send_p50_ms = ms(s.send_latency.quantile(0.5)),
                send_p99_ms = ms(s.send_latency.quantile(0.99)),
                "pipeline finished"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "pipeline failed");
            ExitCode::FAILURE
        }
    }
}

/// Milliseconds with one decimal, for log fields (absent when there was no sample).
fn ms(d: Option<std::time::Duration>) -> Option<f64> {
    d.map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0)
}
