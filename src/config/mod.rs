//! The config: TOML text → raw serde types ([`raw`]) → validation →
//! the checked [`Config`] that the rest of vigie reads. Every problem is
//! collected, not just the first, and points at `file:line:col`.

pub mod defaults;
pub mod diag;
mod notifiers;
pub mod raw;
mod secret;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use secrecy::SecretString;
use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use url::Url;

pub use diag::{ConfigError, Diagnostics};
pub use notifiers::{
    Body, Chat, ChatService, Digest, DigestEvery, Email, EmailTransport, Messages, Notifier,
    NotifierKind, Rate, Security, Smtp, Telegram, Webhook,
};
use raw::{RawDaemon, RawNotifier, RawRule, RawSource, S};

use crate::rules::{Matcher, RuleSpec, Stem};

/// The validated config. Nothing downstream sees an unchecked value.
#[derive(Debug)]
pub struct Config {
    pub file: PathBuf,
    pub daemon: Daemon,
    pub sources: Vec<Source>,
    /// In file order; `rules[i]` is `matcher.rules()[i]`.
    pub rules: Vec<Rule>,
    pub notifiers: Vec<Notifier>,
    /// Every rule compiled into one matcher.
    pub matcher: Arc<Matcher>,
}

impl Config {
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    pub fn notifier(&self, name: &str) -> Option<&Notifier> {
        self.notifiers.iter().find(|n| n.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct Daemon {
    /// SQLite file; default `$STATE_DIRECTORY/vigie.db`, else `./vigie.db`.
    pub state: PathBuf,
    /// Default poll interval; default 10 minutes.
    pub interval: Duration,
    /// Default `vigie/VERSION (feed watcher)`.
    pub user_agent: String,
    /// Fetches in flight, all hosts; default 16.
    pub concurrency: usize,
    /// Fetches in flight to one host; default 2.
    pub per_host: usize,
    /// One request, connect to last byte; default 30 s.
    pub timeout: Duration,
    /// Decoded bytes of one response; default 15 MiB.
    pub max_body: u64,
    /// What the first poll of a new source alerts on; default baseline.
    pub first_run: FirstRun,
    /// Articles published longer ago never alert; default: no limit.
    pub max_age: Option<Duration>,
    /// The notifier told when a source starts failing or goes stale, and
    /// when it recovers; default: none (the log and `status` only).
    pub errors_to: Option<String>,
    /// A source with no new article for this long is stale; default: never.
    pub stale_after: Option<Duration>,
    /// Where `/healthz` and `/metrics` are served; default: nowhere.
    pub listen: Option<SocketAddr>,
    /// The log filter (`RUST_LOG` syntax); `RUST_LOG` wins when set;
    /// default `info`.
    pub log_level: String,
    /// How `vigie run` logs; default [`LogFormat::Auto`].
    pub log_format: LogFormat,
}

/// How `vigie run` writes its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// The journal's native protocol when stderr is the journal (systemd
    /// sets `JOURNAL_STREAM`), else text.
    Auto,
    /// Human-readable lines on stderr; no colours or timestamps of our own
    /// under systemd, where the journal adds them.
    Text,
    /// One JSON object a line on stderr, for log shippers.
    Json,
    /// The journal's native protocol: each field (`SOURCE=`, `NOTIFIER=`)
    /// searchable with `journalctl`, levels as priorities.
    Journald,
}

impl Default for Daemon {
    /// Every `[daemon]` key at its default: for commands that work without
    /// a config file (`preview`).
    fn default() -> Daemon {
        Validator::default()
            .daemon(RawDaemon::default())
            // Defaults never fail their own checks (a unit test proves it).
            .expect("the defaults are valid")
    }
}

/// What the first successful poll of a source alerts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstRun {
    /// Record what is there, alert on nothing (the default): adding a source
    /// must not flood anyone with its back catalogue.
    Baseline,
    /// Alert on every matching article.
    Alert,
    /// Alert only on the N newest articles.
    Latest(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    pub url: Url,
    pub kind: SourceKind,
    pub interval: Duration,
    pub tags: Vec<String>,
    /// Language hint for articles whose feed does not say.
    pub language: Option<String>,
    /// How to read dates written without an offset; `None` is UTC.
    pub timezone: Option<Tz>,
    /// `[sources.NAME.html]`: CSS selectors for an HTML portal; each
    /// absent one means "find it automatically".
    pub html: HtmlSelectors,
}

/// The selectors of `[sources.NAME.html]`, each checked at load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlSelectors {
    /// Article links on the listing page; default: found automatically.
    pub links: Option<String>,
    /// Title, date, body and author on article pages; default: automatic.
    pub article: crate::parse::extract::Selectors,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Detect from the content (the default): a feed is read as a feed; an
    /// HTML page that announces a feed is watched through it; any other
    /// page is watched as an HTML listing.
    Auto,
    Feed,
    /// An HTML listing page whose article pages are fetched and extracted.
    Html,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// Notifier names, all known.
    pub notify: Vec<String>,
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Box<Diagnostics>),
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path).map_err(|d| LoadError::Invalid(Box::new(d)))
}

