//! `vigie check` on broken configs, through the real binary (DESIGN.md §2–§3).
//!
//! Each broken config below is a small, realistic file with exactly one
//! mistake. For each one, `vigie check` must exit 1 and print exactly one
//! error that names `FILE:LINE:COL` of the offending spot, the schema path
//! (`sources.rfi.interval`), what is wrong, and a hint where one helps; the
//! offending line is echoed with a caret under that column. The expected
//! line and column are written literally in the table, counted by hand in
//! the config text, never taken from the output.
//!
//! Then: a config with several mistakes reports all of them, in file order;
//! a secret never appears in the output, even when its own table is wrong;
//! and a good config passes.

use std::path::PathBuf;
use std::process::{Command, Output};

/// One broken config and what `vigie check` must say about it.
struct Case {
    /// The mistake, as a sentence; printed when the case fails.
    mistake: &'static str,
    config: &'static str,
    /// `LINE:COL` of the offending spot, both from 1, columns in characters.
    at: &'static str,
    /// Where in the schema; empty for TOML syntax errors, which have none.
    path: &'static str,
    /// A key part of the message.
    message: &'static str,
    hint: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        mistake: "a misspelled key in [daemon]",
        config: r#"[daemon]
intervall = "10m"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:1",
        path: "daemon",
        message: r#"unknown key "intervall""#,
        hint: Some(r#"did you mean "interval"?"#),
    },
    Case {
        mistake: "a misspelled key in a source",
        config: r#"[sources.rfi-afrique]
url = "https://www.rfi.fr/fr/afrique/rss"
tag = ["mali"]
language = "fr"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "3:1",
        path: "sources.rfi-afrique",
        message: r#"unknown key "tag""#,
        hint: Some(r#"did you mean "tags"?"#),
    },
    Case {
        mistake: "a misspelled top-level table",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"

[notifers.backup]
type = "webhook"
url = "http://127.0.0.1:8788/alerts"
"#,
        at: "12:2",
        path: "",
        message: r#"unknown table "notifers""#,
        hint: Some(r#"did you mean "notifiers"?"#),
    },
    Case {
        mistake: "a string left open (TOML syntax)",
        config: r#"[sources.rfi]
url = "https://www.rfi.fr/fr/afrique/rss
tags = ["mali"]

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:41",
        path: "",
        message: "invalid basic string",
        hint: None,
    },
    Case {
        mistake: "a key without `=` (TOML syntax)",
        config: r#"[sources.rfi]
url "https://www.rfi.fr/fr/afrique/rss"
tags = ["mali"]

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:5",
        path: "",
        message: "expected `=`",
        hint: None,
    },
    Case {
        mistake: "a duration in a unit vigie does not know",
        config: r#"[sources.rfi]
url = "https://www.rfi.fr/fr/afrique/rss"
interval = "5 mn"
tags = ["mali"]

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "3:12",
        path: "sources.rfi.interval",
        message: "invalid duration",
        hint: Some(r#"write it like "90s", "10m", "1h" or "7d""#),
    },
    Case {
        mistake: "a size in potatoes",
        config: r#"[daemon]
interval = "10m"
max_body = "15 potatoes"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "3:12",
        path: "daemon.max_body",
        message: "invalid size",
        hint: Some(r#"write it like "15MiB""#),
    },
    Case {
        mistake: "a first_run that is none of the three forms",
        config: r#"[daemon]
first_run = "tout"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:13",
        path: "daemon.first_run",
        message: r#"invalid first_run "tout""#,
        hint: Some(r#"one of "baseline", "alert", "latest:N""#),
    },
    Case {
        mistake: "first_run = \"latest:0\"",
        config: r#"[daemon]
first_run = "latest:0"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:13",
        path: "daemon.first_run",
        message: r#"invalid first_run "latest:0""#,
        hint: Some(r#""latest:N" (N ≥ 1)"#),
    },
    Case {
        mistake: "a file: URL as a source",
        config: r#"[sources.abamako]
url = "file:///var/www/abamako/index.rss"
language = "fr"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:7",
        path: "sources.abamako.url",
        message: r#""file:" URLs cannot be polled"#,
        hint: Some("use an http:// or https:// URL"),
    },
    Case {
        mistake: "a javascript: URL as a source",
        config: r#"[sources.abamako]
language = "fr"
url = "javascript:alert(document.cookie)"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "3:7",
        path: "sources.abamako.url",
        message: r#""javascript:" URLs cannot be polled"#,
        hint: Some("use an http:// or https:// URL"),
    },
    Case {
        mistake: "a URL without a scheme",
        config: r#"[sources.abamako]
url = "www.abamako.com/rss"
language = "fr"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:7",
        path: "sources.abamako.url",
        message: "invalid URL",
        hint: Some("write the full address, starting with https://"),
    },
    Case {
        mistake: "a misspelled time zone",
        config: r#"[sources.abamako]
url = "https://www.abamako.com/rss"
language = "fr"
timezone = "Africa/Bamaco"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "4:12",
        path: "sources.abamako.timezone",
        message: r#"unknown time zone "Africa/Bamaco""#,
        hint: Some(r#"did you mean "Africa/Bamako"?"#),
    },
    Case {
        mistake: "an invalid CSS selector for an HTML portal",
        config: r#"[sources.abamako]
url = "https://www.abamako.com/"
kind = "html"
  [sources.abamako.html]
  links = "div.news a["

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "5:11",
        path: "sources.abamako.html.links",
        message: "invalid CSS selector \"div.news a[\"",
        hint: Some("a CSS selector such as"),
    },
    Case {
        mistake: "a rule naming a misspelled notifier",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"
tags = ["mali", "un"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
tags = ["mali"]
notify = ["dsk"]
"#,
        at: "12:11",
        path: "rules.minusma.notify",
        message: r#"unknown notifier "dsk""#,
        hint: Some(r#"did you mean "desk"?"#),
    },
    Case {
        mistake: "a rule naming a misspelled source",
        config: r#"[sources.abamako]
url = "https://www.abamako.com/rss"

[sources.rfi-afrique]
url = "https://www.rfi.fr/fr/afrique/rss"

[rules.retrait]
keywords = ["retrait"]
sources = ["rfi-afrique", "abamak"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "9:27",
        path: "rules.retrait.sources",
        message: r#"unknown source "abamak""#,
        hint: Some(r#"did you mean "abamako"?"#),
    },
    Case {
        mistake: "a rule scoped to a tag no source has",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"
tags = ["mali", "un"]

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
tags = ["sahel"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "7:9",
        path: "rules.minusma.tags",
        message: r#"no source has the tag "sahel""#,
        hint: None,
    },
    Case {
        mistake: "a keyword with no word in it",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "—", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "5:24",
        path: "rules.minusma.keywords",
        message: r#""—" has no word to match"#,
        hint: Some("terms are matched on words"),
    },
    Case {
        mistake: "a rule without keywords",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.retrait]
exclude = ["football"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "4:8",
        path: "rules.retrait",
        message: "a rule needs keywords",
        hint: Some(r#"add keywords = ["Minusma", "Casques bleus"]"#),
    },
    Case {
        mistake: "a query with an unclosed quote",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
query = 'minusma OR "casques bleus'
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "5:21",
        path: "rules.minusma.query",
        message: "unclosed quote",
        hint: Some("end the phrase with another \""),
    },
    Case {
        mistake: "a misspelt field after escaped quotes",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
query = "\"casques bleus\" OR titre:minusma"
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "5:31",
        path: "rules.minusma.query",
        message: "unknown field \"titre\" (did you mean \"title\"?)",
        hint: Some("fields are title, summary, body, author, url, source, tag, lang"),
    },
    Case {
        mistake: "NOT with nothing after it",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
query = 'minusma NOT'
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "5:18",
        path: "rules.minusma.query",
        message: "NOT needs a term after it",
        hint: Some("for example NOT football"),
    },
    Case {
        mistake: "an invalid regular expression",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
query = 'mali OR /mali(en/'
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "5:18",
        path: "rules.minusma.query",
        message: "invalid regular expression",
        hint: None,
    },
    Case {
        mistake: "an unclosed group in a multi-line query",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
query = '''
minusma OR
  (retrait AND onu'''
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "7:3",
        path: "rules.minusma.query",
        message: "unclosed parenthesis",
        hint: Some("close the group with )"),
    },
    Case {
        mistake: "a query that only excludes",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
query = 'NOT football'
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "5:9",
        path: "rules.minusma.query",
        message: "so it would alert on every article",
        hint: Some("add a term the articles must contain"),
    },
    Case {
        mistake: "a ligature inside a regex class",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
query = 'minusma OR /c[œo]ur/'
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "5:21",
        path: "rules.minusma.query",
        message: "œ is spelled oe in the normalized text",
        hint: None,
    },
    Case {
        mistake: "an unknown stemming language",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
query = "retrait"
stem = "de"
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "6:8",
        path: "rules.minusma.stem",
        message: "unknown stemming language \"de\"",
        hint: Some("stem = \"fr\" or stem = \"en\""),
    },
    Case {
        mistake: "errors_to names no notifier",
        config: r#"[daemon]
errors_to = "dsek"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:13",
        path: "daemon.errors_to",
        message: r#"unknown notifier "dsek""#,
        hint: Some(r#"did you mean "desk"?"#),
    },
    Case {
        mistake: "stale_after that is not a duration",
        config: r#"[daemon]
stale_after = "3 jours"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:15",
        path: "daemon.stale_after",
        message: "invalid duration",
        hint: Some(r#"write it like "90s", "10m", "1h" or "7d""#),
    },
    Case {
        mistake: "log_format = an unknown format",
        config: r#"[daemon]
log_format = "syslog"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:14",
        path: "daemon.log_format",
        message: "unknown log format \"syslog\"",
        hint: Some(r#"one of "auto", "text", "json", "journald""#),
    },
    Case {
        mistake: "log_level = a misspelled level",
        config: r#"[daemon]
log_level = "vigie=verbose"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "2:13",
        path: "daemon.log_level",
        message: "invalid log level",
        hint: Some(
            r#"a level ("error", "warn", "info", "debug", "trace") or directives like "warn,vigie=debug""#,
        ),
    },
    Case {
        mistake: "listen = a port without an address",
        config: r#"[daemon]
interval = "10m"
listen = "9797"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "3:10",
        path: "daemon.listen",
        message: "invalid listen address",
        hint: Some(r#"an IP address and a port: "127.0.0.1:9797" or "[::1]:9797""#),
    },
    Case {
        mistake: "digest at an impossible time of day",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "email"
to = ["desk@example.org"]
from = "vigie <vigie@example.org>"
digest = "daily@25:00"

[notifiers.desk.smtp]
host = "smtp.example.org"
"#,
        at: "12:10",
        path: "notifiers.desk.digest",
        message: "invalid time of day \"25:00\"",
        hint: Some(r#"write it like "daily@08:00""#),
    },
    Case {
        mistake: "a misspelled notifier type",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "emial"
to = ["desk@example.org"]
from = "vigie <vigie@example.org>"
"#,
        at: "9:8",
        path: "notifiers.desk.type",
        message: r#"unknown notifier type "emial""#,
        hint: Some(r#"did you mean "email"?"#),
    },
    Case {
        mistake: "an email notifier without `to`",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "email"
from = "vigie <vigie@example.org>"

[notifiers.desk.smtp]
host = "smtp.example.org"
"#,
        at: "9:8",
        path: "notifiers.desk",
        message: "an email notifier needs `to`",
        hint: None,
    },
    Case {
        mistake: "an email address without @",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "email"
to = ["redaction@example.org", "desk at example.org"]
from = "vigie <vigie@example.org>"

[notifiers.desk.smtp]
host = "smtp.example.org"
"#,
        at: "10:32",
        path: "notifiers.desk.to",
        message: r#"invalid address "desk at example.org""#,
        hint: Some(r#"write "desk@example.org" or "Desk <desk@example.org>""#),
    },
    Case {
        mistake: "a subject template with an unknown variable",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "email"
to = ["desk@example.org"]
from = "vigie <vigie@example.org>"
subject = "[vigie] {{ rule }}: {{ article.titre }}"

[notifiers.desk.smtp]
host = "smtp.example.org"
"#,
        at: "12:35",
        path: "notifiers.desk.subject",
        message: "article.titre",
        hint: None,
    },
    Case {
        mistake: "a subject template with a syntax error",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "email"
to = ["desk@example.org"]
from = "vigie <vigie@example.org>"
subject = "[vigie] {{ rule }: {{ article.title }}"

[notifiers.desk.smtp]
host = "smtp.example.org"
"#,
        at: "12:28",
        path: "notifiers.desk.subject",
        message: "syntax error",
        hint: None,
    },
    Case {
        mistake: "a webhook URL from an environment variable that is not set",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["slack"]

[notifiers.slack]
type = "webhook"
url = { env = "VAR_THAT_IS_NOT_SET" }
"#,
        at: "10:7",
        path: "notifiers.slack.url",
        message: "environment variable VAR_THAT_IS_NOT_SET is not set",
        hint: None,
    },
    Case {
        mistake: "a secret read from both env and file",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["hook"]

[notifiers.hook]
type = "webhook"
url = { env = "VIGIE_HOOK_URL", file = "/etc/vigie/hook-url" }
"#,
        at: "10:7",
        path: "notifiers.hook.url",
        message: "a secret takes exactly one of env, file or credential",
        hint: None,
    },
    Case {
        mistake: "a number written as a string",
        config: r#"[daemon]
interval = "10m"
concurrency = "lots"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "3:15",
        path: "daemon.concurrency",
        message: r#"invalid type: string "lots", expected a whole number"#,
        hint: None,
    },
    Case {
        mistake: "concurrency = 0",
        config: r#"[daemon]
interval = "10m"
concurrency = 0

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
        at: "3:15",
        path: "daemon.concurrency",
        message: "must be a whole number above zero",
        hint: None,
    },
    Case {
        mistake: "an SMTP port out of range",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "email"
to = ["desk@example.org"]
from = "vigie <vigie@example.org>"

[notifiers.desk.smtp]
host = "smtp.example.org"
port = 70000
"#,
        at: "15:8",
        path: "notifiers.desk.smtp.port",
        message: "a port is a number from 1 to 65535",
        hint: None,
    },
];

/// What `vigie check` did with one config file.
struct Checked {
    /// Keeps the config file alive while the test reads the output.
    _dir: tempfile::TempDir,
    file: PathBuf,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Writes `config` to `vigie.toml` in a fresh directory and runs
/// `vigie check --config` on it.
fn check(config: &str) -> Checked {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("vigie.toml");
    std::fs::write(&file, config).expect("write config");
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .arg("check")
        .arg("--config")
        .arg(&file)
        .env_remove("VAR_THAT_IS_NOT_SET")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run vigie");
    Checked {
        _dir: dir,
        file,
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The `error:` lines of `vigie check`'s output.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect()
}

/// Everything wrong with `vigie check`'s answer to `case`, or `None`.
fn mismatch(case: &Case) -> Option<String> {
    let out = check(case.config);
    let file = out.file.display().to_string();
    let stderr = &out.stderr;
    let mut wrong = Vec::new();
    if out.code != Some(1) {
        wrong.push(format!("exit code {:?}, not 1", out.code));
    }
    let errors = error_lines(stderr);
    if errors.len() != 1 || !stderr.contains(&format!("\n1 error in {file}")) {
        wrong.push(format!("{} errors, not exactly one", errors.len()));
    }
    let (line, col) = case.at.split_once(':').expect("LINE:COL");
    let line: usize = line.parse().expect("LINE");
    let col: usize = col.parse().expect("COL");
    let place = format!("error: {file}:{}: ", case.at);
    let head = if case.path.is_empty() {
        place
    } else {
        format!("{place}{}: ", case.path)
    };
    let lines: Vec<&str> = stderr.lines().collect();
    let Some(at) = lines.iter().position(|l| l.starts_with(&head)) else {
        wrong.push(format!("no error starts with {head:?}"));
        return Some(format!("{}\n{stderr}", wrong.join("; ")));
    };
    if !lines[at].contains(case.message) {
        wrong.push(format!("the error line lacks {:?}", case.message));
    }
    // The block under the error line: ` |`, the echoed line, the caret line,
    // then the hint if there is one.
    let block: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| !l.is_empty() && !l.starts_with("error: "))
        .copied()
        .collect();
    let source_line = case.config.lines().nth(line - 1).expect("LINE in config");
    let echo = format!("{line} | {source_line}");
    let gutter = " ".repeat(line.to_string().len());
    let caret = format!("{gutter} | {}^", " ".repeat(col - 1));
    match block.iter().position(|l| *l == echo) {
        None => wrong.push(format!("line {line} is not echoed as {echo:?}")),
        Some(i) if !block.get(i + 1).is_some_and(|l| l.starts_with(&caret)) => {
            wrong.push(format!("no caret under column {col}"));
        }
        Some(_) => {}
    }
    if let Some(hint) = case.hint {
        let hint_line = format!("{gutter} = hint: ");
        if !block
            .iter()
            .any(|l| l.starts_with(&hint_line) && l.contains(hint))
        {
            wrong.push(format!("no hint containing {hint:?}"));
        }
    }
    (!wrong.is_empty()).then(|| format!("{}\n{}", wrong.join("; "), stderr))
}

#[test]
fn each_broken_config_is_reported_at_the_offending_spot_with_path_message_and_hint() {
    assert!(CASES.len() >= 14);
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|case| {
            mismatch(case).map(|why| format!("--- {} (at {}): {why}", case.mistake, case.at))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn several_mistakes_are_all_reported_in_file_order() {
    let out = check(
        r#"[daemon]
interval = "10m"
concurrency = 0
first_run = "tout"

[sources.rfi-afrique]
url = "ftp://www.rfi.fr/fr/afrique/rss"
timezone = "Europe/Pariss"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["dsk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
    );
    let file = out.file.display().to_string();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let expected = [
        "3:15: daemon.concurrency: ",
        "4:13: daemon.first_run: ",
        "7:7: sources.rfi-afrique.url: ",
        "8:12: sources.rfi-afrique.timezone: ",
        "15:11: rules.minusma.notify: ",
    ];
    let errors = error_lines(&out.stderr);
    assert_eq!(errors.len(), expected.len(), "{}", out.stderr);
    for (error, place) in errors.iter().zip(expected) {
        let head = format!("error: {file}:{place}");
        assert!(error.starts_with(&head), "{error:?} is not {head:?}");
    }
    assert!(
        out.stderr.ends_with(&format!("\n5 errors in {file}\n")),
        "{}",
        out.stderr
    );
}

#[test]
fn a_template_error_points_at_the_variable_even_after_an_escape_in_the_subject() {
    // The template is the *decoded* string: `\u00ab` is six bytes in the
    // file and two in the template, so template offsets must be mapped back
    // through the escapes, not just shifted past the opening quote.
    let case = Case {
        mistake: "an unknown variable after a \\u escape",
        config: r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "email"
to = ["desk@example.org"]
from = "vigie <vigie@example.org>"
subject = "[vigie] \u00ab {{ article.titre }} \u00bb"

[notifiers.desk.smtp]
host = "smtp.example.org"
"#,
        at: "12:30",
        path: "notifiers.desk.subject",
        message: "article.titre",
        hint: None,
    };
    if let Some(why) = mismatch(&case) {
        panic!("{why}");
    }
}

#[test]
fn a_source_with_a_mistake_does_not_also_fail_the_rule_that_selects_its_tag() {
    // The source gets its error; the rule that selects it by tag must not
    // get a second one, as a rule that names it in `sources` does not.
    let out = check(
        r#"[sources.rfi-afrique]
url = "https://www.rfi.fr/fr/afrique/rss"
interval = "5 mn"
tags = ["mali"]

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
tags = ["mali"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
"#,
    );
    let file = out.file.display().to_string();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let errors = error_lines(&out.stderr);
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].starts_with(&format!(
            "error: {file}:3:12: sources.rfi-afrique.interval: "
        )),
        "{}",
        out.stderr
    );
}

/// A token that must never be printed.
const TOKEN: &str = "T0KEN-s3cret";

fn assert_token_not_printed(config: &str) {
    let out = check(config);
    assert_eq!(out.code, Some(1), "the config must be rejected");
    assert!(
        !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
        "the secret was printed:\n{}{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn a_secret_next_to_a_mistake_is_not_printed() {
    assert_token_not_printed(
        r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["slack"]

[notifiers.slack]
type = "webhook"
url = "https://hooks.example.org/T0KEN-s3cret"
methode = "POST"
"#,
    );
}

#[test]
fn a_secret_in_a_notifier_of_the_wrong_type_is_not_printed() {
    assert_token_not_printed(
        r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["slack"]

[notifiers.slack]
type = "slak"
url = "https://hooks.example.org/T0KEN-s3cret"
"#,
    );
}

#[test]
fn a_webhook_url_that_is_not_a_url_is_not_printed() {
    assert_token_not_printed(
        r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["slack"]

[notifiers.slack]
type = "webhook"
url = "not a url T0KEN-s3cret"
"#,
    );
}

#[test]
fn an_smtp_password_without_a_username_is_not_printed() {
    assert_token_not_printed(
        r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["desk"]

[notifiers.desk]
type = "email"
to = ["desk@example.org"]
from = "vigie <vigie@example.org>"

[notifiers.desk.smtp]
host = "smtp.example.org"
password = "T0KEN-s3cret"
"#,
    );
}

#[test]
fn a_header_value_http_forbids_is_not_printed() {
    assert_token_not_printed(
        r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["hook"]

[notifiers.hook]
type = "webhook"
url = "https://example.org/hooks/vigie"
headers = { Authorization = "Bearer T0KEN-s3cret\n" }
"#,
    );
}

#[test]
fn an_unquoted_password_is_a_syntax_error_that_does_not_print_it() {
    assert_token_not_printed(
        r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma"]
notify = ["desk"]

[notifiers.desk]
type = "email"
to = ["desk@example.org"]
from = "vigie@example.org"
  [notifiers.desk.smtp]
  host = "smtp.example.org"
  username = "vigie"
  password = T0KEN-s3cret
"#,
    );
}

#[test]
fn a_password_of_the_wrong_type_is_not_printed() {
    assert_token_not_printed(
        r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma"]
notify = ["desk"]

[notifiers.desk]
type = "email"
to = ["desk@example.org"]
from = "vigie@example.org"
  [notifiers.desk.smtp]
  host = "smtp.example.org"
  username = "vigie"
  password = ["T0KEN-s3cret"]
"#,
    );
}

#[test]
fn an_unquoted_header_value_in_a_headers_table_is_not_printed() {
    assert_token_not_printed(
        r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma"]
notify = ["hook"]

[notifiers.hook]
type = "webhook"
url = "https://hooks.example.org/in"
  [notifiers.hook.headers]
  Authorization = Bearer T0KEN-s3cret
"#,
    );
}

#[test]
fn a_dotted_secret_key_under_notifiers_is_not_printed() {
    assert_token_not_printed(
        r#"[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"

[rules.minusma]
keywords = ["Minusma"]
notify = ["hook"]

[notifiers]
hook.type = "webhook"
hook.url = https://hooks.example.org/T0KEN-s3cret
"#,
    );
}

#[test]
fn a_good_config_passes() {
    let out = check(
        r#"[daemon]
interval = "10m"
first_run = "latest:5"
max_age = "7d"

[sources.un-news]
url = "https://news.un.org/feed/subscribe/fr/news/region/africa/feed/rss.xml"
tags = ["mali", "un"]
language = "fr"

[sources.abamako]
url = "https://www.abamako.com/rss"
interval = "5m"
tags = ["mali"]
timezone = "Africa/Bamako"

[rules.minusma]
keywords = ["Minusma", "Casques bleus", "retrait"]
exclude = ["football"]
tags = ["mali"]
notify = ["hook", "desk"]

[notifiers.hook]
type = "webhook"
url = "http://127.0.0.1:8787/alerts"
headers = { Authorization = "Bearer abc" }

[notifiers.desk]
type = "email"
to = ["desk@example.org"]
from = "vigie <vigie@example.org>"
subject = "[vigie] {{ rule }}: {{ article.title }}"

[notifiers.desk.smtp]
host = "smtp.example.org"
security = "tls"
"#,
    );
    let file = out.file.display().to_string();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.starts_with(&format!("{file}: ok (")),
        "{}",
        out.stdout
    );
    assert!(error_lines(&out.stderr).is_empty(), "{}", out.stderr);
}
