//! vigie's feed reading measured against the test suite of Python's
//! feedparser 6.0.11 (`shared/corpora/feedparser/`, BSD-2-Clause).
//!
//! Each corpus file is a small feed whose opening comment states what a
//! correct reader finds in it, as a Python expression over feedparser's
//! result (`Expect: not bozo and entries[0]['title'] == u'Example'`), and
//! sometimes the HTTP headers it is served with (`Header: Content-type: …`).
//! feedparser's model is richer than ours, so this test does not ask vigie to
//! *be* feedparser: it translates only the claims that our [`Article`] (and
//! the parser's [`Document`]) can express, and checks them on vigie's own
//! pipeline, `parse::feed::parse` → `normalize::articles`:
//!
//! | Expect path (`N` an entry index)                        | checked against                    |
//! |---------------------------------------------------------|------------------------------------|
//! | `entries[N]['title']`, `…['title_detail']['value']`     | `Article::title`                   |
//! | `entries[N]['link']`                                    | `Article::url`                     |
//! | `entries[N]['id']`, `…['guid']`                         | `Article::key` == `id:<id>`        |
//! | `entries[N]['author']`, `…['author_detail']['name']`, `…['authors'][K]['name']` | `Article::authors[K]` |
//! | `entries[N]['summary']`, `…['description']`, `…['summary_detail']['value']` | `Article::summary` |
//! | `entries[N]['content'][0]['value']`                     | `Article::body`                    |
//! | `entries[N]['published_parsed']` (`issued_parsed`)      | `Article::published`, in UTC       |
//! | `entries[N]['updated_parsed']` (`modified_parsed`)      | `Article::updated`, in UTC         |
//! | `entries[N]['language']`                                | `Article::language`                |
//! | `feed['title']`, `feed['title_detail']['value']`        | `Document::title`, reduced to text |
//! | `feed['language']`, `not feed.has_key('language')`      | `Document::language`               |
//!
//! The expected value goes through the same reduction vigie applies to its
//! own output before the comparison: `html_to_text` for text fields (we keep
//! text, not markup, and collapse whitespace), `canonical_url` for links
//! (fragments and tracking parameters dropped), lower case for language tags.
//! A text expectation whose markup carries attributes (`<a href=…>`, the
//! sanitizer's output) is about those attributes, which text reduction drops:
//! it is not applicable. So are `bozo`, `version`, `encoding`, feed-level
//! fields we do not keep, and every form not in the table: they are counted
//! and listed by shape, never counted as passes. Each conjunct of an `and` is
//! a check of its own (a conjunction holds only if each part does).
//!
//! The `feed['title']` form is what the `encoding/` and `entities/` folders
//! test (charset detection, entity decoding): vigie does not alert on feed
//! titles, but they go through the same decoding and repair as article
//! titles, so they measure that path.
//!
//! What still fails on 2026-11-29 (the figures are below, at
//! [`FLOOR_PERCENT`]), after fixing what this test first found (a panic on
//! UTF-16 without a BOM, `<rss>` without a known version, C1 controls, a
//! `<guid>` permalink as the link):
//! - Atom 0.3 (`xmlns="http://purl.org/atom/ns#"`, most of `atom/` and of
//!   the `encoding/x80_*` files): feed-rs reads no title and no entry.
//! - `<rss>` documents without a `<channel>`: feed-rs finds no feed root.
//! - Legacy code pages outside the WHATWG Encoding Standard (DOS `437`,
//!   `850`…, EBCDIC `cp037`…, VISCII, TCVN) and Python-only label spellings
//!   (`macroman`, `windows_1251`): read as windows-1252 or rejected.
//! - Atom text constructs with a MIME `type` (base64, `type=""`): feed-rs
//!   rejects the whole document; base64 content is kept encoded.
//! - Elements feed-rs does not map in RSS 2.0 (`dc:title`, `dc:description`,
//!   `dcterms:issued`/`modified`, channel `dc:language`), RSS 1.0 items
//!   without `<link>`.
//! - feedparser's own conventions: `author` as `name (email)`, relative Atom
//!   ids resolved as URLs, HTML 4 meanings of `&lang;`/`&rang;`, undoing
//!   double-encoded UTF-8.
//!
//! The test prints figures per form and per folder, parse errors by cause,
//! the unmapped Expect shapes and the first failures (`cargo test --test
//! corpus_feedparser -- --nocapture` to see them; `VIGIE_CORPUS_ALL_FAILURES=1`
//! lists every failure). It fails on a panic, on a walked folder with no
//! applicable file (a corpus that moved must not pass silently), or when the
//! pass rate drops below [`FLOOR_PERCENT`] overall or
//! [`ENTRY_FLOOR_PERCENT`] on the `entries[N]` forms.
//!
//! The corpus is found at `$VIGIE_CORPORA` or `<crate>/../shared/corpora`;
//! without it (a fresh clone) the test prints a notice and passes.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use url::Url;
use vigie::config::{Source, SourceKind};
use vigie::model::Article;
use vigie::normalize::{canonical_url, one_line};
use vigie::parse::text::html_to_text;
use vigie::parse::{Document, ParseError};

/// Measured on 2026-11-29: 351 of 572 applicable checks passed, 61.36 %
/// (feed titles are 415 of them; see the module doc for what fails and why).
/// The floor leaves 2 points for harmless drift; raise it when vigie improves.
const FLOOR_PERCENT: f64 = 59.36;

