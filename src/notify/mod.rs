//! Delivery: one [`Channel`] per configured notifier (email, webhook, chat
//! services), the
//! message [`template`]s, and the [`outbox`] dispatcher that sends pending
//! deliveries and records each outcome.

pub mod chat;
pub mod email;
pub mod outbox;
pub mod template;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{Config, Daemon, Notifier, NotifierKind};
use crate::model::Payload;
use template::Templates;

/// Why a send failed, and whether trying again can help. One place decides
/// "temporary or permanent" per channel (`email::classify`,
/// `webhook::classify`); the outbox only reads this.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
    /// The server's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn temporary(message: impl Into<String>) -> Self {
        SendError {
            permanent: false,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        SendError {
            permanent: true,
            message: message.into(),
            retry_after: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("notifier {name}: {message}")]
    Notifier { name: String, message: String },
}

pub enum Channel {
    Webhook(webhook::WebhookChannel),
    Email(Box<email::EmailChannel>),
    Chat(chat::ChatChannel),
    Telegram(chat::TelegramChannel),
}

impl Channel {
    pub fn new(notifier: &Notifier, daemon: &Daemon) -> Result<Channel, String> {
        let templates = Templates::new(
            notifier.flavor(),
            &notifier.messages,
            notifier.digest.is_some(),
        )
        .map_err(|e| e.to_string())?;
        Ok(match &notifier.kind {
            NotifierKind::Webhook(w) => {
                Channel::Webhook(webhook::WebhookChannel::new(w, daemon, templates)?)
            }
            NotifierKind::Email(e) => {
                Channel::Email(Box::new(email::EmailChannel::new(e, daemon, templates)?))
            }
            NotifierKind::Chat(c) => Channel::Chat(chat::ChatChannel::new(c, daemon, templates)?),
            NotifierKind::Telegram(t) => {
                Channel::Telegram(chat::TelegramChannel::new(t, daemon, templates)?)
            }
        })
    }

    /// How many deliveries may be on their way at once: a webhook takes
    /// several requests in parallel; chat services (strict rate limits, and
    /// people read them in order) and an SMTP session take one at a time.
    pub fn parallel(&self) -> usize {
        match self {
            Channel::Webhook(_) => 8,
            _ => 1,
        }
    }

    /// Sends one delivery; returns what the server answered.
    pub async fn send(&self, id: &str, payload: &Payload) -> Result<String, SendError> {
        match self {
            Channel::Webhook(c) => c.send(id, payload).await,
            Channel::Email(c) => c.send(id, payload).await,
            Channel::Chat(c) => c.send(id, payload).await,
            Channel::Telegram(c) => c.send(id, payload).await,
        }
    }
}

/// Every configured notifier, ready to send, with its settings.
#[derive(Clone, Default)]
pub struct Channels {
    by_name: HashMap<String, Arc<Channel>>,
    notifiers: HashMap<String, Notifier>,
    /// `[daemon] errors_to`: told when a delivery dies.
    errors_to: Option<String>,
}

impl Channels {
    pub fn new(config: &Config) -> Result<Channels, SetupError> {
        let mut by_name = HashMap::new();
        for n in &config.notifiers {
            let channel =
                Channel::new(n, &config.daemon).map_err(|message| SetupError::Notifier {
                    name: n.name.clone(),
                    message,
                })?;
            by_name.insert(n.name.clone(), Arc::new(channel));
        }
        Ok(Channels {
            by_name,
            notifiers: config
                .notifiers
                .iter()
                .map(|n| (n.name.clone(), n.clone()))
                .collect(),
            errors_to: config.daemon.errors_to.clone(),
        })
    }

    /// A configured notifier's settings.
    pub fn notifier(&self, name: &str) -> Option<&Notifier> {
        self.notifiers.get(name)
    }

    /// The notifier told when a delivery dies, if any.
    pub fn errors_to(&self) -> Option<&Notifier> {
        self.errors_to
            .as_deref()
            .and_then(|n| self.notifiers.get(n))
    }

    pub fn get(&self, name: &str) -> Option<Arc<Channel>> {
        self.by_name.get(name).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Channel>)> {
        self.by_name
            .iter()
            .map(|(name, channel)| (name.as_str(), channel))
    }
}

/// The configured headers of an HTTP notifier, marked sensitive.
fn header_map(headers: &[(String, SecretString)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let mut value = HeaderValue::from_str(value.expose_secret())
            .map_err(|_| "invalid header value".to_string())?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// The most of a receiver's answer kept for a receipt or an error.
const ANSWER_BYTES: usize = 512;

/// The HTTP side of every HTTP notifier: one client, no redirects, POSTs
/// classified into sent, temporary and permanent failures.
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    pub fn new(daemon: &Daemon) -> Result<Http, String> {
        let client = reqwest::Client::builder()
            .user_agent(daemon.user_agent.clone())
            .timeout(daemon.timeout)
            // A POST answered by a redirect is a misconfigured URL; following
            // it would turn the POST into a GET and lose the alert silently.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.without_url().to_string())?;
        Ok(Http { client })
    }

    /// POSTs `body` as JSON (unless `headers` name another Content-Type)
    /// with the delivery id as `Idempotency-Key`. Errors never name the URL:
    /// it may carry a token.
    pub async fn post(
        &self,
        url: &str,
        id: &str,
        mut headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<String, SendError> {
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let mut response = self
            .client
            .post(url)
            .headers(headers)
            .header("Idempotency-Key", id)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::temporary(format!("request failed: {}", e.without_url())))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::schedule::retry_after(v, chrono::Utc::now()));
        // A short look at the answer, for the receipt or the error.
        let mut answer = Vec::new();
        while answer.len() < ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
                _ => break,
            }
        }
        answer.truncate(ANSWER_BYTES);
        let answer = crate::normalize::one_line(&String::from_utf8_lossy(&answer));
        let said = if answer.is_empty() {
            String::new()
        } else {
            format!(": {answer}")
        };
        if status.is_success() {
            return Ok(format!("HTTP {status}{said}"));
        }
        let mut e = classify(status, retry_after);
        e.message.push_str(&said);
        Err(e)
    }
}

/// 408, 429 and 5xx may pass; any other answer will not change by itself.
pub fn classify(status: StatusCode, retry_after: Option<Duration>) -> SendError {
    let message = format!("the receiver answered {status}");
    let temporary = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    let mut e = if temporary {
        SendError::temporary(message)
    } else {
        SendError::permanent(message)
    };
    e.retry_after = retry_after;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert!(!classify(StatusCode::INTERNAL_SERVER_ERROR, None).permanent);
        assert!(!classify(StatusCode::TOO_MANY_REQUESTS, None).permanent);
        assert!(!classify(StatusCode::REQUEST_TIMEOUT, None).permanent);
        assert!(classify(StatusCode::BAD_REQUEST, None).permanent);
        assert!(classify(StatusCode::NOT_FOUND, None).permanent);
        assert!(classify(StatusCode::MOVED_PERMANENTLY, None).permanent);
    }
}
