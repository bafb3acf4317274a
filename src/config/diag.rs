//! Config errors that point into the file: `file:line:col`, the offending
//! line with a caret under the spot, and a hint when one helps.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Byte range in the file; `None` for problems with no place (an
    /// unreadable file).
    pub span: Option<Range<usize>>,
    /// Where in the schema: `sources.un-news.interval`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    /// Byte ranges of secret values: never echoed.
    pub masked: Vec<Range<usize>>,
}

impl ConfigError {
    pub fn new(
        span: Option<Range<usize>>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            span,
            path: path.into(),
            message: message.into(),
            hint: None,
            masked: Vec::new(),
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A key that exists in DESIGN.md but whose feature has not landed yet.
    pub fn not_supported(span: Range<usize>, path: impl Into<String>, what: &str) -> Self {
        ConfigError::new(Some(span), path, format!("{what} is not supported yet"))
            .hint("remove this key; vigie refuses keys it would otherwise ignore")
    }
}

/// Every error found in one config file, ready to print.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub file: PathBuf,
    pub text: String,
    pub errors: Vec<ConfigError>,
}

impl std::error::Error for Diagnostics {}

impl Diagnostics {
    /// `(line, column)`, both from 1, of a byte offset; the column counts
    /// characters, as editors do.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.text, offset)
    }
}

pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = display_path(&self.file);
        for (n, error) in self.errors.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            render(f, &file, &self.text, error)?;
        }
        let count = self.errors.len();
        write!(
            f,
            "\n{count} error{} in {file}",
            if count == 1 { "" } else { "s" }
        )
    }
}

fn display_path(path: &Path) -> String {
    path.display().to_string()
}

