//! `vigie`: parses the command line, sets up logging, calls the library and
//! maps its outcome to an exit code (0 ok, 1 user error, 2 runtime failure).

use std::process::ExitCode;

use clap::Parser as _;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use vigie::app::{self, AppError};
use vigie::cli::{Cli, Command, Format};

fn main() -> ExitCode {
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
    init_logging();
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
    match runtime.block_on(execute(cli)) {
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

async fn execute(cli: Cli) -> Result<ExitCode, AppError> {
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
            let config = vigie::config::load(&cli.config)?;
            let shutdown = CancellationToken::new();
            tokio::spawn(watch_signals(shutdown.clone()));
            app::run(config, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// SIGTERM and SIGINT stop the daemon cleanly; a second one stops it at
/// once. SIGHUP (systemd's reload) is caught so it cannot kill the process;
/// reloading lands later.
async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {
                tracing::warn!("SIGHUP: config reload is not supported yet; restart vigie to apply changes");
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

/// Logs go to stderr, coloured only on a terminal; the level comes from
/// `RUST_LOG` (default `info`).
/// Under systemd (`JOURNAL_STREAM` set) the journal adds its own timestamps.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().with_ansi(false).init();
    } else {
        builder.init();
    }
}
