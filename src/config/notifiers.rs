//! `[notifiers.NAME]`: the channel and its settings, digests, rate limits
//! and message templates, each checked with its position in the file. A
//! template is compiled and rendered against a sample alert here, so an
//! error in it is a config error, not a dead delivery at 3 a.m.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::raw::{self, RawNotifier, S};
use super::{ConfigError, Validator, defaults, diag, raw_offset};
use crate::notify::template::{self, Flavor};

#[derive(Debug, Clone)]
pub struct Notifier {
    pub name: String,
    pub kind: NotifierKind,
    /// Gather alerts into one message per period instead of one each.
    pub digest: Option<Digest>,
    /// At most this many messages per period; a burst waits its turn.
    pub rate: Option<Rate>,
    pub messages: Messages,
}

impl Notifier {
    /// When an alert detected at `at` goes out: `None` for at once, or the
    /// end of its digest period.
    pub fn hold_until(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.digest.as_ref().map(|d| d.period_end(at))
    }

    pub fn flavor(&self) -> Flavor {
        self.kind.flavor()
    }
}

/// User templates replacing the defaults (minijinja, strict undefined).
#[derive(Debug, Clone, Default)]
pub struct Messages {
    /// The email subject, or the title of an ntfy or Teams message.
    pub subject: Option<String>,
    pub body: Option<Body>,
}

#[derive(Debug, Clone)]
pub struct Body {
    pub source: String,
    /// An HTML template (email only): a file named `*.html` or `*.html.j2`.
    pub html: bool,
}

#[derive(Debug, Clone)]
pub enum NotifierKind {
    Webhook(Webhook),
    Email(Email),
    /// Slack, Discord, Mattermost, Teams and ntfy: one POST to a URL.
    Chat(Chat),
    Telegram(Telegram),
}