fn render(f: &mut fmt::Formatter<'_>, file: &str, text: &str, error: &ConfigError) -> fmt::Result {
    let subject = if error.path.is_empty() {
        String::new()
    } else {
        format!("{}: ", error.path)
    };
    let Some(span) = error.span.clone() else {
        writeln!(f, "error: {file}: {subject}{}", error.message)?;
        if let Some(hint) = &error.hint {
            writeln!(f, "  = hint: {hint}")?;
        }
        return Ok(());
    };
    let (line, col) = line_col(text, span.start);
    writeln!(f, "error: {file}:{line}:{col}: {subject}{}", error.message)?;
    let gutter = line.to_string().len();
    // The caret covers the span, but never past the end of its first line.
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let end = floor_char_boundary(text, span.end.min(text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let width = text[start..end.min(line_end).max(start)]
        .chars()
        .count()
        .max(1);
    let mut masks = error.masked.clone();
    masks.extend(secret_value(text, line_start..line_end));
    let (shown, caret_col, width) = mask_line(text, line_start..line_end, start, width, &masks);
    writeln!(f, "{:gutter$} |", "")?;
    writeln!(f, "{line} | {}", shown.trim_end_matches('\r'))?;
    writeln!(
        f,
        "{:gutter$} | {}{}",
        "",
        " ".repeat(caret_col),
        "^".repeat(width)
    )?;
    if let Some(hint) = &error.hint {
        writeln!(f, "{:gutter$} = hint: {hint}", "")?;
    }
    Ok(())
}

const MASK: &str = "<secret>";

/// Keys of a notifier whose values are secrets.
const SECRET_KEYS: &[&str] = &["url", "password", "secret", "headers"];

/// The value part of `line` when it sets a secret key of a notifier, found
/// from the text alone: it must be masked even when the file does not parse
/// (`password = hunter2` is a syntax error that would echo the password).
fn secret_value(text: &str, line: Range<usize>) -> Option<Range<usize>> {
    // Table and key paths with spaces and quotes removed:
    // `[ notifiers . "hook" ]` is `notifiers.hook`.
    let path = |raw: &str| -> Vec<String> {
        raw.split('.')
            .map(|part| part.trim().trim_matches(['"', '\'']).to_string())
            .filter(|part| !part.is_empty())
            .collect()
    };
    let header = text[..line.start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .unwrap_or("");
    let content = &text[line.clone()];
    let eq = content.find('=')?;
    let mut full = path(header.trim_matches(['[', ']']));
    full.extend(path(&content[..eq]));
    // notifiers.NAME.KEY…: a secret key, or anything inside `headers`.
    let secret = full.first().is_some_and(|t| t == "notifiers")
        && full
            .iter()
            .skip(2)
            .any(|part| SECRET_KEYS.contains(&part.as_str()));
    if !secret {
        return None;
    }
    let after = &content[eq + 1..];
    // `{ env = "NAME" }` says where the secret lives, not what it is; but
    // the inline table of `headers` holds the values themselves.
    let last = full.last().map(String::as_str).unwrap_or("");
    if after.trim_start().starts_with('{') && last != "headers" {
        return None;
    }
    let value_start = eq + 1 + (after.len() - after.trim_start().len());
    let value_end = content.trim_end().len();
    (value_start < value_end).then(|| line.start + value_start..line.start + value_end)
}

/// The line `line` of `text` with every secret replaced by `<secret>`, the
/// caret's column (in characters, from 0) for the byte offset `at`, and the
/// caret's width.
fn mask_line(
    text: &str,
    line: Range<usize>,
    at: usize,
    width: usize,
    masks: &[Range<usize>],
) -> (String, usize, usize) {
    let mut shown = String::new();
    let mut caret = None;
    let mut width = width;
    let mut i = line.start;
    while i < line.end {
        if let Some(m) = masks.iter().find(|m| m.start <= i && i < m.end) {
            if caret.is_none() && at >= i && at < m.end {
                caret = Some(shown.chars().count());
                width = MASK.len();
            }
            shown.push_str(MASK);
            i = m.end.min(line.end);
        } else {
            let next = masks
                .iter()
                .filter(|m| m.start > i && m.start < line.end)
                .map(|m| m.start)
                .min()
                .unwrap_or(line.end);
            if caret.is_none() && at >= i && at < next {
                caret = Some(shown.chars().count() + text[i..at].chars().count());
            }
            shown.push_str(&text[i..next]);
            i = next;
        }
    }
    let caret = caret.unwrap_or_else(|| shown.chars().count());
    (shown, caret, width)
}

/// The valid name nearest to a misspelled one, if any is near enough.
pub fn nearest<'a>(wrong: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    valid
        .into_iter()
        .map(|v| (strsim::jaro_winkler(wrong, v), v))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}

/// Turns a serde/toml error into a `ConfigError`, adding a "did you mean"
/// hint to unknown keys and a readable message to the shapes serde words
/// poorly.
pub fn from_toml(error: &toml::de::Error, path: &str) -> ConfigError {
    let message = error.message().trim().to_string();
    let span = error.span();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (unknown, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let mut err = ConfigError::new(span, path, format!("unknown key \"{unknown}\""));
        err = match nearest(unknown, valid.iter().copied()) {
            Some(near) => err.hint(format!("did you mean \"{near}\"?")),
            None if !valid.is_empty() => err.hint(format!("valid keys: {}", valid.join(", "))),
            None => err,
        };
        return err;
    }
    if message.contains("untagged enum RawSecret") {
        return ConfigError::new(span, path, "invalid secret").hint(
            "write the value itself, or { env = \"NAME\" }, { file = \"PATH\" } or { credential = \"NAME\" }",
        );
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or(rest);
        return ConfigError::new(span, path, format!("missing key \"{key}\""));
    }
    // serde names Rust types; people read TOML ones.
    let message = message
        .replace("expected i64", "expected a whole number")
        .replace("expected u16", "expected a whole number")
        .replace("expected a boolean", "expected true or false")
        .replace("expected a sequence", "expected a list [\"…\"]");
    ConfigError::new(span, path, message)
}
