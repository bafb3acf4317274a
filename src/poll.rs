//! One poll of one source, the whole pipeline after scheduling: fetch →
//! parse → normalize → identify → match → record (one transaction). Hands
//! back a [`PollReport`]; the caller decides what to print and when to
//! deliver.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use url::Url;

use crate::config::{Config, FirstRun, Source, SourceKind};
use crate::fetch::{FetchError, Fetcher, Outcome, Response, Validators};
use crate::health::{self, Counters};
use crate::model::{Alert, Article, MatchInfo};
use crate::normalize::is_known;
use crate::parse::ParseError;
use crate::portal::Plan;
use crate::rules::{Document, Scope};
use crate::schedule::{self, Feedback};
use crate::service::telemetry;
use crate::store::{
    NewAlert, NewArticle, NewDelivery, PollOutcome, PollRecord, SourceState, Store, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("fetch failed: {0}")]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A configured selector matched nothing (DESIGN.md: layout drift is
    /// an error, not silence).
    #[error("{0}")]
    Layout(crate::parse::extract::NoMatch),
    /// An HTML page read without `html.links` where no article link was
    /// found.
    #[error(
        "no article link found on the HTML page {0}, and it announces no feed: the site's layout may have changed, or it is not a news listing (set html.links to pick the links)"
    )]
    NoLinks(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl PollError {
    /// A short stable name for status, logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PollError::Fetch(e) => e.kind(),
            PollError::Parse(e) => e.kind(),
            PollError::Store(_) => "state",
            PollError::Layout(_) | PollError::NoLinks(_) => "layout",
            PollError::Internal(_) => "internal",
        }
    }

    /// The server's `Retry-After`, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Fetch(e) => e.retry_after(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PollReport {
    pub source: String,
    /// The server answered `304 Not Modified`.
    pub not_modified: bool,
    /// The server answered `200` with the very bytes of the last poll:
    /// nothing was parsed or matched.
    pub unchanged: bool,
    /// The feed's polling hint (`<ttl>`, `Cache-Control: max-age`).
    pub hint: Option<Duration>,
    /// Articles in the document (links, on an HTML listing).
    pub found: usize,
    /// The feed read in place of the source's HTML page, which announced
    /// it (`kind = "auto"`).
    pub via_feed: Option<String>,
    /// How the source was read: `"feed"` or `"html"` (empty when nothing
    /// was read: `304`, unchanged bytes).
    pub read_as: &'static str,
    /// Articles never recorded before.
    pub new: usize,
    /// Alerts this poll raised (articles with their body, for display).
    pub alerts: Vec<Alert>,
    /// What the transaction wrote (zero in a dry run).
    pub recorded: PollOutcome,
    /// What the store remembered of the source before this poll.
    pub prior: Option<SourceState>,
}

impl PollReport {
    /// The report as kept until a whole run is printed: without the prior
    /// state, and its alerts without spare room (thousands of sources
    /// are reported at once).
    pub fn kept(mut self) -> PollReport {
        self.prior = None;
        self.alerts.shrink_to_fit();
        self
    }

    /// Whether this success may change the source's health: false on the
    /// common path (a healthy source stays healthy), which then costs no
    /// further read of the state.
    fn may_change_health(&self, stale_after: Option<Duration>, now: DateTime<Utc>) -> bool {
        // A source's first success creates it healthy, new articles just
        // seen: nothing to signal.
        let Some(prior) = &self.prior else {
            return false;
        };
        let after = SourceState {
            failures: 0,
            first_success: prior.first_success.or(Some(now)),
            last_new: match self.recorded.articles {
                0 => prior.last_new,
                _ => Some(now),
            },
            ..prior.clone()
        };
        health::judge(&after, stale_after, now) != prior.health
    }
}