impl NotifierKind {
    pub fn flavor(&self) -> Flavor {
        match self {
            NotifierKind::Webhook(_) => Flavor::Json,
            NotifierKind::Email(_) => Flavor::Email,
            NotifierKind::Telegram(_) => Flavor::TelegramHtml,
            NotifierKind::Chat(c) => match c.service {
                ChatService::Slack => Flavor::Slack,
                ChatService::Ntfy => Flavor::Plain,
                ChatService::Discord | ChatService::Mattermost | ChatService::Teams => {
                    Flavor::Markdown
                }
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct Webhook {
    /// A secret: webhook URLs often carry their token.
    pub url: SecretString,
    pub headers: Vec<(String, SecretString)>,
    /// Key of the HMAC-SHA256 signature header.
    pub secret: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatService {
    Slack,
    Discord,
    Mattermost,
    Teams,
    Ntfy,
}

impl ChatService {
    pub fn name(self) -> &'static str {
        match self {
            ChatService::Slack => "slack",
            ChatService::Discord => "discord",
            ChatService::Mattermost => "mattermost",
            ChatService::Teams => "teams",
            ChatService::Ntfy => "ntfy",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub service: ChatService,
    /// The incoming-webhook URL (for ntfy, the topic URL).
    pub url: SecretString,
    pub headers: Vec<(String, SecretString)>,
}

#[derive(Debug, Clone)]
pub struct Telegram {
    /// The Bot API's base URL; default `https://api.telegram.org`.
    pub api: Url,
    pub token: SecretString,
    pub chat_id: String,
}

#[derive(Debug, Clone)]
pub struct Email {
    pub to: Vec<Mailbox>,
    pub from: Mailbox,
    pub transport: EmailTransport,
}

#[derive(Debug, Clone)]
pub enum EmailTransport {
    Smtp(Smtp),
    /// The local mailer: `command`, default `/usr/sbin/sendmail`.
    Sendmail(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    StartTls,
    Tls,
    None,
}

/// `digest = "1h"` or `"daily@08:00"`, in the notifier's `timezone`.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    pub every: DigestEvery,
    pub timezone: Tz,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestEvery {
    /// Periods of this length, aligned on local midnight for whole days and
    /// on the epoch otherwise (a "1h" digest goes out on the hour).
    Period(Duration),
    /// Once a day at this local time.
    Daily(NaiveTime),
}

impl Digest {
    /// The end of the period that `at` falls in: the first digest time
    /// strictly after `at`.
    pub fn period_end(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self.every {
            DigestEvery::Period(period) => {
                let len = i64::try_from(period.as_secs()).unwrap_or(i64::MAX).max(1);
                let offset = i64::from(
                    self.timezone
                        .offset_from_utc_datetime(&at.naive_utc())
                        .fix()
                        .local_minus_utc(),
                );
                let local = at.timestamp() + offset;
                let next = (local.div_euclid(len) + 1) * len - offset;
                DateTime::from_timestamp(next, 0).unwrap_or(at)
            }
            DigestEvery::Daily(time) => {
                let local = at.with_timezone(&self.timezone);
                let mut day = local.date_naive();
                for _ in 0..3 {
                    // A time skipped by a DST change goes out an hour later.
                    let candidate = self
                        .timezone
                        .from_local_datetime(&day.and_time(time))
                        .earliest()
                        .or_else(|| {
                            self.timezone
                                .from_local_datetime(
                                    &(day.and_time(time) + chrono::Duration::hours(1)),
                                )
                                .earliest()
                        });
                    if let Some(c) = candidate.map(|c| c.with_timezone(&Utc))
                        && c > at
                    {
                        return c;
                    }
                    day = day.succ_opt().unwrap_or(day);
                }
                at + chrono::Duration::days(1)
            }
        }
    }
}

/// `rate = "20/min"`: at most `count` messages in any window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

const TYPES: [&str; 8] = [
    "email",
    "webhook",
    "slack",
    "discord",
    "mattermost",
    "teams",
    "telegram",
    "ntfy",
];

/// The keys each type takes besides `type`, `digest`, `rate`, `timezone`
/// and `body`/`template`.
fn keys_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "email" => &["to", "from", "subject", "smtp", "transport", "command"],
        "webhook" => &["url", "headers", "secret"],
        "ntfy" | "teams" => &["url", "headers", "subject"],
        "slack" | "discord" | "mattermost" => &["url", "headers"],
        "telegram" => &["url", "token", "chat_id"],
        _ => &[],
    }
}

impl Validator {
    pub(super) fn notifier(
        &mut self,
        name: String,
        raw: RawNotifier,
        path: &str,
    ) -> Option<Notifier> {
        let before = self.errors.len();
        let kind_name = raw.kind.get_ref().as_str();
        if !TYPES.contains(&kind_name) {
            let mut err = ConfigError::new(
                Some(raw.kind.span()),
                format!("{path}.type"),
                format!("unknown notifier type \"{kind_name}\""),
            );
            err = match diag::nearest(kind_name, TYPES) {
                Some(near) => err.hint(format!("did you mean \"{near}\"?")),
                None => err.hint(format!("one of {}", TYPES.join(", "))),
            };
            self.errors.push(err);
            return None;
        }
        self.not_for(&raw, path, kind_name);
        let kind = match kind_name {
            "webhook" => self.webhook(&raw, path).map(NotifierKind::Webhook),
            "email" => self.email(&raw, path).map(NotifierKind::Email),
            "telegram" => self.telegram(&raw, path).map(NotifierKind::Telegram),
            service => {
                let service = match service {
                    "slack" => ChatService::Slack,
                    "discord" => ChatService::Discord,
                    "mattermost" => ChatService::Mattermost,
                    "teams" => ChatService::Teams,
                    _ => ChatService::Ntfy,
                };
                self.chat(&raw, path, service).map(NotifierKind::Chat)
            }
        };
        let timezone = match &raw.timezone {
            Some(tz) => self.timezone(tz, &format!("{path}.timezone")),
            None => Some(Tz::UTC),
        };
        if let (Some(tz), None) = (&raw.timezone, &raw.digest) {
            self.err(
                tz.span(),
                &format!("{path}.timezone"),
                "a timezone only applies to a digest",
            );
        }
        let digest = raw.digest.as_ref().and_then(|d| {
            let every = self.digest(d, &format!("{path}.digest"))?;
            Some(Digest {
                every,
                timezone: timezone?,
            })
        });
        let rate = raw
            .rate
            .as_ref()
            .and_then(|r| self.rate(r, &format!("{path}.rate")));
        let kind = kind?;
        let messages = self.messages(&raw, path, kind.flavor(), digest.is_some())?;
        if self.errors.len() > before {
            return None;
        }
        Some(Notifier {
            name,
            kind,
            digest,
            rate,
            messages,
        })
    }

    /// Keys that belong to another notifier type are errors, not silently
    /// ignored: `to` on a webhook is a mistake the admin must hear about.
    fn not_for(&mut self, raw: &RawNotifier, path: &str, kind: &str) {
        let present: BTreeMap<&str, Option<Range<usize>>> = BTreeMap::from([
            ("to", raw.to.as_ref().map(|v| v.span())),
            ("from", raw.from.as_ref().map(|v| v.span())),
            ("subject", raw.subject.as_ref().map(|v| v.span())),
            ("smtp", raw.smtp.as_ref().map(|v| v.span())),
            ("transport", raw.transport.as_ref().map(|v| v.span())),
            ("command", raw.command.as_ref().map(|v| v.span())),
            ("url", raw.url.as_ref().map(|v| v.span())),
            ("headers", raw.headers.as_ref().map(|v| v.span())),
            ("secret", raw.secret.as_ref().map(|v| v.span())),
            ("token", raw.token.as_ref().map(|v| v.span())),
            ("chat_id", raw.chat_id.as_ref().map(|v| v.span())),
        ]);
        let allowed = keys_of(kind);
        for (key, span) in present {
            if let Some(span) = span
                && !allowed.contains(&key)
            {
                self.err(
                    span,
                    &format!("{path}.{key}"),
                    format!("\"{key}\" does not apply to {kind} notifiers"),
                );
            }
        }
    }

    /// An IANA time zone name, with a "did you mean" when misspelled.
    pub(super) fn timezone(&mut self, tz: &S<String>, path: &str) -> Option<Tz> {
        match tz.get_ref().parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
                let mut err = ConfigError::new(
                    Some(tz.span()),
                    path,
                    format!("unknown time zone \"{}\"", tz.get_ref()),
                );
                err = match diag::nearest(tz.get_ref(), names) {
                    Some(near) => err.hint(format!("did you mean \"{near}\"?")),
                    None => err.hint("an IANA name such as \"Africa/Bamako\""),
                };
                self.errors.push(err);
                None
            }
        }
    }

    fn digest(&mut self, value: &S<String>, path: &str) -> Option<DigestEvery> {
        let text = value.get_ref().trim();
        if let Some(time) = text.strip_prefix("daily@") {
            return match NaiveTime::parse_from_str(time.trim(), "%H:%M") {
                Ok(t) => Some(DigestEvery::Daily(t)),
                Err(_) => {
                    self.errors.push(
                        ConfigError::new(
                            Some(value.span()),
                            path,
                            format!("invalid time of day \"{time}\""),
                        )
                        .hint("write it like \"daily@08:00\" (24-hour clock)"),
                    );
                    None
                }
            };
        }
        let period = self.duration(value, path)?;
        if period < Duration::from_secs(60) {
            self.err(value.span(), path, "a digest period is at least one minute");
            return None;
        }
        Some(DigestEvery::Period(period))
    }

    fn rate(&mut self, value: &S<String>, path: &str) -> Option<Rate> {
        let parsed = value.get_ref().split_once('/').and_then(|(count, unit)| {
            let count = count.trim().parse::<u32>().ok().filter(|&c| c > 0)?;
            let per = match unit.trim() {
                "s" | "sec" | "second" => Duration::from_secs(1),
                "m" | "min" | "minute" => Duration::from_secs(60),
                "h" | "hour" => Duration::from_secs(3600),
                "d" | "day" => Duration::from_secs(86_400),
                other => humantime::parse_duration(other)
                    .ok()
                    .filter(|d| !d.is_zero() && *d <= defaults::MAX_DURATION)?,
            };
            Some(Rate { count, per })
        });
        if parsed.is_none() {
            self.errors.push(
                ConfigError::new(
                    Some(value.span()),
                    path,
                    format!("invalid rate \"{}\"", value.get_ref()),
                )
                .hint("write it like \"20/min\", \"1/s\", \"100/h\" or \"5/10m\""),
            );
        }
        parsed
    }

    /// The subject and body templates, compiled and rendered against a
    /// sample alert (or a sample digest).
    fn messages(
        &mut self,
        raw: &RawNotifier,
        path: &str,
        flavor: Flavor,
        digest: bool,
    ) -> Option<Messages> {
        let subject = raw.subject.as_ref().map(|s| s.get_ref().clone());
        let body = match (&raw.body, &raw.template) {
            (Some(b), Some(t)) => {
                self.err(
                    t.span(),
                    &format!("{path}.template"),
                    "give either `body` or `template`, not both",
                );
                let _ = b;
                return None;
            }
            (Some(b), None) => Some(Body {
                source: b.get_ref().clone(),
                html: false,
            }),
            (None, Some(t)) => {
                let file = self.dir.join(t.get_ref());
                match std::fs::read_to_string(&file) {
                    Ok(source) => {
                        let name = t.get_ref().to_ascii_lowercase();
                        Some(Body {
                            source,
                            html: name.ends_with(".html")
                                || name.ends_with(".htm")
                                || name.ends_with(".html.j2")
                                || name.ends_with(".html.jinja"),
                        })
                    }
                    Err(e) => {
                        self.err(
                            t.span(),
                            &format!("{path}.template"),
                            format!("cannot read {}: {e}", file.display()),
                        );
                        return None;
                    }
                }
            }
            (None, None) => None,
        };
        if body.as_ref().is_some_and(|b| b.html) && flavor != Flavor::Email {
            let span = raw.template.as_ref().map(|t| t.span()).unwrap_or_default();
            self.err(
                span,
                &format!("{path}.template"),
                "an HTML template only applies to email",
            );
            return None;
        }
        let messages = Messages { subject, body };
        match template::check(flavor, &messages, digest) {
            Ok(()) => Some(messages),
            Err(e) => {
                let (value, key) = match e.part {
                    template::Part::Subject => (raw.subject.as_ref(), "subject"),
                    template::Part::Body if raw.template.is_some() => {
                        (raw.template.as_ref(), "template")
                    }
                    template::Part::Body => (raw.body.as_ref(), "body"),
                };
                let span = value.map(|v| v.span()).unwrap_or(raw.kind.span());
                let mut message = e.message.clone();
                let start = if key == "template" {
                    if let (Some(line), Some(t)) = (e.line, &raw.template) {
                        message = format!("{} line {line}: {message}", t.get_ref());
                    }
                    span.start
                } else {
                    // The template offset is in the decoded string: map it
                    // back through quotes and escapes, or point at the value.
                    let text = self.text.get(span.clone()).unwrap_or_default();
                    e.offset
                        .and_then(|o| raw_offset(text, o))
                        .map_or(span.start, |o| span.start + o)
                };
                let mut err = ConfigError::new(
                    Some(start..span.end),
                    format!("{path}.{key}"),
                    format!("template error: {message}"),
                );
                if digest {
                    err = err.hint(
                        "this notifier sends digests: templates read `alerts`, `rules` and `count`",
                    );
                }
                self.errors.push(err);
                None
            }
        }
    }

    fn url_secret(
        &mut self,
        raw: &RawNotifier,
        path: &str,
        what: &str,
    ) -> Option<(SecretString, Url)> {
        let Some(url) = &raw.url else {
            self.err(raw.kind.span(), path, format!("{what} needs a url"));
            return None;
        };
        let url_path = format!("{path}.url");
        let secret = self.secret(url, &url_path)?;
        match Url::parse(secret.expose_secret()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Some((secret, u))
            }
            // The message never repeats the value: it may hold a token.
            _ => {
                self.err(
                    url.span(),
                    &url_path,
                    format!("the {what} URL is not a valid http(s) URL"),
                );
                None
            }
        }
    }

    fn headers(&mut self, raw: &RawNotifier, path: &str) -> Vec<(String, SecretString)> {
        let mut headers = Vec::new();
        for (name, value) in raw.headers.iter().flat_map(|h| h.get_ref().iter()) {
            let hpath = format!("{path}.headers.{name}");
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.err(
                    value.span(),
                    &hpath,
                    format!("invalid header name \"{name}\""),
                );
                continue;
            }
            if let Some(v) = self.secret(value, &hpath) {
                if reqwest::header::HeaderValue::from_str(v.expose_secret()).is_err() {
                    self.err(
                        value.span(),
                        &hpath,
                        "the header value has characters HTTP forbids",
                    );
                    continue;
                }
                headers.push((name.clone(), v));
            }
        }
        headers
    }

    fn webhook(&mut self, raw: &RawNotifier, path: &str) -> Option<Webhook> {
        let (url, _) = self.url_secret(raw, path, "a webhook")?;
        let headers = self.headers(raw, path);
        let secret = match &raw.secret {
            Some(s) => {
                let key = self.secret(s, &format!("{path}.secret"))?;
                if key.expose_secret().is_empty() {
                    self.err(
                        s.span(),
                        &format!("{path}.secret"),
                        "the signing key is empty",
                    );
                    return None;
                }
                Some(key)
            }
            None => None,
        };
        Some(Webhook {
            url,
            headers,
            secret,
        })
    }

    fn chat(&mut self, raw: &RawNotifier, path: &str, service: ChatService) -> Option<Chat> {
        let (url, parsed) =
            self.url_secret(raw, path, &format!("a {} notifier", service.name()))?;
        if service == ChatService::Ntfy
            && parsed
                .path_segments()
                .and_then(|mut s| s.next_back())
                .is_none_or(str::is_empty)
        {
            self.err(
                raw.url.as_ref().map(|u| u.span()).unwrap_or_default(),
                &format!("{path}.url"),
                "an ntfy URL names its topic",
            );
            return None;
        }
        let headers = self.headers(raw, path);
        Some(Chat {
            service,
            url,
            headers,
        })
    }

    fn telegram(&mut self, raw: &RawNotifier, path: &str) -> Option<Telegram> {
        let api = match &raw.url {
            Some(_) => self.url_secret(raw, path, "the Telegram API")?.1,
            None => Url::parse(defaults::TELEGRAM_API).ok()?,
        };
        let token = match &raw.token {
            Some(t) => self.secret(t, &format!("{path}.token")),
            None => {
                self.err(
                    raw.kind.span(),
                    path,
                    "a telegram notifier needs the bot's `token`",
                );
                None
            }
        };
        let chat_id = match &raw.chat_id {
            Some(c) if !c.get_ref().trim().is_empty() => Some(c.get_ref().trim().to_string()),
            Some(c) => {
                self.err(c.span(), &format!("{path}.chat_id"), "the chat id is empty");
                None
            }
            None => {
                self.err(
                    raw.kind.span(),
                    path,
                    "a telegram notifier needs a `chat_id`",
                );
                None
            }
        };
        Some(Telegram {
            api,
            token: token?,
            chat_id: chat_id?,
        })
    }

    fn mailbox(&mut self, value: &S<String>, path: &str) -> Option<Mailbox> {
        match value.get_ref().parse::<Mailbox>() {
            Ok(m) => Some(m),
            Err(e) => {
                self.errors.push(
                    ConfigError::new(
                        Some(value.span()),
                        path,
                        format!("invalid address \"{}\": {e}", value.get_ref()),
                    )
                    .hint("write \"desk@example.org\" or \"Desk <desk@example.org>\""),
                );
                None
            }
        }
    }

    fn email(&mut self, raw: &RawNotifier, path: &str) -> Option<Email> {
        let transport_name = raw.transport.as_ref().map(|t| t.get_ref().as_str());
        let to = match &raw.to {
            Some(list) if list.get_ref().is_empty() => {
                self.err(list.span(), &format!("{path}.to"), "no recipient");
                None
            }
            Some(list) => {
                let parsed: Vec<_> = list
                    .get_ref()
                    .iter()
                    .map(|a| self.mailbox(a, &format!("{path}.to")))
                    .collect();
                parsed.into_iter().collect::<Option<Vec<_>>>()
            }
            None => {
                self.err(raw.kind.span(), path, "an email notifier needs `to`");
                None
            }
        };
        let from = match &raw.from {
            Some(f) => self.mailbox(f, &format!("{path}.from")),
            None => {
                self.err(raw.kind.span(), path, "an email notifier needs `from`");
                None
            }
        };
        let transport = match transport_name {
            None | Some("smtp") => {
                if let Some(c) = &raw.command {
                    self.err(
                        c.span(),
                        &format!("{path}.command"),
                        "`command` goes with transport = \"sendmail\"",
                    );
                }
                match &raw.smtp {
                    Some(smtp) => self
                        .smtp(smtp.get_ref(), &format!("{path}.smtp"))
                        .map(EmailTransport::Smtp),
                    None => {
                        self.err(
                            raw.kind.span(),
                            path,
                            "an email notifier needs an [smtp] table (or transport = \"sendmail\")",
                        );
                        None
                    }
                }
            }
            Some("sendmail") => {
                if let Some(smtp) = &raw.smtp {
                    self.err(
                        smtp.span(),
                        &format!("{path}.smtp"),
                        "an [smtp] table does not apply to the sendmail transport",
                    );
                }
                let command = raw
                    .command
                    .as_ref()
                    .map_or(PathBuf::from(defaults::SENDMAIL), |c| {
                        PathBuf::from(c.get_ref())
                    });
                Some(EmailTransport::Sendmail(command))
            }
            Some(other) => {
                let span = raw.transport.as_ref().map(|t| t.span()).unwrap_or_default();
                self.errors.push(
                    ConfigError::new(
                        Some(span),
                        format!("{path}.transport"),
                        format!("unknown transport \"{other}\""),
                    )
                    .hint("\"smtp\" (with an [smtp] table) or \"sendmail\""),
                );
                None
            }
        };
        Some(Email {
            to: to?,
            from: from?,
            transport: transport?,
        })
    }

    fn smtp(&mut self, raw: &raw::RawSmtp, path: &str) -> Option<Smtp> {
        let before = self.errors.len();
        let host = raw.host.get_ref().trim().to_string();
        if host.is_empty() {
            self.err(
                raw.host.span(),
                &format!("{path}.host"),
                "the host is empty",
            );
        }
        let security = match raw
            .security
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s.span()))
        {
            None | Some(("starttls", _)) => Security::StartTls,
            Some(("tls", _)) => Security::Tls,
            Some(("none", _)) => Security::None,
            Some((other, span)) => {
                self.errors.push(
                    ConfigError::new(
                        Some(span),
                        format!("{path}.security"),
                        format!("unknown security \"{other}\""),
                    )
                    .hint("one of \"starttls\", \"tls\", \"none\""),
                );
                Security::StartTls
            }
        };
        let port = match &raw.port {
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(port) if port > 0 => port,
                _ => {
                    self.err(
                        p.span(),
                        &format!("{path}.port"),
                        "a port is a number from 1 to 65535",
                    );
                    0
                }
            },
            None => match security {
                Security::StartTls => defaults::SMTP_PORT_STARTTLS,
                Security::Tls => defaults::SMTP_PORT_TLS,
                Security::None => defaults::SMTP_PORT_NONE,
            },
        };
        let password = raw
            .password
            .as_ref()
            .and_then(|p| self.secret(p, &format!("{path}.password")));
        if raw.password.is_some() && raw.username.is_none() {
            let span = raw.password.as_ref().map(|p| p.span()).unwrap_or_default();
            self.err(
                span,
                &format!("{path}.password"),
                "a password needs a username",
            );
        }
        if self.errors.len() > before {
            return None;
        }
        Some(Smtp {
            host,
            port,
            security,
            username: raw.username.as_ref().map(|u| u.get_ref().clone()),
            password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn hourly_digests_end_on_the_hour() {
        let d = Digest {
            every: DigestEvery::Period(Duration::from_secs(3600)),
            timezone: Tz::UTC,
        };
        assert_eq!(
            d.period_end(at("2023-08-19T10:32:00Z")),
            at("2023-08-19T11:00:00Z")
        );
        assert_eq!(
            d.period_end(at("2023-08-19T11:00:00Z")),
            at("2023-08-19T12:00:00Z")
        );
    }

    #[test]
    fn daily_digests_follow_the_local_clock() {
        let d = Digest {
            every: DigestEvery::Daily(NaiveTime::from_hms_opt(8, 0, 0).unwrap()),
            timezone: "Europe/Paris".parse().unwrap(),
        };
        // 08:00 in Paris is 06:00 UTC in summer, 07:00 UTC in winter.
        assert_eq!(
            d.period_end(at("2023-08-19T05:00:00Z")),
            at("2023-08-19T06:00:00Z")
        );
        assert_eq!(
            d.period_end(at("2023-08-19T06:00:00Z")),
            at("2023-08-20T06:00:00Z")
        );
        assert_eq!(
            d.period_end(at("2023-12-19T09:00:00Z")),
            at("2023-12-20T07:00:00Z")
        );
    }

    #[test]
    fn whole_day_periods_align_on_local_midnight() {
        let d = Digest {
            every: DigestEvery::Period(Duration::from_secs(86_400)),
            timezone: "Asia/Tokyo".parse().unwrap(),
        };
        assert_eq!(
            d.period_end(at("2023-08-19T10:00:00Z")),
            at("2023-08-19T15:00:00Z")
        );
    }
}
