//! The query language of DESIGN.md §4: a query string in, a syntax tree with the byte span of every node out, or an error pointing at the character to fix.
//!
//! ```text
//! query   := or
//! or      := and ("OR" and)*
//! and     := unary (["AND"] unary)*          juxtaposition is AND
//! unary   := ("NOT" | "-") unary | primary
//! primary := "(" or ")" | FIELD ":" primary | WORD | PHRASE | REGEX
//! ```
//!
//! `NOT` binds tighter than `AND`, `AND` tighter than `OR`. Operators are
//! upper case: `or` and `et` are words, as they are in French headlines.
//! A field applies to a word, a phrase or a group; a group inside a field
//! cannot name another field.

use std::fmt;
use std::ops::Range;

use super::fold::{FoldOptions, fold_words};
use super::matcher::Field;

/// The largest program a rule's regular expression may compile to; past
/// it the regex is refused rather than slowing every article.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The largest `~N` a proximity search may ask for.
pub const MAX_DISTANCE: u32 = 1000;

/// A query that cannot be read, with the byte range of the query to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub span: Range<usize>,
    pub message: String,
    /// What to write instead, when there is something useful to say.
    pub hint: Option<String>,
}

impl QueryError {
    fn new(span: Range<usize>, message: impl Into<String>) -> QueryError {
        QueryError {
            span,
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> QueryError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.span.start)
    }
}

impl std::error::Error for QueryError {}

/// A node of the syntax tree, with the part of the query it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub span: Range<usize>,
    pub kind: ExprKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Term(Term),
}

/// A leaf: what to look for, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// `None`: the title, the summary and the body.
    pub field: Option<Field>,
    pub kind: TermKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermKind {
    /// A word, or consecutive words (a phrase, or a bare `casques-bleus`);
    /// with `prefix`, the last word need only start with what is written.
    Words { text: String, prefix: bool },
    /// The words of `text`, in any order, the first and the last of them at
    /// most `distance` words apart.
    Near { text: String, distance: u32 },
    /// A regular expression over the normalized text, matching whole words.
    Regex { pattern: String },
}

impl Term {
    /// The term as alerts show it: the words without quotes or field.
    pub fn display(&self) -> String {
        match &self.kind {
            TermKind::Words { text, prefix } => {
                format!("{}{}", text.trim(), if *prefix { "*" } else { "" })
            }
            TermKind::Near { text, .. } => text.trim().to_string(),
            TermKind::Regex { pattern } => format!("/{pattern}/"),
        }
    }
}

impl Expr {
    /// Whether the query holds for an article in which none of its terms is
    /// found: `NOT football` does, so alone it would alert on everything.
    pub fn holds_without_terms(&self) -> bool {
        match &self.kind {
            ExprKind::Or(items) => items.iter().any(Expr::holds_without_terms),
            ExprKind::And(items) => items.iter().all(Expr::holds_without_terms),
            ExprKind::Not(inner) => !inner.holds_without_terms(),
            ExprKind::Term(_) => false,
        }
    }
}

/// Reads `query`; every error names the byte range to blame.
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    let tokens = lex(query)?;
    if tokens.is_empty() {
        return Err(QueryError::new(0..query.len(), "the query is empty")
            .hint("write words to look for, e.g. minusma OR \"casques bleus\""));
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let expr = parser.or(None)?;
    if let Some(extra) = parser.peek() {
        // `or` stops only before `)` or the end.
        return Err(
            QueryError::new(extra.span.clone(), "unmatched closing parenthesis")
                .hint("remove it, or open a group before it with ("),
        );
    }
    Ok(expr)
}

/// Compiles a rule's regex the one way the matcher and the checks agree on:
/// whole words of the normalized text, size-limited.
///
/// The normalized text is its words joined by single spaces, with a space
/// before the first and after the last, so "whole words" is a space on each
/// side. (Unicode `\b` would do the same but keep the regex off the DFA
/// engines, several times slower over a whole `RegexSet`.)
pub fn compile_regex(pattern: &str, case_sensitive: bool) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(&format!("(?:^| )(?:{pattern}) "))
        .case_insensitive(!case_sensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| regex_message(&e))
}

fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => format!(
            "the regular expression is too big once compiled (over {} KiB): \
             it would slow down every article",
            limit / 1024
        ),
        regex::Error::Syntax(text) => {
            // The syntax error's last line says what is wrong; the lines
            // above quote the pattern, which the caret already shows.
            let reason = text
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("error: "))
                .unwrap_or(text.as_str());
            format!("invalid regular expression: {reason}")
        }
        other => format!("invalid regular expression: {other}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    And,
    Or,
    Not,
    Minus,
    Field(Field),
    Term(TermKind),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    span: Range<usize>,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

fn lex(query: &str) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut chars = query.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '(' | ')' => {
                chars.next();
                let tok = if c == '(' { Tok::Open } else { Tok::Close };
                tokens.push(Token {
                    tok,
                    span: start..start + 1,
                });
            }
            '"' => tokens.push(phrase(query, start)?),
            '/' => tokens.push(regex(query, start)?),
            '-' => {
                chars.next();
                let next = query[start + 1..].chars().next();
                if next.is_none_or(is_delimiter) && next != Some('(') && next != Some('"') {
                    return Err(
                        QueryError::new(start..start + 1, "- needs a term right after it")
                            .hint("write -football, with no space, to exclude a word"),
                    );
                }
                tokens.push(Token {
                    tok: Tok::Minus,
                    span: start..start + 1,
                });
            }
            _ => {
                let end = query[start..]
                    .find(is_delimiter)
                    .map_or(query.len(), |i| start + i);
                word(query, start..end, &mut tokens)?;
            }
        }
        // Skip to where the token just pushed ends.
        let resume = tokens.last().map_or(start + c.len_utf8(), |t| t.span.end);
        while chars.peek().is_some_and(|&(i, _)| i < resume) {
            chars.next();
        }
    }
    Ok(tokens)
}

/// `"casques bleus"`, `"retrait onu"~8`, `"casques bl*"`.
fn phrase(query: &str, start: usize) -> Result<Token, QueryError> {
    let body_start = start + 1;
    let Some(len) = query[body_start..].find('"') else {
        return Err(QueryError::new(start..start + 1, "unclosed quote")
            .hint("end the phrase with another \""));
    };
    let close = body_start + len;
    let text = &query[body_start..close];
    let mut end = close + 1;
    let span_all = start..end;
    let (text, prefix) = prefixed(text, body_start)?;
    check_words(text, span_all.clone(), prefix)?;
    if query[end..].starts_with('~') {
        let digits = query[end + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(query.len() - end - 1, |i| i);
        let tilde = end..end + 1;
        end += 1 + digits;
        if digits == 0 {
            return Err(QueryError::new(
                tilde,
                "~ needs the number of words the terms may be apart",
            )
            .hint("for example \"retrait onu\"~8"));
        }
        let number = &query[tilde.end..end];
        let words = fold_words(text, FoldOptions::default()).len() as u32;
        let distance = match number.parse::<u32>() {
            Ok(n) if n <= MAX_DISTANCE => n,
            _ => {
                return Err(QueryError::new(
                    tilde.end..end,
                    format!("~{number} is too far: at most ~{MAX_DISTANCE}"),
                ));
            }
        };
        if prefix {
            return Err(QueryError::new(
                start..end,
                "a proximity search cannot end with a prefix*",
            ));
        }
        if words < 2 {
            return Err(
                QueryError::new(start..end, "a proximity search needs at least two words")
                    .hint("for example \"retrait onu\"~8"),
            );
        }
        if distance + 1 < words {
            return Err(QueryError::new(
                tilde.end..end,
                format!("{words} words cannot fit within ~{distance}"),
            )
            .hint(format!("use at least ~{}", words - 1)));
        }
        return Ok(Token {
            tok: Tok::Term(TermKind::Near {
                text: text.to_string(),
                distance,
            }),
            span: start..end,
        });
    }
    Ok(Token {
        tok: Tok::Term(TermKind::Words {
            text: text.to_string(),
            prefix,
        }),
        span: span_all,
    })
}

/// `/mali(en|enne)s?/`; `\/` stands for a slash inside.
fn regex(query: &str, start: usize) -> Result<Token, QueryError> {
    let mut pattern = String::new();
    let mut chars = query[start + 1..].char_indices();
    let mut close = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '/')) => pattern.push('/'),
                Some((_, other)) => {
                    pattern.push('\\');
                    pattern.push(other);
                }
                None => pattern.push('\\'),
            },
            '/' => {
                close = Some(start + 1 + i);
                break;
            }
            c => pattern.push(c),
        }
    }
    let Some(close) = close else {
        return Err(
            QueryError::new(start..start + 1, "unclosed regular expression")
                .hint("end it with another /, and write \\/ for a slash inside"),
        );
    };
    let span = start..close + 1;
    if pattern.is_empty() {
        return Err(QueryError::new(span, "empty regular expression"));
    }
    // On its own first: wrapped, `x)|(` would parse, and match any space.
    let bare = regex::RegexBuilder::new(&pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| QueryError::new(span.clone(), regex_message(&e)))?;
    compile_regex(&pattern, false).map_err(|m| QueryError::new(span.clone(), m))?;
    if bare.is_match("") {
        return Err(QueryError::new(
            span,
            "the regular expression matches empty text, so it would match every article",
        ));
    }
    Ok(Token {
        tok: Tok::Term(TermKind::Regex { pattern }),
        span,
    })
}

