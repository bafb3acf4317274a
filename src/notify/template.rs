//! Message templates (minijinja, strict undefined variables, bounded by
//! fuel): the email subject from the config, and the default text and HTML
//! bodies. HTML templates auto-escape, so nothing from a feed is markup.

use chrono::{TimeZone, Utc};
use minijinja::{Environment, UndefinedBehavior, Value, context};

use crate::model::{Alert, Article, MatchInfo};

/// Bounds the work a user template may do (a loop over a huge range).
const FUEL: u64 = 50_000;

const TEXT_BODY: &str = r#"{{ article.title }}
{% if article.url %}{{ article.url }}
{% endif %}
Rule: {{ rule }}
Source: {{ source }}
{% if article.published %}Published: {{ article.published }}
{% endif %}{% if article.authors %}By: {{ article.authors | join(", ") }}
{% endif %}
{% for m in matches %}- "{{ m.term }}" in {{ m.field }}: {{ m.snippet }}
{% endfor %}{% if article.summary %}
{{ article.summary }}
{% endif %}
-- 
vigie alert {{ id }}
"#;

const HTML_BODY: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ article.title }}</title></head>
<body style="font-family: sans-serif; max-width: 42em">
<h2 style="margin-bottom: 0.2em">{% if article.url %}<a href="{{ article.url }}">{{ article.title }}</a>{% else %}{{ article.title }}{% endif %}</h2>
<p style="color: #555; margin-top: 0">{{ source }}{% if article.published %} · {{ article.published }}{% endif %}{% if article.authors %} · {{ article.authors | join(", ") }}{% endif %} · rule <b>{{ rule }}</b></p>
<ul>
{% for m in matches %}<li>“{{ m.term }}” in {{ m.field }}: {{ m.snippet }}</li>
{% endfor %}</ul>
{% if article.summary %}<p>{{ article.summary }}</p>{% endif %}
<p style="color: #888; font-size: small">vigie alert {{ id }}</p>
</body></html>
"#;

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {message}")]
pub struct TemplateError {
    pub name: String,
    pub message: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

/// Renders one notifier's messages.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new(subject: &str) -> Result<Templates, TemplateError> {
        let mut env = environment();
        for (name, source) in [
            ("subject.txt", subject),
            ("body.txt", TEXT_BODY),
            ("body.html", HTML_BODY),
        ] {
            env.add_template_owned(name.to_string(), source.to_string())
                .map_err(|e| TemplateError {
                    name: name.into(),
                    message: describe(&e),
                })?;
        }
        Ok(Templates { env })
    }

    pub fn render(&self, name: &str, id: &str, alert: &Alert) -> Result<String, TemplateError> {
        let fail = |e: minijinja::Error| TemplateError {
            name: name.into(),
            message: describe(&e),
        };
        self.env
            .get_template(name)
            .map_err(fail)?
            .render(context(id, alert))
            .map_err(fail)
    }
}

fn context(id: &str, alert: &Alert) -> Value {
    context! {
        id => id,
        rule => &alert.rule,
        source => &alert.source,
        article => Value::from(minijinja::value::Serde(&alert.article)),
        matches => Value::from(minijinja::value::Serde(&alert.matches)),
        detected_at => alert.detected_at.to_rfc3339(),
    }
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

/// Compiles and test-renders a subject template against a sample alert.
/// The error carries the byte offset in the template when minijinja knows it.
pub fn check_subject(source: &str) -> Result<(), (String, Option<usize>)> {
    let env = environment();
    let result = env
        .template_from_str(source)
        .and_then(|t| t.render(context("sample", &sample_alert())));
    match result {
        Ok(_) => Ok(()),
        Err(e) => Err((
            format!("template error: {}", describe(&e)),
            e.range().map(|r| r.start),
        )),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_example_subject_renders() {
        let t = Templates::new("[vigie] {{ rule }}: {{ article.title }}").unwrap();
        let s = t.render("subject.txt", "x", &sample_alert()).unwrap();
        assert!(s.starts_with("[vigie] minusma: Mali : un haut responsable"));
    }

    #[test]
    fn unknown_variables_and_syntax_errors_are_caught() {
        assert!(check_subject("{{ article.titre }}").is_err());
        let (_, offset) = check_subject("[vigie] {{ rule }").unwrap_err();
        assert!(offset.is_some());
        assert!(check_subject("{{ rule | upper }}").is_ok());
    }

    #[test]
    fn html_body_escapes_feed_text() {
        let mut alert = sample_alert();
        alert.article.title = "<script>alert(1)</script>".into();
        let t = Templates::new("s").unwrap();
        let html = t.render("body.html", "x", &alert).unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