/// The same rule for the `entries[N]` forms alone, measured on 2026-11-29:
/// 79 of 146 passed, 54.11 %. Feed titles are most of the applicable checks
/// (`encoding/`, `entities/`), so an article-field regression could hide
/// under the overall floor; this one catches it.
const ENTRY_FLOOR_PERCENT: f64 = 52.11;

/// The folders about feed content an `Article` can express. Not walked:
/// - `wellformed/sanitize` (745), `wellformed/amp` (70): which markup survives
///   HTML sanitizing and how `&` is escaped inside it; we keep text only.
/// - `wellformed/itunes`, `media-rss`, `geo`, `psc`, `cdf`, `feedburner`:
///   extension and format-specific metadata we do not model.
/// - `wellformed/namespace`, `node_precedence`, `xml`, `sgml`: namespace
///   and precedence corner cases whose Expect forms (SVG/MathML markup,
///   chained comparisons, `or`) do not map.
/// - `wellformed/http`, `http/`, `compression/`: HTTP behaviour (ETag,
///   redirects, gzip) that belongs to the fetcher, not the parser.
/// - `illformed/`: feedparser's `bozo` recovery, mostly checked as `bozo`.
const FOLDERS: &[&str] = &[
    "wellformed/rss",
    "wellformed/atom",
    "wellformed/atom10",
    "wellformed/rdf",
    "wellformed/lang",
    "wellformed/base",
    "encoding",
    "entities",
];

/// The document URL when the Expect does not imply one.
const DEFAULT_URL: &str = "http://example.com/feed.xml";
/// feedparser's harness serves `tests/<folder>/<file>` from this origin;
/// Expects that resolve against the document URI name it.
const HARNESS_ORIGIN: &str = "http://127.0.0.1:8097";

/// How many failures the report prints.
const SHOWN_FAILURES: usize = 25;

#[test]
fn feedparser_corpus() {
    let Some(root) = corpus_root() else {
        println!("skipped: corpora not found (set VIGIE_CORPORA)");
        return;
    };
    let now = Utc::now();
    let mut report = Report::default();
    for folder in FOLDERS {
        let dir = root.join(folder);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        report.folders.entry(folder).or_default();
        for path in files {
            run_file(&path, folder, now, &mut report);
        }
    }
    report.print();

    // Every problem at once, so a panic does not hide a drop in the rate.
    let mut problems = Vec::new();
    if !report.panics.is_empty() {
        problems.push(format!(
            "the parser panicked on {} file(s): {:?}",
            report.panics.len(),
            report.panics
        ));
    }
    for (folder, stats) in &report.folders {
        if stats.applicable_files == 0 {
            problems.push(format!(
                "{folder}: no file with an applicable check ({} files): has the corpus moved?",
                stats.files
            ));
        }
    }
    for (what, only_entries, floor) in [
        ("overall", false, FLOOR_PERCENT),
        ("entry-level", true, ENTRY_FLOOR_PERCENT),
    ] {
        let (applicable, passed) = report.totals(only_entries);
        let rate = percent(passed, applicable);
        if applicable == 0 || rate < floor {
            problems.push(format!(
                "{what} pass rate {rate:.2} % ({passed}/{applicable}) is below the floor of {floor} %"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn corpus_root() -> Option<PathBuf> {
    let root = match std::env::var_os("VIGIE_CORPORA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"),
    };
    let root = root.join("feedparser");
    root.is_dir().then_some(root)
}

// ---------------------------------------------------------------------------
// One file: header, parse, checks
// ---------------------------------------------------------------------------

fn run_file(path: &Path, folder: &'static str, now: DateTime<Utc>, report: &mut Report) {
    let name = format!(
        "{folder}/{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let header = Header::read(&bytes);
    let stats = report.folders.entry(folder).or_default();
    stats.files += 1;

    let Some(expect) = header.expect.as_deref() else {
        report.not_applicable.add("(no Expect line)", &name);
        return;
    };
    let mut checks = Vec::new();
    match py::parse(expect) {
        Ok(expr) => {
            for conjunct in expr.conjuncts() {
                match Check::from_expr(conjunct) {
                    Ok(check) => checks.push(check),
                    Err(shape) => report.not_applicable.add(&shape, &name),
                }
            }
        }
        Err(e) => report
            .not_applicable
            .add(&format!("(unparsed Expect: {e})"), &name),
    }

    let base = header.base_url(expect, &name);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        vigie::parse::feed::parse(&bytes, header.content_type.as_deref(), &base, None).map(|doc| {
            let articles = vigie::normalize::articles(&doc, &source(&base), now);
            (doc, articles)
        })
    }));
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(_) => {
            report.panics.push(name);
            return;
        }
    };
    match &outcome {
        Ok(_) => stats.parsed += 1,
        Err(e) => {
            stats.parse_errors += 1;
            // Positions vary from file to file; the message before them is
            // the cause.
            let message = describe(e);
            let cause = message.split(" at position").next().unwrap_or(&message);
            report.parse_errors.add(cause, &name);
        }
    }
    if !checks.is_empty() {
        stats.applicable_files += 1;
    }
    for check in checks {
        let result = match &outcome {
            Ok((doc, articles)) => check.evaluate(doc, articles),
            Err(e) => Err(format!("parse error: {}", describe(e))),
        };
        let form = report.forms.entry(check.form).or_default();
        form.applicable += 1;
        match result {
            Ok(()) => form.passed += 1,
            Err(got) => report.failures.push(Failure {
                file: name.clone(),
                form: check.form.name(),
                expected: check.expected.to_string(),
                got,
            }),
        }
    }
}

fn describe(e: &ParseError) -> String {
    format!("{} ({e})", e.kind())
}

fn source(url: &Url) -> Source {
    Source {
        name: "corpus".into(),
        url: url.clone(),
        kind: SourceKind::Auto,
        interval: Duration::from_secs(3600),
        tags: Vec::new(),
        language: None,
        timezone: None,
        html: Default::default(),
    }
}

/// What a corpus file's opening comment says about it.
#[derive(Debug, Default)]
struct Header {
    expect: Option<String>,
    content_type: Option<String>,
    content_location: Option<String>,
}

impl Header {
    /// The comment is in the file's own encoding: most are ASCII-compatible,
    /// a few are UTF-16/32 (with or without BOM) or EBCDIC.
    fn read(bytes: &[u8]) -> Header {
        let head = &bytes[..bytes.len().min(4096)];
        let text = decodings(head)
            .into_iter()
            .find(|t| t.contains("Expect:"))
            .unwrap_or_default();
        let mut header = Header::default();
        for line in text.lines() {
            let line = line.trim();
            if let Some(expect) = line.strip_prefix("Expect:") {
                header.expect = Some(expect.trim().to_string());
            } else if let Some(field) = line.strip_prefix("Header:") {
                let Some((name, value)) = field.split_once(':') else {
                    continue;
                };
                let value = Some(value.trim().to_string());
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-type" => header.content_type = value,
                    "content-location" => header.content_location = value,
                    _ => {}
                }
            }
        }
        header
    }

    /// The document's URL as feedparser's harness served it: the harness
    /// origin when the Expect resolves against it, then `Content-Location`
    /// resolved against that, as a browser would.
    fn base_url(&self, expect: &str, name: &str) -> Url {
        let document = if expect.contains(HARNESS_ORIGIN) {
            Url::parse(&format!("{HARNESS_ORIGIN}/tests/{name}"))
        } else {
            Url::parse(DEFAULT_URL)
        }
        .expect("document URL");
        match &self.content_location {
            Some(location) => document.join(location).unwrap_or(document),
            None => document,
        }
    }
}

