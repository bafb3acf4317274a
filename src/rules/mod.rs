//! Rules: receives the validated rule specs from `config` and each article's text, hands on which rules matched, with the terms and snippets that explain why.
//!
//! Three parts, one normalization:
//!
//! - [`fold`](tokenize) turns any text — a configured keyword as much as an
//!   article body — into folded words: NFKD, accents and case removed unless a
//!   rule opts out, `œ`/`æ`/`ß` spelled out, French typography (elisions,
//!   hyphens, no-break spaces) treated as word separators. Rules and texts go
//!   through the very same function, so whatever it decides, a keyword and the
//!   text it was copied from always agree.
//! - [`query`](parse_query) reads the rule language into a syntax tree whose
//!   every node knows its place in the query, for errors and explanations.
//! - [`Matcher`] compiles every term of every rule into one dictionary of
//!   normalized words (and one `RegexSet`) per distinct [`FoldOptions`], so
//!   an article is folded and scanned once per options however many rules
//!   there are; a rule's boolean structure is then evaluated only when its
//!   rarest necessary term was found, and a second necessary condition too.
//!
//! Matching is on whole words and whole phrases: `retrait` never matches
//! `retraite`, `Mali` never matches `Somalie`, and `Casques bleus` matches
//! `CASQUES-BLEUS` or `casques` and `bleus` split by a line break.

mod fold;
mod matcher;
mod query;
mod snippet;

pub use fold::{FoldOptions, Stem, Token, fold_words, tokenize};
pub use matcher::{
    Document, ExplainNode, Explanation, Field, Hit, Matcher, RuleError, RuleMatch, RuleSpec, Scope,
};
pub use query::{Expr, ExprKind, QueryError, Term, TermKind, parse as parse_query};
