//! The config file as written: serde types mirroring DESIGN.md §3 key for key.
//! Unknown keys are errors; values that need semantic checks keep their span
//! so errors can point at `line:col`. The same types give the JSON Schema of
//! `vigie schema` (editors complete and check the file as it is typed), so
//! each field's doc comment is what an editor shows for its key.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;

/// A value and where it sits in the file. A thin wrapper of
/// [`toml::Spanned`], which has no JSON Schema of its own: its schema is
/// the value's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct S<T>(toml::Spanned<T>);

impl<T> S<T> {
    pub fn get_ref(&self) -> &T {
        self.0.get_ref()
    }

    pub fn span(&self) -> Range<usize> {
        self.0.span()
    }

    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: JsonSchema> JsonSchema for S<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

/// The whole file, for the schema only: the four tables are read one by one
/// (see `config::Validator::run`) so that each gets its own errors.
#[derive(JsonSchema)]
#[schemars(
    title = "vigie config",
    description = "vigie's config file (vigie.toml): the daemon's settings, the sources to watch, the rules to match and the notifiers to alert. `vigie check` validates it.",
    deny_unknown_fields
)]
pub struct RawConfig {
    /// How the daemon runs; every key is optional.
    pub daemon: Option<RawDaemon>,
    /// The feeds and pages to watch, by name: `[sources.NAME]`.
    pub sources: BTreeMap<String, RawSource>,
    /// Keyword rules, by name: `[rules.NAME]`. An article matching a rule
    /// alerts the rule's notifiers, once.
    pub rules: Option<BTreeMap<String, RawRule>>,
    /// Where alerts go, by name: `[notifiers.NAME]`.
    pub notifiers: Option<BTreeMap<String, RawNotifier>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    /// The SQLite file holding the state (articles seen, alerts, the
    /// outbox). Default: `$STATE_DIRECTORY/vigie.db` under systemd, else
    /// `./vigie.db`.
    pub state: Option<S<String>>,
    /// Address of the `/healthz` and Prometheus `/metrics` listener, such as
    /// "127.0.0.1:9797" or "[::1]:9797". Default: off. Unauthenticated:
    /// keep it on loopback or behind a proxy.
    pub listen: Option<S<String>>,
    /// Default poll interval of every source ("90s", "10m", "1h").
    /// Default: "10m".
    pub interval: Option<S<String>>,
    /// The User-Agent of every request. Default: "vigie/VERSION (feed
    /// watcher)"; add a way to reach you.
    pub user_agent: Option<S<String>>,
    /// Fetches in flight, all hosts together. Default: 16.
    #[schemars(range(min = 1))]
    pub concurrency: Option<S<i64>>,
    /// Fetches in flight to one host. Default: 2.
    #[schemars(range(min = 1))]
    pub per_host: Option<S<i64>>,
    /// One request, connect to last byte. Default: "30s".
    pub timeout: Option<S<String>>,
    /// The most decoded bytes read from one response ("15MiB", "500KB").
    /// Default: "15MiB".
    pub max_body: Option<S<String>>,
    /// What the first poll of a new source alerts on: "baseline" (nothing;
    /// the default), "alert" (everything matching) or "latest:N" (the N
    /// newest).
    #[schemars(regex(pattern = r"^(baseline|alert|latest:[1-9][0-9]*)$"))]
    pub first_run: Option<S<String>>,
    /// Never alert on an article published longer ago than this ("7d").
    /// Default: no limit.
    pub max_age: Option<S<String>>,
    /// A notifier told when a source starts failing or goes stale, and when
    /// it recovers. Default: none.
    pub errors_to: Option<S<String>>,
    /// A source with no new article for this long counts as stale ("3d").
    /// Default: never.
    pub stale_after: Option<S<String>>,
    /// The log level, as `RUST_LOG` writes it ("info", "debug",
    /// "warn,vigie=debug"); `RUST_LOG` wins when set. Default: "info".
    pub log_level: Option<S<String>>,
    /// How `vigie run` logs: "auto" (the journal's native fields under
    /// systemd, else text on stderr), "text", "json" (one object a line)
    /// or "journald". Default: "auto".
    #[schemars(extend("enum" = ["auto", "text", "json", "journald"]))]
    pub log_format: Option<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// The feed or page to poll (http or https).
    #[schemars(url)]
    pub url: S<String>,
    /// "auto" (the default: a feed, else the feed an HTML page announces,
    /// else the page as an HTML listing), "feed" or "html".
    #[schemars(extend("enum" = ["auto", "feed", "html"]))]
    pub kind: Option<S<String>>,
    /// This source's poll interval. Default: `daemon.interval`.
    pub interval: Option<S<String>>,
    /// Tags that rules can select the source by (`tags = ["mali"]`).
    pub tags: Option<Vec<S<String>>>,
    /// Language hint ("fr", "en") for articles whose feed does not say.
    pub language: Option<S<String>>,
    /// How to read dates the site writes without an offset, as an IANA
    /// name ("Africa/Bamako"). Default: UTC.
    pub timezone: Option<S<String>>,
    /// CSS selectors for an HTML portal without a feed; the table implies
    /// `kind = "html"`.
    pub html: Option<S<RawHtml>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHtml {
    /// CSS selector of the article links on the listing page. Default:
    /// found automatically (same-site headline links outside navigation).
    pub links: Option<S<String>>,
    /// CSS selector of the title on an article page. Default: automatic.
    pub title: Option<S<String>>,
    /// CSS selector of the date on an article page (its `datetime` or
    /// `content` attribute, else its text). Default: automatic.
    pub date: Option<S<String>>,
    /// CSS selector of the body on an article page. Default: automatic.
    pub body: Option<S<String>>,
    /// CSS selector of the author on an article page. Default: automatic.
    pub author: Option<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// The query: words, "phrases", prefix*, AND / OR / NOT, ( ),
    /// field:word, "words"~N, /regex/. Example: `minusma OR "casques
    /// bleus" OR (retrait AND onu)`.
    pub query: Option<S<String>>,
    /// Shorthand: any of these words or phrases.
    pub keywords: Option<S<Vec<S<String>>>>,
    /// None of these words or phrases.
    pub exclude: Option<S<Vec<S<String>>>>,
    /// Only these sources, by name. Default: every source.
    pub sources: Option<Vec<S<String>>>,
    /// Only the sources with one of these tags. Default: every source.
    pub tags: Option<Vec<S<String>>>,
    /// The notifiers alerted, by name.
    pub notify: S<Vec<S<String>>>,
    /// Match case exactly. Default: false.
    pub case_sensitive: Option<bool>,
    /// Match accents exactly. Default: false.
    pub accent_sensitive: Option<bool>,
    /// Match word forms in this language ("fr" or "en"): retrait ~ retraits.
    /// Default: exact words.
    #[schemars(extend("enum" = ["fr", "en"]))]
    pub stem: Option<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNotifier {
    /// The kind of notifier.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["email", "webhook", "slack", "discord", "mattermost", "teams", "telegram", "ntfy"]))]
    pub kind: S<String>,
    /// Email: the recipients ("Desk <desk@example.org>").
    pub to: Option<S<Vec<S<String>>>>,
    /// Email: the sender ("vigie <vigie@example.org>").
    pub from: Option<S<String>>,
    /// One message per period ("1h", "daily@08:00") instead of one per
    /// alert.
    pub digest: Option<S<String>>,
    /// The most messages per period ("20/min"); a burst waits its turn.
    pub rate: Option<S<String>>,
    /// Email (and the ntfy and Teams title): a minijinja template. Default:
    /// "[vigie] {{ rule }}: {{ article.title }}".
    pub subject: Option<S<String>>,
    /// The message body, a minijinja template. Default: a built-in one.
    pub body: Option<S<String>>,
    /// A file holding the body template, relative to the config file; for
    /// email, a *.html or *.html.j2 file is the HTML part.
    pub template: Option<S<String>>,
    /// Email: "smtp" (the default) or "sendmail".
    #[schemars(extend("enum" = ["smtp", "sendmail"]))]
    pub transport: Option<S<String>>,
    /// Email: the SMTP server.
    pub smtp: Option<S<RawSmtp>>,
    /// Webhook and chat services: where to POST (for ntfy the topic URL,
    /// for Telegram the Bot API, default "https://api.telegram.org"); a
    /// secret, since such URLs often hold a token.
    pub url: Option<S<RawSecret>>,
    /// Webhook, ntfy and chat services: extra headers, values secret
    /// (`Authorization = { env = "HOOK_TOKEN" }`).
    pub headers: Option<S<BTreeMap<String, S<RawSecret>>>>,
    /// Webhook: the key of the HMAC-SHA256 signature header.
    pub secret: Option<S<RawSecret>>,
    /// The clock of a "daily@HH:MM" digest, e.g. "Africa/Bamako". Default
    /// UTC.
    pub timezone: Option<S<String>>,
    /// Email with transport = "sendmail": the mailer. Default
    /// "/usr/sbin/sendmail".
    pub command: Option<S<String>>,
    /// Telegram: the bot's token, a secret.
    pub token: Option<S<RawSecret>>,
    /// Telegram: the chat to post in ("-1001234567890" or "@channel").
    pub chat_id: Option<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    /// The SMTP server's host name.
    pub host: S<String>,
    /// Default: 587 with "starttls", 465 with "tls", 25 with "none".
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<S<i64>>,
    /// "starttls" (the default), "tls" or "none".
    #[schemars(extend("enum" = ["starttls", "tls", "none"]))]
    pub security: Option<S<String>>,
    /// The login, if the server wants one.
    pub username: Option<S<String>>,
    /// The password: a secret.
    pub password: Option<S<RawSecret>>,
}

/// A secret: the value itself, or where to read it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawSecret {
    /// The value itself (it then sits in the config file).
    Literal(String),
    /// Where to read it.
    From(SecretRef),
}

/// Where a secret is read: one of `env`, `file`, `credential`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// An environment variable.
    pub env: Option<String>,
    /// A file (its content, trailing newline removed).
    pub file: Option<String>,
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/NAME`
    /// (`LoadCredential=NAME:PATH` in the unit).
    pub credential: Option<String>,
}

/// Valid keys per table, for "did you mean" hints on misspelled table names
/// and for the example-config test.
pub const TOP_KEYS: &[&str] = &["daemon", "sources", "rules", "notifiers"];

/// The JSON Schema of the config file (draft 7, which Taplo and the editors
/// built on it read).
pub fn schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut schema = generator.into_root_schema_for::<RawConfig>().to_value();
    drop_null(&mut schema);
    schema
}

/// TOML has no null: an optional key is one left out, so the `"null"` that
/// JSON Schema gives `Option` fields would only mislead an editor.
fn drop_null(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                if any.len() == 1 {
                    let only = any.remove(0);
                    map.remove("anyOf");
                    if let Value::Object(only) = only {
                        map.extend(only);
                    }
                }
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}
