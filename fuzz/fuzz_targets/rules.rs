//! `rules::Matcher`: rules compiled from keywords, then matched against an
//! article, snippets cut around each hit.
//!
//! Input: one options byte, then (lossy) UTF-8 text split on NUL into
//! keywords (one per line, at most 8), exclude terms (one per line), title,
//! summary and body. Bits 0-1 of the options byte are the first rule's
//! case/accent sensitivity, bits 2-3 the second rule's (which takes the
//! first two keywords only, so patterns are shared across rules).
//!
//! Checks that every hit's `highlight` is a non-empty char-boundary range
//! inside its (non-empty) snippet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie::rules::{Document, Matcher, RuleSpec};

fn lines(s: Option<&str>, max: usize) -> Vec<String> {
    s.unwrap_or("")
        .split('\n')
        .filter(|l| !l.is_empty())
        .take(max)
        .map(str::to_string)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\0');
    let keywords = lines(parts.next(), 8);
    let exclude = lines(parts.next(), 4);
    let (title, summary, body) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let specs = vec![
        RuleSpec {
            name: "first".into(),
            keywords: keywords.clone(),
            exclude,
            case_sensitive: options & 1 != 0,
            accent_sensitive: options & 2 != 0,
            ..RuleSpec::default()
        },
        RuleSpec {
            name: "second".into(),
            keywords: keywords.into_iter().take(2).collect(),
            case_sensitive: options & 4 != 0,
            accent_sensitive: options & 8 != 0,
            tags: vec!["t".into()],
            ..RuleSpec::default()
        },
    ];
    // A term with no word in it is a config error, not a crash.
    let Ok(matcher) = Matcher::new(specs) else {
        return;
    };
    let doc = Document {
        title,
        summary,
        body,
        ..Document::default()
    };
    for m in matcher.match_document(&doc, "src", &["t".to_string()]) {
        for hit in &m.hits {
            let inner = hit.snippet.get(hit.highlight.clone());
            assert!(
                inner.is_some(),
                "highlight {:?} not a char range of {:?}",
                hit.highlight,
                hit.snippet
            );
            assert!(!hit.snippet.is_empty(), "empty snippet for {hit:?}");
            assert!(!hit.highlight.is_empty(), "empty highlight for {hit:?}");
        }
    }
});