/// The head of a file read as each encoding a corpus comment may be in.
fn decodings(head: &[u8]) -> Vec<String> {
    let wide = |width: usize, big_endian: bool| -> String {
        head.chunks_exact(width)
            .filter_map(|c| {
                let unit = if big_endian {
                    c.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b))
                } else {
                    c.iter().rev().fold(0u32, |acc, b| acc << 8 | u32::from(*b))
                };
                char::from_u32(unit)
            })
            .collect()
    };
    vec![
        String::from_utf8_lossy(head).into_owned(),
        wide(2, true),
        wide(2, false),
        wide(4, true),
        wide(4, false),
        head.iter().map(|b| ebcdic_037(*b)).collect(),
    ]
}

/// Printable ASCII in EBCDIC code page 037, enough to read the comment of
/// the `encoding/x80_*` files (the feed itself is vigie's business).
fn ebcdic_037(byte: u8) -> char {
    const ASCII: &str = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ\
                         [\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\n";
    const CP037: [u8; 96] = [
        0x40, 0x5A, 0x7F, 0x7B, 0x5B, 0x6C, 0x50, 0x7D, 0x4D, 0x5D, 0x5C, 0x4E, 0x6B, 0x60, 0x4B,
        0x61, 0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0x7A, 0x5E, 0x4C, 0x7E,
        0x6E, 0x6F, 0x7C, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xD1, 0xD2, 0xD3,
        0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xBA,
        0xE0, 0xBB, 0xB0, 0x6D, 0x79, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x91,
        0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8,
        0xA9, 0xC0, 0x4F, 0xD0, 0xA1, 0x25,
    ];
    match CP037.iter().position(|b| *b == byte) {
        Some(i) => ASCII.as_bytes()[i] as char,
        None if byte == 0x15 => '\n',
        None => '\u{fffd}',
    }
}

// ---------------------------------------------------------------------------
// Checks: an Expect conjunct translated to our model
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    EntryTitle,
    EntryLink,
    EntryId,
    EntryAuthor,
    EntrySummary,
    EntryBody,
    EntryPublished,
    EntryUpdated,
    EntryLanguage,
    FeedTitle,
    FeedLanguage,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::EntryTitle => "entry title",
            Form::EntryLink => "entry link",
            Form::EntryId => "entry id",
            Form::EntryAuthor => "entry author",
            Form::EntrySummary => "entry summary",
            Form::EntryBody => "entry content",
            Form::EntryPublished => "entry published",
            Form::EntryUpdated => "entry updated",
            Form::EntryLanguage => "entry language",
            Form::FeedTitle => "feed title",
            Form::FeedLanguage => "feed language",
        }
    }

    fn is_text(self) -> bool {
        matches!(
            self,
            Form::EntryTitle
                | Form::EntryAuthor
                | Form::EntrySummary
                | Form::EntryBody
                | Form::FeedTitle
        )
    }

    fn is_entry(self) -> bool {
        !matches!(self, Form::FeedTitle | Form::FeedLanguage)
    }

    fn is_date(self) -> bool {
        matches!(self, Form::EntryPublished | Form::EntryUpdated)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Text(String),
    /// `None`, or `not X.has_key(…)`.
    Absent,
    /// `(year, month, day, hour, minute, second)` of a `time.struct_time`.
    Time([i64; 6]),
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Text(s) => write!(f, "{s:?}"),
            Expected::Absent => f.write_str("(absent)"),
            Expected::Time(t) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t[0], t[1], t[2], t[3], t[4], t[5]
            ),
        }
    }
}