/// Polls `source` once. In a dry run nothing is written: the report says
/// what would have alerted.
pub async fn poll(
    config: &Config,
    store: &dyn Store,
    fetcher: &Fetcher,
    source: &Source,
    dry_run: bool,
) -> Result<PollReport, PollError> {
    let now = Utc::now();
    let state = store.source_state(&source.name).await?;
    let validators = state
        .as_ref()
        .map(|s| s.validators.clone())
        .unwrap_or_default();
    let stored_hint = state.as_ref().and_then(|s| s.hint);
    // A success is recorded with the next poll time in the same write.
    let next_poll = |hint| {
        let wait = schedule::next_poll(
            source.interval,
            &source.name,
            Feedback {
                hint,
                ..Feedback::default()
            },
        );
        chrono::Duration::from_std(wait)
            .ok()
            .and_then(|w| now.checked_add_signed(w))
            .unwrap_or(now)
    };
    // An auto source whose page announced a feed is polled through it.
    let via_feed = match source.kind {
        SourceKind::Auto => state
            .as_ref()
            .and_then(|s| s.via_feed.as_deref())
            .and_then(|u| Url::parse(u).ok()),
        _ => None,
    };
    let (fetched, via) = match &via_feed {
        Some(feed) => match fetcher.get(feed, &validators).await {
            // The feed is gone: back to the page, which may announce
            // another.
            Err(e) if !e.is_temporary() => {
                tracing::info!(source = %source.name, feed = %feed, error = %e, "the announced feed failed; reading the page again");
                (
                    fetcher.get(&source.url, &Validators::default()).await?,
                    None,
                )
            }
            other => (other?, Some(feed.clone())),
        },
        None => (fetcher.get(&source.url, &validators).await?, None),
    };
    let response = match fetched {
        Outcome::NotModified { max_age } => {
            if !dry_run {
                store
                    .record_not_modified(
                        &source.name,
                        now,
                        None,
                        max_age,
                        next_poll(max_age.or(stored_hint)),
                    )
                    .await?;
            }
            return Ok(PollReport {
                source: source.name.clone(),
                not_modified: true,
                hint: max_age.or(stored_hint),
                via_feed: via.map(|u| u.to_string()),
                prior: state,
                ..PollReport::default()
            });
        }
        Outcome::Fetched(r) => r,
    };
    metrics::counter!(telemetry::FETCHED_BYTES).increment(response.body.len() as u64);
    let body_hash = body_hash(&response.body);
    if state
        .as_ref()
        .is_some_and(|s| s.body_hash.as_deref() == Some(body_hash.as_str()))
    {
        // The same bytes as last time (a server without validators, or
        // one that ignores them): same articles, nothing to parse or match.
        let hint = response.max_age.max(stored_hint);
        if !dry_run {
            store
                .record_not_modified(
                    &source.name,
                    now,
                    Some(&response.validators),
                    hint,
                    next_poll(hint),
                )
                .await?;
        }
        return Ok(PollReport {
            source: source.name.clone(),
            unchanged: true,
            hint,
            via_feed: via.map(|u| u.to_string()),
            prior: state,
            ..PollReport::default()
        });
    }
    let first_poll = state.as_ref().is_none_or(|s| s.last_success.is_none());
    let plan = match (first_poll, config.daemon.first_run) {
        (true, FirstRun::Baseline) => Plan::Baseline,
        (true, FirstRun::Latest(n)) => Plan::Latest(n),
        _ => Plan::All,
    };
    let read = read(store, fetcher, source, response, via, plan, now).await?;
    let Read {
        articles,
        mut unread,
        validators: new_validators,
        hint,
        complete,
        found,
        via_feed,
        read_as,
    } = read;
    // A listing with links left for later is read again next poll, even
    // if its bytes do not change.
    let body_hash = complete.then_some(body_hash);

    let all_keys: Vec<String> = articles
        .iter()
        .flat_map(|a| a.all_keys().map(str::to_string))
        .collect();
    let known = store.known_keys(&source.name, &all_keys).await?;
    let mut seen_here = HashSet::new();
    let mut new: Vec<&Article> = Vec::new();
    let mut records = Vec::new();
    for a in &articles {
        if is_known(a, &known) {
            let unrecorded: Vec<String> = a
                .all_keys()
                .filter(|k| !known.contains(*k))
                .map(str::to_string)
                .collect();
            if !unrecorded.is_empty() {
                records.push(NewArticle {
                    keys: unrecorded,
                    known: true,
                    alerts: Vec::new(),
                });
            }
        } else if !is_known(a, &seen_here) {
            // (An article listed twice in one document is one article.)
            new.push(a);
        }
        seen_here.extend(a.all_keys().map(str::to_string));
    }

    let may_alert = alertable(config, &new, first_poll, now);
    let mut alerts = Vec::new();
    let scope = config.matcher.scope(&source.name, &source.tags);
    for (article, may_alert) in new.iter().zip(may_alert) {
        let mut record = NewArticle {
            keys: article.all_keys().map(str::to_string).collect(),
            known: false,
            alerts: Vec::new(),
        };
        if may_alert {
            for (rule, alert) in match_article(config, &scope, source, article, now) {
                let deliveries = config.rules[rule]
                    .notify
                    .iter()
                    .filter_map(|n| config.notifier(n))
                    .map(|n| NewDelivery::of(&alert, n))
                    .collect();
                let stored = Alert {
                    article: alert.article.without_body(),
                    ..alert.clone()
                };
                record.alerts.push(NewAlert {
                    alert: stored,
                    deliveries,
                });
                alerts.push(alert);
            }
        }
        records.push(record);
    }
    let unread_new = unread.iter().filter(|u| !u.known).count();
    records.append(&mut unread);

    let mut report = PollReport {
        source: source.name.clone(),
        not_modified: false,
        unchanged: false,
        hint,
        found,
        via_feed: via_feed.clone(),
        read_as,
        new: new.len() + unread_new,
        alerts,
        recorded: PollOutcome::default(),
        prior: state,
    };
    if !dry_run {
        report.recorded = store
            .record_poll(PollRecord {
                source: source.name.clone(),
                at: now,
                validators: new_validators,
                articles: records,
                body_hash,
                hint,
                next_poll: Some(next_poll(hint)),
                via_feed,
            })
            .await?;
    }
    Ok(report)
}

