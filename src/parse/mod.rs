//! Wire formats → plain descriptions that no longer depend on the parsing
//! crates: a feed's [`Entry`]s ([`feed`]), a listing's links and announced
//! feeds ([`html`]), an article page's [`extract::Page`] ([`extract`]);
//! dates as people write them ([`date`]); HTML → text ([`text`]).

pub mod date;
pub mod extract;
pub mod feed;
pub mod html;
pub mod text;

use chrono::{DateTime, Utc};

/// One item as the document gave it. Text fields may hold HTML; `normalize`
/// reduces them to text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// The GUID/id the document gave; `None` when it had none.
    pub id: Option<String>,
    /// Absolute: relative links are resolved against the document's URL.
    pub link: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub content: Option<String>,
    pub authors: Vec<String>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub language: Option<String>,
}

/// A parsed document: its own language and its entries in document order.
#[derive(Debug, Clone, Default)]
pub struct Document {
    pub title: Option<String>,
    pub language: Option<String>,
    /// RSS `<ttl>`: how long the feed says it may be cached, a hint that
    /// may lengthen the source's interval.
    pub ttl: Option<std::time::Duration>,
    pub entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the document is empty")]
    Empty,
    #[error(
        "not a feed: the server sent an HTML page (kind = \"auto\" or \"html\" watches a page)"
    )]
    Html,
    #[error("not a feed: {0}")]
    NotAFeed(String),
    #[error("malformed feed: {0}")]
    Malformed(String),
}

impl ParseError {
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::Html => "html",
            ParseError::NotAFeed(_) => "not_a_feed",
            ParseError::Malformed(_) => "malformed",
        }
    }
}
