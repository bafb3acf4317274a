//! `vigie`: parses the command line, sets up logging, calls the library and
//! maps its outcome to an exit code (0 ok, 1 user error, 2 runtime failure).

use std::process::ExitCode;

use std::sync::Arc;

use clap::{CommandFactory as _, Parser as _};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, Registry, reload};
use vigie::app::{self, AppError, Control};
use vigie::cli::{Cli, Command, Format};
use vigie::config::{Config, Daemon, LogFormat};

fn main() -> ExitCode {
    limit_malloc_arenas();
    // Before anything touches TLS: with two crypto providers linked in,
    // rustls would otherwise panic on first use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors; bad arguments are user
            // errors, exit 1 (DESIGN.md §2), not clap's usual 2.
            return ExitCode::from(u8::from(e.use_stderr()));
        }
    };
    // `run` logs as its config says: read it first (its errors are printed
    // as for `check`).
    let daemon_config = match &cli.command {
        Command::Run => match vigie::config::load(&cli.config) {
            Ok(config) => Some(config),
            Err(e) => {
                let e = AppError::from(e);
                eprintln!("{}", render_error(&e));
                return ExitCode::from(e.exit_code());
            }
        },
        _ => None,
    };
    let log_filter = init_logging(daemon_config.as_ref().map(|c| &c.daemon));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(execute(cli, daemon_config, log_filter)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", render_error(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

fn render_error(e: &AppError) -> String {
    match e {
        // Diagnostics print their own "error:" lines.
        AppError::Config(vigie::config::LoadError::Invalid(d)) => d.to_string(),
        other => format!("error: {other}"),
    }
}

async fn execute(
    cli: Cli,
    daemon_config: Option<Config>,
    log_filter: LogFilter,
) -> Result<ExitCode, AppError> {
    match cli.command {
        Command::Check => {
            let config = app::check(&cli.config)?;
            println!(
                "{}: ok ({} sources, {} rules, {} notifiers)",
                cli.config.display(),
                config.sources.len(),
                config.rules.len(),
                config.notifiers.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Once {
            dry_run,
            source,
            format,
        } => {
            let config = vigie::config::load(&cli.config)?;
            let report = app::once(config, source.as_deref(), dry_run).await?;
            match format {
                Format::Json => println!("{:#}", vigie::output::once_json(&report)),
                Format::Table => print!("{}", vigie::output::once_table(&report, dry_run)),
            }
            Ok(if report.all_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::TestRule {
            rule,
            url,
            file,
            source,
            format,
        } => {
            use vigie::inspect::Input;
            let config = vigie::config::load(&cli.config)?;
            let input = match (url, file, source) {
                (Some(url), _, _) => Input::Url(url),
                (_, Some(path), _) => Input::File(path),
                (_, _, Some(name)) => Input::Source(name),
                // clap requires one of the three.
                (None, None, None) => unreachable!("clap enforces the input group"),
            };
            let report = match vigie::inspect::test_rule(&config, &rule, input).await {
                Ok(report) => report,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(e.exit_code()));
                }
            };
            match format {
                Format::Json => println!("{:#}", vigie::output::rule_test_json(&report)),
                Format::Table => {
                    let bold = std::io::IsTerminal::is_terminal(&std::io::stdout());
                    print!("{}", vigie::output::rule_test_table(&report, bold));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Preview {
            url,
            article,
            limit,
            format,
        } => {
            // The config's settings and sources when there is one; the
            // defaults otherwise: a preview comes before any config.
            let config = if cli.config.exists() {
                Some(vigie::config::load(&cli.config)?)
            } else {
                None
            };
            let daemon = config
                .as_ref()
                .map(|c| c.daemon.clone())
                .unwrap_or_default();
            let trusted: Vec<url::Url> = config
                .iter()
                .flat_map(|c| c.sources.iter().map(|s| s.url.clone()))
                .collect();
            let configured = config.as_ref().and_then(|c| {
                c.sources
                    .iter()
                    .find(|s| s.url.as_str() == url || s.url.as_str() == format!("{url}/"))
            });
            let report =
                match vigie::preview::preview(&daemon, &trusted, configured, &url, article, limit)
                    .await
                {
                    Ok(report) => report,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Ok(ExitCode::from(e.exit_code()));
                    }
                };
            match format {
                Format::Json => println!("{:#}", vigie::output::preview_json(&report)),
                Format::Table => print!("{}", vigie::output::preview_table(&report)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { format } => {
            let config = vigie::config::load(&cli.config)?;
            let report = app::status(&config).await?;
            match format {
                Format::Json => println!("{:#}", vigie::output::status_json(&report)),
                Format::Table => print!(
                    "{}",
                    vigie::output::status_table(&report, chrono::Utc::now())
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts { since, format } => {
            let config = vigie::config::load(&cli.config)?;
            let since = chrono::Utc::now()
                - chrono::Duration::from_std(since).unwrap_or(chrono::Duration::MAX);
            let alerts = vigie::admin::alerts(&config, since).await?;
            match format {
                Format::Json => println!("{:#}", vigie::output::alerts_json(&alerts)),
                Format::Table => print!("{}", vigie::output::alerts_table(&alerts)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Retry { delivery, dead } => {
            use vigie::admin::Requeue;
            let config = vigie::config::load(&cli.config)?;
            let what = match (delivery, dead) {
                (_, true) => Requeue::AllDead,
                (Some(id), false) => Requeue::One(id),
                (None, false) => unreachable!("clap enforces the group"),
            };
            let one = matches!(what, Requeue::One(_));
            let n = vigie::admin::retry(&config, what).await?;
            if one && n == 0 {
                eprintln!("error: no dead delivery with that id (see `vigie alerts`)");
                return Ok(ExitCode::from(1));
            }
            println!(
                "{n} deliver{} back in the outbox",
                if n == 1 { "y" } else { "ies" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::NotifyTest { notifier } => {
            let config = vigie::config::load(&cli.config)?;
            let test = vigie::admin::notify_test(&config, &notifier).await?;
            let what = if test.digest {
                "sample digest"
            } else {
                "sample alert"
            };
            match &test.result {
                Ok(answer) => {
                    println!(
                        "{}: {what} {} sent; the server answered: {answer}",
                        test.notifier, test.id
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    let kind = if e.permanent {
                        "permanent"
                    } else {
                        "temporary"
                    };
                    eprintln!("{}: {what} {} failed ({kind}): {e}", test.notifier, test.id);
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Run => {
            let config = match daemon_config {
                Some(config) => config,
                None => vigie::config::load(&cli.config)?,
            };
            let control = Control {
                on_reload: Some(Arc::new(move |config: &Config| {
                    log_filter.apply(&config.daemon)
                })),
                ..Control::default()
            };
            tokio::spawn(watch_signals(control.clone()));
            app::run(config, control).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            let schema = vigie::config::raw::schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "vigie", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            let written = match dir {
                Some(dir) => clap_mangen::generate_to(Cli::command(), &dir)
                    .map(|()| eprintln!("man pages written to {}", dir.display())),
                None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()),
            };
            Ok(match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write the man pages: {e}");
                    ExitCode::from(2)
                }
            })
        }
    }
}

/// SIGTERM and SIGINT stop the daemon cleanly; a second one stops it at
/// once. SIGHUP (`systemctl reload`) reloads the config.
async fn watch_signals(control: Control) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    let shutdown = control.shutdown;
    loop {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {
                // Several SIGHUPs while a reload runs make one more reload.
                control.reload.notify_one();
                continue;
            }
        }
        if shutdown.is_cancelled() {
            // A second request while finishing: the admin means it. What is
            // in flight stays pending and goes out at the next start.
            tracing::warn!("second stop request: exiting now");
            std::process::exit(130);
        }
        tracing::info!("shutdown requested; finishing what is in flight (again to exit at once)");
        shutdown.cancel();
    }
}

/// The log filter in force, and whether a reload may change it.
struct LogFilter {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set: it wins over the config, at reloads too.
    from_env: bool,
    current: std::sync::Mutex<String>,
}

impl LogFilter {
    /// Applies `daemon.log_level` after a reload, unless `RUST_LOG` rules.
    fn apply(&self, daemon: &Daemon) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        if self.from_env || *current == daemon.log_level {
            return;
        }
        // Said under the old level: the new one may hide it.
        tracing::info!(from = %current, to = %daemon.log_level, "changing the log level");
        let applied = EnvFilter::builder()
            .parse(&daemon.log_level)
            .map(|filter| self.handle.reload(filter).is_ok());
        if applied.is_ok_and(|ok| ok) {
            *current = daemon.log_level.clone();
        } else {
            tracing::warn!(level = %daemon.log_level, "cannot apply the new log level");
        }
    }
}

/// Logs go to stderr. The level comes from `RUST_LOG`, else the config's
/// `log_level` (`vigie run`), else `info`. The format: text, coloured only
/// on a terminal, and without timestamps or colours of our own when stderr
/// is the journal; the journal's native protocol (`log_format = "auto"`
/// under systemd, or `"journald"`); or JSON lines (`"json"`).
fn init_logging(daemon: Option<&Daemon>) -> LogFilter {
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let level = env
        .clone()
        .or_else(|| daemon.map(|d| d.log_level.clone()))
        .unwrap_or_else(|| vigie::config::defaults::LOG_LEVEL.to_string());
    let filter = EnvFilter::builder().parse_lossy(&level);
    let (filter, handle) = reload::Layer::new(filter);
    let journal = stderr_is_journal();
    let format = daemon.map_or(LogFormat::Text, |d| d.log_format);
    let mut fallback = None;
    let journald = match format {
        LogFormat::Journald => true,
        LogFormat::Auto => journal,
        LogFormat::Text | LogFormat::Json => false,
    };
    let layer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_writer(std::io::stderr)
            .boxed(),
        _ if journald => match tracing_journald::layer() {
            // Fields under their own names (`SOURCE=`, `NOTIFIER=`), not
            // `F_SOURCE=`: none of vigie's collides with the journal's.
            Ok(layer) => layer
                .with_syslog_identifier("vigie".into())
                .with_field_prefix(None)
                .boxed(),
            Err(e) => {
                fallback = Some(e);
                text_layer(journal)
            }
        },
        _ => text_layer(journal),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .init();
    if let Some(e) = fallback {
        tracing::warn!(error = %e, "cannot reach the journal; logging text to stderr");
    }
    LogFilter {
        handle,
        from_env: env.is_some(),
        current: std::sync::Mutex::new(level),
    }
}

type BoxedLayer = Box<
    dyn tracing_subscriber::Layer<
            tracing_subscriber::layer::Layered<reload::Layer<EnvFilter, Registry>, Registry>,
        > + Send
        + Sync,
>;

fn text_layer(journal: bool) -> BoxedLayer {
    use std::io::IsTerminal as _;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(!journal && std::io::stderr().is_terminal());
    if journal {
        // The journal stamps each line itself.
        layer.without_time().boxed()
    } else {
        layer.boxed()
    }
}

/// Whether stderr is the journal: systemd sets `JOURNAL_STREAM` to the
/// device and inode of the stream it connected, which a child's redirected
/// stderr no longer matches (systemd.exec(5)).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(m) => dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()),
        Err(_) => false,
    }
}

/// glibc gives each thread that allocates under contention an arena of its
/// own (up to eight per core) and keeps what is freed in each: with
/// thousands of sources polled at once, resident memory grows well past
/// the live heap. Four arenas keep it closer (`vigie once` on 10,000 local
/// feeds: about 125 MiB at peak instead of 136 to 146; two arenas gave 104
/// MiB but looked slower). `MALLOC_ARENA_MAX` in the environment still
/// wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in `main`, before any other thread
        // exists or anything is allocated concurrently; mallopt only sets
        // an allocator parameter.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 4);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
