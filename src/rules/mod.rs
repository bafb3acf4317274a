//! Rules: receives the validated rule specs from `config` and each article's text, hands on which rules matched, with the terms and snippets that explain why.
//!
//! Two halves, one normalization:
//!
//! - [`fold`](tokenize) turns any text — a configured keyword as much as an
//!   article body — into folded words: NFKD, accents and case removed unless a
//!   rule opts out, `œ`/`æ`/`ß` spelled out, French typography (elisions,
//!   hyphens, no-break spaces) treated as word separators. Rules and texts go
//!   through the very same function, so whatever it decides, a keyword and the
//!   text it was copied from always agree.
//! - [`Matcher`] compiles every keyword and exclude term of every rule into one
//!   Aho-Corasick automaton per distinct [`FoldOptions`], so an article is
//!   folded at most four times and each field scanned once per options,
//!   however many rules there are.
//!
//! Matching is on whole words and whole phrases: `retrait` never matches
//! `retraite`, `Mali` never matches `Somalie`, and `Casques bleus` matches
//! `CASQUES-BLEUS` or `casques` and `bleus` split by a line break.

mod fold;
mod matcher;
mod query;

pub use fold::{FoldOptions, Stem, Token, fold_words, tokenize};
pub use matcher::{
    Document, ExplainNode, Explanation, Field, Hit, Matcher, RuleError, RuleMatch, RuleSpec, Scope,
};
pub use query::{Expr, ExprKind, QueryError, Term, TermKind, parse as parse_query};
