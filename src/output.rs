//! What the commands print: a table for people, one JSON document for
//! scripts (`--format json`). Articles in JSON are DESIGN.md §5's `article`
//! object plus `body`.

use std::fmt::Write as _;

use serde_json::json;

use chrono::{DateTime, Utc};

use crate::app::{OnceReport, StatusReport};
use crate::model::Alert;

pub fn once_json(report: &OnceReport) -> serde_json::Value {
    let sources: Vec<_> = report
        .polls
        .iter()
        .map(|(name, result)| match result {
            Ok(r) => json!({
                "source": name,
                "status": if r.not_modified { "not_modified" } else if r.unchanged { "unchanged" } else { "ok" },
                "found": r.found, "new": r.new, "alerts": r.alerts.len(),
                "read_as": if r.read_as.is_empty() { None } else { Some(r.read_as) },
                "via_feed": r.via_feed,
            }),
            Err(e) => json!({ "source": name, "status": "error", "error_kind": e.kind(), "error": e.to_string() }),
        })
        .collect();
    let alerts: Vec<&Alert> = report.alerts().collect();
    json!({ "sources": sources, "alerts": alerts, "deliveries": report.deliveries })
}

pub fn once_table(report: &OnceReport, dry_run: bool) -> String {
    let mut out = String::new();
    let width = name_width(report.polls.iter().map(|(n, _)| n));
    let _ = writeln!(
        out,
        "{:width$}  {:>6}  {:>5}  {:>6}  STATUS",
        "SOURCE", "FOUND", "NEW", "ALERTS"
    );
    for (name, result) in &report.polls {
        let _ = match result {
            Ok(r) if r.not_modified || r.unchanged => writeln!(
                out,
                "{name:width$}  {:>6}  {:>5}  {:>6}  {}",
                "-",
                "-",
                "-",
                if r.unchanged {
                    "unchanged"
                } else {
                    "not modified"
                }
            ),
            Ok(r) => writeln!(
                out,
                "{name:width$}  {:>6}  {:>5}  {:>6}  ok{}",
                r.found,
                r.new,
                r.alerts.len(),
                match (&r.via_feed, r.read_as) {
                    (Some(feed), _) => format!(", through the feed its page announces: {feed}"),
                    (None, "html") => ", read as an HTML listing".to_string(),
                    _ => String::new(),
                }
            ),
            Err(e) => writeln!(
                out,
                "{name:width$}  {:>6}  {:>5}  {:>6}  error ({}): {e}",
                "-",
                "-",
                "-",
                e.kind()
            ),
        };
    }
    let alerts: Vec<&Alert> = report.alerts().collect();
    if !alerts.is_empty() {
        let _ = writeln!(out, "\n{}:", if dry_run { "Would alert" } else { "Alerts" });
    }
    for a in alerts {
        let date = a
            .article
            .published
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "undated".into());
        let _ = writeln!(
            out,
            "\n[{}] {} — {} ({})",
            a.rule, a.article.title, a.source, date
        );
        if let Some(url) = &a.article.url {
            let _ = writeln!(out, "  {url}");
        }
        for m in &a.matches {
            let _ = writeln!(out, "  \"{}\" in {}: {}", m.term, m.field, m.snippet);
        }
    }
    if let Some(d) = &report.deliveries {
        let _ = writeln!(
            out,
            "\nDeliveries: {} sent, {} to retry, {} dead{}",
            d.sent,
            d.retrying,
            d.dead,
            if d.orphaned > 0 {
                format!(", {} waiting for a removed notifier", d.orphaned)
            } else {
                String::new()
            }
        );
    }
    out
}

/// `test-rule --format json`: the whole report, articles with their body.
pub fn rule_test_json(report: &crate::inspect::RuleTest) -> serde_json::Value {
    json!({
        "rule": report.rule,
        "input": report.input,
        "source": report.source,
        "note": report.note,
        "read_as": report.read_as,
        "articles": report.articles.len(),
        "matched": report.matched(),
        "results": report.articles,
    })
}