#[derive(Debug)]
struct Check {
    form: Form,
    /// The entry index; 0 for feed-level forms.
    entry: usize,
    /// For authors: which one.
    position: usize,
    expected: Expected,
}

impl Check {
    /// The check an Expect conjunct makes, or the shape of the conjunct
    /// (`entries[N]['tags'][N]['term'] == …`) when it does not map.
    fn from_expr(expr: &py::Expr) -> Result<Check, String> {
        use py::Expr;
        match expr {
            Expr::Compare(left, ops) if ops.len() == 1 && ops[0].0 == "==" => {
                let right = &ops[0].1;
                let (path, literal) = if right.is_literal() {
                    (&**left, right)
                } else {
                    (right, &**left)
                };
                // `ord(X) == 8230`: X is that one character.
                if let (Expr::Call(f, args), Expr::Int(code)) = (path, literal)
                    && matches!(&**f, Expr::Name(n) if n == "ord")
                    && args.len() == 1
                {
                    let c = u32::try_from(*code)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| expr.shape())?;
                    let mut check = Check::at(&args[0]).ok_or_else(|| expr.shape())?;
                    check.expected = Expected::Text(c.to_string());
                    return check.finish(expr);
                }
                let mut check = Check::at(path).ok_or_else(|| expr.shape())?;
                check.expected = match literal {
                    Expr::Str(s) => Expected::Text(s.clone()),
                    Expr::Name(n) if n == "None" => Expected::Absent,
                    Expr::Tuple(items) if check.form.is_date() && items.len() >= 6 => {
                        let mut t = [0i64; 6];
                        for (slot, item) in t.iter_mut().zip(items) {
                            let Expr::Int(v) = item else {
                                return Err(expr.shape());
                            };
                            *slot = *v;
                        }
                        Expected::Time(t)
                    }
                    _ => return Err(expr.shape()),
                };
                check.finish(expr)
            }
            // `not feed.has_key('language')`
            Expr::Not(inner) => match &**inner {
                Expr::Call(method, args) => match (&**method, args.as_slice()) {
                    (Expr::Attr(object, name), [Expr::Str(key)]) if name == "has_key" => {
                        let path = Expr::Index(object.clone(), Box::new(Expr::Str(key.clone())));
                        let mut check = Check::at(&path).ok_or_else(|| expr.shape())?;
                        check.expected = Expected::Absent;
                        check.finish(expr)
                    }
                    _ => Err(expr.shape()),
                },
                _ => Err(expr.shape()),
            },
            Expr::Int(_) => Err("(always true: `1`)".into()),
            _ => Err(expr.shape()),
        }
    }

    /// The form a feedparser path maps onto, with a placeholder expectation.
    fn at(path: &py::Expr) -> Option<Check> {
        let (root, keys) = path.path()?;
        let names: Vec<&str> = keys
            .iter()
            .map(|k| match k {
                py::Key::Name(s) => s.as_str(),
                py::Key::Index(_) => "#",
            })
            .collect();
        let index = |i: usize| match keys.get(i) {
            Some(py::Key::Index(n)) => usize::try_from(*n).ok(),
            _ => None,
        };
        let (form, entry, position) = match (root, names.as_slice()) {
            ("entries", ["#", rest @ ..]) => {
                let entry = index(0)?;
                let form = match rest {
                    ["title"] | ["title_detail", "value"] => Form::EntryTitle,
                    ["link"] => Form::EntryLink,
                    ["id"] | ["guid"] => Form::EntryId,
                    ["author"] | ["author_detail", "name"] => Form::EntryAuthor,
                    ["authors", "#", "name"] => {
                        return Some(Check::new(Form::EntryAuthor, entry, index(2)?));
                    }
                    ["summary"] | ["description"] | ["summary_detail", "value"] => {
                        Form::EntrySummary
                    }
                    ["content", "#", "value"] if index(2) == Some(0) => Form::EntryBody,
                    ["published_parsed"] | ["issued_parsed"] => Form::EntryPublished,
                    ["updated_parsed"] | ["modified_parsed"] => Form::EntryUpdated,
                    ["language"] => Form::EntryLanguage,
                    _ => return None,
                };
                (form, entry, 0)
            }
            ("feed", ["title"] | ["title_detail", "value"]) => (Form::FeedTitle, 0, 0),
            ("feed", ["language"]) => (Form::FeedLanguage, 0, 0),
            _ => return None,
        };
        Some(Check::new(form, entry, position))
    }

    fn new(form: Form, entry: usize, position: usize) -> Check {
        Check {
            form,
            entry,
            position,
            expected: Expected::Absent,
        }
    }

    /// Rejects the expectations that our reduction would make meaningless.
    fn finish(self, expr: &py::Expr) -> Result<Check, String> {
        if let Expected::Text(text) = &self.expected
            && self.form.is_text()
            && has_tag_attributes(text)
        {
            return Err(format!("{} (markup with attributes)", expr.shape()));
        }
        Ok(self)
    }

    /// `Ok` when vigie's output meets the expectation, else what it gave.
    fn evaluate(&self, doc: &Document, articles: &[Article]) -> Result<(), String> {
        let article = || {
            articles
                .get(self.entry)
                .ok_or_else(|| format!("no entry {} ({} entries)", self.entry, articles.len()))
        };
        match self.form {
            Form::EntryTitle => compare_text(&self.expected, Some(article()?.title.clone())),
            Form::EntrySummary => compare_text(&self.expected, Some(article()?.summary.clone())),
            Form::EntryBody => compare_text(&self.expected, article()?.body.clone()),
            Form::EntryAuthor => {
                let authors = &article()?.authors;
                let expected = match &self.expected {
                    Expected::Text(t) => Expected::Text(one_line(&html_to_text(t))),
                    other => other.clone(),
                };
                compare(&expected, authors.get(self.position).cloned())
                    .map_err(|got| format!("{got} (all: {authors:?})"))
            }
            Form::EntryLink => {
                let expected = match &self.expected {
                    Expected::Text(t) => canonical_url(t).map_or(Expected::Absent, Expected::Text),
                    other => other.clone(),
                };
                compare(&expected, article()?.url.clone())
            }
            Form::EntryId => {
                let key = &article()?.key;
                let ours = key.strip_prefix("id:").map(str::to_string);
                compare(&self.expected, ours).map_err(|_| format!("key {key:?}"))
            }
            Form::EntryPublished => compare_time(&self.expected, article()?.published),
            Form::EntryUpdated => compare_time(&self.expected, article()?.updated),
            Form::EntryLanguage => compare_language(&self.expected, article()?.language.clone()),
            Form::FeedTitle => compare_text(&self.expected, doc.title.as_deref().map(html_to_text)),
            Form::FeedLanguage => compare_language(&self.expected, doc.language.clone()),
        }
    }
}