/// A bare word: an operator, `field:` (with or without its value), or
/// words to look for.
fn word(query: &str, span: Range<usize>, tokens: &mut Vec<Token>) -> Result<(), QueryError> {
    let text = &query[span.clone()];
    let op = match text {
        "AND" => Some(Tok::And),
        "OR" => Some(Tok::Or),
        "NOT" => Some(Tok::Not),
        _ => None,
    };
    if let Some(tok) = op {
        tokens.push(Token { tok, span });
        return Ok(());
    }
    if let Some(colon) = text.find(':') {
        let name = &text[..colon];
        let rest = &text[colon + 1..];
        let looks_like_field = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphabetic())
            && !rest.starts_with("//");
        if looks_like_field {
            let name_span = span.start..span.start + colon;
            let Some(field) = Field::from_name(&name.to_ascii_lowercase()) else {
                let mut message = format!("unknown field \"{name}\"");
                if let Some(near) = Field::nearest(name) {
                    message.push_str(&format!(" (did you mean \"{near}\"?)"));
                }
                return Err(QueryError::new(name_span, message).hint(format!(
                    "fields are {}; put the text in quotes to search for a colon",
                    Field::NAMES.join(", ")
                )));
            };
            let colon_at = span.start + colon;
            tokens.push(Token {
                tok: Tok::Field(field),
                span: span.start..colon_at + 1,
            });
            if rest.starts_with('/') {
                tokens.push(regex(query, colon_at + 1)?);
            } else if !rest.is_empty() {
                word(query, colon_at + 1..span.end, tokens)?;
            } else if query[span.end..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace)
            {
                return Err(
                    QueryError::new(span, format!("{name}: needs a term right after it"))
                        .hint(format!("for example {name}:minusma, with no space")),
                );
            }
            return Ok(());
        }
    }
    let (words, prefix) = prefixed(text, span.start)?;
    check_words(words, span.clone(), prefix)?;
    tokens.push(Token {
        tok: Tok::Term(TermKind::Words {
            text: words.to_string(),
            prefix,
        }),
        span,
    });
    Ok(())
}

/// Splits a final `*` off `text` (which starts at byte `at` of the query);
/// a `*` anywhere else is an error.
fn prefixed(text: &str, at: usize) -> Result<(&str, bool), QueryError> {
    let trimmed = text.trim_end();
    let (words, prefix) = match trimmed.strip_suffix('*') {
        Some(words) => (words, true),
        None => (text, false),
    };
    if let Some(i) = words.find('*') {
        return Err(QueryError::new(
            at + i..at + i + 1,
            "* can only end a word, as in retrait*",
        ));
    }
    if prefix && words.ends_with(|c: char| !c.is_alphanumeric()) {
        let star = at + trimmed.len() - 1;
        return Err(QueryError::new(
            star..star + 1,
            "* must follow a letter or digit, as in retrait*",
        ));
    }
    Ok((words, prefix))
}