/// Validates config text; `file` is only used in messages.
pub fn parse(text: &str, file: &Path) -> Result<Config, Diagnostics> {
    let mut v = Validator::default();
    let config = v.run(text, file);
    match config {
        Some(config) if v.errors.is_empty() => Ok(config),
        _ => {
            let mut errors = v.errors;
            for e in &mut errors {
                e.masked = v.secret_spans.clone();
            }
            errors.sort_by_key(|e| e.span.as_ref().map_or(0, |s| s.start));
            Err(Diagnostics {
                file: file.to_path_buf(),
                text: text.to_string(),
                errors,
            })
        }
    }
}

/// Every name given a table in the file, and every tag given to a source,
/// valid or not.
struct Declared {
    sources: Vec<String>,
    notifiers: Vec<String>,
    tags: HashSet<String>,
    /// False when a source table could not be read at all.
    all_tags_known: bool,
}

#[derive(Default)]
struct Validator {
    errors: Vec<ConfigError>,
    /// Where secret values sit in the file: an error on those lines shows
    /// the line with the secret masked.
    secret_spans: Vec<Range<usize>>,
    /// The config text, to map template offsets back through TOML escapes.
    text: String,
    /// The config file's directory: relative template paths start there.
    dir: PathBuf,
}

type Entries<'a> = Vec<(String, Range<usize>, toml::Spanned<DeValue<'a>>)>;

impl Validator {
    fn run(&mut self, text: &str, file: &Path) -> Option<Config> {
        self.text = text.to_string();
        self.dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let (root, syntax) = DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            for e in &syntax {
                self.errors.push(ConfigError::new(
                    e.span(),
                    "",
                    e.message().trim().to_string(),
                ));
            }
            return None;
        }
        let mut daemon_raw = None;
        let mut sources_raw = Vec::new();
        let mut rules_raw = Vec::new();
        let mut notifiers_raw = Vec::new();
        for (key, value) in root.get_ref().iter() {
            let name = key.get_ref().as_ref();
            match name {
                "daemon" => daemon_raw = self.deserialize::<RawDaemon>(value.clone(), "daemon"),
                "sources" => sources_raw = self.named(value, "sources"),
                "rules" => rules_raw = self.named(value, "rules"),
                "notifiers" => notifiers_raw = self.named(value, "notifiers"),
                other => {
                    let mut err = ConfigError::new(
                        Some(key.span()),
                        "",
                        format!("unknown table \"{other}\""),
                    );
                    if let Some(near) = diag::nearest(other, raw::TOP_KEYS.iter().copied()) {
                        err = err.hint(format!("did you mean \"{near}\"?"));
                    } else {
                        err = err.hint("valid tables: daemon, sources, rules, notifiers");
                    }
                    self.errors.push(err);
                }
            }
        }

