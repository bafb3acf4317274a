//! `rules::parse_query` and the matcher built from a query: any string is
//! either refused with an error whose span lies inside it, or compiles and
//! matches without panicking, the explanation agreeing with the match.
//!
//! Input: 1 options byte (bit 0 case-sensitive, bit 1 accent-sensitive,
//! bits 2-3 stemming: none, fr, en), then (lossy) UTF-8 `query\0title\0body`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie::rules::{Document, Matcher, RuleSpec, Stem, parse_query};

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\0');
    let query = parts.next().unwrap_or("");
    let (title, body) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if let Err(e) = parse_query(query) {
        assert!(
            e.span.start <= e.span.end && e.span.end <= query.len(),
            "span {:?} outside a query of {} bytes",
            e.span,
            query.len()
        );
        assert!(query.is_char_boundary(e.span.start) && query.is_char_boundary(e.span.end));
        return;
    }
    let spec = RuleSpec {
        name: "q".into(),
        query: Some(query.to_string()),
        case_sensitive: options & 1 != 0,
        accent_sensitive: options & 2 != 0,
        stem: match (options >> 2) & 3 {
            1 => Some(Stem::French),
            2 => Some(Stem::English),
            _ => None,
        },
        ..RuleSpec::default()
    };
    // A query that needs no term is refused, not a crash.
    let Ok(matcher) = Matcher::new(vec![spec]) else {
        return;
    };
    let doc = Document {
        title,
        body,
        url: "https://news.example.org/fr/story/2023/08/1141902",
        ..Document::default()
    };
    let matched = !matcher.match_document(&doc, "src", &[]).is_empty();
    let explained = matcher.explain(0, &doc, "src", &[]).expect("rule 0");
    assert_eq!(matched, explained.matched, "match and explanation disagree");
    for hit in &explained.hits {
        assert!(hit.snippet.get(hit.highlight.clone()).is_some());
    }
});
