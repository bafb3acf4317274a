//! Message templates (minijinja, strict undefined variables, bounded by
//! fuel). Each channel has a [`Flavor`]: the markup its messages are written
//! in, and how text from a feed is escaped in it — automatically, by the
//! template's name, so a user template cannot forget: HTML for email and
//! Telegram, Slack's `& < >`, Markdown's punctuation (and `@` mentions) for
//! Discord, Mattermost and Teams, JSON for webhook bodies.
//!
//! A template sees, for one alert: `id`, `rule`, `source`, `article`
//! (`title`, `url`, `summary`, `published`, `authors`, `language`, `tags`,
//! `key`), `matches` (`term`, `field`, `snippet`) and `detected_at`. For a
//! digest: `id`, `count`, `alerts` (each as above, with its own `id`) and
//! `rules` (`rule`, `count`, `alerts`: the same alerts grouped by rule).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use minijinja::{AutoEscape, Environment, Error, Output, State, UndefinedBehavior, Value, context};

use crate::config::Messages;
use crate::model::{Alert, Article, DigestItem, MatchInfo, Payload};

/// Bounds the work a user template may do (a loop over a huge range).
const FUEL: u64 = 200_000;

/// The markup a channel's messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// A text part and an HTML part.
    Email,
    /// Slack's mrkdwn.
    Slack,
    /// Discord, Mattermost, Teams.
    Markdown,
    /// Telegram's HTML subset.
    TelegramHtml,
    /// ntfy: plain text.
    Plain,
    /// The generic webhook: a JSON document.
    Json,
}

impl Flavor {
    /// The template name of the message body: its extension picks the
    /// escaping.
    fn body_name(self) -> &'static str {
        match self {
            Flavor::Email | Flavor::Plain => "body.txt",
            Flavor::Slack => "body.slack",
            Flavor::Markdown => "body.md",
            Flavor::TelegramHtml => "body.html",
            Flavor::Json => "body.json",
        }
    }

    fn default_body(self, digest: bool) -> &'static str {
        match (self, digest) {
            (Flavor::Email | Flavor::Plain, false) => TEXT_BODY,
            (Flavor::Email | Flavor::Plain, true) => TEXT_DIGEST,
            (Flavor::Slack, false) => SLACK_BODY,
            (Flavor::Slack, true) => SLACK_DIGEST,
            (Flavor::Markdown, false) => MARKDOWN_BODY,
            (Flavor::Markdown, true) => MARKDOWN_DIGEST,
            (Flavor::TelegramHtml, false) => TELEGRAM_BODY,
            (Flavor::TelegramHtml, true) => TELEGRAM_DIGEST,
            // Never rendered: without a template the body is serialized.
            (Flavor::Json, _) => "",
        }
    }
}

const SUBJECT: &str = "[vigie] {{ rule }}: {{ article.title }}";
const DIGEST_SUBJECT: &str = "[vigie] {{ count }} alert{% if count != 1 %}s{% endif %}: \
{{ rules | map(attribute='rule') | join(', ') }}";

const TEXT_BODY: &str = r#"{{ article.title }}
{% if article.url %}{{ article.url }}
{% endif %}
Rule: {{ rule }}
Source: {{ source }}
{% if article.published %}Published: {{ article.published | when }}
{% endif %}{% if article.authors %}By: {{ article.authors | join(", ") }}
{% endif %}
{% for m in matches %}- "{{ m.term }}" in {{ m.field }}: {{ m.snippet }}
{% endfor %}{% if article.summary %}
{{ article.summary }}
{% endif %}
-- 
vigie alert {{ id }}
"#;

const TEXT_DIGEST: &str = r#"{% for group in rules %}== {{ group.rule }} ({{ group.count }})

