//! Chat channels: Slack (Block Kit), Discord, Mattermost, Microsoft Teams
//! (an Adaptive Card, as Teams workflows take), ntfy and Telegram. Each
//! payload is built by serde from the message rendered in the channel's
//! markup, and cut on a character boundary to the service's limits rather
//! than refused by it.

use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::template::{Templates, markdown_escape, slack_escape};
use super::{Http, SendError};
use crate::config::{Chat, ChatService, Daemon, Telegram};
use crate::model::Payload;

/// Service limits, in characters unless said otherwise.
pub const SLACK_SECTION: usize = 3_000;
pub const SLACK_BLOCKS: usize = 50;
pub const DISCORD_CONTENT: usize = 2_000;
pub const MATTERMOST_TEXT: usize = 16_383;
/// Teams refuses cards over about 28 KB; text stays well below.
pub const TEAMS_TEXT: usize = 20_000;
/// ntfy turns longer messages into attachments; the limit is in bytes.
pub const NTFY_BYTES: usize = 4_096;
pub const TELEGRAM_TEXT: usize = 4_096;

/// `text` cut to at most `max` characters, ending with "…" when cut.
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn fit_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Splits `text` into pieces of at most `max` characters, at line ends
/// when it can.
fn split_lines(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut len = 0;
    for line in text.split_inclusive('\n') {
        let n = line.chars().count();
        if len + n > max && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
            len = 0;
        }
        if n > max {
            pieces.push(fit(line, max));
            continue;
        }
        current.push_str(line);
        len += n;
    }
    if !current.trim().is_empty() {
        pieces.push(current);
    }
    pieces
}

/// A Block Kit message: the text in sections of at most 3,000 characters,
/// at most 50 blocks; `text` is the notification's fallback.
pub fn slack_payload(fallback: &str, body: &str) -> Value {
    let mut sections = split_lines(body.trim_end(), SLACK_SECTION);
    if sections.len() > SLACK_BLOCKS {
        let dropped = sections.len() - (SLACK_BLOCKS - 1);
        sections.truncate(SLACK_BLOCKS - 1);
        sections.push(format!("… and {dropped} more sections"));
    }
    let blocks: Vec<Value> = sections
        .into_iter()
        .map(|text| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}))
        .collect();
    json!({
        "text": fit(&slack_escape(fallback), SLACK_SECTION),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

pub fn discord_payload(body: &str) -> Value {
    json!({
        "content": fit(body.trim_end(), DISCORD_CONTENT),
        // No @everyone, @here, role or user ping, whatever the text says.
        "allowed_mentions": {"parse": []},
    })
}

pub fn mattermost_payload(body: &str) -> Value {
    json!({ "text": fit(body.trim_end(), MATTERMOST_TEXT) })
}

pub fn teams_payload(title: &str, body: &str) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": fit(&markdown_escape(title), 500), "weight": "Bolder", "size": "Medium", "wrap": true},
                    {"type": "TextBlock", "text": fit(body.trim_end(), TEAMS_TEXT), "wrap": true},
                ],
            },
        }],
    })
}

/// Telegram counts the text after its HTML is parsed: a message too long
/// is sent as plain text, cut, rather than cut inside a tag.
pub fn telegram_payload(chat_id: &str, html: &str) -> Value {
    let html = html.trim_end();
    let (text, mode) = if visible_chars(html) <= TELEGRAM_TEXT {
        (html.to_string(), Some("HTML"))
    } else {
        (fit(&strip_html(html), TELEGRAM_TEXT), None)
    };
    let mut payload = json!({
        "chat_id": chat_id,
        "text": text,
        "link_preview_options": {"is_disabled": true},
    });
    if let Some(mode) = mode {
        payload["parse_mode"] = mode.into();
    }
    payload
}

fn visible_chars(html: &str) -> usize {
    strip_html(html).chars().count()
}

/// The text of simple HTML: tags dropped, the entities our escaping writes
/// decoded.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

pub struct ChatChannel {
    http: Http,
    service: ChatService,
    url: SecretString,
    headers: HeaderMap,
    templates: Templates,
}

impl ChatChannel {
    pub fn new(
        config: &Chat,
        daemon: &Daemon,
        templates: Templates,
    ) -> Result<ChatChannel, String> {
        Ok(ChatChannel {
            http: Http::new(daemon)?,
            service: config.service,
            url: config.url.clone(),
            headers: super::header_map(&config.headers)?,
            templates,
        })
    }

