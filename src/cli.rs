//! The command line (DESIGN.md §2), as clap definitions only.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "vigie",
    version,
    about = "Watches news feeds and alerts on keyword rules"
)]
pub struct Cli {
    /// The config file.
    #[arg(
        long,
        global = true,
        env = "VIGIE_CONFIG",
        default_value = "/etc/vigie/vigie.toml"
    )]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll each source at its interval and deliver alerts
    /// until SIGTERM or SIGINT.
    Run,
    /// Poll every source once, deliver, and exit.
    Once {
        /// Print what would alert; record and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Poll only this source.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Validate the config; print every error with file:line:col.
    Check,
    /// Show which articles a rule matches and why: the matched terms with
    /// their snippets, and for the others the part of the rule that failed.
    /// Sends and records nothing.
    #[command(group(clap::ArgGroup::new("input").required(true).args(["url", "file", "source"])))]
    TestRule {
        /// The rule, by its name in the config.
        rule: String,
        /// Fetch this feed or page.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Read this feed, HTML page or text file (first line: the title).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// Fetch this configured source, with its settings and scope.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Fetch a URL and read it as a source would: the articles with their
    /// extracted fields (title, date, authors, language, body), the feeds
    /// the page announces, and a ready [sources.NAME] block. Records and
    /// sends nothing; works without a config file.
    Preview {
        /// The feed, listing page or article page.
        url: String,
        /// Extract the page itself as one article.
        #[arg(long)]
        article: bool,
        /// Article pages fetched from a listing.
        #[arg(long, value_name = "N", default_value_t = crate::preview::DEFAULT_LIMIT)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print the JSON Schema of the config file, for editors (Taplo, Even
    /// Better TOML): start the config with `#:schema PATH-OR-URL`.
    Schema,
    /// Print the completion script of a shell.
    ///
    /// bash: `vigie completions bash > /etc/bash_completion.d/vigie`;
    /// zsh: into a directory of `$fpath` as `_vigie`; fish: into
    /// `~/.config/fish/completions/vigie.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page vigie(1), or write it and one page per command
    /// (vigie-run(1), …) into a directory.
    Man {
        /// Write vigie.1 and vigie-COMMAND.1 here instead of printing vigie.1.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Per source: health, last success, last error, consecutive failures,
    /// next poll, items seen; the outbox: pending and dead deliveries.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Recent alerts: rule, article, where each was sent and its delivery
    /// state (pending, sent, dead, or held for a digest).
    Alerts {
        /// How far back, e.g. "24h", "7d", "90m".
        #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
        since: std::time::Duration,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Put a dead delivery (or every dead one) back in the outbox.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["delivery", "dead"])))]
    Retry {
        /// The delivery id, as `vigie alerts` shows it.
        delivery: Option<String>,
        /// Every dead delivery.
        #[arg(long)]
        dead: bool,
    },
    /// Send a sample alert through one notifier now and show exactly what
    /// its server answered.
    NotifyTest {
        /// The notifier, by its name in the config.
        notifier: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Table,
    /// One JSON document, for scripts.
    Json,
}