/// `ours` is already text as vigie keeps it (HTML reduced, whitespace
/// collapsed); the expected value goes through the same reduction.
fn compare_text(expected: &Expected, ours: Option<String>) -> Result<(), String> {
    let expected = match expected {
        Expected::Text(t) => Expected::Text(html_to_text(t)),
        other => other.clone(),
    };
    compare(&expected, ours)
}

/// Language tags are case-insensitive; `Article` keeps them lower-cased.
fn compare_language(expected: &Expected, ours: Option<String>) -> Result<(), String> {
    let lower = |s: &str| s.trim().to_lowercase();
    let expected = match expected {
        Expected::Text(t) => Expected::Text(lower(t)),
        other => other.clone(),
    };
    compare(&expected, ours.map(|l| lower(&l)).filter(|l| !l.is_empty()))
}

fn compare(expected: &Expected, ours: Option<String>) -> Result<(), String> {
    let ours = ours.filter(|s| !s.is_empty());
    let ok = match expected {
        Expected::Text(t) if t.is_empty() => ours.is_none(),
        Expected::Text(t) => ours.as_deref() == Some(t.as_str()),
        Expected::Absent => ours.is_none(),
        Expected::Time(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ours.map_or_else(|| "(absent)".to_string(), |s| format!("{s:?}")))
    }
}

fn compare_time(expected: &Expected, ours: Option<DateTime<Utc>>) -> Result<(), String> {
    let ours_fields = ours.map(|d| {
        [
            i64::from(d.year()),
            i64::from(d.month()),
            i64::from(d.day()),
            i64::from(d.hour()),
            i64::from(d.minute()),
            i64::from(d.second()),
        ]
    });
    let ok = match expected {
        Expected::Time(t) => ours_fields == Some(*t),
        Expected::Absent => ours.is_none(),
        Expected::Text(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ours.map_or_else(|| "(absent)".to_string(), |d| d.to_rfc3339()))
    }
}

/// `<a href="…">`: a start tag with an attribute, which text drops.
fn has_tag_attributes(text: &str) -> bool {
    text.match_indices('<').any(|(at, _)| {
        let tag = &text[at + 1..];
        tag.starts_with(|c: char| c.is_ascii_alphabetic())
            && tag.find('>').is_some_and(|end| tag[..end].contains('='))
    })
}

// ---------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Report {
    folders: BTreeMap<&'static str, FolderStats>,
    forms: BTreeMap<Form, FormStats>,
    failures: Vec<Failure>,
    not_applicable: Tally,
    parse_errors: Tally,
    panics: Vec<String>,
}

#[derive(Debug, Default)]
struct FolderStats {
    files: usize,
    parsed: usize,
    parse_errors: usize,
    applicable_files: usize,
}

#[derive(Debug, Default)]
struct FormStats {
    applicable: usize,
    passed: usize,
}

#[derive(Debug)]
struct Failure {
    file: String,
    form: &'static str,
    expected: String,
    got: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  {} [{}]\n      expected {}\n      got      {}",
            self.file, self.form, self.expected, self.got
        )
    }
}

/// Occurrences by kind (a conjunct's shape, a parse error's cause), with
/// the first two files of each.
#[derive(Debug, Default)]
struct Tally(BTreeMap<String, (usize, Vec<String>)>);

impl Tally {
    fn add(&mut self, kind: &str, file: &str) {
        let slot = self.0.entry(kind.to_string()).or_default();
        slot.0 += 1;
        if slot.1.len() < 2 {
            slot.1.push(file.to_string());
        }
    }

    fn total(&self) -> usize {
        self.0.values().map(|(n, _)| n).sum()
    }

    /// The commonest kinds first.
    fn print(&self, limit: usize) {
        let mut kinds: Vec<_> = self.0.iter().collect();
        kinds.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
        for (kind, (n, examples)) in kinds.into_iter().take(limit) {
            println!("  {n:>5}  {kind}\n         e.g. {}", examples.join(", "));
        }
    }
}

impl Report {
    /// Applicable and passed checks, of every form or of entry forms only.
    fn totals(&self, only_entries: bool) -> (usize, usize) {
        self.forms
            .iter()
            .filter(|(form, _)| !only_entries || form.is_entry())
            .fold((0, 0), |(a, p), (_, f)| (a + f.applicable, p + f.passed))
    }