        // Rules may name a source or notifier that failed its own checks:
        // that one gets its error, the rule does not get a second one.
        let mut declared = Declared {
            sources: sources_raw.iter().map(|(n, _, _)| n.clone()).collect(),
            notifiers: notifiers_raw.iter().map(|(n, _, _)| n.clone()).collect(),
            tags: HashSet::new(),
            all_tags_known: true,
        };
        let daemon_raw = daemon_raw.unwrap_or_default();
        if let Some(name) = &daemon_raw.errors_to
            && !declared.notifiers.contains(name.get_ref())
        {
            let known = declared.notifiers.iter().map(String::as_str);
            let otherwise = Some("define it as a [notifiers.NAME] table");
            self.unknown(
                name,
                "daemon.errors_to",
                "unknown notifier",
                known,
                otherwise,
            );
        }
        let daemon = self.daemon(daemon_raw);
        let mut sources = Vec::new();
        for (name, span, value) in sources_raw {
            let path = format!("sources.{name}");
            let Some(raw) = self.deserialize::<RawSource>(value, &path) else {
                declared.all_tags_known = false;
                continue;
            };
            declared
                .tags
                .extend(raw.tags.iter().flatten().map(|t| t.get_ref().clone()));
            if let Some(source) = self.source(name, span, raw, &path, daemon.as_ref()) {
                sources.push(source);
            }
        }
        let mut notifiers = Vec::new();
        for (name, _span, value) in notifiers_raw {
            let path = format!("notifiers.{name}");
            if let Some(raw) = self.deserialize::<RawNotifier>(value, &path)
                && let Some(notifier) = self.notifier(name, raw, &path)
            {
                notifiers.push(notifier);
            }
        }
        let mut rules = Vec::new();
        let mut specs = Vec::new();
        // Each rule's `query` value, to place an error the compiler finds.
        let mut queries = Vec::new();
        for (name, span, value) in rules_raw {
            let path = format!("rules.{name}");
            if let Some(raw) = self.deserialize::<RawRule>(value, &path)
                && let Some((rule, spec, query)) = self.rule(name, span, raw, &path, &declared)
            {
                queries.push(query);
                rules.push(rule);
                specs.push(spec);
            }
        }
        if sources.is_empty() && self.errors.is_empty() {
            self.errors.push(
                ConfigError::new(None, "sources", "no source is configured")
                    .hint("add a [sources.NAME] table with a url"),
            );
        }
        let matcher = match Matcher::new(specs) {
            Ok(m) => m,
            Err(e) => {
                // What only compiling can tell (a regex whose folded letters
                // no longer compile, a proximity search whose words fold to
                // one): pointed into the query of the rule at fault.
                let at_fault = |rule: &str| {
                    let i = rules.iter().position(|r: &Rule| r.name == rule)?;
                    queries.get(i)?.clone()
                };
                let placed = match &e {
                    crate::rules::RuleError::Query { rule, error } => {
                        at_fault(rule).map(|query| (query, rule.clone(), error.clone()))
                    }
                    _ => None,
                };
                match placed {
                    Some((query, rule, error)) => {
                        self.query_error(&query, &format!("rules.{rule}.query"), error);
                    }
                    None => self
                        .errors
                        .push(ConfigError::new(None, "rules", e.to_string())),
                }
                return None;
            }
        };
        Some(Config {
            file: file.to_path_buf(),
            daemon: daemon?,
            sources,
            rules,
            notifiers,
            matcher: Arc::new(matcher),
        })
    }

    /// `sources.rfi` + the key the error points at, when its span is the
    /// value of a `key = value` line: `sources.rfi.interval`.
    fn key_path(&self, path: &str, span: Option<&Range<usize>>) -> String {
        let Some(span) = span else {
            return path.to_string();
        };
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let before = self.text.get(line_start..start).unwrap_or_default();
        // A key in a sub-table (`[notifiers.desk.smtp]`) belongs to it.
        let header = self.text[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|h| h.trim_matches(['[', ']']).trim());
        let path = match header {
            Some(h) if h.starts_with(&format!("{path}.")) => h,
            _ => path,
        };
        match before.split_once('=') {
            Some((key, rest)) if rest.trim().is_empty() => {
                let key = key.trim().trim_matches('"');
                if !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                {
                    return format!("{path}.{key}");
                }
                path.to_string()
            }
            _ => path.to_string(),
        }
    }

    fn deserialize<T: for<'de> Deserialize<'de>>(
        &mut self,
        value: toml::Spanned<DeValue<'_>>,
        path: &str,
    ) -> Option<T> {
        match T::deserialize(ValueDeserializer::from(value)) {
            Ok(t) => Some(t),
            Err(e) => {
                let path = self.key_path(path, e.span().as_ref());
                self.errors.push(diag::from_toml(&e, &path));
                None
            }
        }
    }

    /// The entries of a table of named tables (`[sources.NAME]`).
    fn named<'a>(&mut self, value: &toml::Spanned<DeValue<'a>>, path: &str) -> Entries<'a> {
        let Some(table) = value.get_ref().as_table() else {
            self.errors.push(ConfigError::new(
                Some(value.span()),
                path,
                format!("expected tables such as [{path}.NAME]"),
            ));
            return Vec::new();
        };
        table
            .iter()
            .map(|(k, v)| (k.get_ref().to_string(), k.span(), v.clone()))
            .collect()
    }

    /// A name that refers to nothing: the error, with the nearest known name
    /// as a hint (or `otherwise`).
    fn unknown<'a>(
        &mut self,
        name: &S<String>,
        path: &str,
        what: &str,
        known: impl IntoIterator<Item = &'a str>,
        otherwise: Option<&str>,
    ) {
        let mut err = ConfigError::new(
            Some(name.span()),
            path,
            format!("{what} \"{}\"", name.get_ref()),
        );
        match (diag::nearest(name.get_ref(), known), otherwise) {
            (Some(near), _) => err = err.hint(format!("did you mean \"{near}\"?")),
            (None, Some(hint)) => err = err.hint(hint),
            (None, None) => {}
        }
        self.errors.push(err);
    }

    fn err(&mut self, span: Range<usize>, path: &str, message: impl Into<String>) {
        self.errors
            .push(ConfigError::new(Some(span), path, message));
    }

    fn duration(&mut self, value: &S<String>, path: &str) -> Option<Duration> {
        match humantime::parse_duration(value.get_ref()) {
            Ok(d) if d.is_zero() => {
                self.err(value.span(), path, "must be longer than zero");
                None
            }
            Ok(d) if d > defaults::MAX_DURATION => {
                self.err(value.span(), path, "longer than ten years");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.errors.push(
                    ConfigError::new(Some(value.span()), path, format!("invalid duration: {e}"))
                        .hint("write it like \"90s\", \"10m\", \"1h\" or \"7d\""),
                );
                None
            }
        }
    }

    fn positive(&mut self, value: &S<i64>, path: &str) -> Option<usize> {
        match usize::try_from(*value.get_ref()) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.err(value.span(), path, "must be a whole number above zero");
                None
            }
        }
    }

    fn daemon(&mut self, raw: RawDaemon) -> Option<Daemon> {
        let before = self.errors.len();
        let state = match &raw.state {
            Some(s)
                if s.get_ref().starts_with("postgres://")
                    || s.get_ref().starts_with("postgresql://") =>
            {
                self.errors.push(ConfigError::not_supported(
                    s.span(),
                    "daemon.state",
                    "PostgreSQL state",
                ));
                PathBuf::new()
            }
            Some(s) if s.get_ref().trim().is_empty() => {
                self.err(s.span(), "daemon.state", "the state path is empty");
                PathBuf::new()
            }
            Some(s) => PathBuf::from(s.get_ref()),
            None => match std::env::var_os("STATE_DIRECTORY") {
                // systemd may pass several directories separated by colons.
                Some(dirs) => {
                    let dirs = dirs.to_string_lossy().to_string();
                    PathBuf::from(dirs.split(':').next().unwrap_or(".")).join(defaults::STATE_FILE)
                }
                None => PathBuf::from(defaults::STATE_FILE),
            },
        };
        let listen = raw.listen.as_ref().and_then(|v| {
            let parsed = v.get_ref().trim().parse::<SocketAddr>();
            if parsed.is_err() {
                self.errors.push(
                    ConfigError::new(Some(v.span()), "daemon.listen", "invalid listen address")
                        .hint("an IP address and a port: \"127.0.0.1:9797\" or \"[::1]:9797\""),
                );
            }
            parsed.ok()
        });
        let log_level = match &raw.log_level {
            Some(v) => match tracing_subscriber::EnvFilter::builder().parse(v.get_ref()) {
                Ok(_) => Some(v.get_ref().trim().to_string()),
                Err(e) => {
                    self.errors.push(
                        ConfigError::new(
                            Some(v.span()),
                            "daemon.log_level",
                            format!("invalid log level: {e}"),
                        )
                        .hint("a level (\"error\", \"warn\", \"info\", \"debug\", \"trace\") or directives like \"warn,vigie=debug\""),
                    );
                    None
                }
            },
            None => Some(defaults::LOG_LEVEL.to_string()),
        };
        let log_format = match raw
            .log_format
            .as_ref()
            .map(|v| (v.get_ref().as_str(), v.span()))
        {
            None | Some(("auto", _)) => Some(LogFormat::Auto),
            Some(("text", _)) => Some(LogFormat::Text),
            Some(("json", _)) => Some(LogFormat::Json),
            Some(("journald", _)) => Some(LogFormat::Journald),
            Some((other, span)) => {
                self.errors.push(
                    ConfigError::new(
                        Some(span),
                        "daemon.log_format",
                        format!("unknown log format \"{other}\""),
                    )
                    .hint("one of \"auto\", \"text\", \"json\", \"journald\""),
                );
                None
            }
        };
        let interval = match &raw.interval {
            Some(v) => self.interval(v, "daemon.interval"),
            None => Some(defaults::INTERVAL),
        };
        let user_agent = match &raw.user_agent {
            Some(v) if v.get_ref().trim().is_empty() || v.get_ref().contains(['\r', '\n']) => {
                self.err(v.span(), "daemon.user_agent", "must be one non-empty line");
                None
            }
            Some(v) => Some(v.get_ref().clone()),
            None => Some(defaults::user_agent()),
        };
        let concurrency = raw
            .concurrency
            .as_ref()
            .map_or(Some(defaults::CONCURRENCY), |v| {
                self.positive(v, "daemon.concurrency")
            });
        let per_host = raw.per_host.as_ref().map_or(Some(defaults::PER_HOST), |v| {
            self.positive(v, "daemon.per_host")
        });
        let timeout = raw.timeout.as_ref().map_or(Some(defaults::TIMEOUT), |v| {
            self.duration(v, "daemon.timeout")
        });
        let max_body = match &raw.max_body {
            Some(v) => match parse_size(v.get_ref()) {
                Some(n) if n > 0 => Some(n),
                _ => {
                    self.errors.push(
                        ConfigError::new(Some(v.span()), "daemon.max_body", "invalid size")
                            .hint("write it like \"15MiB\", \"500KB\" or a number of bytes"),
                    );
                    None
                }
            },
            None => Some(defaults::MAX_BODY),
        };
        let first_run = match &raw.first_run {
            Some(v) => self.first_run(v),
            None => Some(FirstRun::Baseline),
        };
        let max_age = raw
            .max_age
            .as_ref()
            .map(|v| self.duration(v, "daemon.max_age"));
        let stale_after = raw
            .stale_after
            .as_ref()
            .map(|v| self.duration(v, "daemon.stale_after"));
        if self.errors.len() > before {
            return None;
        }
        Some(Daemon {
            state,
            interval: interval?,
            user_agent: user_agent?,
            concurrency: concurrency?,
            per_host: per_host?,
            timeout: timeout?,
            max_body: max_body?,
            first_run: first_run?,
            max_age: max_age.flatten(),
            // Checked against the notifiers once they are read.
            errors_to: raw.errors_to.as_ref().map(|n| n.get_ref().clone()),
            stale_after: stale_after.flatten(),
            listen,
            log_level: log_level?,
            log_format: log_format?,
        })
    }

    fn interval(&mut self, v: &S<String>, path: &str) -> Option<Duration> {
        let d = self.duration(v, path)?;
        if d < defaults::MIN_INTERVAL {
            self.err(
                v.span(),
                path,
                "an interval below one second would hammer the site",
            );
            return None;
        }
        Some(d)
    }

    fn first_run(&mut self, v: &S<String>) -> Option<FirstRun> {
        let text = v.get_ref().as_str();
        let parsed = match text {
            "baseline" => Some(FirstRun::Baseline),
            "alert" => Some(FirstRun::Alert),
            _ => text
                .strip_prefix("latest:")
                .and_then(|n| n.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
                .map(FirstRun::Latest),
        };
        if parsed.is_none() {
            self.errors.push(
                ConfigError::new(
                    Some(v.span()),
                    "daemon.first_run",
                    format!("invalid first_run \"{text}\""),
                )
                .hint("one of \"baseline\", \"alert\", \"latest:N\" (N ≥ 1)"),
            );
        }
        parsed
    }

    fn source(
        &mut self,
        name: String,
        name_span: Range<usize>,
        raw: RawSource,
        path: &str,
        daemon: Option<&Daemon>,
    ) -> Option<Source> {
        let before = self.errors.len();
        if name.trim().is_empty() {
            self.err(name_span, path, "a source name cannot be empty");
        }
        let url = self.http_url(&raw.url, &format!("{path}.url"));
        let mut kind = match raw.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
            None | Some(("auto", _)) => SourceKind::Auto,
            Some(("feed", _)) => SourceKind::Feed,
            Some(("html", _)) => SourceKind::Html,
            Some((other, span)) => {
                self.errors.push(
                    ConfigError::new(
                        Some(span),
                        format!("{path}.kind"),
                        format!("unknown kind \"{other}\""),
                    )
                    .hint("one of \"auto\", \"feed\", \"html\""),
                );
                SourceKind::Auto
            }
        };
        let mut html = HtmlSelectors::default();
        if let Some(table) = &raw.html {
            match (kind, raw.kind.as_ref()) {
                // Without a kind, the table says what the source is.
                (_, None) => kind = SourceKind::Html,
                (SourceKind::Html, _) => {}
                (_, Some(k)) => self.errors.push(
                    ConfigError::new(
                        Some(table.span()),
                        format!("{path}.html"),
                        format!(
                            "an html table does not apply to kind = \"{}\"",
                            k.get_ref()
                        ),
                    )
                    .hint("set kind = \"html\" to watch the page with these selectors, or remove the table"),
                ),
            }
            let table = table.get_ref();
            let mut selector = |key: &str, value: &Option<S<String>>| -> Option<String> {
                let value = value.as_ref()?;
                let css = value.get_ref().trim();
                let problem = if css.is_empty() {
                    Some("it is empty".to_string())
                } else {
                    crate::parse::extract::valid_selector(css).err()
                };
                match problem {
                    None => Some(css.to_string()),
                    Some(problem) => {
                        self.errors.push(
                            ConfigError::new(
                                Some(value.span()),
                                format!("{path}.html.{key}"),
                                format!("invalid CSS selector \"{css}\": {problem}"),
                            )
                            .hint("a CSS selector such as \"div.news a\" or \"h1.title\""),
                        );
                        None
                    }
                }
            };
            html.links = selector("links", &table.links);
            html.article.title = selector("title", &table.title);
            html.article.date = selector("date", &table.date);
            html.article.body = selector("body", &table.body);
            html.article.author = selector("author", &table.author);
        }
        let interval = match &raw.interval {
            Some(v) => self.interval(v, &format!("{path}.interval")),
            None => daemon.map(|d| d.interval),
        };
        let mut tags = Vec::new();
        for tag in raw.tags.iter().flatten() {
            if tag.get_ref().trim().is_empty() {
                self.err(tag.span(), &format!("{path}.tags"), "a tag cannot be empty");
            } else {
                tags.push(tag.get_ref().clone());
            }
        }
        let language = raw.language.as_ref().and_then(|l| {
            let code = l.get_ref().trim();
            let valid = (2..=3).contains(&code.split('-').next().unwrap_or("").len())
                && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid {
                self.errors.push(
                    ConfigError::new(
                        Some(l.span()),
                        format!("{path}.language"),
                        format!("invalid language \"{code}\""),
                    )
                    .hint("a language code such as \"fr\" or \"en\""),
                );
            }
            valid.then(|| code.to_lowercase())
        });
        let timezone = raw
            .timezone
            .as_ref()
            .and_then(|tz| self.timezone(tz, &format!("{path}.timezone")));
        if self.errors.len() > before {
            return None;
        }
        Some(Source {
            name,
            url: url?,
            kind,
            interval: interval?,
            tags,
            language,
            timezone,
            html,
        })
    }

    fn http_url(&mut self, value: &S<String>, path: &str) -> Option<Url> {
        let text = value.get_ref().trim();
        match Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            Ok(url) => {
                self.errors.push(
                    ConfigError::new(
                        Some(value.span()),
                        path,
                        format!("\"{}:\" URLs cannot be polled", url.scheme()),
                    )
                    .hint("use an http:// or https:// URL"),
                );
                None
            }
            Err(e) => {
                self.errors.push(
                    ConfigError::new(Some(value.span()), path, format!("invalid URL: {e}"))
                        .hint("write the full address, starting with https://"),
                );
                None
            }
        }
    }

    fn rule(
        &mut self,
        name: String,
        name_span: Range<usize>,
        raw: RawRule,
        path: &str,
        declared: &Declared,
    ) -> Option<(Rule, RuleSpec, Option<S<String>>)> {
        let before = self.errors.len();
        let query = raw.query.as_ref().and_then(|q| {
            let has_keywords = raw
                .keywords
                .as_ref()
                .is_some_and(|k| !k.get_ref().is_empty());
            self.query(q, &format!("{path}.query"), has_keywords)
        });
        let stem = raw.stem.as_ref().and_then(|s| {
            let stem = Stem::from_code(s.get_ref());
            if stem.is_none() {
                self.errors.push(
                    ConfigError::new(
                        Some(s.span()),
                        format!("{path}.stem"),
                        format!("unknown stemming language \"{}\"", s.get_ref()),
                    )
                    .hint("stem = \"fr\" or stem = \"en\""),
                );
            }
            stem
        });
        let keywords = self.terms(raw.keywords.as_ref(), &format!("{path}.keywords"));
        let exclude = self.terms(raw.exclude.as_ref(), &format!("{path}.exclude"));
        if keywords.is_empty() && raw.query.is_none() && raw.keywords.is_none() {
            self.errors.push(
                ConfigError::new(Some(name_span), path, "a rule needs keywords")
                    .hint("add keywords = [\"Minusma\", \"Casques bleus\"]"),
            );
        }
        let mut scope_sources = Vec::new();
        for s in raw.sources.iter().flatten() {
            if declared.sources.contains(s.get_ref()) {
                scope_sources.push(s.get_ref().clone());
            } else {
                let known = declared.sources.iter().map(String::as_str);
                self.unknown(s, &format!("{path}.sources"), "unknown source", known, None);
            }
        }
        let mut scope_tags = Vec::new();
        for t in raw.tags.iter().flatten() {
            if declared.tags.contains(t.get_ref()) || !declared.all_tags_known {
                // An unreadable source may carry the tag: its own error is
                // the one to fix.
                scope_tags.push(t.get_ref().clone());
            } else {
                let known = declared.tags.iter().map(String::as_str);
                self.unknown(
                    t,
                    &format!("{path}.tags"),
                    "no source has the tag",
                    known,
                    None,
                );
            }
        }
        let mut notify = Vec::new();
        if raw.notify.get_ref().is_empty() {
            self.err(
                raw.notify.span(),
                &format!("{path}.notify"),
                "a rule must notify at least one notifier",
            );
        }
        for n in raw.notify.get_ref() {
            if declared.notifiers.contains(n.get_ref()) {
                notify.push(n.get_ref().clone());
            } else {
                let known = declared.notifiers.iter().map(String::as_str);
                let otherwise = Some("define it as a [notifiers.NAME] table");
                self.unknown(
                    n,
                    &format!("{path}.notify"),
                    "unknown notifier",
                    known,
                    otherwise,
                );
            }
        }
        if self.errors.len() > before {
            return None;
        }
        let spec = RuleSpec {
            name: name.clone(),
            query,
            stem,
            keywords,
            exclude,
            case_sensitive: raw.case_sensitive.unwrap_or(false),
            accent_sensitive: raw.accent_sensitive.unwrap_or(false),
            sources: scope_sources,
            tags: scope_tags,
        };
        Some((Rule { name, notify }, spec, raw.query))
    }

    /// A rule's query, checked here so that an error points at the very
    /// character of the config file to fix.
    fn query(&mut self, value: &S<String>, path: &str, has_keywords: bool) -> Option<String> {
        let text = value.get_ref();
        let span = value.span();
        match crate::rules::parse_query(text) {
            Ok(expr) if expr.holds_without_terms() && !has_keywords => {
                self.errors.push(
                    ConfigError::new(
                        Some(span.clone()),
                        path,
                        "the query holds for an article with none of its terms, \
                         so it would alert on every article",
                    )
                    .hint("add a term the articles must contain: minusma -football"),
                );
                None
            }
            Ok(_) => Some(text.clone()),
            Err(e) => {
                self.query_error(value, path, e);
                None
            }
        }
    }

    /// A query error, at its place in the config file (through quotes and
    /// escapes).
    fn query_error(&mut self, value: &S<String>, path: &str, e: crate::rules::QueryError) {
        let span = value.span();
        let raw = self.text.get(span.clone()).unwrap_or_default();
        let at = |offset: usize| raw_offset(raw, offset).map_or(span.start, |o| span.start + o);
        let start = at(e.span.start);
        let end = at(e.span.end).max(start);
        let mut err = ConfigError::new(Some(start..end), path, e.message);
        if let Some(hint) = e.hint {
            err = err.hint(hint);
        }
        self.errors.push(err);
    }

    fn terms(&mut self, list: Option<&S<Vec<S<String>>>>, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        let Some(list) = list else { return out };
        if list.get_ref().is_empty() {
            self.err(list.span(), path, "the list is empty");
        }
        for term in list.get_ref() {
            if crate::rules::fold_words(term.get_ref(), Default::default()).is_empty() {
                self.errors.push(
                    ConfigError::new(
                        Some(term.span()),
                        path,
                        format!("\"{}\" has no word to match", term.get_ref()),
                    )
                    .hint("terms are matched on words: letters and digits"),
                );
            } else {
                out.push(term.get_ref().clone());
            }
        }
        out
    }

    fn secret(&mut self, value: &S<raw::RawSecret>, path: &str) -> Option<SecretString> {
        // Only a secret written in the file is masked; `{ env = "NAME" }`
        // names where it lives and helps the reader.
        if matches!(value.get_ref(), raw::RawSecret::Literal(_)) {
            self.secret_spans.push(value.span());
        }
        match secret::resolve(value.get_ref(), value.span(), path) {
            Ok(s) => Some(s),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }
}

