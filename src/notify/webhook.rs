//! The generic webhook: a JSON POST of DESIGN.md §5's documented body, built
//! by serde, with the delivery id in the `Idempotency-Key` header.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::SendError;
use crate::config::{Daemon, Webhook};
use crate::model::Alert;

pub struct WebhookChannel {
    client: reqwest::Client,
    url: SecretString,
    headers: HeaderMap,
}

/// The body receivers rely on: the delivery id, then the alert's fields.
#[derive(Serialize)]
pub struct Body<'a> {
    pub id: &'a str,
    #[serde(flatten)]
    pub alert: &'a Alert,
}

impl WebhookChannel {
    pub fn new(config: &Webhook, daemon: &Daemon) -> Result<WebhookChannel, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
            let mut value = HeaderValue::from_str(value.expose_secret())
                .map_err(|_| "invalid header value".to_string())?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .user_agent(daemon.user_agent.clone())
            .timeout(daemon.timeout)
            // A POST answered by a redirect is a misconfigured URL; following
            // it would turn the POST into a GET and lose the alert silently.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.without_url().to_string())?;
        Ok(WebhookChannel {
            client,
            url: config.url.clone(),
            headers,
        })
    }

    pub async fn send(&self, id: &str, alert: &Alert) -> Result<(), SendError> {
        let response = self
            .client
            .post(self.url.expose_secret())
            .headers(self.headers.clone())
            .header("Idempotency-Key", id)
            .json(&Body { id, alert })
            .send()
            .await
            // without_url: the URL may carry the hook's token.
            .map_err(|e| SendError::temporary(format!("request failed: {}", e.without_url())))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        Err(classify(status, retry_after))
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

/// `Retry-After`: delay-seconds or an HTTP date (see [`crate::schedule::retry_after`]).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    crate::schedule::retry_after(value, chrono::Utc::now())
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

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