    fn print(&self) {
        println!("feedparser corpus, per folder (files):");
        println!(
            "  {:<20} {:>6} {:>7} {:>7} {:>11}",
            "folder", "files", "parsed", "errors", "applicable"
        );
        for (folder, s) in &self.folders {
            println!(
                "  {folder:<20} {:>6} {:>7} {:>7} {:>11}",
                s.files, s.parsed, s.parse_errors, s.applicable_files
            );
        }
        println!("per form (checks):");
        println!(
            "  {:<20} {:>10} {:>7} {:>7} {:>8}",
            "form", "applicable", "passed", "failed", "rate"
        );
        let line = |name: &str, (applicable, passed): (usize, usize)| {
            println!(
                "  {name:<20} {applicable:>10} {passed:>7} {:>7} {:>7.2}%",
                applicable - passed,
                percent(passed, applicable)
            );
        };
        for (form, s) in &self.forms {
            line(form.name(), (s.applicable, s.passed));
        }
        line("entry forms", self.totals(true));
        line("TOTAL", self.totals(false));

        println!(
            "parse errors: {} files, by cause:",
            self.parse_errors.total()
        );
        self.parse_errors.print(10);
        println!(
            "not applicable: {} conjuncts, the commonest shapes:",
            self.not_applicable.total()
        );
        self.not_applicable.print(20);

        println!(
            "failures: {} (the first {SHOWN_FAILURES}; all with VIGIE_CORPUS_ALL_FAILURES=1)",
            self.failures.len()
        );
        let shown = if std::env::var_os("VIGIE_CORPUS_ALL_FAILURES").is_some() {
            self.failures.len()
        } else {
            SHOWN_FAILURES
        };
        for failure in self.failures.iter().take(shown) {
            println!("{failure}");
        }
        if !self.panics.is_empty() {
            println!("PANICS: {:?}", self.panics);
        }
    }
}

// ---------------------------------------------------------------------------
// A reader for the Python expressions of the Expect lines
// ---------------------------------------------------------------------------

/// Just enough Python: literals (`u''`, `''`, `""` with `\x`, `\u`, `\U`
/// escapes, ints, tuples, lists, dicts, `None`), subscripts, attributes,
/// calls, comparisons, `not`, `and`, `or`.
mod py {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Expr {
        Name(String),
        Str(String),
        Int(i64),
        Tuple(Vec<Expr>),
        List(Vec<Expr>),
        Dict(Vec<(Expr, Expr)>),
        Index(Box<Expr>, Box<Expr>),
        Attr(Box<Expr>, String),
        Call(Box<Expr>, Vec<Expr>),
        Not(Box<Expr>),
        And(Vec<Expr>),
        Or(Vec<Expr>),
        /// `a == b`, or a chain `a == b == c`.
        Compare(Box<Expr>, Vec<(String, Expr)>),
    }