    pub async fn send(&self, id: &str, payload: &Payload) -> Result<String, SendError> {
        let fail =
            |e: super::template::TemplateError| SendError::permanent(format!("template: {e}"));
        let body = self.templates.body(id, payload).map_err(fail)?;
        let subject = || self.templates.subject(id, payload).map_err(fail);
        let mut url = self.url.expose_secret().to_string();
        let json = match self.service {
            ChatService::Slack => slack_payload(&subject()?, &body),
            ChatService::Discord => discord_payload(&body),
            ChatService::Mattermost => mattermost_payload(&body),
            ChatService::Teams => teams_payload(&subject()?, &body),
            ChatService::Ntfy => {
                // JSON publishing goes to the server's root, naming the topic.
                let mut parsed = url::Url::parse(&url)
                    .map_err(|_| SendError::permanent("the ntfy URL is invalid"))?;
                let topic = parsed
                    .path_segments()
                    .and_then(|mut s| s.next_back())
                    .unwrap_or_default()
                    .to_string();
                parsed
                    .path_segments_mut()
                    .map(|mut s| {
                        s.pop();
                    })
                    .ok();
                url = parsed.to_string();
                let click = match payload {
                    Payload::Alert(a) => a.article.url.clone(),
                    Payload::Digest(_) => None,
                };
                let mut v = json!({
                    "topic": topic,
                    "title": super::email::header_text(&subject()?),
                    "message": fit_bytes(body.trim_end(), NTFY_BYTES),
                    "tags": ["newspaper"],
                });
                if let Some(click) = click {
                    v["click"] = click.into();
                }
                v
            }
        };
        let body = serde_json::to_vec(&json).unwrap_or_default();
        self.http.post(&url, id, self.headers.clone(), body).await
    }
}

pub struct TelegramChannel {
    http: Http,
    /// `{api}/bot{token}/sendMessage`: a secret, since it holds the token.
    endpoint: SecretString,
    chat_id: String,
    templates: Templates,
}

impl TelegramChannel {
    pub fn new(
        config: &Telegram,
        daemon: &Daemon,
        templates: Templates,
    ) -> Result<TelegramChannel, String> {
        let base = config.api.as_str().trim_end_matches('/');
        let endpoint = format!("{base}/bot{}/sendMessage", config.token.expose_secret());
        Ok(TelegramChannel {
            http: Http::new(daemon)?,
            endpoint: SecretString::from(endpoint),
            chat_id: config.chat_id.clone(),
            templates,
        })
    }

    pub async fn send(&self, id: &str, payload: &Payload) -> Result<String, SendError> {
        let html = self
            .templates
            .body(id, payload)
            .map_err(|e| SendError::permanent(format!("template: {e}")))?;
        let json = telegram_payload(&self.chat_id, &html);
        let body = serde_json::to_vec(&json).unwrap_or_default();
        self.http
            .post(self.endpoint.expose_secret(), id, HeaderMap::new(), body)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_respect_limits_and_characters() {
        let long = "é".repeat(5_000);
        let cut = fit(&long, DISCORD_CONTENT);
        assert_eq!(cut.chars().count(), DISCORD_CONTENT);
        assert!(cut.ends_with('…'));
        let cut = fit_bytes(&long, NTFY_BYTES);
        assert!(cut.len() <= NTFY_BYTES);
        assert_eq!(fit("court", 10), "court");
    }

    #[test]
    fn slack_sections_stay_under_3000() {
        let body: String = (0..400)
            .map(|i| format!("• ligne {i} {}\n", "x".repeat(50)))
            .collect();
        let p = slack_payload("titre", &body);
        let blocks = p["blocks"].as_array().unwrap();
        assert!(blocks.len() > 1 && blocks.len() <= SLACK_BLOCKS);
        for b in blocks {
            assert!(b["text"]["text"].as_str().unwrap().chars().count() <= SLACK_SECTION);
        }
        let huge: String = (0..20_000)
            .map(|i| format!("{i}\n{}\n", "y".repeat(2_990)))
            .take(200)
            .collect();
        let p = slack_payload("t", &huge);
        assert_eq!(p["blocks"].as_array().unwrap().len(), SLACK_BLOCKS);
    }

    #[test]
    fn long_telegram_html_falls_back_to_plain_text() {
        let short = "<b>Minusma</b> &lt;script&gt;";
        let p = telegram_payload("42", short);
        assert_eq!(p["parse_mode"], "HTML");
        let long = format!("<b>{}</b>", "a".repeat(5_000));
        let p = telegram_payload("42", &long);
        assert!(p.get("parse_mode").is_none());
        let text = p["text"].as_str().unwrap();
        assert_eq!(text.chars().count(), TELEGRAM_TEXT);
        assert!(!text.contains("<b>"));
    }
}