/// What one fetched document gave, whatever its kind.
struct Read {
    /// Articles with their keys (a feed's entries, a portal's new pages).
    articles: Vec<Article>,
    /// Keys recorded without an article (a portal's links not fetched).
    unread: Vec<NewArticle>,
    validators: crate::fetch::Validators,
    hint: Option<Duration>,
    /// False when a portal left new links for the next poll.
    complete: bool,
    found: usize,
    via_feed: Option<String>,
    read_as: &'static str,
}

/// Reads `response` as the source's kind says: a feed, an HTML listing,
/// or (`auto`) a feed, else the feed the page announces, else the page as
/// a listing.
async fn read(
    store: &dyn Store,
    fetcher: &Fetcher,
    source: &Source,
    response: Response,
    via: Option<Url>,
    plan: Plan,
    now: DateTime<Utc>,
) -> Result<Read, PollError> {
    if let Some(feed) = via {
        return match parse_feed(source, &response, now).await? {
            Ok(read) => Ok(Read {
                via_feed: Some(feed.to_string()),
                ..read
            }),
            Err(e) => {
                tracing::info!(source = %source.name, feed = %feed, error = %e, "the announced feed is no longer a feed; reading the page again");
                match fetcher.get(&source.url, &Validators::default()).await? {
                    Outcome::Fetched(page) => {
                        Box::pin(read(store, fetcher, source, page, None, plan, now)).await
                    }
                    Outcome::NotModified { .. } => Err(e.into()),
                }
            }
        };
    }
    if source.kind != SourceKind::Html {
        match parse_feed(source, &response, now).await? {
            Ok(read) => return Ok(read),
            Err(ParseError::Html) if source.kind == SourceKind::Auto => {}
            Err(e) => return Err(e.into()),
        }
        // An HTML page: through the feed it announces, if one answers.
        let (body, content_type, url) = (
            response.body.clone(),
            response.content_type.clone(),
            response.url.clone(),
        );
        let feeds = crate::work::cpu(move || {
            let (html, _) = crate::fetch::charset::decode(&body, content_type.as_deref());
            crate::parse::html::feeds(&html, &url)
        })
        .await
        .map_err(|e| PollError::Internal(e.to_string()))?;
        for feed in feeds.iter().filter(|f| !f.comments) {
            let Ok(feed_url) = Url::parse(&feed.url) else {
                continue;
            };
            let answer = match fetcher.get_link(&feed_url).await {
                Ok(Outcome::Fetched(r)) => r,
                Ok(Outcome::NotModified { .. }) => continue,
                Err(e) => {
                    tracing::info!(source = %source.name, feed = %feed_url, error = %e, "an announced feed failed");
                    continue;
                }
            };
            match parse_feed(source, &answer, now).await? {
                Ok(read) => {
                    tracing::info!(source = %source.name, feed = %feed_url, "the page announces a feed: watched through it");
                    return Ok(Read {
                        via_feed: Some(feed_url.to_string()),
                        ..read
                    });
                }
                Err(e) => {
                    tracing::info!(source = %source.name, feed = %feed_url, error = %e, "an announced feed is not a feed");
                }
            }
        }
    }
    let portal = crate::portal::read(store, fetcher, source, &response, plan, now).await?;
    Ok(Read {
        articles: portal.articles,
        unread: portal.unread,
        validators: response.validators,
        hint: response.max_age,
        complete: portal.complete,
        found: portal.found,
        via_feed: None,
        read_as: "html",
    })
}