    /// One step of a path: `['key']`, `.key` or `[0]`.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Key {
        Name(String),
        Index(i64),
    }

    impl Expr {
        /// The top-level conjuncts; an `or` anywhere stays one conjunct.
        pub fn conjuncts(&self) -> Vec<&Expr> {
            match self {
                Expr::And(parts) => parts.iter().flat_map(Expr::conjuncts).collect(),
                other => vec![other],
            }
        }

        pub fn is_literal(&self) -> bool {
            match self {
                Expr::Str(_) | Expr::Int(_) => true,
                Expr::Name(n) => matches!(n.as_str(), "None" | "True" | "False"),
                Expr::Tuple(items) | Expr::List(items) => items.iter().all(Expr::is_literal),
                Expr::Dict(pairs) => pairs.iter().all(|(k, v)| k.is_literal() && v.is_literal()),
                _ => false,
            }
        }

        /// `entries[0]['title']` → `("entries", [Index(0), Name("title")])`.
        pub fn path(&self) -> Option<(&str, Vec<Key>)> {
            match self {
                Expr::Name(n) => Some((n.as_str(), Vec::new())),
                Expr::Index(object, key) => {
                    let (root, mut keys) = object.path()?;
                    keys.push(match &**key {
                        Expr::Str(s) => Key::Name(s.clone()),
                        Expr::Int(i) => Key::Index(*i),
                        _ => return None,
                    });
                    Some((root, keys))
                }
                Expr::Attr(object, name) => {
                    let (root, mut keys) = object.path()?;
                    keys.push(Key::Name(name.clone()));
                    Some((root, keys))
                }
                _ => None,
            }
        }

        /// The expression with its literals and indices blanked, to group
        /// the conjuncts that do not map: `entries[N]['tags'][N]['term'] == …`.
        pub fn shape(&self) -> String {
            match self {
                Expr::Name(n) => n.clone(),
                Expr::Str(_) | Expr::Int(_) | Expr::Tuple(_) | Expr::List(_) | Expr::Dict(_) => {
                    "…".into()
                }
                Expr::Index(object, key) => match &**key {
                    Expr::Int(_) => format!("{}[N]", object.shape()),
                    Expr::Str(s) => format!("{}['{s}']", object.shape()),
                    other => format!("{}[{}]", object.shape(), other.shape()),
                },
                Expr::Attr(object, name) => format!("{}.{name}", object.shape()),
                Expr::Call(f, args) => {
                    let args: Vec<String> = args
                        .iter()
                        .map(|a| match a {
                            Expr::Str(s) => format!("'{s}'"),
                            other => other.shape(),
                        })
                        .collect();
                    format!("{}({})", f.shape(), args.join(", "))
                }
                Expr::Not(inner) => format!("not {}", inner.shape()),
                Expr::And(parts) => join(parts, " and "),
                Expr::Or(parts) => format!("({})", join(parts, " or ")),
                Expr::Compare(first, rest) => {
                    let mut s = first.shape();
                    for (op, e) in rest {
                        s.push_str(&format!(" {op} {}", e.shape()));
                    }
                    s
                }
            }
        }
    }

    fn join(parts: &[Expr], sep: &str) -> String {
        parts.iter().map(Expr::shape).collect::<Vec<_>>().join(sep)
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Name(String),
        Str(String),
        Int(i64),
        Op(&'static str),
    }

    pub fn parse(text: &str) -> Result<Expr, String> {
        let tokens = lex(text)?;
        let mut parser = Parser { tokens, at: 0 };
        let expr = parser.or()?;
        match parser.tokens.get(parser.at) {
            None => Ok(expr),
            Some(t) => Err(format!("unexpected {t:?}")),
        }
    }

    const OPS: &[&str] = &[
        "==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", "{", "}", ",", ":", ".", "-",
    ];

    fn lex(text: &str) -> Result<Vec<Tok>, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
            } else if c.is_ascii_alphabetic() || c == '_' {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let prefix = word.to_ascii_lowercase();
                if i < chars.len()
                    && matches!(chars[i], '\'' | '"')
                    && matches!(prefix.as_str(), "u" | "r" | "b" | "ur" | "br" | "rb")
                {
                    let (s, next) = string(&chars, i, prefix.contains('r'))?;
                    tokens.push(Tok::Str(s));
                    i = next;
                } else {
                    tokens.push(Tok::Name(word));
                }
            } else if c.is_ascii_digit() {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                if i < chars.len() && (chars[i] == '.' || chars[i].is_ascii_alphabetic()) {
                    return Err("non-integer number".into());
                }
                let digits: String = chars[start..i].iter().collect();
                tokens.push(Tok::Int(digits.parse().map_err(|e| format!("{e}"))?));
            } else if matches!(c, '\'' | '"') {
                let (s, next) = string(&chars, i, false)?;
                tokens.push(Tok::Str(s));
                i = next;
            } else {
                let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let op = OPS
                    .iter()
                    .find(|op| rest.starts_with(**op))
                    .ok_or_else(|| format!("unexpected character {c:?}"))?;
                tokens.push(Tok::Op(op));
                i += op.len();
            }
        }
        Ok(tokens)
    }

    /// A string literal opening at `chars[start]`: its value and the index
    /// after it.
    fn string(chars: &[char], start: usize, raw: bool) -> Result<(String, usize), String> {
        let quote = chars[start];
        let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
        let (mut i, closing) = if triple {
            (start + 3, 3)
        } else {
            (start + 1, 1)
        };
        let mut out = String::new();
        loop {
            let Some(&c) = chars.get(i) else {
                return Err("unterminated string".into());
            };
            if c == quote && (closing == 1 || chars[i..].iter().take(3).all(|d| *d == quote)) {
                return Ok((out, i + closing));
            }
            if c != '\\' {
                out.push(c);
                i += 1;
                continue;
            }
            let Some(&e) = chars.get(i + 1) else {
                return Err("unterminated escape".into());
            };
            if raw {
                out.push('\\');
                out.push(e);
                i += 2;
                continue;
            }
            let hex = |from: usize, len: usize| -> Result<char, String> {
                let digits: String = chars.get(from..from + len).unwrap_or(&[]).iter().collect();
                u32::from_str_radix(&digits, 16)
                    .ok()
                    .filter(|_| digits.len() == len)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("bad escape \\{e}{digits}"))
            };
            let (decoded, used) = match e {
                'x' => (hex(i + 2, 2)?, 4),
                'u' => (hex(i + 2, 4)?, 6),
                'U' => (hex(i + 2, 8)?, 10),
                'n' => ('\n', 2),
                't' => ('\t', 2),
                'r' => ('\r', 2),
                '0' => ('\0', 2),
                '\\' | '\'' | '"' => (e, 2),
                _ => {
                    // Python keeps unknown escapes as written.
                    out.push('\\');
                    (e, 2)
                }
            };
            out.push(decoded);
            i += used;
        }
    }

    struct Parser {
        tokens: Vec<Tok>,
        at: usize,
    }

    impl Parser {
        fn peek(&self) -> Option<&Tok> {
            self.tokens.get(self.at)
        }

        fn peek_is(&self, tok: &Tok) -> bool {
            self.peek() == Some(tok)
        }

        fn eat(&mut self, tok: &Tok) -> bool {
            let hit = self.peek_is(tok);
            if hit {
                self.at += 1;
            }
            hit
        }

        fn expect(&mut self, op: &'static str) -> Result<(), String> {
            if self.eat(&Tok::Op(op)) {
                Ok(())
            } else {
                Err(format!("expected {op:?}, found {:?}", self.peek()))
            }
        }

        fn keyword(&self, word: &str) -> bool {
            matches!(self.peek(), Some(Tok::Name(w)) if w == word)
        }

        fn or(&mut self) -> Result<Expr, String> {
            let mut parts = vec![self.and()?];
            while self.keyword("or") {
                self.at += 1;
                parts.push(self.and()?);
            }
            Ok(if parts.len() == 1 {
                parts.remove(0)
            } else {
                Expr::Or(parts)
            })
        }

        fn and(&mut self) -> Result<Expr, String> {
            let mut parts = vec![self.not()?];
            while self.keyword("and") {
                self.at += 1;
                parts.push(self.not()?);
            }
            Ok(if parts.len() == 1 {
                parts.remove(0)
            } else {
                Expr::And(parts)
            })
        }

        fn not(&mut self) -> Result<Expr, String> {
            if self.keyword("not") {
                self.at += 1;
                return Ok(Expr::Not(Box::new(self.not()?)));
            }
            self.comparison()
        }

        fn comparison(&mut self) -> Result<Expr, String> {
            let first = self.postfix()?;
            let mut rest = Vec::new();
            loop {
                let op = match self.peek() {
                    Some(Tok::Op(op @ ("==" | "!=" | "<" | ">" | "<=" | ">="))) => op.to_string(),
                    Some(Tok::Name(w)) if w == "in" => "in".to_string(),
                    Some(Tok::Name(w)) if w == "is" => {
                        if matches!(self.tokens.get(self.at + 1), Some(Tok::Name(n)) if n == "not")
                        {
                            self.at += 1;
                            "is not".to_string()
                        } else {
                            "is".to_string()
                        }
                    }
                    Some(Tok::Name(w))
                        if w == "not"
                            && matches!(self.tokens.get(self.at + 1), Some(Tok::Name(n)) if n == "in") =>
                    {
                        self.at += 1;
                        "not in".to_string()
                    }
                    _ => break,
                };
                self.at += 1;
                rest.push((op, self.postfix()?));
            }
            Ok(if rest.is_empty() {
                first
            } else {
                Expr::Compare(Box::new(first), rest)
            })
        }

        fn postfix(&mut self) -> Result<Expr, String> {
            let mut expr = self.primary()?;
            loop {
                if self.eat(&Tok::Op("[")) {
                    let key = self.or()?;
                    self.expect("]")?;
                    expr = Expr::Index(Box::new(expr), Box::new(key));
                } else if self.eat(&Tok::Op(".")) {
                    let Some(Tok::Name(name)) = self.peek().cloned() else {
                        return Err("expected an attribute name".into());
                    };
                    self.at += 1;
                    expr = Expr::Attr(Box::new(expr), name);
                } else if self.eat(&Tok::Op("(")) {
                    let args = self.items(")")?;
                    expr = Expr::Call(Box::new(expr), args);
                } else {
                    return Ok(expr);
                }
            }
        }

        /// Comma-separated expressions up to `close`, which is consumed.
        fn items(&mut self, close: &'static str) -> Result<Vec<Expr>, String> {
            let mut items = Vec::new();
            while !self.eat(&Tok::Op(close)) {
                items.push(self.or()?);
                if !self.eat(&Tok::Op(",")) {
                    self.expect(close)?;
                    break;
                }
            }
            Ok(items)
        }

        fn primary(&mut self) -> Result<Expr, String> {
            let tok = self.peek().cloned().ok_or("unexpected end")?;
            self.at += 1;
            match tok {
                Tok::Name(n) => Ok(Expr::Name(n)),
                Tok::Str(mut s) => {
                    // Adjacent literals concatenate.
                    while let Some(Tok::Str(more)) = self.peek() {
                        s.push_str(more);
                        self.at += 1;
                    }
                    Ok(Expr::Str(s))
                }
                Tok::Int(i) => Ok(Expr::Int(i)),
                Tok::Op("-") => match self.primary()? {
                    Expr::Int(i) => Ok(Expr::Int(-i)),
                    _ => Err("unary minus on a non-integer".into()),
                },
                Tok::Op("(") => {
                    if self.eat(&Tok::Op(")")) {
                        return Ok(Expr::Tuple(Vec::new()));
                    }
                    let first = self.or()?;
                    if self.eat(&Tok::Op(")")) {
                        return Ok(first);
                    }
                    self.expect(",")?;
                    let mut items = vec![first];
                    items.extend(self.items(")")?);
                    Ok(Expr::Tuple(items))
                }
                Tok::Op("[") => Ok(Expr::List(self.items("]")?)),
                Tok::Op("{") => {
                    let mut pairs = Vec::new();
                    while !self.eat(&Tok::Op("}")) {
                        let key = self.or()?;
                        self.expect(":")?;
                        pairs.push((key, self.or()?));
                        if !self.eat(&Tok::Op(",")) {
                            self.expect("}")?;
                            break;
                        }
                    }
                    Ok(Expr::Dict(pairs))
                }
                other => Err(format!("unexpected {other:?}")),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_expect_lines() {
            let e = parse(r"not bozo and entries[0]['title'] == u'caf\xe9 \u2019s'").unwrap();
            let parts = e.conjuncts();
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[0], &Expr::Not(Box::new(Expr::Name("bozo".into()))));
            let Expr::Compare(_, rest) = parts[1] else {
                panic!("{:?}", parts[1])
            };
            assert_eq!(rest[0].1, Expr::Str("café \u{2019}s".into()));
            assert_eq!(
                parse(r#"feed.link == "http://domain/?a=1&b=2""#)
                    .unwrap()
                    .shape(),
                "feed.link == …"
            );
            let t = parse("entries[0]['updated_parsed'] == (2003, 12, 31, 10, 14, 55, 2, 365, 0)")
                .unwrap();
            assert_eq!(t.shape(), "entries[N]['updated_parsed'] == …");
            assert!(parse("not feed.has_key('language')").is_ok());
            assert!(parse("a == {'x': 'y', 'z': 1}").is_ok());
        }
    }
}
