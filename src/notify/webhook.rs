//! The generic webhook: a JSON POST of DESIGN.md §5's documented body, built
//! by serde (or the user's template, rendered with JSON escaping), with the
//! delivery id in the `Idempotency-Key` header and, when a `secret` is set,
//! an HMAC-SHA256 signature:
//!
//! ```text
//! X-Vigie-Timestamp: 1692441312
//! X-Vigie-Signature: sha256=<hex of HMAC-SHA256(secret, "1692441312." + body)>
//! ```
//!
//! A receiver recomputes it over the raw body and rejects old timestamps.

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;

use super::template::Templates;
use super::{Http, SendError};
use crate::config::{Daemon, Webhook};
use crate::model::{Alert, Payload};

pub struct WebhookChannel {
    http: Http,
    url: SecretString,
    headers: HeaderMap,
    secret: Option<SecretString>,
    templates: Templates,
}

/// The body receivers rely on: the delivery id, then the alert's fields.
#[derive(Serialize)]
pub struct Body<'a> {
    pub id: &'a str,
    #[serde(flatten)]
    pub alert: &'a Alert,
}

/// A digest: its own id, and each alert with its own delivery id.
#[derive(Serialize)]
pub struct DigestBody<'a> {
    pub id: &'a str,
    pub alerts: Vec<Body<'a>>,
}

/// The default JSON of a payload.
pub fn body_json(id: &str, payload: &Payload) -> Vec<u8> {
    let json = match payload {
        Payload::Alert(alert) => serde_json::to_vec(&Body { id, alert }),
        Payload::Digest(items) => serde_json::to_vec(&DigestBody {
            id,
            alerts: items
                .iter()
                .map(|i| Body {
                    id: &i.id,
                    alert: &i.alert,
                })
                .collect(),
        }),
    };
    // Serializing plain strings and dates cannot fail.
    json.unwrap_or_default()
}

/// `sha256=` and the hex HMAC of `timestamp.body`.
pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

impl WebhookChannel {
    pub fn new(
        config: &Webhook,
        daemon: &Daemon,
        templates: Templates,
    ) -> Result<WebhookChannel, String> {
        Ok(WebhookChannel {
            http: Http::new(daemon)?,
            url: config.url.clone(),
            headers: super::header_map(&config.headers)?,
            secret: config.secret.clone(),
            templates,
        })
    }

    pub async fn send(&self, id: &str, payload: &Payload) -> Result<String, SendError> {
        let body = match self
            .templates
            .json(id, payload)
            .map_err(|e| SendError::permanent(format!("template: {e}")))?
        {
            Some(text) => text.into_bytes(),
            None => body_json(id, payload),
        };
        // The admin's headers, Content-Type included, win over the JSON
        // default.
        let mut headers = self.headers.clone();
        if let Some(secret) = &self.secret {
            let now = chrono::Utc::now().timestamp();
            let signed = signature(secret.expose_secret().as_bytes(), now, &body);
            headers.insert("X-Vigie-Timestamp", now.into());
            headers.insert(
                "X-Vigie-Signature",
                signed.parse().expect("hex is a valid header value"),
            );
        }
        self.http
            .post(self.url.expose_secret(), id, headers, body)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_rfc_4231_hmac() {
        // RFC 4231 test case 2, with the message split as "timestamp.body".
        let s = signature(b"Jefe", 0, b"");
        assert_eq!(s.len(), "sha256=".len() + 64);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            expected,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(signature(b"k", 1, b"body"), signature(b"k", 2, b"body"));
    }
}