/// `response` read as a feed, off the async workers (parsing and
/// HTML-to-text are CPU work on untrusted input). The outer error is
/// internal; the inner one says why it is not a feed.
async fn parse_feed(
    source: &Source,
    response: &Response,
    now: DateTime<Utc>,
) -> Result<Result<Read, ParseError>, PollError> {
    let src = source.clone();
    let (body, content_type, url) = (
        response.body.clone(),
        response.content_type.clone(),
        response.url.clone(),
    );
    let (validators, max_age) = (response.validators.clone(), response.max_age);
    crate::work::cpu(move || {
        let doc = crate::parse::feed::parse(&body, content_type.as_deref(), &url, src.timezone)?;
        let articles = crate::normalize::articles(&doc, &src, now);
        Ok(Read {
            found: articles.len(),
            articles,
            unread: Vec::new(),
            validators,
            hint: max_age.max(doc.ttl),
            complete: true,
            via_feed: None,
            read_as: "feed",
        })
    })
    .await
    .map_err(|e| PollError::Internal(e.to_string()))
}

/// Which new articles may alert: none on a baselined first poll, the N
/// newest under `latest:N`, and never one older than `max_age`.
fn alertable(config: &Config, new: &[&Article], first_poll: bool, now: DateTime<Utc>) -> Vec<bool> {
    let mut allowed = vec![true; new.len()];
    if first_poll {
        match config.daemon.first_run {
            FirstRun::Alert => {}
            FirstRun::Baseline => allowed.fill(false),
            FirstRun::Latest(n) => {
                // Newest first by date; undated articles keep document order
                // after the dated ones (feeds list newest first).
                let mut order: Vec<usize> = (0..new.len()).collect();
                order.sort_by_key(|&i| std::cmp::Reverse(new[i].published));
                allowed.fill(false);
                for &i in order.iter().take(n) {
                    allowed[i] = true;
                }
            }
        }
    }
    if let Some(max_age) = config.daemon.max_age {
        // An age reaching before year 0 means no limit, not a panic.
        let oldest = chrono::Duration::from_std(max_age)
            .ok()
            .and_then(|age| now.checked_sub_signed(age));
        for (i, a) in new.iter().enumerate() {
            if let (Some(p), Some(oldest)) = (a.published, oldest)
                && p < oldest
            {
                allowed[i] = false;
            }
        }
    }
    allowed
}

/// The alerts `article` raises: one per matching rule of `scope` (the
/// source's rules), with the rule's index in `config.rules` (the matcher's
/// rule order).
pub fn match_article(
    config: &Config,
    scope: &Scope,
    source: &Source,
    article: &Article,
    now: DateTime<Utc>,
) -> Vec<(usize, Alert)> {
    config
        .matcher
        .match_in(scope, &document(article, source))
        .into_iter()
        .map(|m| {
            let alert = Alert {
                rule: config.matcher.rules()[m.rule].name.clone(),
                source: source.name.clone(),
                article: article.clone(),
                matches: m
                    .hits
                    .into_iter()
                    .map(|h| MatchInfo {
                        term: h.term,
                        field: h.field.to_string(),
                        snippet: h.snippet,
                    })
                    .collect(),
                detected_at: now,
            };
            (m.rule, alert)
        })
        .collect()
}

/// What rules see of an article: its language is the source's when the
/// feed gives none.
pub fn document<'a>(article: &'a Article, source: &'a Source) -> Document<'a> {
    Document {
        title: &article.title,
        summary: &article.summary,
        body: article.body.as_deref().unwrap_or(""),
        authors: &article.authors,
        url: article.url.as_deref().unwrap_or(""),
        language: article
            .language
            .as_deref()
            .or(source.language.as_deref())
            .unwrap_or(""),
        categories: &article.tags,
    }
}