/// Refuses a term with nothing to look for, or a prefix so short that it
/// would match a good part of the language.
fn check_words(text: &str, span: Range<usize>, prefix: bool) -> Result<(), QueryError> {
    let words = fold_words(text, FoldOptions::default());
    let Some(last) = words.last() else {
        return Err(
            QueryError::new(span, format!("\"{}\" has no word to match", text.trim()))
                .hint("terms are matched on words: letters and digits"),
        );
    };
    if prefix && last.chars().count() < 2 {
        return Err(QueryError::new(
            span,
            format!("the prefix \"{last}*\" is too short: it would match too many words"),
        )
        .hint("give at least two letters before *"));
    }
    Ok(())
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Groups and NOTs being read, to refuse a query nested so deep that
    /// reading it would exhaust the stack.
    depth: usize,
}

/// Deeper than any query a person writes.
const MAX_DEPTH: usize = 100;

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn starts_term(&self) -> bool {
        self.peek().is_some_and(|t| {
            matches!(
                t.tok,
                Tok::Open | Tok::Not | Tok::Minus | Tok::Field(_) | Tok::Term(_)
            )
        })
    }

    fn or(&mut self, field: Option<Field>) -> Result<Expr, QueryError> {
        let first = self.and(field)?;
        let mut items = vec![first];
        while let Some(op) = self.peek().filter(|t| t.tok == Tok::Or).cloned() {
            self.pos += 1;
            if !self.starts_term() {
                return Err(both_sides(op.span, "OR"));
            }
            items.push(self.and(field)?);
        }
        Ok(combine(items, ExprKind::Or))
    }

    fn and(&mut self, field: Option<Field>) -> Result<Expr, QueryError> {
        let first = self.unary(field)?;
        let mut items = vec![first];
        loop {
            if let Some(op) = self.peek().filter(|t| t.tok == Tok::And).cloned() {
                self.pos += 1;
                if !self.starts_term() {
                    return Err(both_sides(op.span, "AND"));
                }
            } else if !self.starts_term() {
                break;
            }
            items.push(self.unary(field)?);
        }
        Ok(combine(items, ExprKind::And))
    }

    fn unary(&mut self, field: Option<Field>) -> Result<Expr, QueryError> {
        let Some(t) = self.peek().cloned() else {
            return self.primary(field);
        };
        if self.depth >= MAX_DEPTH {
            return Err(QueryError::new(
                t.span,
                format!("the query nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let result = self.unary_inner(t, field);
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self, t: Token, field: Option<Field>) -> Result<Expr, QueryError> {
        if !matches!(t.tok, Tok::Not | Tok::Minus) {
            return self.primary(field);
        }
        self.pos += 1;
        if !self.starts_term() {
            let message = if t.tok == Tok::Not {
                "NOT needs a term after it"
            } else {
                "- needs a term right after it"
            };
            return Err(QueryError::new(t.span, message).hint("for example NOT football"));
        }
        let inner = self.unary(field)?;
        Ok(Expr {
            span: t.span.start..inner.span.end,
            kind: ExprKind::Not(Box::new(inner)),
        })
    }

    fn primary(&mut self, field: Option<Field>) -> Result<Expr, QueryError> {
        let Some(t) = self.next() else {
            let end = self.tokens.last().map_or(0, |t| t.span.end);
            return Err(QueryError::new(end..end, "a term is missing at the end"));
        };
        match t.tok {
            Tok::Open => {
                if self.peek().is_none() {
                    return Err(QueryError::new(t.span, "unclosed parenthesis")
                        .hint("close the group with )"));
                }
                if self.peek().is_some_and(|n| n.tok == Tok::Close) {
                    let close = self.next().map_or(t.span.end, |c| c.span.end);
                    return Err(QueryError::new(t.span.start..close, "empty parentheses"));
                }
                let inner = self.or(field)?;
                match self.next() {
                    Some(close) if close.tok == Tok::Close => Ok(Expr {
                        span: t.span.start..close.span.end,
                        kind: inner.kind,
                    }),
                    _ => Err(QueryError::new(t.span, "unclosed parenthesis")
                        .hint("close the group with )")),
                }
            }
            Tok::Close => Err(QueryError::new(t.span, "unmatched closing parenthesis")
                .hint("remove it, or open a group before it with (")),
            Tok::And | Tok::Or => {
                let name = if t.tok == Tok::And { "AND" } else { "OR" };
                Err(both_sides(t.span, name))
            }
            Tok::Not | Tok::Minus => unreachable!("unary() takes NOT and -"),
            Tok::Field(inner_field) => {
                if let Some(outer) = field {
                    return Err(QueryError::new(
                        t.span,
                        format!("field {inner_field}: inside a {outer}: group"),
                    )
                    .hint("a term has one field; move it out of the group"));
                }
                if !self
                    .peek()
                    .is_some_and(|n| matches!(n.tok, Tok::Open | Tok::Term(_)))
                {
                    return Err(QueryError::new(
                        t.span,
                        format!("{inner_field}: needs a word, a phrase or a group after it"),
                    ));
                }
                let inner = self.primary(Some(inner_field))?;
                Ok(Expr {
                    span: t.span.start..inner.span.end,
                    kind: inner.kind,
                })
            }
            Tok::Term(kind) => {
                if let Some(f) = field
                    && f.is_meta()
                    && !matches!(kind, TermKind::Words { .. })
                {
                    return Err(QueryError::new(
                        t.span,
                        format!("{f}: takes words, not a regular expression or a proximity search"),
                    ));
                }
                Ok(Expr {
                    span: t.span,
                    kind: ExprKind::Term(Term { field, kind }),
                })
            }
        }
    }
}

fn both_sides(span: Range<usize>, op: &str) -> QueryError {
    QueryError::new(span, format!("{op} needs a term on each side"))
        .hint(format!("for example minusma {op} onu"))
}

fn combine(mut items: Vec<Expr>, kind: fn(Vec<Expr>) -> ExprKind) -> Expr {
    if items.len() == 1 {
        return items.pop().expect("one item");
    }
    let span = items[0].span.start..items[items.len() - 1].span.end;
    Expr {
        span,
        kind: kind(items),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree as a compact string: `(OR a (AND b c))`, fields as `title:`.
    fn show(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Or(items) => format!(
                "(OR {})",
                items.iter().map(show).collect::<Vec<_>>().join(" ")
            ),
            ExprKind::And(items) => format!(
                "(AND {})",
                items.iter().map(show).collect::<Vec<_>>().join(" ")
            ),
            ExprKind::Not(inner) => format!("(NOT {})", show(inner)),
            ExprKind::Term(t) => {
                let field = t.field.map(|f| format!("{f}:")).unwrap_or_default();
                let body = match &t.kind {
                    TermKind::Words {
                        text,
                        prefix: false,
                    } => format!("[{text}]"),
                    TermKind::Words { text, prefix: true } => format!("[{text}*]"),
                    TermKind::Near { text, distance } => format!("[{text}]~{distance}"),
                    TermKind::Regex { pattern } => format!("/{pattern}/"),
                };
                format!("{field}{body}")
            }
        }
    }

    #[test]
    fn trees() {
        let cases = [
            ("minusma", "[minusma]"),
            ("a b", "(AND [a] [b])"),
            ("a AND b", "(AND [a] [b])"),
            ("a OR b c", "(OR [a] (AND [b] [c]))"),
            ("a b OR c", "(OR (AND [a] [b]) [c])"),
            ("NOT a b", "(AND (NOT [a]) [b])"),
            ("-a OR b", "(OR (NOT [a]) [b])"),
            ("NOT (a OR b)", "(NOT (OR [a] [b]))"),
            ("NOT NOT a", "(NOT (NOT [a]))"),
            ("title:minusma", "title:[minusma]"),
            ("title:(a OR b) c", "(AND (OR title:[a] title:[b]) [c])"),
            ("TITLE:\"casques bleus\"", "title:[casques bleus]"),
            ("-body:football", "(NOT body:[football])"),
            ("\"retrait onu\"~8", "[retrait onu]~8"),
            ("retrait*", "[retrait*]"),
            ("\"casques bl*\"", "[casques bl*]"),
            ("/mali(en|enne)s?/", "/mali(en|enne)s?/"),
            ("/a\\/b/", "/a/b/"),
            ("url:https://news.un.org/fr", "url:[https://news.un.org/fr]"),
            ("title:/mali (en|enne)/", "title:/mali (en|enne)/"),
            ("casques-bleus", "[casques-bleus]"),
            ("l'ONU", "[l'ONU]"),
            ("minusma or onu", "(AND [minusma] [or] [onu])"),
            ("12:30", "[12:30]"),
            (
                "minusma OR \"casques bleus\" OR (retrait AND (onu OR \"nations unies\"))",
                "(OR [minusma] [casques bleus] (AND [retrait] (OR [onu] [nations unies])))",
            ),
        ];
        for (query, want) in cases {
            let got = parse(query).map(|e| show(&e));
            assert_eq!(got.as_deref(), Ok(want), "query {query:?}");
        }
    }

    #[test]
    fn spans_cover_their_text() {
        let q = "minusma OR (retrait AND title:onu)";
        let e = parse(q).unwrap();
        assert_eq!(e.span, 0..q.len());
        let ExprKind::Or(items) = &e.kind else {
            panic!()
        };
        assert_eq!(&q[items[1].span.clone()], "(retrait AND title:onu)");
    }

    #[test]
    fn errors_point_at_the_culprit() {
        // (query, start of the blamed span, message start)
        let cases: &[(&str, usize, &str)] = &[
            ("minusma OR \"casques bleus", 11, "unclosed quote"),
            ("(retrait OR onu", 0, "unclosed parenthesis"),
            ("retrait OR onu)", 14, "unmatched closing parenthesis"),
            ("minusma NOT", 8, "NOT needs a term after it"),
            ("minusma -", 8, "- needs a term right after it"),
            ("OR minusma", 0, "OR needs a term on each side"),
            ("minusma OR", 8, "OR needs a term on each side"),
            ("a AND OR b", 2, "AND needs a term on each side"),
            (
                "titre:minusma",
                0,
                "unknown field \"titre\" (did you mean \"title\"?)",
            ),
            ("title: minusma", 0, "title: needs a term right after it"),
            ("()", 0, "empty parentheses"),
            ("", 0, "the query is empty"),
            ("   ", 0, "the query is empty"),
            ("\"retrait onu\"~", 13, "~ needs the number"),
            ("\"retrait onu\"~0", 14, "2 words cannot fit within ~0"),
            (
                "\"retrait\"~3",
                0,
                "a proximity search needs at least two words",
            ),
            ("\"a b\"~5000", 6, "~5000 is too far"),
            ("re*trait", 2, "* can only end a word"),
            ("r*", 0, "the prefix \"r*\" is too short"),
            ("\"…\"", 0, "\"…\" has no word to match"),
            ("a & b", 2, "\"&\" has no word to match"),
            ("/mali(/", 0, "invalid regular expression"),
            ("/mali", 0, "unclosed regular expression"),
            ("/a*/", 0, "the regular expression matches empty text"),
            ("//", 0, "empty regular expression"),
            ("/(a{1000}){1000}/", 0, "the regular expression is too big"),
            ("title:(body:a)", 7, "field body: inside a title: group"),
            ("/x)|(/", 0, "invalid regular expression"),
            ("a (", 2, "unclosed parenthesis"),
            ("source:/a/", 7, "source: takes words"),
        ];
        for (query, at, message) in cases {
            let err = parse(query).expect_err(query);
            assert!(
                err.message.starts_with(message),
                "{query:?}: {:?} does not start with {message:?}",
                err.message
            );
            assert_eq!(err.span.start, *at, "{query:?}: {err:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}minusma{}", "(".repeat(5000), ")".repeat(5000));
        let err = parse(&deep).unwrap_err();
        assert!(err.message.contains("nests deeper"), "{err:?}");
        let nots = format!("{}minusma", "NOT ".repeat(5000));
        assert!(parse(&nots).unwrap_err().message.contains("nests deeper"));
        let fine = format!("{}minusma{}", "(".repeat(50), ")".repeat(50));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn queries_that_need_no_term_are_spotted() {
        assert!(parse("NOT football").unwrap().holds_without_terms());
        assert!(parse("-a OR b").unwrap().holds_without_terms());
        assert!(!parse("minusma -football").unwrap().holds_without_terms());
        assert!(!parse("source:abamako").unwrap().holds_without_terms());
    }
}