/// Where the byte `decoded` of a TOML string's value sits in its source
/// text `raw` (quotes included). One-line basic and literal strings only;
/// `None` for multi-line strings or an offset past the end.
fn raw_offset(raw: &str, decoded: usize) -> Option<usize> {
    if let Some(body) = raw.strip_prefix("'''") {
        // A literal string has no escapes; TOML drops a newline right
        // after the opening quotes.
        let skipped = if body.starts_with("\r\n") {
            2
        } else {
            usize::from(body.starts_with('\n'))
        };
        let at = 3 + skipped + decoded;
        return (at + 3 < raw.len() + 1).then_some(at);
    }
    if raw.starts_with("\"\"\"") {
        return None;
    }
    if raw.starts_with('\'') {
        return (decoded + 1 < raw.len()).then_some(decoded + 1);
    }
    let body = raw.strip_prefix('"')?;
    let mut produced = 0;
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if produced >= decoded {
            return (produced == decoded).then_some(i + 1);
        }
        produced += match c {
            '"' => return None,
            '\\' => {
                let (_, kind) = chars.next()?;
                let digits = match kind {
                    'u' => 4,
                    'U' => 8,
                    'x' => 2,
                    _ => 0,
                };
                if digits == 0 {
                    1
                } else {
                    let hex: String = (0..digits)
                        .filter_map(|_| chars.next().map(|(_, h)| h))
                        .collect();
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?.len_utf8()
                }
            }
            c => c.len_utf8(),
        };
    }
    None
}