/// SHA-256 of a body, in hex.
fn body_hash(body: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(body);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A finished poll: its outcome, and when the source is due again.
#[derive(Debug)]
pub struct Polled {
    pub result: Result<PollReport, PollError>,
    pub wait: Duration,
}

/// Polls, records the failure of a poll on the source (so `status` and the
/// logs show it), judges the source's health, and says when to poll it
/// next. The error, if any, is already logged.
pub async fn poll_and_record(
    config: Arc<Config>,
    store: Arc<dyn Store>,
    fetcher: Fetcher,
    counters: Arc<Counters>,
    source: Source,
    dry_run: bool,
) -> Polled {
    let started = std::time::Instant::now();
    let result = poll(&config, store.as_ref(), &fetcher, &source, dry_run).await;
    if !dry_run {
        count(&result, started.elapsed());
    }
    let wait = match &result {
        Ok(r) => {
            tracing::info!(
                source = %source.name,
                not_modified = r.not_modified,
                unchanged = r.unchanged,
                found = r.found,
                new = r.new,
                alerts = r.alerts.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "polled"
            );
            let feedback = Feedback {
                hint: r.hint,
                ..Feedback::default()
            };
            let wait = schedule::next_poll(source.interval, &source.name, feedback);
            if !dry_run {
                // The success recorded its next poll time already.
                let check_health = r.may_change_health(config.daemon.stale_after, Utc::now());
                after_poll(
                    &config,
                    store.as_ref(),
                    &counters,
                    &source,
                    wait,
                    check_health,
                    false,
                )
                .await;
            }
            wait
        }
        Err(e) => {
            tracing::warn!(source = %source.name, kind = e.kind(), error = %e, "poll failed");
            failed(&config, store.as_ref(), &counters, &source, e, dry_run).await
        }
    };
    Polled { result, wait }
}

/// The poll's metrics.
fn count(result: &Result<PollReport, PollError>, elapsed: Duration) {
    metrics::histogram!(telemetry::POLL_DURATION).record(elapsed.as_secs_f64());
    let outcome = match result {
        Ok(r) if r.not_modified => {
            metrics::counter!(telemetry::NOT_MODIFIED).increment(1);
            "not_modified"
        }
        Ok(r) if r.unchanged => "unchanged",
        Ok(r) => {
            metrics::counter!(telemetry::NEW_ARTICLES).increment(r.recorded.articles as u64);
            for alert in &r.alerts {
                metrics::counter!(telemetry::RULE_MATCHES, "rule" => alert.rule.clone())
                    .increment(1);
            }
            "ok"
        }
        Err(e) => {
            metrics::counter!(telemetry::FETCH_ERRORS, "kind" => e.kind()).increment(1);
            "error"
        }
    };
    metrics::counter!(telemetry::POLLS, "outcome" => outcome).increment(1);
}

/// A poll that ended in `error` (already logged): recorded on the source
/// unless in a dry run or the state itself failed, the source's health
/// judged, its next poll backed off. Returns the wait before that poll.
pub async fn failed(
    config: &Config,
    store: &dyn Store,
    counters: &Counters,
    source: &Source,
    error: &PollError,
    dry_run: bool,
) -> Duration {
    let mut feedback = Feedback {
        failures: 1,
        retry_after: error.retry_after(),
        hint: None,
    };
    if !dry_run && !matches!(error, PollError::Store(_)) {
        feedback.failures = record_failure(store, &source.name, error)
            .await
            .unwrap_or(1);
    }
    let wait = schedule::next_poll(source.interval, &source.name, feedback);
    if !dry_run {
        after_poll(config, store, counters, source, wait, true, true).await;
    }
    wait
}

/// Records a failed poll; returns the consecutive failures, this one
/// included.
async fn record_failure(store: &dyn Store, source: &str, e: &PollError) -> Option<u32> {
    match store
        .record_failure(source, e.kind(), &e.to_string(), Utc::now())
        .await
    {
        Ok(failures) => Some(failures),
        Err(store_error) => {
            tracing::error!(source = %source, error = %store_error, "cannot record the failure");
            None
        }
    }
}

/// What follows every recorded poll, success or not: the health judgement
/// (when `check_health`) and the next poll time shown by `status` (when
/// `record_next`).
async fn after_poll(
    config: &Config,
    store: &dyn Store,
    counters: &Counters,
    source: &Source,
    wait: Duration,
    check_health: bool,
    record_next: bool,
) {
    let now = Utc::now();
    if check_health && let Err(e) = health::check(config, store, counters, source, now).await {
        tracing::error!(source = %source.name, error = %e, "cannot record the source's health");
    }
    let next = chrono::Duration::from_std(wait)
        .ok()
        .and_then(|w| now.checked_add_signed(w));
    if record_next
        && let Some(next) = next
        && let Err(e) = store.set_next_poll(&source.name, next).await
    {
        tracing::error!(source = %source.name, error = %e, "cannot record the next poll");
    }
}