{% for a in group.alerts %}* {{ a.article.title }}
{% if a.article.url %}  {{ a.article.url }}
{% endif %}  {{ a.source }}{% if a.article.published %} · {{ a.article.published | when }}{% endif %}
{% for m in a.matches %}  - "{{ m.term }}" in {{ m.field }}: {{ m.snippet }}
{% endfor %}
{% endfor %}{% endfor %}-- 
vigie digest {{ id }}, {{ count }} alert{% if count != 1 %}s{% endif %}
"#;

const HTML_BODY: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ article.title }}</title></head>
<body style="font-family: sans-serif; max-width: 42em">
<h2 style="margin-bottom: 0.2em">{% if article.url %}<a href="{{ article.url | link }}">{{ article.title }}</a>{% else %}{{ article.title }}{% endif %}</h2>
<p style="color: #555; margin-top: 0">{{ source }}{% if article.published %} · {{ article.published | when }}{% endif %}{% if article.authors %} · {{ article.authors | join(", ") }}{% endif %} · rule <b>{{ rule }}</b></p>
<ul>
{% for m in matches %}<li>“{{ m.term }}” in {{ m.field }}: {{ m.snippet }}</li>
{% endfor %}</ul>
{% if article.summary %}<p>{{ article.summary }}</p>{% endif %}
<p style="color: #888; font-size: small">vigie alert {{ id }}</p>
</body></html>
"#;

const HTML_DIGEST: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>vigie: {{ count }} alerts</title></head>
<body style="font-family: sans-serif; max-width: 42em">
{% for group in rules %}<h2>{{ group.rule }} ({{ group.count }})</h2>
<ul>
{% for a in group.alerts %}<li><b>{% if a.article.url %}<a href="{{ a.article.url | link }}">{{ a.article.title }}</a>{% else %}{{ a.article.title }}{% endif %}</b><br>
<span style="color: #555">{{ a.source }}{% if a.article.published %} · {{ a.article.published | when }}{% endif %}</span>
<ul>{% for m in a.matches %}<li>“{{ m.term }}” in {{ m.field }}: {{ m.snippet }}</li>{% endfor %}</ul></li>
{% endfor %}</ul>
{% endfor %}<p style="color: #888; font-size: small">vigie digest {{ id }}</p>
</body></html>
"#;

const SLACK_BODY: &str = r#"*{% if article.url %}<{{ article.url | link }}|{{ article.title }}>{% else %}{{ article.title }}{% endif %}*
{{ source }}{% if article.published %} · {{ article.published | when }}{% endif %} · rule *{{ rule }}*
{% for m in matches %}• “{{ m.term }}” in {{ m.field }}: {{ m.snippet }}
{% endfor %}"#;

const SLACK_DIGEST: &str = r#"{% for group in rules %}*{{ group.rule }}* ({{ group.count }})
{% for a in group.alerts %}• {% if a.article.url %}<{{ a.article.url | link }}|{{ a.article.title }}>{% else %}{{ a.article.title }}{% endif %} — {{ a.source }}{% if a.article.published %} · {{ a.article.published | when }}{% endif %}
{% endfor %}
{% endfor %}"#;

const MARKDOWN_BODY: &str = r#"**{% if article.url %}[{{ article.url | link_text(article.title) }}]({{ article.url | link }}){% else %}{{ article.title }}{% endif %}**
{{ source }}{% if article.published %} · {{ article.published | when }}{% endif %} · rule **{{ rule }}**
{% for m in matches %}- “{{ m.term }}” in {{ m.field }}: {{ m.snippet }}
{% endfor %}"#;

const MARKDOWN_DIGEST: &str = r#"{% for group in rules %}**{{ group.rule }}** ({{ group.count }})
{% for a in group.alerts %}- {% if a.article.url %}[{{ a.article.url | link_text(a.article.title) }}]({{ a.article.url | link }}){% else %}{{ a.article.title }}{% endif %} — {{ a.source }}{% if a.article.published %} · {{ a.article.published | when }}{% endif %}
{% endfor %}
{% endfor %}"#;