/// `test-rule` for people: each article, matched or not; the hits of a
/// match; for a miss, the rule as a tree with the part that failed.
/// `bold` marks hits with terminal bold instead of brackets.
pub fn rule_test_table(report: &crate::inspect::RuleTest, bold: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rule {} on {} ({}, {} article{}): {} matched",
        report.rule,
        report.input,
        report.read_as,
        report.articles.len(),
        if report.articles.len() == 1 { "" } else { "s" },
        report.matched()
    );
    if let Some(note) = &report.note {
        let _ = writeln!(out, "note: {note}");
    }
    if report
        .articles
        .first()
        .is_some_and(|a| !a.explanation.in_scope && report.note.is_none())
    {
        let _ = writeln!(
            out,
            "note: the rule does not apply to source {} (its sources or tags leave it out)",
            report.source
        );
    }
    for tested in &report.articles {
        let a = &tested.article;
        let mark = if tested.matched { "MATCH" } else { "no" };
        let title = if a.title.is_empty() {
            "(no title)"
        } else {
            &a.title
        };
        let _ = writeln!(out, "\n{mark:5}  {}", crate::normalize::one_line(title));
        let mut line = a.url.clone().unwrap_or_default();
        if let Some(p) = a.published {
            line = format!("{line}  {}", p.format("%Y-%m-%d %H:%M UTC"));
        }
        if !line.trim().is_empty() {
            let _ = writeln!(out, "       {}", line.trim());
        }
        if tested.matched {
            for hit in &tested.explanation.hits {
                let _ = writeln!(
                    out,
                    "       {} in {}: {}",
                    hit.term,
                    hit.field,
                    marked(&hit.snippet, &hit.highlight, bold)
                );
            }
        } else {
            explain_tree(&mut out, &tested.explanation.root, 7, bold);
        }
    }
    out
}

fn marked(snippet: &str, highlight: &std::ops::Range<usize>, bold: bool) -> String {
    let (Some(before), Some(hit), Some(after)) = (
        snippet.get(..highlight.start),
        snippet.get(highlight.clone()),
        snippet.get(highlight.end..),
    ) else {
        return snippet.to_string();
    };
    if bold {
        format!("{before}\x1b[1m{hit}\x1b[0m{after}")
    } else {
        format!("{before}[{hit}]{after}")
    }
}

fn explain_tree(out: &mut String, node: &crate::rules::ExplainNode, indent: usize, bold: bool) {
    let mark = if node.holds { "✓" } else { "✗" };
    let what = match node.kind {
        "any" if node.children.len() > 1 => "  (any of)",
        "all" if node.children.len() > 1 => "  (all of)",
        "not" => "  (must be absent)",
        _ => "",
    };
    let text = crate::normalize::one_line(&node.text);
    let _ = write!(out, "{:indent$}{mark} {text}{what}", "");
    match node.hits.first() {
        Some(hit) => {
            let _ = writeln!(
                out,
                "  — {}: {}",
                hit.field,
                marked(&hit.snippet, &hit.highlight, bold)
            );
        }
        None if node.kind == "term" => {
            let _ = writeln!(out, "  — not found");
        }
        None => {
            let _ = writeln!(out);
        }
    }
    for child in &node.children {
        explain_tree(out, child, indent + 2, bold);
    }
}

/// `vigie preview --format json`: the whole preview, articles with their
/// body.
pub fn preview_json(report: &crate::preview::Preview) -> serde_json::Value {
    json!(report)
}

