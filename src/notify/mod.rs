//! Delivery: one [`Channel`] per configured notifier (email, webhook), the
//! message [`template`]s, and the [`outbox`] dispatcher that sends pending
//! deliveries and records each outcome.

pub mod email;
pub mod outbox;
pub mod template;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, NotifierKind};
use crate::model::Alert;

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
}

impl Channel {
    pub async fn send(&self, id: &str, alert: &Alert) -> Result<(), SendError> {
        match self {
            Channel::Webhook(c) => c.send(id, alert).await,
            Channel::Email(c) => c.send(id, alert).await,
        }
    }
}

/// Every configured notifier, ready to send.
#[derive(Clone, Default)]
pub struct Channels {
    by_name: HashMap<String, Arc<Channel>>,
}

impl Channels {
    pub fn new(config: &Config) -> Result<Channels, SetupError> {
        let mut by_name = HashMap::new();
        for n in &config.notifiers {
            let fail = |message: String| SetupError::Notifier {
                name: n.name.clone(),
                message,
            };
            let channel = match &n.kind {
                NotifierKind::Webhook(w) => {
                    Channel::Webhook(webhook::WebhookChannel::new(w, &config.daemon).map_err(fail)?)
                }
                NotifierKind::Email(e) => Channel::Email(Box::new(
                    email::EmailChannel::new(e, &config.daemon).map_err(fail)?,
                )),
            };
            by_name.insert(n.name.clone(), Arc::new(channel));
        }
        Ok(Channels { by_name })
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