const TELEGRAM_BODY: &str = r#"<b>{% if article.url %}<a href="{{ article.url | link }}">{{ article.title }}</a>{% else %}{{ article.title }}{% endif %}</b>
{{ source }}{% if article.published %} · {{ article.published | when }}{% endif %} · rule <b>{{ rule }}</b>
{% for m in matches %}• “{{ m.term }}” in {{ m.field }}: {{ m.snippet }}
{% endfor %}"#;

const TELEGRAM_DIGEST: &str = r#"{% for group in rules %}<b>{{ group.rule }}</b> ({{ group.count }})
{% for a in group.alerts %}• {% if a.article.url %}<a href="{{ a.article.url | link }}">{{ a.article.title }}</a>{% else %}{{ a.article.title }}{% endif %} — {{ a.source }}
{% endfor %}
{% endfor %}"#;

/// Which part of a notifier's messages a template error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Subject,
    Body,
}

/// A template that does not compile or render.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub part: Part,
    pub message: String,
    /// Byte offset in the template, when minijinja knows it.
    pub offset: Option<usize>,
    pub line: Option<usize>,
}

fn describe(e: &Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn template_error(part: Part, e: &Error) -> TemplateError {
    TemplateError {
        part,
        message: describe(e),
        offset: e.range().map(|r| r.start),
        line: e.line(),
    }
}

/// Escapes Slack's three control characters: a feed cannot write
/// `<!channel>` or `<https://evil|your bank>`.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes Markdown punctuation and breaks `@` mentions (`@everyone`,
/// `@channel`) with a zero-width space.
pub fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '~' | '|' | '[' | ']' | '(' | ')' | '<' | '>' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200B}"),
            _ => out.push(c),
        }
    }
    out
}

fn formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let escape: fn(&str) -> String = match state.auto_escape() {
        AutoEscape::Custom(name) if name == "slack" => slack_escape,
        AutoEscape::Custom(name) if name == "markdown" => markdown_escape,
        _ => return minijinja::escape_formatter(out, state, value),
    };
    if value.is_safe() || value.is_undefined() || value.is_none() {
        if !value.is_undefined() && !value.is_none() {
            write!(out, "{value}").map_err(Error::from)?;
        }
        return Ok(());
    }
    let text = value.to_string();
    out.write_str(&escape(&text)).map_err(Error::from)
}