/// `vigie preview`: how the URL reads, each article's fields, then the
/// config block.
pub fn preview_table(report: &crate::preview::Preview) -> String {
    let mut out = String::new();
    let how = match (report.read_as, &report.via_feed) {
        (_, Some(feed)) => format!("an HTML page announcing a feed; watched through it: {feed}"),
        ("feed", None) => "a feed".to_string(),
        ("article", None) => "an article page".to_string(),
        _ => format!(
            "an HTML listing: {} article links, the first {} read",
            report.links.len(),
            report.articles.len() + report.failed.len()
        ),
    };
    let _ = writeln!(
        out,
        "{}
  read as {how}",
        report.url
    );
    if !report.feeds.is_empty() {
        let _ = writeln!(
            out,
            "
Feeds announced:"
        );
        for f in &report.feeds {
            let title = f
                .title
                .as_deref()
                .map(|t| format!(" — {t}"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {} ({}){title}", f.url, f.format);
        }
    }
    for a in &report.articles {
        let _ = writeln!(
            out,
            "
{}",
            if a.title.is_empty() {
                "(no title)"
            } else {
                &a.title
            }
        );
        if let Some(url) = &a.url {
            let _ = writeln!(out, "  url:       {url}");
        }
        let published = a
            .published
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "unknown".into());
        let _ = writeln!(out, "  published: {published}");
        let authors = if a.authors.is_empty() {
            "unknown".to_string()
        } else {
            a.authors.join(", ")
        };
        let _ = writeln!(out, "  authors:   {authors}");
        let _ = writeln!(
            out,
            "  language:  {}",
            a.language.as_deref().unwrap_or("unknown")
        );
        let body = a.body.as_deref().unwrap_or_default();
        let words = body.split_whitespace().count();
        let _ = writeln!(
            out,
            "  body:      {words} words: {}",
            crate::normalize::truncate_chars(&crate::normalize::one_line(body), 200)
        );
    }
    for f in &report.failed {
        let _ = writeln!(
            out,
            "
not read: {}
  {}",
            f.url, f.error
        );
    }
    let _ = writeln!(
        out,
        "
To watch it, add to the config:

{}",
        report.config
    );
    out
}

/// `vigie status --format json`: times in RFC 3339 (UTC), `null` when
/// unknown; a never-polled source has `"health": "new"`.
pub fn status_json(report: &StatusReport) -> serde_json::Value {
    let sources: Vec<_> = report
        .sources
        .iter()
        .map(|(name, state)| match state {
            None => json!({
                "name": name, "health": "new", "health_since": null, "last_poll": null,
                "last_success": null, "last_error": null, "failures": 0, "next_poll": null,
                "items_seen": 0, "last_new": null, "via_feed": null,
            }),
            Some(s) => json!({
                "name": name,
                "health": s.health,
                "health_since": s.health_since,
                "last_poll": s.last_poll,
                "last_success": s.last_success,
                "last_error": s.last_error.as_ref().map(|message| json!({
                    "kind": s.last_error_kind, "message": message, "at": s.last_error_at,
                })),
                "failures": s.failures,
                "next_poll": s.next_poll,
                "items_seen": s.items_seen,
                "last_new": s.last_new,
                "via_feed": s.via_feed,
            }),
        })
        .collect();
    json!({
        "sources": sources,
        "outbox": { "pending": report.outbox.pending, "sent": report.outbox.sent, "dead": report.outbox.dead, "held": report.outbox.held },
    })
}

/// `vigie status`: one line per source, times relative to `now`.
pub fn status_table(report: &StatusReport, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let width = name_width(report.sources.iter().map(|(n, _)| n));
    let _ = writeln!(
        out,
        "{:width$}  {:7}  {:12}  {:>8}  {:12}  {:>6}  LAST ERROR",
        "SOURCE", "HEALTH", "LAST SUCCESS", "FAILURES", "NEXT POLL", "ITEMS"
    );
    for (name, state) in &report.sources {
        let _ = match state {
            None => writeln!(
                out,
                "{name:width$}  {:7}  {:12}  {:>8}  {:12}  {:>6}  -",
                "new", "never", 0, "-", 0
            ),
            Some(s) => {
                // The last error matters while the source fails; after a
                // success it is history.
                let error = match (&s.last_error, s.failures) {
                    (Some(message), n) if n > 0 => format!(
                        "{} ({}): {message}",
                        s.last_error_kind.as_deref().unwrap_or("error"),
                        ago(s.last_error_at, now)
                    ),
                    _ => "-".into(),
                };
                writeln!(
                    out,
                    "{name:width$}  {:7}  {:12}  {:>8}  {:12}  {:>6}  {error}",
                    s.health.as_str(),
                    ago(s.last_success, now),
                    s.failures,
                    ago(s.next_poll, now),
                    s.items_seen,
                )
            }
        };
    }
    for (name, state) in &report.sources {
        if let Some(feed) = state.as_ref().and_then(|s| s.via_feed.as_deref()) {
            let _ = writeln!(
                out,
                "\n{name}: its page announces a feed, watched in its place: {feed}"
            );
        }
    }
    let o = report.outbox;
    let _ = writeln!(
        out,
        "\nOutbox: {} pending, {} dead, {} sent, {} held for digests",
        o.pending, o.dead, o.sent, o.held
    );
    if o.dead > 0 {
        let _ = writeln!(
            out,
            "Dead deliveries: see `vigie alerts --since 7d`; `vigie retry --dead` sends them again."
        );
    }
    out
}

/// `vigie alerts --format json`: `{"alerts": [...]}`.
pub fn alerts_json(alerts: &[crate::store::AlertRecord]) -> serde_json::Value {
    json!({ "alerts": alerts })
}

/// `vigie alerts`: one block per alert, one line per delivery.
pub fn alerts_table(alerts: &[crate::store::AlertRecord]) -> String {
    let mut out = String::new();
    if alerts.is_empty() {
        out.push_str("No alert in that period.\n");
        return out;
    }
    for a in alerts {
        let _ = writeln!(
            out,
            "{}  {}  {}  {}",
            a.detected_at.format("%Y-%m-%d %H:%M:%S"),
            a.rule,
            a.source,
            crate::normalize::truncate_chars(&a.title, 90)
        );
        if let Some(url) = &a.url {
            let _ = writeln!(out, "    {url}");
        }
        for d in &a.deliveries {
            // A digested alert's fate is its digest's.
            let shown = d.digest.as_deref().unwrap_or(d);
            let state = match &d.digest {
                Some(g) => format!("{} (digest {})", g.state, g.id),
                None => d.state.clone(),
            };
            let detail = match shown.state.as_str() {
                "sent" => shown
                    .sent_at
                    .map(|t| format!("at {}", t.format("%Y-%m-%d %H:%M:%S")))
                    .unwrap_or_default(),
                "held" => shown
                    .next_attempt
                    .map(|t| format!("digest at {}", t.format("%Y-%m-%d %H:%M")))
                    .unwrap_or_default(),
                "pending" if shown.attempts > 0 => format!(
                    "{} attempts, next {}: {}",
                    shown.attempts,
                    shown
                        .next_attempt
                        .map(|t| t.format("%H:%M:%S").to_string())
                        .unwrap_or_default(),
                    shown.last_error.as_deref().unwrap_or("")
                ),
                "dead" => shown.last_error.clone().unwrap_or_default(),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "    -> {:12} {:24} {}  {}",
                d.notifier, state, shown.id, detail
            );
        }
    }
    out
}

/// `5m ago`, `in 2h`, `never`.
fn ago(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(at) = at else {
        return "never".into();
    };
    let secs = (now - at).num_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let short = match n {
        0..60 => format!("{n}s"),
        60..3600 => format!("{}m", n / 60),
        3600..86_400 => format!("{}h", n / 3600),
        _ => format!("{}d", n / 86_400),
    };
    if future {
        format!("in {short}")
    } else {
        format!("{short} ago")
    }
}

/// The width of the SOURCE column: the longest name, at least the header's.
fn name_width<'a>(names: impl Iterator<Item = &'a String>) -> usize {
    names.map(|n| n.chars().count()).max().unwrap_or(6).max(6)
}
