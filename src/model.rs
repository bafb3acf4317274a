//! Types shared by every stage after parsing: the normalized [`Article`], its
//! identity keys, and the [`Alert`] that rules produce and notifiers send.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One article, whatever the kind of source it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// The stable key (DESIGN.md §1 step 5); see [`crate::normalize::articles`].
    pub key: String,
    /// Further keys the same article is known by (its canonical URL when the
    /// key is a GUID): an article is new only when none of them was recorded,
    /// so a feed that changes its GUIDs does not alert twice.
    #[serde(skip)]
    pub aliases: Vec<String>,
    pub url: Option<String>,
    pub title: String,
    pub summary: String,
    /// Full text; only in `--format json` output, never in alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub published: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub updated: Option<DateTime<Utc>>,
    pub authors: Vec<String>,
    pub language: Option<String>,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

impl Article {
    /// Every key this article is known by, the main one first.
    pub fn all_keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The article as alerts carry it: without the body.
    pub fn without_body(&self) -> Article {
        Article {
            body: None,
            ..self.clone()
        }
    }
}

/// Why a rule matched: one entry per (term, field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchInfo {
    pub term: String,
    pub field: String,
    pub snippet: String,
}

/// One article matched by one rule: the payload every delivery of it sends
/// (DESIGN.md §5, without the per-delivery `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: String,
    pub source: String,
    pub article: Article,
    pub matches: Vec<MatchInfo>,
    pub detected_at: DateTime<Utc>,
}

/// The stable id of the delivery of `alert` through `notifier`: the same
/// inputs always give the same id, so two instances racing on one alert
/// produce one delivery, and a retry reuses it (email `Message-ID`, webhook
/// `Idempotency-Key`).
pub fn delivery_id(rule: &str, source: &str, article_key: &str, notifier: &str) -> String {
    crate::normalize::short_hash(&[rule, source, article_key, notifier])
}

/// One alert inside a digest, with the id of its own delivery row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestItem {
    pub id: String,
    #[serde(flatten)]
    pub alert: Alert,
}

/// What one delivery sends: an alert, or a notifier's digest of several.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Alert(Box<Alert>),
    Digest(Vec<DigestItem>),
}

impl Payload {
    /// The alerts it carries, in order.
    pub fn alerts(&self) -> Vec<&Alert> {
        match self {
            Payload::Alert(a) => vec![a],
            Payload::Digest(items) => items.iter().map(|i| &i.alert).collect(),
        }
    }
}
