//! vigie watches news feeds, matches new articles against keyword rules and
//! sends alerts by email and webhooks, never twice and never losing one.
//!
//! # Layout
//!
//! Modules in the order data flows through the pipeline (DESIGN.md §1):
//!
//! - [`cli`]: the command line (clap definitions)
//! - [`config`]: raw TOML → validated [`config::Config`] with `file:line:col` errors
//! - [`model`]: `Article`, `Alert`, delivery ids: the types every stage shares
//! - [`schedule`]: when each source is due; limits and spacing of fetches; the one backoff helper
//! - [`fetch`]: the one HTTP client; conditional GET, limits, charset
//! - [`parse`]: wire formats (feeds, HTML listings, article pages) → wire-independent entries and pages; dates as people write them; HTML → text
//! - [`portal`]: HTML portals without a feed: new links of a listing → their pages, fetched once and extracted
//! - [`normalize`]: entries and article pages → `Article`; canonical URL; article keys
//! - [`rules`]: text folding and the compiled matcher of every rule
//! - [`store`]: the `Store` trait and its SQLite implementation
//! - [`notify`]: notifiers (email, webhook, chat services), templates, the outbox dispatcher
//! - [`inspect`]: `test-rule`, one rule tried on the articles of a URL, a file or a source
//! - [`preview`]: `preview`, what a source at a URL would produce, and its config block
//! - [`poll`]: one poll of one source, from fetch to the recording transaction
//! - [`health`]: each source judged ok, failing or stale; one signal per change
//! - [`admin`]: `alerts`, `retry`, `notify-test`: the outbox for people
//! - [`output`]: tables and JSON for people and scripts
//! - [`app`]: the commands (`once`, `run`, `check`) built on the stages above;
//!   the daemon loop, its reload and stop
//! - [`service`]: systemd notifications and watchdog, `/healthz`, `/metrics`
//! - [`work`]: CPU-bound jobs off the async workers, one per core at a time

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod fetch;
pub mod health;
pub mod inspect;
pub mod model;
pub mod normalize;
pub mod notify;
pub mod output;
pub mod parse;
pub mod poll;
pub mod portal;
pub mod preview;
pub mod rules;
pub mod schedule;
pub mod service;
pub mod store;
pub mod work;
