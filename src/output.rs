//! What the commands print: a table for people, one JSON document for
//! scripts (`--format json`). Articles in JSON are DESIGN.md §5's `article`
//! object plus `body`.

use std::fmt::Write as _;

use serde_json::json;

use crate::app::OnceReport;
use crate::model::Alert;

pub fn once_json(report: &OnceReport) -> serde_json::Value {
    let sources: Vec<_> = report
        .polls
        .iter()
        .map(|(name, result)| match result {
            Ok(r) => json!({
                "source": name, "status": if r.not_modified { "not_modified" } else { "ok" },
                "found": r.found, "new": r.new, "alerts": r.alerts.len(),
            }),
            Err(e) => json!({ "source": name, "status": "error", "error_kind": e.kind(), "error": e.to_string() }),
        })
        .collect();
    let alerts: Vec<&Alert> = report.alerts().collect();
    json!({ "sources": sources, "alerts": alerts, "deliveries": report.deliveries })
}

pub fn once_table(report: &OnceReport, dry_run: bool) -> String {
    let mut out = String::new();
    let width = report
        .polls
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "{:width$}  {:>6}  {:>5}  {:>6}  STATUS",
        "SOURCE", "FOUND", "NEW", "ALERTS"
    );
    for (name, result) in &report.polls {
        let _ = match result {
            Ok(r) if r.not_modified => writeln!(
                out,
                "{name:width$}  {:>6}  {:>5}  {:>6}  not modified",
                "-", "-", "-"
            ),
            Ok(r) => writeln!(
                out,
                "{name:width$}  {:>6}  {:>5}  {:>6}  ok",
                r.found,
                r.new,
                r.alerts.len()
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