/// `"15MiB"`, `"500KB"`, `"1048576"`: binary and decimal units.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "kib" => 1 << 10,
        "mb" | "m" => 1_000_000,
        "mib" => 1 << 20,
        "gb" | "g" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_html_table_sets_the_kind_or_contradicts_it() {
        let config = |kind: &str| {
            parse(
                &format!(
                    "[sources.sahel]\nurl = \"https://www.example-portal.ml/\"\n{kind}\n  [sources.sahel.html]\n  links = \"div.news a\"\n"
                ),
                Path::new("vigie.toml"),
            )
        };
        let implied = config("").unwrap();
        assert_eq!(implied.sources[0].kind, SourceKind::Html);
        assert_eq!(implied.sources[0].html.links.as_deref(), Some("div.news a"));
        assert_eq!(
            config("kind = \"html\"").unwrap().sources[0].kind,
            SourceKind::Html
        );
        for kind in ["kind = \"feed\"", "kind = \"auto\""] {
            let errors = config(kind).unwrap_err();
            assert!(
                errors
                    .to_string()
                    .contains("an html table does not apply to kind"),
                "{errors}"
            );
        }
    }

    #[test]
    fn the_default_daemon_is_valid_and_quotes_the_defaults() {
        let d = Daemon::default();
        assert_eq!(d.interval, defaults::INTERVAL);
        assert_eq!(d.timeout, defaults::TIMEOUT);
        assert_eq!(d.first_run, FirstRun::Baseline);
    }

    #[test]
    fn template_offsets_map_through_escapes() {
        // "a\u00abb{{" decodes to "a«b{{": the `{{` is at byte 4 decoded,
        // byte 9 in the source text.
        assert_eq!(raw_offset(r#""a\u00abb{{""#, 4), Some(9));
        assert_eq!(raw_offset(r#""plain {{ x }}""#, 6), Some(7));
        assert_eq!(raw_offset("'lit {{'", 4), Some(5));
        assert_eq!(raw_offset(r#""é\n{{""#, 3), Some(5));
        assert_eq!(raw_offset(r#""""multi""""#, 1), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("15MiB"), Some(15 * 1024 * 1024));
        assert_eq!(parse_size("500KB"), Some(500_000));
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("1.5MiB"), None);
        assert_eq!(parse_size("MiB"), None);
    }

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\n# é\nbé = \"x\"\n";
        assert_eq!(diag::line_col(text, text.find("= \"x").unwrap()), (3, 4));
    }
}
