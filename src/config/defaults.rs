//! Every default of the config, in one place. The doc comment of each field
//! in `config/mod.rs` and `config/vigie.example.toml` quote these.

use std::time::Duration;

/// `daemon.interval`: how often a source is polled.
pub const INTERVAL: Duration = Duration::from_secs(10 * 60);
/// `daemon.concurrency`: fetches in flight, all hosts together.
pub const CONCURRENCY: usize = 16;
/// `daemon.per_host`: fetches in flight to one host; small news sites block
/// robots that open many connections.
pub const PER_HOST: usize = 2;
/// The least time between the starts of two requests to one host (hosts
/// on this machine excepted): with `per_host`, what keeps vigie polite.
pub const HOST_SPACING: Duration = Duration::from_secs(1);
/// Consecutive failed polls after which a source counts as failing and the
/// operator is told (once).
pub const FAILING_AFTER: u32 = 5;
/// `daemon.timeout`: one request, connect to last byte.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// `daemon.max_body`: decoded bytes of one response (15 MiB).
pub const MAX_BODY: u64 = 15 * 1024 * 1024;
/// Redirects followed before a fetch fails.
pub const MAX_REDIRECTS: usize = 10;
/// `daemon.state` when neither it nor `$STATE_DIRECTORY` is set.
pub const STATE_FILE: &str = "vigie.db";
/// The shortest interval accepted: anything faster is abuse of the sites.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest duration any key accepts: longer ones are typos, and would
/// overflow date arithmetic.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 366 * 24 * 3600);
/// `daemon.log_level`, when `RUST_LOG` is not set either.
pub const LOG_LEVEL: &str = "info";
/// SMTP ports by `security`.
pub const SMTP_PORT_STARTTLS: u16 = 587;
pub const SMTP_PORT_TLS: u16 = 465;
pub const SMTP_PORT_NONE: u16 = 25;
/// The Telegram Bot API, when a telegram notifier gives no `url`.
pub const TELEGRAM_API: &str = "https://api.telegram.org";
/// The local mailer of `transport = "sendmail"` when `command` is not set.
pub const SENDMAIL: &str = "/usr/sbin/sendmail";

/// `daemon.user_agent`: names the software and its version so site owners
/// can tell who polls them.
pub fn user_agent() -> String {
    format!("vigie/{} (feed watcher)", env!("CARGO_PKG_VERSION"))
}
