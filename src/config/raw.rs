//! The config file as written: serde types mirroring DESIGN.md §3 key for key.
//! Unknown keys are errors; values that need semantic checks keep their span
//! so errors can point at `line:col`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub state: Option<S<String>>,
    pub listen: Option<S<String>>,
    pub interval: Option<S<String>>,
    pub user_agent: Option<S<String>>,
    pub concurrency: Option<S<i64>>,
    pub per_host: Option<S<i64>>,
    pub timeout: Option<S<String>>,
    pub max_body: Option<S<String>>,
    pub first_run: Option<S<String>>,
    pub max_age: Option<S<String>>,
    pub errors_to: Option<S<String>>,
    pub stale_after: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub url: S<String>,
    pub kind: Option<S<String>>,
    pub interval: Option<S<String>>,
    pub tags: Option<Vec<S<String>>>,
    pub language: Option<S<String>>,
    pub timezone: Option<S<String>>,
    pub html: Option<S<RawHtml>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHtml {
    pub links: Option<S<String>>,
    pub title: Option<S<String>>,
    pub date: Option<S<String>>,
    pub body: Option<S<String>>,
    pub author: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub query: Option<S<String>>,
    pub keywords: Option<S<Vec<S<String>>>>,
    pub exclude: Option<S<Vec<S<String>>>>,
    pub sources: Option<Vec<S<String>>>,
    pub tags: Option<Vec<S<String>>>,
    pub notify: S<Vec<S<String>>>,
    pub case_sensitive: Option<bool>,
    pub accent_sensitive: Option<bool>,
    pub stem: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifier {
    #[serde(rename = "type")]
    pub kind: S<String>,
    pub to: Option<S<Vec<S<String>>>>,
    pub from: Option<S<String>>,
    pub digest: Option<S<String>>,
    pub rate: Option<S<String>>,
    pub subject: Option<S<String>>,
    pub body: Option<S<String>>,
    pub template: Option<S<String>>,
    pub transport: Option<S<String>>,
    pub smtp: Option<S<RawSmtp>>,
    pub url: Option<S<RawSecret>>,
    pub headers: Option<S<BTreeMap<String, S<RawSecret>>>>,
    pub secret: Option<S<RawSecret>>,
    pub timezone: Option<S<String>>,
    pub command: Option<S<String>>,
    pub token: Option<S<RawSecret>>,
    pub chat_id: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: S<String>,
    pub port: Option<S<i64>>,
    pub security: Option<S<String>>,
    pub username: Option<S<String>>,
    pub password: Option<S<RawSecret>>,
}

/// A secret: the value itself, or where to read it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSecret {
    Literal(String),
    From(SecretRef),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub env: Option<String>,
    pub file: Option<String>,
    pub credential: Option<String>,
}

/// Valid keys per table, for "did you mean" hints on misspelled table names
/// and for the example-config test.
pub const TOP_KEYS: &[&str] = &["daemon", "sources", "rules", "notifiers"];