/// `{{ url | link }}`: a URL made safe to sit inside `<…|…>`, `(…)` or an
/// attribute: only http(s), with the characters that would end it encoded.
fn link(value: &str) -> Value {
    let ok = url::Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let Some(url) = ok else {
        return Value::from("");
    };
    let mut out = String::with_capacity(url.as_str().len());
    for c in url.as_str().chars() {
        match c {
            '|' => out.push_str("%7C"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '[' => out.push_str("%5B"),
            ']' => out.push_str("%5D"),
            '"' => out.push_str("%22"),
            '\'' => out.push_str("%27"),
            ' ' => out.push_str("%20"),
            _ => out.push(c),
        }
    }
    // Safe for Slack and Markdown; HTML still escapes `&` in attributes.
    if out.contains('&') {
        Value::from(out)
    } else {
        Value::from_safe_string(out)
    }
}

/// `{{ url | link_text(title) }}`: the title, or the URL when it is empty.
fn link_text(url: &str, title: &str) -> String {
    if title.trim().is_empty() {
        url.to_string()
    } else {
        title.to_string()
    }
}

/// `{{ article.published | when }}`: "2023-08-19 10:32 UTC".
fn when(value: &str) -> String {
    DateTime::parse_from_rfc3339(value)
        .map(|d| {
            d.with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
        .unwrap_or_else(|_| value.to_string())
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(|name| match name.rsplit('.').next() {
        Some("slack") => AutoEscape::Custom("slack".into()),
        Some("md") => AutoEscape::Custom("markdown".into()),
        Some("html") => AutoEscape::Html,
        Some("json") => AutoEscape::Json,
        _ => AutoEscape::None,
    });
    env.set_formatter(formatter);
    env.add_filter("link", link);
    env.add_filter("link_text", link_text);
    env.add_filter("when", when);
    env
}

/// One notifier's compiled templates.
pub struct Templates {
    env: Environment<'static>,
    flavor: Flavor,
    /// An email with a user text body has no HTML part.
    html_part: bool,
    /// A webhook with a user body template.
    json_template: bool,
}

impl Templates {
    pub fn new(
        flavor: Flavor,
        messages: &Messages,
        digest: bool,
    ) -> Result<Templates, TemplateError> {
        let mut env = environment();
        let mut add = |name: &'static str, source: String, part: Part| {
            env.add_template_owned(name, source)
                .map_err(|e| template_error(part, &e))
        };
        let subject = messages
            .subject
            .clone()
            .unwrap_or_else(|| if digest { DIGEST_SUBJECT } else { SUBJECT }.to_string());
        add("subject.txt", subject, Part::Subject)?;
        let mut html_part = flavor == Flavor::Email;
        let json_template = flavor == Flavor::Json && messages.body.is_some();
        match &messages.body {
            Some(body) if body.html => {
                add("body.html", body.source.clone(), Part::Body)?;
                add(
                    "body.txt",
                    Flavor::Email.default_body(digest).to_string(),
                    Part::Body,
                )?;
            }
            Some(body) => {
                add(flavor.body_name(), body.source.clone(), Part::Body)?;
                html_part = false;
            }
            None => {
                add(
                    flavor.body_name(),
                    flavor.default_body(digest).to_string(),
                    Part::Body,
                )?;
                if flavor == Flavor::Email {
                    let html = if digest { HTML_DIGEST } else { HTML_BODY };
                    add("body.html", html.to_string(), Part::Body)?;
                }
            }
        }
        Ok(Templates {
            env,
            flavor,
            html_part,
            json_template,
        })
    }

    fn render(
        &self,
        name: &str,
        part: Part,
        id: &str,
        payload: &Payload,
    ) -> Result<String, TemplateError> {
        let fail = |e: Error| template_error(part, &e);
        self.env
            .get_template(name)
            .map_err(fail)?
            .render(message_context(id, payload))
            .map_err(fail)
    }

    /// The subject (email) or title (ntfy, Teams): one line of plain text.
    pub fn subject(&self, id: &str, payload: &Payload) -> Result<String, TemplateError> {
        self.render("subject.txt", Part::Subject, id, payload)
    }

    /// The message in the channel's markup (the text part of an email).
    pub fn body(&self, id: &str, payload: &Payload) -> Result<String, TemplateError> {
        let name = match self.flavor {
            Flavor::Email => "body.txt",
            f => f.body_name(),
        };
        self.render(name, Part::Body, id, payload)
    }

    /// The HTML part of an email, unless the user's text template replaced
    /// the body.
    pub fn html(&self, id: &str, payload: &Payload) -> Result<Option<String>, TemplateError> {
        if !self.html_part {
            return Ok(None);
        }
        self.render("body.html", Part::Body, id, payload).map(Some)
    }

    /// A webhook's body from the user's template, when there is one.
    pub fn json(&self, id: &str, payload: &Payload) -> Result<Option<String>, TemplateError> {
        if !self.json_template {
            return Ok(None);
        }
        self.render("body.json", Part::Body, id, payload).map(Some)
    }
}

fn alert_value(id: &str, alert: &Alert) -> Value {
    context! {
        id => id,
        rule => &alert.rule,
        source => &alert.source,
        article => Value::from(minijinja::value::Serde(&alert.article)),
        matches => Value::from(minijinja::value::Serde(&alert.matches)),
        detected_at => alert.detected_at.to_rfc3339(),
    }
}

fn message_context(id: &str, payload: &Payload) -> Value {
    match payload {
        Payload::Alert(alert) => alert_value(id, alert),
        Payload::Digest(items) => {
            let alerts: Vec<Value> = items.iter().map(|i| alert_value(&i.id, &i.alert)).collect();
            let mut by_rule: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
            for (item, value) in items.iter().zip(&alerts) {
                by_rule
                    .entry(item.alert.rule.as_str())
                    .or_default()
                    .push(value.clone());
            }
            let rules: Vec<Value> = by_rule
                .into_iter()
                .map(|(rule, alerts)| {
                    context! { rule => rule, count => alerts.len(), alerts => alerts }
                })
                .collect();
            context! { id => id, count => items.len(), alerts => alerts, rules => rules }
        }
    }
}

/// Compiles a notifier's templates and renders every part against a sample
/// alert (or a sample digest): what `vigie check` runs. A webhook body
/// template must also render valid JSON.
pub fn check(flavor: Flavor, messages: &Messages, digest: bool) -> Result<(), TemplateError> {
    let templates = Templates::new(flavor, messages, digest)?;
    let payload = if digest {
        sample_digest()
    } else {
        Payload::Alert(Box::new(sample_alert()))
    };
    templates.subject("sample", &payload)?;
    templates.body("sample", &payload)?;
    templates.html("sample", &payload)?;
    if let Some(json) = templates.json("sample", &payload)?
        && let Err(e) = serde_json::from_str::<serde_json::Value>(&json)
    {
        return Err(TemplateError {
            part: Part::Body,
            message: format!("the body is not valid JSON for the sample alert: {e}"),
            offset: None,
            line: None,
        });
    }
    Ok(())
}

/// The alert `notify-test` sends and templates are checked against.
pub fn sample_alert() -> Alert {
    let published = Utc.with_ymd_and_hms(2023, 8, 19, 10, 32, 0).single();
    Alert {
        rule: "minusma".into(),
        source: "un-news".into(),
        article: Article {
            key: "id:sample".into(),
            aliases: Vec::new(),
            url: Some("https://news.example.org/fr/story/2023/08/minusma".into()),
            title: "Mali : un haut responsable de l’ONU à Bamako après la décision de retrait de la Minusma".into(),
            summary: "Le retrait des Casques bleus doit être achevé le 31 décembre.".into(),
            body: None,
            published,
            updated: None,
            authors: vec!["ONU Info".into()],
            language: Some("fr".into()),
            tags: vec!["mali".into()],
            source: "un-news".into(),
        },
        matches: vec![MatchInfo {
            term: "Minusma".into(),
            field: "title".into(),
            snippet: "… après la décision de retrait de la Minusma".into(),
        }],
        detected_at: published.unwrap_or_default(),
    }
}

/// A digest of two sample alerts under two rules.
pub fn sample_digest() -> Payload {
    let first = sample_alert();
    let mut second = sample_alert();
    second.rule = "casques-bleus".into();
    second.article.key = "id:sample-2".into();
    second.article.title = "Les Casques bleus quittent Tombouctou".into();
    second.article.url = None;
    second.article.published = None;
    Payload::Digest(vec![
        DigestItem {
            id: "sample-1".into(),
            alert: first,
        },
        DigestItem {
            id: "sample-2".into(),
            alert: second,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Body;

    fn messages(subject: Option<&str>, body: Option<&str>) -> Messages {
        Messages {
            subject: subject.map(String::from),
            body: body.map(|b| Body {
                source: b.to_string(),
                html: false,
            }),
        }
    }

    fn hostile() -> Payload {
        let mut alert = sample_alert();
        alert.article.title = "<!channel> <https://evil.example|bank> @everyone [x](https://evil.example) <script>alert(1)</script> \"q\" \\".into();
        Payload::Alert(Box::new(alert))
    }

    #[test]
    fn the_design_example_subject_renders() {
        let t = Templates::new(
            Flavor::Email,
            &messages(Some("[vigie] {{ rule }}: {{ article.title }}"), None),
            false,
        )
        .unwrap();
        let s = t
            .subject("x", &Payload::Alert(Box::new(sample_alert())))
            .unwrap();
        assert!(s.starts_with("[vigie] minusma: Mali : un haut responsable"));
    }

    #[test]
    fn unknown_variables_and_syntax_errors_are_caught() {
        assert!(
            check(
                Flavor::Email,
                &messages(Some("{{ article.titre }}"), None),
                false
            )
            .is_err()
        );
        let e = check(
            Flavor::Email,
            &messages(Some("[vigie] {{ rule }"), None),
            false,
        )
        .unwrap_err();
        assert!(e.offset.is_some());
        assert_eq!(e.part, Part::Subject);
        assert!(
            check(
                Flavor::Email,
                &messages(Some("{{ rule | upper }}"), None),
                false
            )
            .is_ok()
        );
        // A digest template reads `alerts`, not `article`.
        let e = check(
            Flavor::Slack,
            &messages(None, Some("{{ article.title }}")),
            true,
        )
        .unwrap_err();
        assert_eq!(e.part, Part::Body);
        assert!(
            check(
                Flavor::Slack,
                &messages(
                    None,
                    Some("{% for a in alerts %}{{ a.article.title }}{% endfor %}")
                ),
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn every_default_renders_for_alerts_and_digests() {
        for flavor in [
            Flavor::Email,
            Flavor::Slack,
            Flavor::Markdown,
            Flavor::TelegramHtml,
            Flavor::Plain,
            Flavor::Json,
        ] {
            for digest in [false, true] {
                check(flavor, &Messages::default(), digest)
                    .unwrap_or_else(|e| panic!("{flavor:?} {digest}: {e}"));
            }
        }
    }

    #[test]
    fn html_escapes_feed_text() {
        let t = Templates::new(Flavor::Email, &Messages::default(), false).unwrap();
        let html = t.html("x", &hostile()).unwrap().unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn slack_text_cannot_ping_or_disguise_a_link() {
        let t = Templates::new(Flavor::Slack, &Messages::default(), false).unwrap();
        let text = t.body("x", &hostile()).unwrap();
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(!text.contains("<https://evil.example|"), "{text}");
        assert!(text.contains("&lt;!channel&gt;"));
        // The article's own link stays a link.
        assert!(text.starts_with("*<https://news.example.org/fr/story/2023/08/minusma|"));
    }

    #[test]
    fn markdown_text_cannot_mention_or_link() {
        let t = Templates::new(Flavor::Markdown, &Messages::default(), false).unwrap();
        let text = t.body("x", &hostile()).unwrap();
        assert!(!text.contains("@everyone"), "{text}");
        assert!(!text.contains("[x](https://evil.example)"), "{text}");
        assert!(text.contains("\\[x\\]\\(https://evil.example\\)"));
    }

    #[test]
    fn user_json_templates_are_serialized() {
        let m = messages(
            None,
            Some(r#"{"text": {{ article.title }}, "rule": {{ rule }}}"#),
        );
        let t = Templates::new(Flavor::Json, &m, false).unwrap();
        let json = t.json("x", &hostile()).unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v["text"].as_str().unwrap().starts_with("<!channel>"));
        // A missing brace is caught at load, with the sample alert.
        let broken = messages(None, Some(r#"{"rule": {{ rule }}"#));
        assert!(check(Flavor::Json, &broken, false).is_err());
    }

    #[test]
    fn a_link_must_be_http() {
        assert_eq!(link("javascript:alert(1)").to_string(), "");
        assert_eq!(
            link("https://a.example/x|y").to_string(),
            "https://a.example/x%7Cy"
        );
    }
}
