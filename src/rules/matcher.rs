//! The compiled matcher: rule specs in, for each article the rules that match with their hits and snippets out — or, for one rule, why it did not.
//!
//! Every term of every rule goes into one of a few [`Group`]s, one per set
//! of [`FoldOptions`]. A group holds a [`Vocabulary`] of the folded words
//! of all its word and phrase terms, from which each pattern is followed
//! from its first word (an automaton over words rather than bytes), the
//! keys of its prefixes (and of the regular expressions that must start
//! with one), and one `RegexSet` of its other regular expressions. An
//! article's fields are folded once per group and each word looked up once;
//! a rule is triggered only by the patterns of its rarest necessary
//! condition (`bamako`, not `le`, in `bamako AND le`), is turned away
//! unless its next rarest holds too ([`Target`], [`SecondTriggers`]), and
//! only then is its boolean structure evaluated, from a flat copy of its
//! tree ([`Op`]). The few rules that can hold with no term found (such as
//! `source:rfi`) are evaluated for every article. So the cost of an
//! article grows with its length and its hits, hardly with the number of
//! rules.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};

use super::fold::{FoldOptions, Folded, Stem, fold_words};
use super::query::{self, Expr, ExprKind, QueryError, TermKind};
use super::snippet::snippet;

/// One configured rule, already validated by the config module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSpec {
    /// The rule's name, as written in the config; names it in alerts and errors.
    pub name: String,
    /// A query in the language of DESIGN.md §4, which must hold.
    pub query: Option<String>,
    /// Words or phrases of which any must be present. With neither `query`
    /// nor keywords, the rule matches every article in scope that no
    /// exclude term rules out.
    pub keywords: Vec<String>,
    /// Words or phrases none of which may be present.
    pub exclude: Vec<String>,
    /// See [`FoldOptions::case_sensitive`]. Default false.
    pub case_sensitive: bool,
    /// See [`FoldOptions::accent_sensitive`]. Default false.
    pub accent_sensitive: bool,
    /// See [`FoldOptions::stem`]. Default none.
    pub stem: Option<Stem>,
    /// Names of the sources the rule applies to. Empty, with `tags` empty
    /// too, means every source.
    pub sources: Vec<String>,
    /// Tags of the sources the rule applies to; a source is in scope if its
    /// name is in `sources` or one of its tags is in `tags`.
    pub tags: Vec<String>,
}

impl RuleSpec {
    pub fn fold_options(&self) -> FoldOptions {
        FoldOptions {
            case_sensitive: self.case_sensitive,
            accent_sensitive: self.accent_sensitive,
            stem: self.stem,
        }
    }

    /// Whether the rule looks at articles of this source at all.
    pub fn applies_to(&self, source: &str, source_tags: &[String]) -> bool {
        (self.sources.is_empty() && self.tags.is_empty())
            || self.sources.iter().any(|s| s == source)
            || self.tags.iter().any(|t| source_tags.contains(t))
    }
}

/// Where a term is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Title,
    Summary,
    Body,
    Author,
    Url,
    /// The source's name.
    Source,
    /// A tag of the source, or a category the feed gives the article.
    Tag,
    /// The article's language (`fr` also matches `fr-FR`).
    Lang,
}

impl Field {
    /// In the order hits are reported.
    pub const ALL: [Field; 8] = [
        Field::Title,
        Field::Summary,
        Field::Body,
        Field::Author,
        Field::Url,
        Field::Source,
        Field::Tag,
        Field::Lang,
    ];
    /// The fields that are texts to scan, as opposed to values to compare.
    const TEXT: [Field; 5] = [
        Field::Title,
        Field::Summary,
        Field::Body,
        Field::Author,
        Field::Url,
    ];
    /// Names as queries write them, in [`Field::ALL`] order.
    pub const NAMES: [&'static str; 8] = [
        "title", "summary", "body", "author", "url", "source", "tag", "lang",
    ];

    pub fn as_str(self) -> &'static str {
        Field::NAMES[self as usize]
    }

    pub fn from_name(name: &str) -> Option<Field> {
        let i = Field::NAMES.iter().position(|n| *n == name)?;
        Some(Field::ALL[i])
    }

    /// The field name closest to a misspelt one: `titre` → `title`.
    pub fn nearest(name: &str) -> Option<&'static str> {
        crate::config::diag::nearest(&name.to_lowercase(), Field::NAMES)
    }

    /// `source`, `tag` and `lang` are compared whole, not scanned.
    pub fn is_meta(self) -> bool {
        matches!(self, Field::Source | Field::Tag | Field::Lang)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A term without a field looks in the title, the summary and the body.
const DEFAULT_FIELDS: u8 = 0b111;

/// What rules look at in an article, each text on its own: a phrase never
/// spans the end of the title and the start of the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Document<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    pub body: &'a str,
    pub authors: &'a [String],
    pub url: &'a str,
    /// The article's language, or the source's when the article has none.
    pub language: &'a str,
    /// Categories the feed gives the article (the source's tags are given
    /// beside the document).
    pub categories: &'a [String],
}

/// One term found in one field, with the text around it for the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// The term as written in the config (a keyword, or a query term
    /// without its field and quotes).
    pub term: String,
    pub field: Field,
    /// About 120 chars of the field around the first occurrence, whitespace
    /// collapsed, `…` where the field was cut.
    pub snippet: String,
    /// Byte range of the matched words inside `snippet`, for bolding.
    pub highlight: Range<usize>,
}

/// A rule that matched a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleMatch {
    /// Index of the rule in the specs given to [`Matcher::new`].
    pub rule: usize,
    /// One hit per term and field for the terms that made the rule hold,
    /// terms in the order written, then fields in [`Field::ALL`] order.
    pub hits: Vec<Hit>,
}

/// Why one rule did or did not match one article: its query as a tree, each
/// node saying whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub rule: String,
    /// Whether the rule looks at this source at all (`sources`, `tags`).
    pub in_scope: bool,
    /// Whether the rule matched (in scope, and its conditions hold).
    pub matched: bool,
    /// When the conditions hold: the hits an alert would carry.
    pub hits: Vec<Hit>,
    pub root: ExplainNode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExplainNode {
    /// `"all"`, `"any"`, `"not"` or `"term"`.
    pub kind: &'static str,
    /// The part of the rule this node is, as written.
    pub text: String,
    pub holds: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hits: Vec<Hit>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ExplainNode>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error(
        "{} {index} ({term:?}) of rule {rule:?} has no words to match; \
         a term needs at least one letter or digit",
        noun(list)
    )]
    EmptyTerm {
        rule: String,
        /// `"keywords"` or `"exclude"`: the list the term is in.
        list: &'static str,
        /// Position of the term in its list, from 0.
        index: usize,
        term: String,
    },
    #[error("the query of rule {rule:?}: {error}")]
    Query { rule: String, error: QueryError },
    #[error(
        "the query of rule {rule:?} holds for an article with none of its terms, \
         so it would alert on every article"
    )]
    MatchesEverything { rule: String },
    #[error("cannot compile the regular expressions of the rules: {0}")]
    Regex(String),
}

fn noun(list: &str) -> &'static str {
    if list == "exclude" {
        "exclude term"
    } else {
        "keyword"
    }
}

/// All the rules, compiled: cheap to share behind an `Arc`, `Send + Sync`.
#[derive(Debug)]
pub struct Matcher {
    rules: Vec<RuleSpec>,
    compiled: Vec<Compiled>,
    groups: Vec<Group>,
    second: SecondTriggers,
    /// Every rule's conditions laid out flat (see [`Op`]): rule `r`'s are
    /// `programs[program_starts[r]..program_starts[r + 1]]`.
    programs: Vec<Op>,
    program_starts: Vec<u32>,
}

/// For each rule, a second condition (see [`necessary`]): patterns or
/// regexes of which one at least is found whenever the rule holds, apart
/// from those that trigger it. A rule triggered by a common word (`sahel`
/// in `(minusma OR barkhane) sahel`) is read only when one of these was
/// found too, from two small arrays rather than from its tree.
#[derive(Debug, Default)]
struct SecondTriggers {
    /// `items[starts[r]..starts[r + 1]]` is rule `r`'s; empty when it has
    /// no second condition.
    starts: Vec<u32>,
    items: Vec<Trigger>,
}

impl SecondTriggers {
    fn get(&self, rule: usize) -> &[Trigger] {
        match (self.starts.get(rule), self.starts.get(rule + 1)) {
            (Some(&from), Some(&to)) => self.items.get(from as usize..to as usize),
            _ => None,
        }
        .unwrap_or_default()
    }
}

/// A rule that a pattern triggers, with the rule's second condition when
/// it is one or two patterns of the pattern's group: then the marks the
/// scan of the article set turn most rules triggered away, before anything
/// of theirs is read.
#[derive(Debug, Clone, Copy)]
struct Target {
    rule: u32,
    /// Patterns of which one at least is found whenever the rule holds;
    /// `[NONE, NONE]` for a rule with no second condition, `[NONE, LATER]`
    /// for one that [`Matcher::match_in`] checks from [`SecondTriggers`].
    second: [u32; 2],
}

impl Target {
    const NONE: u32 = u32::MAX;
    const LATER: u32 = u32::MAX - 1;

    fn new(rule: usize, group: usize, second: &[Trigger]) -> Target {
        let same_group = |t: &Trigger| match *t {
            Trigger::Pattern { group: g, pattern } if g == group => Some(pattern as u32),
            _ => None,
        };
        let mut inline = [Target::NONE; 2];
        if second.len() <= 2 && second.iter().all(|t| same_group(t).is_some()) {
            for (slot, t) in inline.iter_mut().zip(second) {
                *slot = same_group(t).unwrap_or(Target::NONE);
            }
        } else {
            inline[1] = Target::LATER;
        }
        Target {
            rule: rule as u32,
            second: inline,
        }
    }

    /// Whether the rule may hold, by the marks of its group's patterns.
    #[inline]
    fn may_hold(&self, found: &[u8]) -> bool {
        let is_found = |p: u32| found.get(p as usize).is_some_and(|&m| m != 0);
        match self.second {
            [Target::NONE, _] => true,
            [a, Target::NONE] => is_found(a),
            [a, b] => is_found(a) || is_found(b),
        }
    }

    /// The rule as a candidate of [`Matcher::match_in`]: its number, and in
    /// the low bit whether its second condition is known to hold.
    fn candidate(&self) -> usize {
        (self.rule as usize) << 1 | usize::from(self.second[1] != Target::LATER)
    }
}

/// One node of a rule's conditions laid out flat, the nodes under it right
/// after it: the rules an article triggers are evaluated from a few cache
/// lines each, where their trees and terms are spread over the heap.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Every node (`All`) or one (`Any`) right under it holds: those from
    /// the next one up to `end` (an index in the rule's program, past its
    /// last node), each with the nodes under it.
    All {
        end: u32,
    },
    Any {
        end: u32,
    },
    /// The next node does not hold.
    Not {
        end: u32,
    },
    True,
    /// A word or phrase term (`term`, in [`Compiled::terms`]), with what
    /// its evaluation and hits need of its [`TermDef`] and [`Pattern`].
    Words {
        term: u32,
        group: u32,
        pattern: u32,
        /// The pattern's first word, and its length in words.
        first_word: u32,
        words: u16,
        fields: u8,
    },
    /// Any other term, read from its [`TermDef`].
    Other {
        term: u32,
    },
}

// A rule of a few terms in a cache line or two.
const _: () = assert!(std::mem::size_of::<Op>() == 20);

impl Op {
    /// The index of the node after this one and those under it, this one
    /// being at `at`.
    fn skip(self, at: usize) -> usize {
        match self {
            Op::All { end } | Op::Any { end } | Op::Not { end } => end as usize,
            _ => at + 1,
        }
    }
}

/// Lays `node` out at the end of `out` (see [`Op`]); `start` is where the
/// rule's program starts in `out`.
fn flatten(node: &Node, terms: &[TermDef], groups: &[Group], start: usize, out: &mut Vec<Op>) {
    let at = out.len();
    let close = |out: &mut Vec<Op>, op: fn(u32) -> Op| {
        let end = (out.len() - start) as u32;
        out[at] = op(end);
    };
    match &node.kind {
        NodeKind::All(items) | NodeKind::Any(items) => {
            out.push(Op::True);
            for n in items {
                flatten(n, terms, groups, start, out);
            }
            if matches!(node.kind, NodeKind::All(_)) {
                close(out, |end| Op::All { end });
            } else {
                close(out, |end| Op::Any { end });
            }
        }
        NodeKind::Not(inner) => {
            out.push(Op::True);
            flatten(inner, terms, groups, start, out);
            close(out, |end| Op::Not { end });
        }
        NodeKind::Term(t) => {
            let term = &terms[*t];
            let words = match term.kind {
                Kind::Words { group, pattern } => groups
                    .get(group)
                    .and_then(|g| g.patterns.get(pattern))
                    .map(|p| (group, pattern, p)),
                _ => None,
            };
            out.push(match words {
                Some((group, pattern, p)) if p.words <= usize::from(u16::MAX) => Op::Words {
                    term: *t as u32,
                    group: group as u32,
                    pattern: pattern as u32,
                    first_word: p.exact.first().copied().unwrap_or(u32::MAX),
                    words: p.words as u16,
                    fields: term.fields,
                },
                _ => Op::Other { term: *t as u32 },
            });
        }
        NodeKind::True => out.push(Op::True),
    }
}

/// One rule's conditions as a tree over its terms.
#[derive(Debug)]
struct Compiled {
    root: Node,
    terms: Vec<TermDef>,
    /// The groups its terms are in, to scan only what rules in scope need.
    groups: Vec<usize>,
    /// Whether it can hold when no word, phrase or regex of it is found
    /// (`source:rfi`, or no condition at all): then it is evaluated for
    /// every article, not only for those where one of its terms is found.
    unconditional: bool,
}

#[derive(Debug)]
struct Node {
    /// The part of the rule this node is, as written, for explanations.
    text: Box<str>,
    kind: NodeKind,
}

#[derive(Debug)]
enum NodeKind {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Term(usize),
    /// A rule with no condition.
    True,
}

#[derive(Debug)]
struct TermDef {
    display: String,
    /// Bits of [`Field::bit`].
    fields: u8,
    kind: Kind,
    /// What a scan must find for this term to hold, each with how common
    /// it probably is: one pattern or regex, or for a proximity search the
    /// pattern of each word; none for terms compared, not scanned
    /// (`source:`).
    triggers: Vec<(Trigger, u32)>,
}

/// A pattern or regex whose hit makes a rule worth evaluating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Pattern { group: usize, pattern: usize },
    Regex { group: usize, index: usize },
}

/// A guess at how often a word is found: short words are common ones
/// (`le`, `the`, `onu`), long ones rare. Lower is rarer.
fn word_cost(word: &str) -> u32 {
    match word.chars().count() {
        0..=3 => 16,
        4..=5 => 8,
        6..=7 => 4,
        _ => 2,
    }
}

#[derive(Debug)]
enum Kind {
    Words {
        group: usize,
        pattern: usize,
    },
    Near {
        group: usize,
        /// One single-word pattern per distinct word.
        patterns: Vec<usize>,
        distance: u32,
    },
    Regex {
        group: usize,
        index: usize,
    },
    /// `source:`, `tag:`, `lang:`: the folded words the value must have.
    Meta {
        words: Vec<String>,
        prefix: bool,
        opts: FoldOptions,
    },
}

/// A pattern that starts with a given word, with what the scan needs to
/// know that it follows without reading the pattern.
#[derive(Debug, Clone, Copy)]
struct FirstWord {
    pattern: u32,
    /// Whether the pattern triggers rules (see [`PatternHit::triggers`]).
    triggers: bool,
    /// [`FirstWord::ALONE`] for a pattern that is its first word alone
    /// (found as soon as the word is), the id of the second word for a
    /// pattern of two exact words, [`FirstWord::READ`] otherwise.
    next: u32,
}

impl FirstWord {
    const ALONE: u32 = u32::MAX;
    const READ: u32 = u32::MAX - 1;

    /// A pattern that is its first word alone and triggers no rule: only
    /// marked as found (see `Marks::note`).
    fn is_quiet(self) -> bool {
        self.next == FirstWord::ALONE && !self.triggers
    }
}

/// The patterns a word of the vocabulary starts, as its entry holds them:
/// most words start one, read with the word rather than from
/// [`Group::by_first`].
#[derive(Debug, Clone, Copy, Default)]
enum Starts {
    #[default]
    None,
    One(FirstWord),
    /// A range of [`Group::by_first`].
    Many(u32, u32),
}

impl Starts {
    fn is_none(self) -> bool {
        matches!(self, Starts::None)
    }
}

/// Many lists, their items end to end in one `Vec`, looked up by index (a
/// pattern id).
#[derive(Debug)]
struct Csr<T> {
    /// `items[starts[i]..starts[i + 1]]` is list `i`.
    starts: Vec<u32>,
    items: Vec<T>,
}

impl<T> Default for Csr<T> {
    fn default() -> Self {
        Csr {
            starts: Vec::new(),
            items: Vec::new(),
        }
    }
}

impl<T> Csr<T> {
    fn new(lists: Vec<Vec<T>>) -> Csr<T> {
        let mut starts = Vec::with_capacity(lists.len() + 1);
        let mut items = Vec::new();
        starts.push(0);
        for list in lists {
            items.extend(list);
            starts.push(items.len() as u32);
        }
        Csr { starts, items }
    }

    fn get(&self, i: usize) -> Option<&[T]> {
        let (&from, &to) = (self.starts.get(i)?, self.starts.get(i + 1)?);
        self.items.get(from as usize..to as usize)
    }
}

/// What a word starting with a given prefix may mean.
#[derive(Debug, Clone, Copy)]
enum PrefixUse {
    /// The pattern (`retrait*`) is found.
    Pattern(usize),
    /// The regex (`/mali(en|enne)s?/`, whose matches start with `mali`) is
    /// worth running over the field.
    Regex(usize),
}

/// The literal starts of every match of a regex, cut at the first word;
/// `None` when some match could start otherwise, or with less than two
/// letters (then the regex runs over every field, in the `RegexSet`).
fn regex_prefixes(pattern: &str, case_sensitive: bool) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix).limit_total(64);
    let seq = extractor.extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() {
        return None;
    }
    let mut prefixes = Vec::with_capacity(literals.len());
    for literal in literals {
        let text = std::str::from_utf8(literal.as_bytes()).ok()?;
        let first = text.split(' ').next().unwrap_or_default();
        if first.chars().count() < 2 {
            return None;
        }
        prefixes.push(if case_sensitive {
            first.to_string()
        } else {
            first.to_lowercase()
        });
    }
    prefixes.sort();
    prefixes.dedup();
    Some(prefixes)
}

/// Every term folded with one [`FoldOptions`]: one dictionary of words, one
/// regex set.
///
/// The dictionary is a word-level automaton: each normalized word of a text
/// is looked up once in `vocabulary` (the words of every pattern of every
/// rule), and the patterns starting with that word are followed from there
/// word by word. A text is scanned once however many rules there are, and a
/// word no rule mentions costs one hash and, mostly, one bit test.
#[derive(Debug)]
struct Group {
    opts: FoldOptions,
    vocabulary: Vocabulary<Starts>,
    /// The patterns whose first exact word is a given word, for the words
    /// of `vocabulary` that start more than one ([`Starts::Many`]).
    by_first: Vec<FirstWord>,
    /// The keys of single-word prefix patterns, and of regexes whose
    /// matches must start with a known prefix, each with its range of
    /// `prefix_uses`.
    prefixes: Vocabulary<(u32, u32)>,
    /// What a word starting with a prefix means.
    prefix_uses: Vec<PrefixUse>,
    /// See [`PrefixLengths`]: most words need no prefix lookup at all.
    prefix_lengths: PrefixLengths,
    /// Indexed by pattern id.
    patterns: Vec<Pattern>,
    /// For each pattern id, the rules it triggers (see [`Pattern::rules`]),
    /// each with its second condition when it can be read from the marks
    /// ([`Target`]); filled by [`Matcher::new`], which knows those.
    triggers: Csr<Target>,
    regexes: Vec<Regex>,
    /// The regexes with no usable prefix, all run over every field at once.
    regex_set: Option<RegexSet>,
    /// For each member of `regex_set`, its index in `regexes`.
    set_members: Vec<usize>,
    /// For each regex, the rules it triggers.
    regex_rules: Vec<Vec<usize>>,
    /// The text fields some term of the group looks at.
    fields: u8,
}

#[derive(Debug)]
struct Pattern {
    /// Number of words, the prefix word included.
    words: usize,
    /// Word ids of the words matched whole, in order.
    exact: Vec<u32>,
    /// For `casques bl*` and `retrait*`: what the last word starts with.
    prefix: Option<Box<str>>,
    /// The rules this pattern triggers, ascending: a term shared by
    /// several rules is searched once. A rule is triggered by its rarest
    /// necessary terms only, so that `le` in `bamako AND le` does not make
    /// every article evaluate it.
    rules: Vec<usize>,
}

#[derive(Default)]
struct GroupBuilder {
    opts: FoldOptions,
    /// Pattern ids by the pattern's words (`" a b "`, `" a b"` for a prefix).
    ids: HashMap<String, usize>,
    /// Word ids by word, while rules are compiled; frozen into a
    /// [`Vocabulary`] by [`GroupBuilder::build`].
    word_ids: HashMap<Box<str>, u32>,
    /// The words, by id.
    words: Vec<Box<str>>,
    patterns: Vec<Pattern>,
    regex_ids: HashMap<String, usize>,
    regexes: Vec<Regex>,
    regex_sources: Vec<String>,
    regex_rules: Vec<Vec<usize>>,
    fields: u8,
}

impl GroupBuilder {
    /// The id of the pattern of these folded `words` (never empty), the last
    /// one a prefix if `prefix`.
    fn pattern(&mut self, words: &[String], prefix: bool) -> usize {
        let key = format!(" {}{}", words.join(" "), if prefix { "" } else { " " });
        match self.ids.get(&key) {
            Some(&id) => id,
            None => {
                let (exact, last) = match words.split_last() {
                    Some((last, rest)) if prefix => (rest, Some(last.as_str().into())),
                    _ => (words, None),
                };
                let exact = exact.iter().map(|w| self.word(w)).collect();
                let id = self.patterns.len();
                self.patterns.push(Pattern {
                    words: words.len(),
                    exact,
                    prefix: last,
                    rules: Vec::new(),
                });
                self.ids.insert(key, id);
                id
            }
        }
    }

    fn word(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.word_ids.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(word.into());
        self.word_ids.insert(word.into(), id);
        id
    }

    fn build(mut self) -> Result<Group, RuleError> {
        // Word ids become the words' places in the vocabulary.
        let (mut vocabulary, slots) = Vocabulary::new(self.words.iter().map(|w| &**w));
        let mut by_first_lists = vec![Vec::new(); self.words.len()];
        let mut by_prefix: HashMap<Box<str>, Vec<PrefixUse>> = HashMap::new();
        for (id, p) in self.patterns.iter().enumerate() {
            match (p.exact.first(), &p.prefix) {
                (Some(&first), prefix) => {
                    let next = match (p.exact.as_slice(), prefix) {
                        ([_], None) => FirstWord::ALONE,
                        ([_, second], None) => slots[*second as usize],
                        _ => FirstWord::READ,
                    };
                    by_first_lists[first as usize].push(FirstWord {
                        pattern: id as u32,
                        triggers: !p.rules.is_empty(),
                        next,
                    });
                }
                (None, Some(prefix)) => by_prefix
                    .entry(prefix.clone())
                    .or_default()
                    .push(PrefixUse::Pattern(id)),
                (None, None) => {}
            }
        }
        for p in &mut self.patterns {
            for word in &mut p.exact {
                *word = slots[*word as usize];
            }
        }
        let mut set_members = Vec::new();
        for (index, source) in self.regex_sources.iter().enumerate() {
            match regex_prefixes(source, self.opts.case_sensitive) {
                Some(prefixes) => {
                    for prefix in prefixes {
                        by_prefix
                            .entry(prefix.into())
                            .or_default()
                            .push(PrefixUse::Regex(index));
                    }
                }
                None => set_members.push(index),
            }
        }
        // In a fixed order, so that a config always compiles the same way.
        let mut by_prefix: Vec<(Box<str>, Vec<PrefixUse>)> = by_prefix.into_iter().collect();
        by_prefix.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let prefix_lengths = PrefixLengths::new(by_prefix.iter().map(|(key, _)| &**key));
        let (mut prefixes, prefix_slots) = Vocabulary::new(by_prefix.iter().map(|(key, _)| &**key));
        let mut prefix_uses = Vec::new();
        for ((_, uses), slot) in by_prefix.into_iter().zip(prefix_slots) {
            let start = prefix_uses.len() as u32;
            prefix_uses.extend(uses);
            prefixes.set_item(slot, (start, prefix_uses.len() as u32));
        }
        let mut by_first = Vec::new();
        for (list, &slot) in by_first_lists.into_iter().zip(&slots) {
            let starts = match *list {
                [] => Starts::None,
                [one] => Starts::One(one),
                _ => {
                    let start = by_first.len() as u32;
                    by_first.extend(list);
                    Starts::Many(start, by_first.len() as u32)
                }
            };
            vocabulary.set_item(slot, starts);
        }
        let regex_set = if set_members.is_empty() {
            None
        } else {
            let sources = set_members.iter().map(|&i| self.regexes[i].as_str());
            Some(
                regex::RegexSetBuilder::new(sources)
                    .case_insensitive(!self.opts.case_sensitive)
                    .size_limit(query::REGEX_SIZE_LIMIT * 64)
                    .dfa_size_limit(query::REGEX_SIZE_LIMIT * 64)
                    .build()
                    .map_err(|e| RuleError::Regex(e.to_string()))?,
            )
        };
        Ok(Group {
            opts: self.opts,
            vocabulary,
            by_first,
            // Set by `Matcher::new`, which knows the rules' second conditions.
            triggers: Csr::default(),
            prefixes,
            prefix_uses,
            prefix_lengths,
            patterns: self.patterns,
            regexes: self.regexes,
            regex_set,
            set_members,
            regex_rules: self.regex_rules,
            fields: self.fields,
        })
    }
}

/// Compiles one rule's terms into the group builders.
struct RuleCompiler<'a> {
    spec: &'a RuleSpec,
    builders: &'a mut Vec<GroupBuilder>,
    terms: Vec<TermDef>,
    groups: Vec<usize>,
    /// Why the last term could not be compiled, when there is more to say
    /// than "no word".
    error: Option<String>,
}

impl RuleCompiler<'_> {
    fn group(&mut self, opts: FoldOptions) -> usize {
        let g = match self.builders.iter().position(|b| b.opts == opts) {
            Some(g) => g,
            None => {
                self.builders.push(GroupBuilder {
                    opts,
                    ..GroupBuilder::default()
                });
                self.builders.len() - 1
            }
        };
        if !self.groups.contains(&g) {
            self.groups.push(g);
        }
        g
    }

    /// Adds a term; returns its index, or `None` when it has no word.
    fn term(&mut self, field: Option<Field>, kind: &TermKind, display: String) -> Option<usize> {
        let rule_opts = self.spec.fold_options();
        // Prefixes and regexes read the words as written, not their stems.
        let plain = FoldOptions {
            stem: None,
            ..rule_opts
        };
        let fields = field.map_or(DEFAULT_FIELDS, Field::bit);
        let mut triggers = Vec::new();
        let kind = match (field, kind) {
            (Some(f), TermKind::Words { text, prefix }) if f.is_meta() => {
                let opts = if *prefix { plain } else { rule_opts };
                let words = fold_words(text, opts);
                if words.is_empty() {
                    return None;
                }
                Kind::Meta {
                    words,
                    prefix: *prefix,
                    opts,
                }
            }
            (_, TermKind::Words { text, prefix }) => {
                let opts = if *prefix { plain } else { rule_opts };
                let words = fold_words(text, opts);
                if words.is_empty() {
                    return None;
                }
                let group = self.group(opts);
                let b = &mut self.builders[group];
                b.fields |= fields;
                let pattern = b.pattern(&words, *prefix);
                let cost = match (words.len(), prefix) {
                    (1, false) => word_cost(&words[0]),
                    (1, true) => 2 * word_cost(&words[0]),
                    _ => 1,
                };
                triggers.push((Trigger::Pattern { group, pattern }, cost));
                Kind::Words { group, pattern }
            }
            (_, TermKind::Near { text, distance }) => {
                let mut words = fold_words(text, rule_opts);
                let written = words.len();
                words.sort();
                words.dedup();
                if words.len() < written {
                    self.error = Some(
                        "a proximity search needs different words (here two are the same \
                         once normalized)"
                            .into(),
                    );
                    return None;
                }
                if words.is_empty() {
                    return None;
                }
                let group = self.group(rule_opts);
                let b = &mut self.builders[group];
                b.fields |= fields;
                let patterns: Vec<usize> = words
                    .iter()
                    .map(|w| b.pattern(std::slice::from_ref(w), false))
                    .collect();
                // All the words must be there.
                triggers = words
                    .iter()
                    .zip(&patterns)
                    .map(|(w, &pattern)| (Trigger::Pattern { group, pattern }, word_cost(w)))
                    .collect();
                Kind::Near {
                    group,
                    patterns,
                    distance: *distance,
                }
            }
            (_, TermKind::Regex { pattern }) => {
                let folded = match fold_pattern(pattern, plain) {
                    Ok(folded) => folded,
                    Err(message) => {
                        self.error = Some(message);
                        return None;
                    }
                };
                let group = self.group(plain);
                let b = &mut self.builders[group];
                b.fields |= fields;
                let index = match b.regex_ids.get(&folded) {
                    Some(&i) => i,
                    None => {
                        let regex = match query::compile_regex(&folded, plain.case_sensitive) {
                            Ok(regex) => regex,
                            Err(message) => {
                                self.error = Some(message);
                                return None;
                            }
                        };
                        let i = b.regexes.len();
                        b.regexes.push(regex);
                        b.regex_sources.push(folded.clone());
                        b.regex_rules.push(Vec::new());
                        b.regex_ids.insert(folded, i);
                        i
                    }
                };
                triggers.push((Trigger::Regex { group, index }, 16));
                Kind::Regex { group, index }
            }
        };
        self.terms.push(TermDef {
            display,
            fields,
            kind,
            triggers,
        });
        Some(self.terms.len() - 1)
    }

    fn query(&mut self, expr: &Expr, text: &str) -> Result<Node, QueryError> {
        let label: Box<str> = text.get(expr.span.clone()).unwrap_or_default().into();
        let kind = match &expr.kind {
            ExprKind::Or(items) => NodeKind::Any(
                items
                    .iter()
                    .map(|e| self.query(e, text))
                    .collect::<Result<_, _>>()?,
            ),
            ExprKind::And(items) => NodeKind::All(
                items
                    .iter()
                    .map(|e| self.query(e, text))
                    .collect::<Result<_, _>>()?,
            ),
            ExprKind::Not(inner) => NodeKind::Not(Box::new(self.query(inner, text)?)),
            ExprKind::Term(t) => match self.term(t.field, &t.kind, t.display()) {
                Some(i) => NodeKind::Term(i),
                None => {
                    let message = self
                        .error
                        .take()
                        .unwrap_or_else(|| format!("{label} has no word to match"));
                    return Err(QueryError {
                        span: expr.span.clone(),
                        message,
                        hint: None,
                    });
                }
            },
        };
        Ok(Node { text: label, kind })
    }

    /// `keywords` (any) or `exclude` (any, under a NOT added by the caller).
    fn list(&mut self, list: &'static str, terms: &[String]) -> Result<Node, RuleError> {
        let mut items = Vec::with_capacity(terms.len());
        for (index, term) in terms.iter().enumerate() {
            let kind = TermKind::Words {
                text: term.clone(),
                prefix: false,
            };
            let Some(i) = self.term(None, &kind, term.clone()) else {
                return Err(RuleError::EmptyTerm {
                    rule: self.spec.name.clone(),
                    list,
                    index,
                    term: term.clone(),
                });
            };
            items.push(Node {
                text: format!("{term:?}").into(),
                kind: NodeKind::Term(i),
            });
        }
        let quoted: Vec<String> = terms.iter().map(|t| format!("{t:?}")).collect();
        Ok(Node {
            text: format!("{list} = [{}]", quoted.join(", ")).into(),
            kind: NodeKind::Any(items),
        })
    }
}

/// Folds the letters of a regex the way texts are folded (`é` → `e` unless
/// accent-sensitive, `²` → `2`, combining accents dropped); its syntax is
/// ASCII and left alone. A char that folds to several (`œ` → `oe`) becomes
/// a group, so `?` or `*` after it still applies to all of it; inside a
/// `[…]` class that cannot be written, and is an error.
fn fold_pattern(pattern: &str, opts: FoldOptions) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c.is_ascii() {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '[' => in_class = true,
                ']' => in_class = false,
                _ => {}
            }
            continue;
        }
        let is_accent = unicode_normalization::char::is_combining_mark(c)
            && unicode_normalization::char::canonical_combining_class(c) != 0;
        if is_accent && !opts.accent_sensitive {
            continue;
        }
        let folded = fold_words(c.encode_utf8(&mut [0; 4]), opts);
        match folded.as_slice() {
            [one] if one.chars().count() == 1 => out.push_str(one),
            [several] if !in_class => {
                out.push_str("(?:");
                out.push_str(several);
                out.push(')');
            }
            [several] => {
                return Err(format!(
                    "{c} is spelled {several} in the normalized text, which a [...] class \
                     cannot hold: write (?:{several}|...) instead"
                ));
            }
            // Punctuation, or a char that makes several words: as written.
            _ => out.push(c),
        }
    }
    Ok(out)
}

impl Matcher {
    /// Compiles the rules; fails on a query that does not parse, a term with
    /// no word in it, or a query that would match every article.
    pub fn new(rules: Vec<RuleSpec>) -> Result<Matcher, RuleError> {
        let mut builders: Vec<GroupBuilder> = Vec::new();
        let mut compiled = Vec::with_capacity(rules.len());
        let (mut second_starts, mut second_items) = (Vec::new(), Vec::new());
        for (r, spec) in rules.iter().enumerate() {
            let mut c = RuleCompiler {
                error: None,
                spec,
                builders: &mut builders,
                terms: Vec::new(),
                groups: Vec::new(),
            };
            let mut parts = Vec::new();
            let query_error = |error| RuleError::Query {
                rule: spec.name.clone(),
                error,
            };
            if let Some(text) = &spec.query {
                let expr = query::parse(text).map_err(query_error)?;
                if expr.holds_without_terms() && spec.keywords.is_empty() {
                    return Err(RuleError::MatchesEverything {
                        rule: spec.name.clone(),
                    });
                }
                parts.push(c.query(&expr, text).map_err(query_error)?);
            }
            if !spec.keywords.is_empty() {
                parts.push(c.list("keywords", &spec.keywords)?);
            }
            if !spec.exclude.is_empty() {
                let any = c.list("exclude", &spec.exclude)?;
                parts.push(Node {
                    text: format!("NOT {}", any.text).into(),
                    kind: NodeKind::Not(Box::new(any)),
                });
            }
            let root = match parts.len() {
                0 => Node {
                    text: "every article".into(),
                    kind: NodeKind::True,
                },
                1 => parts.pop().expect("one part"),
                _ => Node {
                    text: "all of".into(),
                    kind: NodeKind::All(parts),
                },
            };
            let (terms, groups) = (c.terms, c.groups);
            // The rarest condition triggers the rule, and the next rarest
            // must hold too before its tree is read.
            let mut conditions = necessary(&root, &terms);
            conditions.sort_by_key(|(_, cost)| *cost);
            let mut conditions = conditions.into_iter().map(|(t, _)| t);
            let triggers = conditions.next();
            second_starts.push(second_items.len() as u32);
            second_items.extend(conditions.next().unwrap_or_default());
            let unconditional = triggers.is_none();
            for t in triggers.unwrap_or_default() {
                let list = match t {
                    Trigger::Pattern { group, pattern } => {
                        &mut builders[group].patterns[pattern].rules
                    }
                    Trigger::Regex { group, index } => &mut builders[group].regex_rules[index],
                };
                if list.last() != Some(&r) {
                    list.push(r);
                }
            }
            compiled.push(Compiled {
                root,
                terms,
                groups,
                unconditional,
            });
        }

        let mut groups: Vec<Group> = builders
            .into_iter()
            .map(GroupBuilder::build)
            .collect::<Result<_, _>>()?;
        second_starts.push(second_items.len() as u32);
        let second = SecondTriggers {
            starts: second_starts,
            items: second_items,
        };
        for (g, group) in groups.iter_mut().enumerate() {
            let targets = group.patterns.iter().map(|p| {
                let to = |&r: &usize| Target::new(r, g, second.get(r));
                p.rules.iter().map(to).collect()
            });
            group.triggers = Csr::new(targets.collect());
        }
        let (mut programs, mut program_starts) = (Vec::new(), Vec::with_capacity(rules.len() + 1));
        for c in &compiled {
            program_starts.push(programs.len() as u32);
            flatten(&c.root, &c.terms, &groups, programs.len(), &mut programs);
        }
        program_starts.push(programs.len() as u32);
        Ok(Matcher {
            rules,
            compiled,
            groups,
            second,
            programs,
            program_starts,
        })
    }

    pub fn rules(&self) -> &[RuleSpec] {
        &self.rules
    }

    /// The rules that apply to one source, worked out once for all the
    /// articles of a poll.
    pub fn scope(&self, source: &str, source_tags: &[String]) -> Scope {
        let in_scope: Vec<bool> = self
            .rules
            .iter()
            .map(|rule| rule.applies_to(source, source_tags))
            .collect();
        let mut groups = vec![false; self.groups.len()];
        let mut unconditional = Vec::new();
        for (r, c) in self.compiled.iter().enumerate() {
            if !in_scope[r] {
                continue;
            }
            for &g in &c.groups {
                groups[g] = true;
            }
            if c.unconditional {
                unconditional.push(r);
            }
        }
        Scope {
            source: source.to_string(),
            source_tags: source_tags.to_vec(),
            any: in_scope.contains(&true),
            all: !in_scope.contains(&false),
            in_scope,
            groups,
            unconditional,
        }
    }

    /// The rules that match `doc`, in config order, among those that apply
    /// to `source` (by name or by one of its `source_tags`). For many
    /// articles of one source, [`Matcher::scope`] once and
    /// [`Matcher::match_in`] each.
    pub fn match_document(
        &self,
        doc: &Document<'_>,
        source: &str,
        source_tags: &[String],
    ) -> Vec<RuleMatch> {
        self.match_in(&self.scope(source, source_tags), doc)
    }

    /// The rules of `scope` that match `doc`, in config order.
    pub fn match_in(&self, scope: &Scope, doc: &Document<'_>) -> Vec<RuleMatch> {
        if !scope.any {
            return Vec::new();
        }
        let scan = Scan::new(self, &scope.groups, doc);
        // Rule numbers shifted left, the low bit set when the rule's second
        // condition is known to hold (see `Target::candidate`).
        let mut candidates: Vec<usize> = scope.unconditional.iter().map(|&r| r << 1).collect();
        for (g, gs) in scan.groups.iter().enumerate() {
            let Some(gs) = gs else { continue };
            let group = &self.groups[g];
            for hit in gs.hits.iter().filter(|hit| hit.triggers) {
                let targets = group.triggers.get(hit.pattern as usize).unwrap_or_default();
                let worth = targets.iter().filter(|t| t.may_hold(&gs.found));
                candidates.extend(worth.map(Target::candidate));
            }
            for &(i, _) in &gs.regex {
                candidates.extend(group.regex_rules[i].iter().map(|&r| r << 1));
            }
        }
        // A rule triggered several times keeps one entry, with the low bit
        // set if any of them has it: its second condition is per rule.
        candidates.sort_unstable();
        candidates.dedup_by(|later, kept| {
            let same = *later >> 1 == *kept >> 1;
            if same {
                *kept |= *later & 1;
            }
            same
        });
        let ctx = Ctx { scope, doc, scan };
        let mut matches = Vec::new();
        let mut terms = Vec::new();
        for candidate in candidates {
            let r = candidate >> 1;
            if !scope.all && !scope.in_scope[r] {
                continue;
            }
            if candidate & 1 == 0 {
                let second = self.second.get(r);
                if !second.is_empty() && !second.iter().any(|&t| ctx.scan.triggered(t)) {
                    continue;
                }
            }
            let program = self.program(r);
            let c = &self.compiled[r];
            if !self.runs(program, 0, c, &ctx) {
                continue;
            }
            let hits = self.program_hits(program, c, &ctx, &mut terms);
            matches.push(RuleMatch { rule: r, hits });
        }
        matches
    }

    /// Rule `r`'s conditions laid out flat.
    fn program(&self, r: usize) -> &[Op] {
        match (self.program_starts.get(r), self.program_starts.get(r + 1)) {
            (Some(&from), Some(&to)) => self.programs.get(from as usize..to as usize),
            _ => None,
        }
        .unwrap_or_default()
    }

    /// Whether the node at `at` of `program` (a rule's, see [`Op`]) holds.
    /// `c` is read only for terms other than words and phrases.
    fn runs(&self, program: &[Op], at: usize, c: &Compiled, ctx: &Ctx<'_>) -> bool {
        let Some(&op) = program.get(at) else {
            return false;
        };
        match op {
            Op::All { end } => under(program, at, end).all(|n| self.runs(program, n, c, ctx)),
            Op::Any { end } => under(program, at, end).any(|n| self.runs(program, n, c, ctx)),
            Op::Not { .. } => !self.runs(program, at + 1, c, ctx),
            Op::True => true,
            Op::Words {
                group,
                pattern,
                fields,
                ..
            } => ctx.scan.found(group as usize, pattern as usize) & fields != 0,
            Op::Other { term } => c
                .terms
                .get(term as usize)
                .is_some_and(|t| self.term_holds(t, ctx)),
        }
    }

    /// The places in `program` of the terms that make the node at `at`
    /// hold: every branch of an "all", the holding branches of an "any",
    /// nothing under a NOT.
    fn supporting(
        &self,
        program: &[Op],
        at: usize,
        c: &Compiled,
        ctx: &Ctx<'_>,
        out: &mut Vec<usize>,
    ) {
        let Some(&op) = program.get(at) else {
            return;
        };
        match op {
            Op::All { end } => {
                for n in under(program, at, end) {
                    self.supporting(program, n, c, ctx, out);
                }
            }
            Op::Any { end } => {
                for n in under(program, at, end) {
                    if self.runs(program, n, c, ctx) {
                        self.supporting(program, n, c, ctx, out);
                    }
                }
            }
            Op::Words { .. } | Op::Other { .. } => out.push(at),
            Op::Not { .. } | Op::True => {}
        }
    }

    /// The hits of a rule that holds: those of the terms that make it hold,
    /// in the order written (`places`: a buffer to reuse). Words and phrases
    /// from their nodes, the other terms from their [`TermDef`]s.
    fn program_hits(
        &self,
        program: &[Op],
        c: &Compiled,
        ctx: &Ctx<'_>,
        places: &mut Vec<usize>,
    ) -> Vec<Hit> {
        places.clear();
        self.supporting(program, 0, c, ctx, places);
        let term_of = |&at: &usize| match program.get(at) {
            Some(Op::Words { term, .. } | Op::Other { term }) => *term,
            _ => u32::MAX,
        };
        // In the order written, each term once.
        places.sort_unstable_by_key(term_of);
        places.dedup_by_key(|at| term_of(at));
        let mut hits = Vec::with_capacity(places.len());
        for &at in places.iter() {
            match program.get(at) {
                Some(&Op::Words {
                    term,
                    group,
                    pattern,
                    first_word,
                    words,
                    fields,
                }) => {
                    let Some(def) = c.terms.get(term as usize) else {
                        continue;
                    };
                    for f in Field::TEXT {
                        if fields & f.bit() != 0
                            && let Some(span) = ctx.scan.first(
                                group as usize,
                                pattern as usize,
                                (first_word, usize::from(words)),
                                f,
                            )
                        {
                            hits.push(hit(def, f, ctx.scan.text(f), span));
                        }
                    }
                }
                Some(&Op::Other { term }) => {
                    if let Some(def) = c.terms.get(term as usize) {
                        self.hits(def, ctx, &mut hits);
                    }
                }
                _ => {}
            }
        }
        hits
    }

    /// Why rule number `rule` does or does not match `doc`: every part of
    /// it, whether it holds, and the hits of the terms found.
    pub fn explain(
        &self,
        rule: usize,
        doc: &Document<'_>,
        source: &str,
        source_tags: &[String],
    ) -> Option<Explanation> {
        let spec = self.rules.get(rule)?;
        let c = &self.compiled[rule];
        let mut scope = self.scope(source, source_tags);
        let in_scope = scope.in_scope[rule];
        scope.groups = vec![false; self.groups.len()];
        for &g in &c.groups {
            scope.groups[g] = true;
        }
        let scan = Scan::new(self, &scope.groups, doc);
        let ctx = Ctx {
            scope: &scope,
            doc,
            scan,
        };
        let root = self.explain_node(&c.root, c, &ctx);
        let program = self.program(rule);
        // The tree explained and the flat copy `match_in` reads must agree.
        debug_assert_eq!(root.holds, self.runs(program, 0, c, &ctx), "rule {rule}");
        let hits = if root.holds {
            self.program_hits(program, c, &ctx, &mut Vec::new())
        } else {
            Vec::new()
        };
        Some(Explanation {
            rule: spec.name.clone(),
            in_scope,
            matched: in_scope && root.holds,
            hits,
            root,
        })
    }

    fn explain_node(&self, node: &Node, c: &Compiled, ctx: &Ctx<'_>) -> ExplainNode {
        let explain = |n: &Node| self.explain_node(n, c, ctx);
        let (kind, children, hits) = match &node.kind {
            NodeKind::All(items) => ("all", items.iter().map(explain).collect(), Vec::new()),
            NodeKind::Any(items) => ("any", items.iter().map(explain).collect(), Vec::new()),
            NodeKind::Not(inner) => ("not", vec![explain(inner)], Vec::new()),
            NodeKind::Term(t) => {
                let term = &c.terms[*t];
                let mut hits = Vec::new();
                if self.term_holds(term, ctx) {
                    self.hits(term, ctx, &mut hits);
                }
                ("term", Vec::new(), hits)
            }
            NodeKind::True => ("all", Vec::new(), Vec::new()),
        };
        let holds = match &node.kind {
            NodeKind::All(_) => children.iter().all(|n: &ExplainNode| n.holds),
            NodeKind::Any(_) => children.iter().any(|n: &ExplainNode| n.holds),
            NodeKind::Not(_) => !children[0].holds,
            // A term that holds has at least one hit, and only then.
            NodeKind::Term(_) => !hits.is_empty(),
            NodeKind::True => true,
        };
        ExplainNode {
            kind,
            text: node.text.to_string(),
            holds,
            hits,
            children,
        }
    }

    fn term_holds(&self, term: &TermDef, ctx: &Ctx<'_>) -> bool {
        match &term.kind {
            Kind::Words { group, pattern } => ctx.scan.found(*group, *pattern) & term.fields != 0,
            Kind::Near {
                group,
                patterns,
                distance,
            } => Field::TEXT.iter().any(|&f| {
                term.wants(f)
                    && ctx
                        .scan
                        .window(&self.groups[*group], *group, patterns, f, *distance)
                        .is_some()
            }),
            Kind::Regex { group, index } => ctx
                .scan
                .regex_fields(*group, *index)
                .is_some_and(|mask| mask & term.fields != 0),
            Kind::Meta { .. } => !self.meta_values(term, ctx).is_empty(),
        }
    }

    /// The values of a `source:`, `tag:` or `lang:` term that it matches.
    fn meta_values<'c>(&self, term: &TermDef, ctx: &'c Ctx<'_>) -> Vec<(Field, &'c str)> {
        let Kind::Meta {
            words,
            prefix,
            opts,
        } = &term.kind
        else {
            return Vec::new();
        };
        let matches = |value: &str, whole: bool| {
            let have = fold_words(value, *opts);
            if *prefix {
                let n = words.len();
                have.len() >= n
                    && have[..n - 1] == words[..n - 1]
                    && have[n - 1].starts_with(&words[n - 1])
            } else if whole {
                have == *words
            } else {
                have.starts_with(words)
            }
        };
        let mut out = Vec::new();
        if term.wants(Field::Source) && matches(&ctx.scope.source, true) {
            out.push((Field::Source, ctx.scope.source.as_str()));
        }
        if term.wants(Field::Tag) {
            for tag in ctx.scope.source_tags.iter().chain(ctx.doc.categories) {
                if matches(tag, true) && !out.contains(&(Field::Tag, tag.as_str())) {
                    out.push((Field::Tag, tag.as_str()));
                }
            }
        }
        // `lang:fr` holds for `fr-FR` too: the language, then its region.
        if term.wants(Field::Lang) && matches(ctx.doc.language, false) {
            out.push((Field::Lang, ctx.doc.language));
        }
        out
    }

    /// Appends the hits of a term that holds: one per field it is found in.
    fn hits(&self, term: &TermDef, ctx: &Ctx<'_>, hits: &mut Vec<Hit>) {
        let mut push = |field: Field, span: Range<usize>| {
            hits.push(hit(term, field, ctx.scan.text(field), span));
        };
        match &term.kind {
            Kind::Words { group, pattern } => {
                let Some(p) = self.groups[*group].patterns.get(*pattern) else {
                    return;
                };
                let first_word = p.exact.first().copied().unwrap_or(u32::MAX);
                for f in Field::TEXT {
                    if term.wants(f)
                        && let Some(span) =
                            ctx.scan.first(*group, *pattern, (first_word, p.words), f)
                    {
                        push(f, span);
                    }
                }
            }
            Kind::Near {
                group,
                patterns,
                distance,
            } => {
                for f in Field::TEXT {
                    if term.wants(f)
                        && let Some(span) =
                            ctx.scan
                                .window(&self.groups[*group], *group, patterns, f, *distance)
                    {
                        push(f, span);
                    }
                }
            }
            Kind::Regex { group, index } => {
                let mask = ctx.scan.regex_fields(*group, *index).unwrap_or(0);
                for f in Field::TEXT {
                    if mask & term.fields & f.bit() != 0
                        && let Some(span) =
                            ctx.scan.regex_span(&self.groups[*group], *group, *index, f)
                    {
                        push(f, span);
                    }
                }
            }
            Kind::Meta { .. } => {
                for (field, value) in self.meta_values(term, ctx) {
                    hits.push(Hit {
                        term: term.display.clone(),
                        field,
                        snippet: value.to_string(),
                        highlight: 0..value.len(),
                    });
                }
            }
        }
    }
}

impl TermDef {
    fn wants(&self, field: Field) -> bool {
        self.fields & field.bit() != 0
    }
}

/// The places of the nodes right under the node at `at` of `program`,
/// whose nodes end at `end`.
fn under(program: &[Op], at: usize, end: u32) -> impl Iterator<Item = usize> + '_ {
    let end = (end as usize).min(program.len());
    std::iter::successors(Some(at + 1), move |&n| program.get(n).map(|op| op.skip(n)))
        .take_while(move |&n| n < end)
}

/// A hit of `term` at byte range `span` of `text`, the text of `field`.
fn hit(term: &TermDef, field: Field, text: &str, span: Range<usize>) -> Hit {
    let (snippet, highlight) = snippet(text, span);
    Hit {
        term: term.display.clone(),
        field,
        snippet,
        highlight,
    }
}

/// Conditions that hold whenever the rule holds, each a set of patterns
/// and regexes of which one at least is found, with how common that
/// probably is: one per branch of an "all" and per word of a proximity
/// search, the union of their rarest for an "any". Empty when the rule can
/// hold with no scanned term found (`source:rfi`, `NOT x`, no condition at
/// all): such a rule is evaluated for every article.
fn necessary(node: &Node, terms: &[TermDef]) -> Vec<(Vec<Trigger>, u32)> {
    match &node.kind {
        NodeKind::Term(t) => terms[*t]
            .triggers
            .iter()
            .map(|&(t, cost)| (vec![t], cost))
            .collect(),
        // Every branch must hold: each branch's conditions are the rule's.
        NodeKind::All(items) => items.iter().flat_map(|n| necessary(n, terms)).collect(),
        // One branch holds: its rarest condition is among the union.
        NodeKind::Any(items) => {
            let mut all = Vec::new();
            let mut total = 0u32;
            for n in items {
                let rarest = necessary(n, terms)
                    .into_iter()
                    .min_by_key(|(_, cost)| *cost);
                let Some((t, cost)) = rarest else {
                    return Vec::new();
                };
                all.extend(t);
                total = total.saturating_add(cost);
            }
            vec![(all, total)]
        }
        NodeKind::Not(_) | NodeKind::True => Vec::new(),
    }
}

/// The rules that apply to one source: see [`Matcher::scope`].
#[derive(Debug, Clone)]
pub struct Scope {
    source: String,
    source_tags: Vec<String>,
    in_scope: Vec<bool>,
    /// Whether any rule is in scope, worked out once rather than for each
    /// article from 10,000 flags.
    any: bool,
    /// Whether every rule is, the usual case: then `in_scope` is not read
    /// for each rule triggered.
    all: bool,
    /// The groups some rule in scope has terms in.
    groups: Vec<bool>,
    /// The rules in scope evaluated for every article.
    unconditional: Vec<usize>,
}

impl Scope {
    /// Whether any rule applies to the source.
    pub fn is_empty(&self) -> bool {
        !self.any
    }
}

struct Ctx<'a> {
    scope: &'a Scope,
    doc: &'a Document<'a>,
    scan: Scan<'a>,
}

/// Where one pattern was found: for each text field (indexed like
/// [`Field::TEXT`]), one more than the index of the first word of its first
/// occurrence, 0 if not found there.
#[derive(Debug, Clone, Copy)]
struct PatternHit {
    pattern: u32,
    first: [u32; 5],
    /// Whether the pattern triggers rules: most found patterns are other
    /// terms of rules, which are read only if something else triggers them.
    triggers: bool,
}

/// One group's scan of one article, in buffers that the next article reuses
/// (see [`SCANS`]): once warm, folding and scanning allocate nothing.
#[derive(Debug, Default)]
struct GroupScan {
    /// The text fields folded and scanned (bits); the buffers of the other
    /// fields hold an earlier article.
    scanned: u8,
    /// Indexed like [`Field::TEXT`].
    folded: [Folded; 5],
    /// The vocabulary id of each word of each field (`u32::MAX`: a word no
    /// rule has), for proximity searches.
    ids: [Vec<u32>; 5],
    /// For each pattern id, the fields (bits) it was found in: what rule
    /// evaluation asks, answered without hashing. All zero between scans,
    /// so that an article does not clear as many bytes as there are
    /// patterns: [`GroupScan::reset`] zeroes what a scan set.
    found: Vec<u8>,
    /// For each pattern id, one more than its index in `hits` (0: not
    /// found); all zero between scans too.
    slots: Vec<u32>,
    /// The patterns found, in the order first found, but for the quiet
    /// ones (see [`Marks::note`]).
    hits: Vec<PatternHit>,
    /// The quiet patterns found, to zero their marks.
    quiet: Vec<u32>,
    /// The regexes found, each with the text fields (bits) it was found in.
    regex: Vec<(usize, u8)>,
    /// The regexes worth running over the field being scanned.
    regex_candidates: Vec<usize>,
    /// The words of the field being scanned that start patterns: each
    /// word's index, and the patterns it starts.
    starting: Vec<(usize, Starts)>,
}

impl GroupScan {
    fn folded(&self, field: Field) -> Option<&Folded> {
        (self.scanned & field.bit() != 0)
            .then(|| self.folded.get(field as usize))
            .flatten()
    }

    fn ids(&self, field: Field) -> Option<&[u32]> {
        (self.scanned & field.bit() != 0)
            .then(|| self.ids.get(field as usize).map(Vec::as_slice))
            .flatten()
    }

    /// Zeroes what a scan set, for the next article.
    fn reset(&mut self) {
        for hit in &self.hits {
            let p = hit.pattern as usize;
            if let (Some(mark), Some(slot)) = (self.found.get_mut(p), self.slots.get_mut(p)) {
                *mark = 0;
                *slot = 0;
            }
        }
        for &p in &self.quiet {
            if let Some(mark) = self.found.get_mut(p as usize) {
                *mark = 0;
            }
        }
        self.quiet.clear();
        self.hits.clear();
        self.regex.clear();
        self.scanned = 0;
    }
}

thread_local! {
    /// Finished scans, whose buffers the next articles on this thread reuse.
    /// Boxed: a scan moves in and out for every article, and a box moves
    /// as a pointer.
    #[allow(clippy::vec_box)]
    static SCANS: std::cell::RefCell<Vec<Box<GroupScan>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A scan with empty buffers, from [`SCANS`] when there is one.
fn pooled_scan() -> Box<GroupScan> {
    SCANS
        .try_with(|pool| pool.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// One bit per value of a hash's top bits, set for the keys of a table
/// in front of which it stands: a key whose bit is clear is not in the
/// table, and most lookups of keys that are not stop at one bit test, in
/// a bit table small enough to stay in cache.
#[derive(Debug, Default)]
struct BitFilter {
    words: Vec<u64>,
    /// 64 minus log2 of the number of bits.
    shift: u32,
}

impl BitFilter {
    /// A filter with about `bits_per_key` bits for each of `keys` keys.
    fn new(keys: usize, bits_per_key: usize) -> BitFilter {
        let bits = (bits_per_key * keys).next_power_of_two().max(64);
        BitFilter {
            words: vec![0; bits / 64],
            shift: 64 - bits.trailing_zeros(),
        }
    }

    #[inline(always)]
    fn place(&self, hash: u64) -> (usize, u64) {
        let bit = (hash >> self.shift) as usize;
        (bit >> 6, 1 << (bit & 63))
    }

    fn insert(&mut self, hash: u64) {
        let (at, bit) = self.place(hash);
        if let Some(word) = self.words.get_mut(at) {
            *word |= bit;
        }
    }

    /// Whether a key with this hash may be in the table; never for an empty
    /// filter.
    #[inline(always)]
    fn may_hold(&self, hash: u64) -> bool {
        let (at, bit) = self.place(hash);
        self.words.get(at).is_some_and(|word| word & bit != 0)
    }
}

/// The words of a group's patterns (or its prefixes), each with its id and
/// an item of the owner's: what the scan needs to know of the patterns it
/// starts ([`Starts`]), or the range of what a prefix means.
///
/// Looked up once per word of every text, so built for that: most words
/// of a text are no rule's, and a small bit table (in cache) says so from
/// the word's hash alone. A word's id is its slot in an open-addressed
/// table of 32-byte entries, each the word's [`WordKey`] (for a word of up
/// to 16 bytes, the whole word) and its item: a word found costs one cache
/// line, and so does most often a word the bit table let through that is
/// not there (an empty slot). Two words with one hash both stay found, as
/// the probe goes on past a slot of another word.
#[derive(Debug)]
struct Vocabulary<T> {
    /// About 8 bits per word, so that most words of a text are turned away
    /// by one bit test.
    maybe: BitFilter,
    /// A power of two of slots, at least twice the words, so that probes
    /// are short and always reach an empty slot.
    entries: Vec<VocabularyEntry<T>>,
    /// The bytes of the words longer than 16 bytes, end to end, to compare
    /// them whole; `long[k]` is the id of the k-th, and the end of its bytes.
    long_bytes: Vec<u8>,
    long: Vec<(u32, usize)>,
}

impl<T> Default for Vocabulary<T> {
    fn default() -> Self {
        Vocabulary {
            maybe: BitFilter::default(),
            entries: Vec::new(),
            long_bytes: Vec::new(),
            long: Vec::new(),
        }
    }
}

/// A [`WordKey`] laid out flat, so that the entry fills 32 bytes with an
/// item of up to 12, aligned on 32 so that it is always in one cache line.
#[derive(Debug, Clone, Copy)]
#[repr(align(32))]
struct VocabularyEntry<T> {
    first: u64,
    last: u64,
    /// The word's length plus one; 0 for an empty slot.
    len_plus_one: u32,
    /// Kept by the owner of the vocabulary.
    item: T,
}

impl<T> VocabularyEntry<T> {
    #[inline(always)]
    fn is(&self, key: WordKey) -> bool {
        self.len_plus_one == key.len.wrapping_add(1)
            && self.first == key.first
            && self.last == key.last
    }
}

// Half a cache line, never across two.
const _: () = assert!(std::mem::size_of::<VocabularyEntry<Starts>>() == 32);
const _: () = assert!(std::mem::size_of::<VocabularyEntry<(u32, u32)>>() == 32);
const _: () = assert!(std::mem::align_of::<VocabularyEntry<Starts>>() == 32);

impl<T: Copy + Default> Vocabulary<T> {
    /// The `words` (distinct), and the id each was given.
    fn new<'w>(words: impl ExactSizeIterator<Item = &'w str>) -> (Vocabulary<T>, Vec<u32>) {
        let hashed: Vec<(&str, u64)> = words
            .map(|w| (w, word_hash(WordKey::of(w.as_bytes()), w.as_bytes())))
            .collect();
        Vocabulary::with_hashes(&hashed)
    }

    /// The words, each with its hash ([`word_hash`] but in tests), and the
    /// id each was given.
    fn with_hashes(words: &[(&str, u64)]) -> (Vocabulary<T>, Vec<u32>) {
        let slots = (2 * words.len()).next_power_of_two().max(8);
        let empty = VocabularyEntry {
            first: 0,
            last: 0,
            len_plus_one: 0,
            item: T::default(),
        };
        let mut v = Vocabulary {
            maybe: BitFilter::new(words.len().max(64), 8),
            entries: vec![empty; slots],
            long_bytes: Vec::new(),
            long: Vec::new(),
        };
        let mask = slots - 1;
        let mut ids = Vec::with_capacity(words.len());
        for &(word, hash) in words {
            let mut i = hash as usize & mask;
            while v.entries[i].len_plus_one != 0 {
                i = (i + 1) & mask;
            }
            let key = WordKey::of(word.as_bytes());
            v.maybe.insert(hash);
            v.entries[i] = VocabularyEntry {
                first: key.first,
                last: key.last,
                len_plus_one: key.len.wrapping_add(1),
                item: T::default(),
            };
            if !key.is_whole() {
                v.long.push((i as u32, 0));
            }
            ids.push(i as u32);
        }
        // The long words in id order, for `long_word`'s binary search.
        v.long.sort_unstable();
        let mut long_words: Vec<(u32, &str)> = words
            .iter()
            .zip(&ids)
            .filter(|((word, _), _)| !WordKey::of(word.as_bytes()).is_whole())
            .map(|((word, _), &id)| (id, *word))
            .collect();
        long_words.sort_unstable();
        for ((_, end), (_, word)) in v.long.iter_mut().zip(long_words) {
            v.long_bytes.extend_from_slice(word.as_bytes());
            *end = v.long_bytes.len();
        }
        (v, ids)
    }

    /// Sets the item of word `id`.
    fn set_item(&mut self, id: u32, item: T) {
        if let Some(entry) = self.entries.get_mut(id as usize) {
            entry.item = item;
        }
    }

    /// The bytes of word `id`, if it is longer than 16 bytes.
    fn long_word(&self, id: u32) -> &[u8] {
        let Ok(k) = self.long.binary_search_by_key(&id, |&(long, _)| long) else {
            return &[];
        };
        let start = match k.checked_sub(1) {
            Some(before) => self.long.get(before).map_or(0, |&(_, end)| end),
            None => 0,
        };
        let end = self.long.get(k).map_or(start, |&(_, end)| end);
        self.long_bytes.get(start..end).unwrap_or_default()
    }

    /// The id of `word` and its item.
    #[inline]
    fn get(&self, word: &[u8]) -> Option<(u32, T)> {
        let key = WordKey::of(word);
        self.get_hashed(word, key, word_hash(key, word))
    }

    /// [`Vocabulary::get`] with the word's key and hash: the bit test
    /// that turns most words away, inlined into the scanning loop, and the
    /// probe for the others.
    #[inline(always)]
    fn get_hashed(&self, word: &[u8], key: WordKey, hash: u64) -> Option<(u32, T)> {
        if !self.maybe.may_hold(hash) {
            return None;
        }
        self.probe(word, key, hash)
    }

    #[inline(always)]
    fn probe(&self, word: &[u8], key: WordKey, hash: u64) -> Option<(u32, T)> {
        let mask = self.entries.len().checked_sub(1)?;
        let mut i = hash as usize & mask;
        loop {
            let entry = self.entries.get(i)?;
            if entry.len_plus_one == 0 {
                return None;
            }
            if entry.is(key) && (key.is_whole() || self.long_word(i as u32) == word) {
                return Some((i as u32, entry.item));
            }
            i = (i + 1) & mask;
        }
    }
}

/// A word's length and its first and last bytes (8 of each, or fewer for a
/// short word): the word itself when it is 16 bytes or shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WordKey {
    first: u64,
    last: u64,
    len: u32,
}

impl WordKey {
    #[inline]
    fn of(word: &[u8]) -> WordKey {
        let n = word.len();
        let (first, last) = match word {
            [] => (0, 0),
            [only] => (u64::from(*only), 0),
            [a, b] => (u64::from(*a), u64::from(*b)),
            [a, b, c] => (u64::from(*a) << 8 | u64::from(*b), u64::from(*c)),
            // Fixed-size loads: one instruction each, where a copy of a
            // slice of unknown length was a loop.
            _ if n < 8 => (
                u64::from(u32::from_le_bytes(bytes_at(word, 0))),
                u64::from(u32::from_le_bytes(bytes_at(word, n - 4))),
            ),
            _ => (
                u64::from_le_bytes(bytes_at(word, 0)),
                u64::from_le_bytes(bytes_at(word, n - 8)),
            ),
        };
        WordKey {
            first,
            last,
            len: n as u32,
        }
    }

    /// Whether the key holds all of the word's bytes.
    fn is_whole(self) -> bool {
        self.len <= 16
    }
}

/// A fast hash of a word (the folded multiply of foldhash and wyhash over
/// its [`WordKey`], and every 8 bytes between for a word longer than 16
/// bytes). Its quality only matters for speed: every lookup compares the
/// word itself.
#[inline]
fn word_hash(key: WordKey, word: &[u8]) -> u64 {
    const K0: u64 = 0x243F_6A88_85A3_08D3;
    const K1: u64 = 0x1319_8A2E_0370_7344;
    let mut first = key.first;
    if !key.is_whole() {
        let n = word.len();
        for chunk in word
            .get(8..n.saturating_sub(8))
            .unwrap_or_default()
            .chunks(8)
        {
            first = folded_multiply(first ^ K0, read_le(chunk) ^ K1);
        }
    }
    folded_multiply(first ^ K0 ^ u64::from(key.len) << 56, key.last ^ K1)
}

/// The `N` bytes of `word` from `at`, or zeros if it is too short.
#[inline(always)]
fn bytes_at<const N: usize>(word: &[u8], at: usize) -> [u8; N] {
    word.get(at..at + N)
        .and_then(|bytes| bytes.try_into().ok())
        .unwrap_or([0; N])
}

/// Up to 8 bytes as a little-endian number.
#[inline]
fn read_le(bytes: &[u8]) -> u64 {
    let mut buf = [0; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(buf)
}

#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ (full >> 64) as u64
}

/// Which byte lengths of prefix keys a word should be looked up at.
///
/// Masks with a bit for each byte length of a key (bit
/// [`PrefixLengths::LONGEST`]: that many bytes or more), for the keys of
/// two or three bytes by their first two bytes, for the longer ones by
/// their first four. Four bytes tell most words from most keys (`retrait*`
/// from `revoir`, where two would not), so that most words cost a bit test
/// or two and no lookup; the others are looked up only at the lengths that
/// exist. A key of less than two bytes is never found (no prefix can be
/// that short, see `query::check_words`).
#[derive(Debug, Default)]
struct PrefixLengths {
    short: LengthTable,
    long: LengthTable,
}

impl PrefixLengths {
    /// The last bit of a mask, which stands for every length from its own.
    const LONGEST: usize = 31;

    fn new<'k>(keys: impl Iterator<Item = &'k str> + Clone) -> PrefixLengths {
        let short = keys.clone().filter(|k| (2..4).contains(&k.len())).count();
        let long = keys.clone().filter(|k| k.len() >= 4).count();
        let mut lengths = PrefixLengths {
            short: LengthTable::with_room(short),
            long: LengthTable::with_room(long),
        };
        for key in keys {
            let bit = 1 << key.len().min(Self::LONGEST);
            match *key.as_bytes() {
                [a, b, c, d, ..] => lengths.long.add(u32::from_le_bytes([a, b, c, d]), bit),
                [a, b, ..] => lengths.short.add(u32::from_le_bytes([a, b, 0, 0]), bit),
                _ => {}
            }
        }
        lengths
    }

    /// The lengths (bits) worth a lookup of `word`'s prefix of that length.
    #[inline]
    fn of(&self, word: &[u8]) -> u32 {
        let mask = match *word {
            [a, b, c, d, ..] => {
                self.long.get(u32::from_le_bytes([a, b, c, d]))
                    | self.short.get(u32::from_le_bytes([a, b, 0, 0]))
            }
            [a, b, ..] => self.short.get(u32::from_le_bytes([a, b, 0, 0])),
            _ => return 0,
        };
        match word.len() {
            n if n >= Self::LONGEST => mask,
            n => mask & ((2 << n) - 1),
        }
    }
}

/// The masks of [`PrefixLengths`] by a key's first bytes (never 0: a folded
/// word has no NUL byte), open-addressed with room for twice the keys,
/// behind a bit table that turns most words away without reading a slot:
/// every word of every text asks, and a text's words are mostly not the
/// start of any key.
#[derive(Debug, Default)]
struct LengthTable {
    /// A power of two of slots, each a key (0: empty) and its mask; none
    /// when there is no key.
    slots: Vec<(u32, u32)>,
    /// About 16 bits per key.
    maybe: BitFilter,
}

impl LengthTable {
    fn with_room(keys: usize) -> LengthTable {
        if keys == 0 {
            return LengthTable::default();
        }
        LengthTable {
            slots: vec![(0, 0); (2 * keys).next_power_of_two().max(16)],
            maybe: BitFilter::new(keys, 16),
        }
    }

    fn add(&mut self, key: u32, bit: u32) {
        let hash = Self::hash(key);
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = (hash >> 32) as usize & mask;
        self.maybe.insert(hash);
        while let Some(slot) = self.slots.get_mut(i) {
            if slot.0 == 0 || slot.0 == key {
                *slot = (key, slot.1 | bit);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn get(&self, key: u32) -> u32 {
        let hash = Self::hash(key);
        if !self.maybe.may_hold(hash) {
            return 0;
        }
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = (hash >> 32) as usize & mask;
        while let Some(&(k, bits)) = self.slots.get(i) {
            if k == key {
                return bits;
            }
            if k == 0 {
                return 0;
            }
            i = (i + 1) & mask;
        }
        0
    }

    fn hash(key: u32) -> u64 {
        u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// One article folded and scanned for the groups a scope needs.
struct Scan<'a> {
    texts: [std::borrow::Cow<'a, str>; 5],
    groups: Vec<Option<Box<GroupScan>>>,
}

impl Drop for Scan<'_> {
    fn drop(&mut self) {
        let done = self.groups.drain(..).flatten();
        let _ = SCANS.try_with(|pool| {
            let Ok(mut pool) = pool.try_borrow_mut() else {
                return;
            };
            for mut scan in done {
                // A thread matches one article at a time: a few scans
                // (one per group) are all it needs.
                if pool.len() < 8 {
                    scan.reset();
                    pool.push(scan);
                }
            }
        });
    }
}

impl<'a> Scan<'a> {
    fn new(matcher: &Matcher, needed: &[bool], doc: &Document<'a>) -> Scan<'a> {
        // Joined only when some rule in scope has an `author:` term.
        let wants_authors = matcher
            .groups
            .iter()
            .zip(needed)
            .any(|(g, &n)| n && g.fields & Field::Author.bit() != 0);
        let authors = match doc.authors {
            [] => std::borrow::Cow::Borrowed(""),
            [one] => std::borrow::Cow::Borrowed(one.as_str()),
            _ if !wants_authors => std::borrow::Cow::Borrowed(""),
            many => std::borrow::Cow::Owned(many.join("\n")),
        };
        let texts = [
            doc.title.into(),
            doc.summary.into(),
            doc.body.into(),
            authors,
            doc.url.into(),
        ];
        let groups = matcher
            .groups
            .iter()
            .zip(needed)
            .map(|(group, &needed)| {
                needed.then(|| {
                    let mut scan = pooled_scan();
                    scan_group(group, &texts, &mut scan);
                    scan
                })
            })
            .collect();
        Scan { texts, groups }
    }

    fn text(&self, field: Field) -> &str {
        self.texts.get(field as usize).map_or("", |t| t.as_ref())
    }

    fn group(&self, group: usize) -> Option<&GroupScan> {
        self.groups.get(group)?.as_deref()
    }

    /// The original byte range of the first occurrence of a pattern in
    /// `field`.
    ///
    /// `shape`: the pattern's first word (its id), and its length in words.
    fn first(
        &self,
        g: usize,
        pattern: usize,
        shape: (u32, usize),
        field: Field,
    ) -> Option<Range<usize>> {
        let (first_word, words) = shape;
        let gs = self.group(g)?;
        let folded = gs.folded(field)?;
        let first = match *gs.slots.get(pattern)? {
            // A quiet pattern (see `Marks::note`): one word, found by its id.
            0 if gs.found.get(pattern)? & field.bit() != 0 && first_word != u32::MAX => {
                gs.ids(field)?.iter().position(|&id| id == first_word)?
            }
            slot => {
                let hit = gs.hits.get(slot.checked_sub(1)? as usize)?;
                hit.first.get(field as usize)?.checked_sub(1)? as usize
            }
        };
        let last = first + words.checked_sub(1)?;
        Some(folded.span(first).start..folded.span(last).end)
    }

    /// Whether a pattern or regex was found, in any field.
    fn triggered(&self, trigger: Trigger) -> bool {
        match trigger {
            Trigger::Pattern { group, pattern } => self.found(group, pattern) != 0,
            Trigger::Regex { group, index } => self.regex_fields(group, index).is_some(),
        }
    }

    /// The fields (bits) a pattern was found in.
    fn found(&self, group: usize, pattern: usize) -> u8 {
        self.group(group)
            .and_then(|gs| gs.found.get(pattern).copied())
            .unwrap_or(0)
    }

    fn regex_fields(&self, group: usize, index: usize) -> Option<u8> {
        let gs = self.group(group)?;
        gs.regex
            .iter()
            .find(|&&(r, _)| r == index)
            .map(|&(_, fields)| fields)
    }

    /// The original byte range of the first match of a regex in `field`,
    /// widened to whole words.
    fn regex_span(
        &self,
        group: &Group,
        g: usize,
        index: usize,
        field: Field,
    ) -> Option<Range<usize>> {
        let folded = self.group(g)?.folded(field)?;
        // The match includes the spaces around its words.
        let m = group.regexes.get(index)?.find(folded.joined())?;
        let first = folded.word_containing(m.start() + 1)?;
        let last = folded.word_containing(m.end().saturating_sub(2))?;
        Some(folded.span(first).start..folded.span(last).end)
    }

    /// The narrowest stretch of `field` holding every word of a proximity
    /// search with at most `distance` words between the first and the last.
    fn window(
        &self,
        group: &Group,
        g: usize,
        patterns: &[usize],
        field: Field,
        distance: u32,
    ) -> Option<Range<usize>> {
        let gs = self.group(g)?;
        let found = |&p: &usize| gs.found.get(p).is_some_and(|m| m & field.bit() != 0);
        // Most proximity terms fail on a missing word: nothing to collect.
        if !patterns.iter().all(found) {
            return None;
        }
        // Every occurrence of each (single-word) pattern, from the word ids
        // the scan kept: proximity costs nothing until a rule asks.
        let ids = gs.ids(field)?;
        let lists: Vec<Vec<u32>> = patterns
            .iter()
            .map(|&p| {
                let word = group.patterns[p].exact.first().copied();
                ids.iter()
                    .enumerate()
                    .filter(|&(_, id)| Some(*id) == word)
                    .map(|(i, _)| i as u32)
                    .collect()
            })
            .collect();
        let lists: Vec<&[u32]> = lists.iter().map(Vec::as_slice).collect();
        let (lo, hi) = min_window(&lists)?;
        if hi - lo > distance {
            return None;
        }
        let folded = gs.folded(field)?;
        Some(folded.span(lo as usize).start..folded.span(hi as usize).end)
    }
}

/// The marks of the patterns found in the field being scanned.
struct Marks<'s> {
    found: &'s mut [u8],
    slots: &'s mut [u32],
    hits: &'s mut Vec<PatternHit>,
    quiet: &'s mut Vec<u32>,
    /// The field's index in [`Field::TEXT`], and its bit.
    field: usize,
    bit: u8,
}

impl Marks<'_> {
    fn is_found(&self, p: usize) -> bool {
        self.found.get(p).is_some_and(|m| m & self.bit != 0)
    }

    /// Single-word pattern `p`, which triggers no rule, is in the field:
    /// most words a text shares with the rules are such, and only a rule
    /// that something else triggered may ask where (see [`Scan::first`]),
    /// so only the mark is set.
    fn note(&mut self, p: usize) {
        let Some(mark) = self.found.get_mut(p) else {
            return;
        };
        if *mark == 0 {
            self.quiet.push(p as u32);
        }
        *mark |= self.bit;
    }

    /// Pattern `p` starts at word `at`. Only the first occurrence in a
    /// field is kept: a body repeating one word a thousand times costs one
    /// entry.
    fn record(&mut self, p: usize, at: usize, triggers: bool) {
        let (Some(mark), Some(slot)) = (self.found.get_mut(p), self.slots.get_mut(p)) else {
            return;
        };
        if *mark & self.bit != 0 {
            return;
        }
        *mark |= self.bit;
        if *slot == 0 {
            self.hits.push(PatternHit {
                pattern: p as u32,
                first: [0; 5],
                triggers,
            });
            *slot = self.hits.len() as u32;
        }
        if let Some(hit) = self.hits.get_mut(*slot as usize - 1) {
            hit.first[self.field] = at as u32 + 1;
        }
    }
}

/// Folds the text fields that `group` looks at into `scan`, and finds its
/// patterns and regexes there.
fn scan_group(group: &Group, texts: &[std::borrow::Cow<'_, str>; 5], scan: &mut GroupScan) {
    const UNKNOWN: u32 = u32::MAX;
    if scan.found.len() < group.patterns.len() {
        scan.found.resize(group.patterns.len(), 0);
        scan.slots.resize(group.patterns.len(), 0);
    }
    for f in Field::TEXT {
        let i = f as usize;
        let text = texts[i].as_ref();
        if group.fields & f.bit() == 0 || text.is_empty() {
            continue;
        }
        let bit = f.bit();
        scan.scanned |= bit;
        let GroupScan {
            folded,
            ids,
            found,
            slots,
            hits,
            quiet,
            regex,
            regex_candidates,
            starting,
            ..
        } = scan;
        let folded = &mut folded[i];
        folded.refill(text, group.opts);
        let folded = &*folded;
        let ids = &mut ids[i];
        let n = folded.len();
        ids.clear();
        ids.reserve(n);
        regex_candidates.clear();
        starting.clear();
        let mut marks = Marks {
            found,
            slots,
            hits,
            quiet,
            field: i,
            bit,
        };
        // First the words' ids, and the words that start with a prefix.
        for (at, word) in folded.word_bytes().enumerate() {
            match group.vocabulary.get(word) {
                Some((id, starts)) => {
                    ids.push(id);
                    if !starts.is_none() {
                        starting.push((at, starts));
                    }
                }
                None => ids.push(UNKNOWN),
            }
            let mut lengths = group.prefix_lengths.of(word);
            while lengths != 0 {
                let bit_len = lengths.trailing_zeros() as usize;
                lengths &= lengths - 1;
                let upto = if bit_len == PrefixLengths::LONGEST {
                    word.len()
                } else {
                    bit_len
                };
                for len in bit_len..=upto {
                    let Some((_, (from, to))) =
                        word.get(..len).and_then(|key| group.prefixes.get(key))
                    else {
                        continue;
                    };
                    let uses = group.prefix_uses.get(from as usize..to as usize);
                    for &used in uses.unwrap_or_default() {
                        match used {
                            PrefixUse::Pattern(p) => {
                                let triggers = group.triggers.get(p).is_some_and(|t| !t.is_empty());
                                marks.record(p, at, triggers);
                            }
                            PrefixUse::Regex(r) => regex_candidates.push(r),
                        }
                    }
                }
            }
        }
        // Then the patterns that start with a word of the vocabulary.
        for (at, starts) in starting.drain(..) {
            let items = match &starts {
                Starts::None => &[],
                Starts::One(item) => std::slice::from_ref(item),
                Starts::Many(from, to) => group
                    .by_first
                    .get(*from as usize..*to as usize)
                    .unwrap_or_default(),
            };
            for &item in items {
                let p = item.pattern as usize;
                if marks.is_found(p) {
                    continue;
                }
                let follows = match item.next {
                    FirstWord::ALONE => true,
                    FirstWord::READ => {
                        let pattern = &group.patterns[p];
                        let end = at + pattern.words;
                        end <= n
                            && (pattern.exact.len() == 1
                                || ids[at + 1..at + pattern.exact.len()] == pattern.exact[1..])
                            && pattern
                                .prefix
                                .as_deref()
                                .is_none_or(|prefix| folded.word(end - 1).starts_with(prefix))
                    }
                    second => ids.get(at + 1) == Some(&second),
                };
                if !follows {
                    continue;
                }
                if item.is_quiet() {
                    marks.note(p);
                } else {
                    marks.record(p, at, item.triggers);
                }
            }
        }
        let mut found_regex = |r: usize| match regex.iter_mut().find(|(index, _)| *index == r) {
            Some((_, fields)) => *fields |= bit,
            None => regex.push((r, bit)),
        };
        regex_candidates.sort_unstable();
        regex_candidates.dedup();
        for &r in regex_candidates.iter() {
            if group.regexes[r].is_match(folded.joined()) {
                found_regex(r);
            }
        }
        if let Some(set) = &group.regex_set {
            for member in set.matches(folded.joined()).iter() {
                found_regex(group.set_members[member]);
            }
        }
    }
}

/// The smallest `(min, max)` over choices of one position from each sorted
/// list; `None` if a list is empty.
fn min_window(lists: &[&[u32]]) -> Option<(u32, u32)> {
    if lists.iter().any(|l| l.is_empty()) {
        return None;
    }
    let mut heads = vec![0usize; lists.len()];
    let mut best: Option<(u32, u32)> = None;
    loop {
        let values = lists.iter().zip(&heads).map(|(l, &h)| l[h]);
        let lo = values.clone().min()?;
        let hi = values.max()?;
        if best.is_none_or(|(a, b)| hi - lo < b - a) {
            best = Some((lo, hi));
        }
        // Advance the list at the minimum; when it runs out, no later
        // window can be narrower.
        let k = (0..lists.len()).find(|&k| lists[k][heads[k]] == lo)?;
        heads[k] += 1;
        if heads[k] == lists[k].len() {
            return best;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const T: Field = Field::Title;
    const S: Field = Field::Summary;
    const B: Field = Field::Body;

    /// Options of a case: case_sensitive, accent_sensitive.
    const DEF: (bool, bool) = (false, false);
    const CASE: (bool, bool) = (true, false);
    const ACC: (bool, bool) = (false, true);
    const BOTH: (bool, bool) = (true, true);

    struct Case {
        name: &'static str,
        keywords: &'static [&'static str],
        exclude: &'static [&'static str],
        opts: (bool, bool),
        doc: [&'static str; 3],
        /// `None`: the rule must not match; otherwise the expected hits.
        expect: Option<&'static [(&'static str, Field)]>,
    }

    const fn case(
        name: &'static str,
        keywords: &'static [&'static str],
        exclude: &'static [&'static str],
        opts: (bool, bool),
        doc: [&'static str; 3],
        expect: Option<&'static [(&'static str, Field)]>,
    ) -> Case {
        Case {
            name,
            keywords,
            exclude,
            opts,
            doc,
            expect,
        }
    }

    #[rustfmt::skip]
    const CASES: &[Case] = &[
        // Case and accents.
        case("lowercase rule, capitalized text", &["minusma"], &[], DEF, ["La MINUSMA se retire", "", ""], Some(&[("minusma", T)])),
        case("uppercase rule, lowercase text", &["MINUSMA"], &[], DEF, ["", "", "la minusma"], Some(&[("MINUSMA", B)])),
        case("Publié ~ publie", &["publie"], &[], DEF, ["Rapport Publié hier", "", ""], Some(&[("publie", T)])),
        case("PUBLIÉ ~ publié", &["publié"], &[], DEF, ["RAPPORT PUBLIÉ", "", ""], Some(&[("publié", T)])),
        case("decomposed accent in text", &["publié"], &[], DEF, ["rapport publie\u{301}", "", ""], Some(&[("publié", T)])),
        case("accent_sensitive keeps é apart", &["publié"], &[], ACC, ["rapport publie", "", ""], None),
        case("accent_sensitive still matches é", &["publié"], &[], ACC, ["Rapport PUBLIÉ", "", ""], Some(&[("publié", T)])),
        case("accent_sensitive, decomposed é", &["publié"], &[], ACC, ["publie\u{301}", "", ""], Some(&[("publié", T)])),
        case("case_sensitive keeps US apart", &["US"], &[], CASE, ["Tell us more", "", ""], None),
        case("case_sensitive matches US", &["US"], &[], CASE, ["US troops", "", ""], Some(&[("US", T)])),
        case("case_sensitive still folds accents", &["Élysée"], &[], CASE, ["l’Elysee dément", "", ""], Some(&[("Élysée", T)])),
        case("both sensitive, exact form", &["Élysée"], &[], BOTH, ["l’Élysée", "", ""], Some(&[("Élysée", T)])),
        case("both sensitive, no accent", &["Élysée"], &[], BOTH, ["l’Elysee", "", ""], None),
        case("case_sensitive, wrong case", &["Élysée"], &[], CASE, ["l’ÉLYSÉE dément", "", ""], None),
        // Whole words.
        case("retrait is not retraite", &["retrait"], &[], DEF, ["La retraite à 64 ans", "Les retraits", "Les retraités"], None),
        case("retrait is retrait", &["retrait"], &[], DEF, ["", "", "Le retrait de la MINUSMA."], Some(&[("retrait", B)])),
        case("Mali is not Malien", &["Mali"], &[], DEF, ["Un Malien", "la Somalie", "Malian troops"], None),
        case("Mali before a comma", &["Mali"], &[], DEF, ["Au Mali, la junte", "", ""], Some(&[("Mali", T)])),
        case("digits are word chars", &["G5"], &[], DEF, ["Le G5-Sahel", "", ""], Some(&[("G5", T)])),
        case("G5 is not G50", &["G5"], &[], DEF, ["Le G50", "", ""], None),
        // French typography.
        case("elision, straight apostrophe", &["ONU"], &[], DEF, ["Le rapport de l'ONU", "", ""], Some(&[("ONU", T)])),
        case("elision, curly apostrophe", &["onu"], &[], DEF, ["Le rapport de l’ONU", "", ""], Some(&[("onu", T)])),
        case("elision, modifier apostrophe", &["onu"], &[], DEF, ["", "lʼONU", ""], Some(&[("onu", S)])),
        case("elided rule against curly text", &["l'ONU"], &[], DEF, ["selon l’ONU", "", ""], Some(&[("l'ONU", T)])),
        case("jusqu’au", &["jusqu'au"], &[], DEF, ["jusqu’au bout", "", ""], Some(&[("jusqu'au", T)])),
        case("aujourd’hui", &["aujourd’hui"], &[], DEF, ["", "", "Aujourd'hui à Bamako"], Some(&[("aujourd’hui", B)])),
        case("hyphenated text", &["casques bleus"], &[], DEF, ["Les Casques-Bleus", "", ""], Some(&[("casques bleus", T)])),
        case("hyphenated rule", &["casques-bleus"], &[], DEF, ["les casques bleus", "", ""], Some(&[("casques-bleus", T)])),
        case("uppercase phrase", &["Casques bleus"], &[], DEF, ["", "CASQUES BLEUS", ""], Some(&[("Casques bleus", S)])),
        case("phrase across a line break", &["casques bleus"], &[], DEF, ["", "", "les casques\n  bleus"], Some(&[("casques bleus", B)])),
        case("phrase before punctuation", &["casques bleus"], &[], DEF, ["Casques bleus, encore", "", ""], Some(&[("casques bleus", T)])),
        case("phrase across punctuation", &["Bamako Gao"], &[], DEF, ["Bamako. Gao", "", ""], Some(&[("Bamako Gao", T)])),
        case("phrase words not consecutive", &["casques bleus"], &[], DEF, ["casques et bérets bleus", "", ""], None),
        case("phrase in the wrong order", &["casques bleus"], &[], DEF, ["bleus casques", "", ""], None),
        case("phrase never spans fields", &["casques bleus"], &[], DEF, ["Les casques", "bleus", ""], None),
        case("percent sign is not a word", &["25 %"], &[], DEF, ["hausse de 25\u{202f}%", "", ""], Some(&[("25 %", T)])),
        case("NBSP separates words", &["ONU"], &[], DEF, ["l’ONU\u{a0}: rapport", "", ""], Some(&[("ONU", T)])),
        case("narrow NBSP separates words", &["1 000 soldats"], &[], DEF, ["1\u{202f}000\u{a0}soldats", "", ""], Some(&[("1 000 soldats", T)])),
        case("œ in text", &["soeur"], &[], DEF, ["Ma sœur", "", ""], Some(&[("soeur", T)])),
        case("œ in rule", &["SŒUR"], &[], DEF, ["ma soeur", "", ""], Some(&[("SŒUR", T)])),
        case("æ", &["ex aequo"], &[], DEF, ["Ex æquo", "", ""], Some(&[("ex aequo", T)])),
        case("ß", &["strasse"], &[], DEF, ["Berliner Straße", "", ""], Some(&[("strasse", T)])),
        case("soft hyphen inside a word", &["retraite"], &[], DEF, ["", "", "la retrai\u{ad}te"], Some(&[("retraite", B)])),
        // Several keywords and fields.
        case("any keyword, config order", &["Gao", "Mali"], &[], DEF, ["Mali : attaque", "près de Gao", "Gao, Mali"], Some(&[("Gao", S), ("Gao", B), ("Mali", T), ("Mali", B)])),
        case("first occurrence per field only", &["Mali"], &[], DEF, ["", "", "Mali, Mali et Mali"], Some(&[("Mali", B)])),
        case("overlapping keywords both hit", &["casques", "casques bleus"], &[], DEF, ["Les casques bleus", "", ""], Some(&[("casques", T), ("casques bleus", T)])),
        case("repeated word phrase", &["très très"], &[], DEF, ["un très, très grand", "", ""], Some(&[("très très", T)])),
        case("duplicate keyword, both reported", &["ONU", "onu"], &[], DEF, ["l’ONU", "", ""], Some(&[("ONU", T), ("onu", T)])),
        case("no keyword present", &["Niger"], &[], DEF, ["Mali", "Burkina", "Tchad"], None),
        case("empty document", &["Mali"], &[], DEF, ["", "", ""], None),
        // Exclude.
        case("exclude wins", &["Mali"], &["football"], DEF, ["Mali", "", "Match de football"], None),
        case("exclude absent", &["Mali"], &["football"], DEF, ["Mali", "", "Match de foot"], Some(&[("Mali", T)])),
        case("exclude is whole words too", &["Mali"], &["foot"], DEF, ["Mali", "", "Match de football"], Some(&[("Mali", T)])),
        case("exclude phrase", &["Mali"], &["coupe d'Afrique"], DEF, ["Mali", "la Coupe d’Afrique", ""], None),
        case("exclude only, excluded", &[], &["sport"], DEF, ["Tout sauf le SPORT", "", ""], None),
        case("exclude only, nothing excluded", &[], &["sport"], DEF, ["Politique", "", ""], Some(&[])),
        case("no terms at all matches", &[], &[], DEF, ["", "", ""], Some(&[])),
        case("exclude follows rule options", &["Mali"], &["US"], CASE, ["Mali", "with us", ""], Some(&[("Mali", T)])),
        // English.
        case("English phrase", &["peacekeeping mission"], &[], DEF, ["UN Peacekeeping Mission ends", "", ""], Some(&[("peacekeeping mission", T)])),
        case("English possessive", &["UN"], &[], DEF, ["", "the UN’s report", ""], Some(&[("UN", S)])),
        case("English word boundary", &["war"], &[], DEF, ["Warsaw software", "award", "wartime"], None),
    ];

    #[test]
    fn rules_table() {
        for c in CASES {
            let spec = RuleSpec {
                name: c.name.to_string(),
                keywords: strings(c.keywords),
                exclude: strings(c.exclude),
                case_sensitive: c.opts.0,
                accent_sensitive: c.opts.1,
                ..RuleSpec::default()
            };
            let matcher = Matcher::new(vec![spec]).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            let doc = Document {
                title: c.doc[0],
                summary: c.doc[1],
                body: c.doc[2],
                ..Document::default()
            };
            let got = matcher.match_document(&doc, "src", &[]);
            match c.expect {
                None => assert!(got.is_empty(), "{}: unexpected {got:#?}", c.name),
                Some(expected) => {
                    assert_eq!(got.len(), 1, "{}: no match", c.name);
                    let hits: Vec<(&str, Field)> = got[0]
                        .hits
                        .iter()
                        .map(|h| (h.term.as_str(), h.field))
                        .collect();
                    assert_eq!(hits, expected, "{}", c.name);
                    for hit in &got[0].hits {
                        let words = fold_words(
                            &hit.snippet[hit.highlight.clone()],
                            matcher.rules()[0].fold_options(),
                        );
                        assert_eq!(
                            words,
                            fold_words(&hit.term, matcher.rules()[0].fold_options()),
                            "{}: highlight in {:?}",
                            c.name,
                            hit.snippet
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn scope_by_sources_and_tags() {
        let rule = |name: &str, sources: &[&str], tags: &[&str]| RuleSpec {
            name: name.to_string(),
            keywords: strings(&["Mali"]),
            sources: strings(sources),
            tags: strings(tags),
            ..RuleSpec::default()
        };
        let matcher = Matcher::new(vec![
            rule("everywhere", &[], &[]),
            rule("lemonde only", &["lemonde"], &[]),
            rule("afrique tag", &[], &["afrique"]),
            rule("rfi or sahel", &["rfi"], &["sahel"]),
        ])
        .unwrap();
        let doc = Document {
            title: "Mali",
            ..Document::default()
        };
        let cases: &[(&str, &[&str], &[usize])] = &[
            ("lemonde", &[], &[0, 1]),
            ("lemonde", &["afrique"], &[0, 1, 2]),
            ("rfi", &[], &[0, 3]),
            ("jeuneafrique", &["afrique", "sahel"], &[0, 2, 3]),
            ("bbc", &["world"], &[0]),
            ("LeMonde", &[], &[0]), // names are exact
        ];
        for (source, tags, expected) in cases {
            let got: Vec<usize> = matcher
                .match_document(&doc, source, &strings(tags))
                .iter()
                .map(|m| m.rule)
                .collect();
            assert_eq!(&got, expected, "{source} {tags:?}");
        }
    }

    #[test]
    fn several_rules_share_patterns_and_options() {
        let rules = vec![
            RuleSpec {
                name: "a".into(),
                keywords: strings(&["casques bleus"]),
                ..RuleSpec::default()
            },
            RuleSpec {
                name: "b".into(),
                keywords: strings(&["Casques-Bleus", "Mali"]),
                exclude: strings(&["football"]),
                ..RuleSpec::default()
            },
            RuleSpec {
                name: "c".into(),
                keywords: strings(&["Mali"]),
                case_sensitive: true,
                ..RuleSpec::default()
            },
            RuleSpec {
                name: "d".into(),
                keywords: strings(&["Mali"]),
                exclude: strings(&["casques bleus"]),
                accent_sensitive: true,
                ..RuleSpec::default()
            },
            RuleSpec {
                name: "e".into(),
                keywords: strings(&["football"]),
                sources: strings(&["other"]),
                ..RuleSpec::default()
            },
        ];
        let matcher = Matcher::new(rules).unwrap();
        assert_eq!(matcher.groups.len(), 3);
        // "casques bleus" and "Casques-Bleus" fold to one pattern.
        assert_eq!(matcher.groups[0].patterns[0].rules, [0, 1]);
        let doc = Document {
            title: "Les casques bleus quittent le MALI",
            summary: "",
            body: "Le Mali et les Casques bleus.",
            ..Document::default()
        };
        let got = matcher.match_document(&doc, "src", &[]);
        let summary: Vec<(usize, Vec<(&str, Field)>)> = got
            .iter()
            .map(|m| {
                let hits = m.hits.iter().map(|h| (h.term.as_str(), h.field)).collect();
                (m.rule, hits)
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, vec![("casques bleus", T), ("casques bleus", B)]),
                (
                    1,
                    vec![
                        ("Casques-Bleus", T),
                        ("Casques-Bleus", B),
                        ("Mali", T),
                        ("Mali", B)
                    ]
                ),
                (2, vec![("Mali", B)]),
            ]
        );
        let with_football = Document {
            summary: "football",
            ..doc
        };
        let rules: Vec<usize> = matcher
            .match_document(&with_football, "src", &[])
            .iter()
            .map(|m| m.rule)
            .collect();
        assert_eq!(rules, [0, 2]);
        assert!(
            matcher
                .match_document(&doc, "src", &[])
                .iter()
                .all(|m| m.rule != 4)
        );
    }

    #[test]
    fn empty_terms_are_errors() {
        let cases: &[(&[&str], &[&str], &str, usize)] = &[
            (&[""], &[], "keywords", 0),
            (&["Mali", " - "], &[], "keywords", 1),
            (&["Mali"], &["ok", "…’"], "exclude", 1),
        ];
        for (keywords, exclude, list, index) in cases {
            let err = Matcher::new(vec![RuleSpec {
                name: "sahel".into(),
                keywords: strings(keywords),
                exclude: strings(exclude),
                ..RuleSpec::default()
            }])
            .unwrap_err();
            match &err {
                RuleError::EmptyTerm {
                    rule,
                    list: l,
                    index: i,
                    ..
                } => assert_eq!((rule.as_str(), *l, *i), ("sahel", *list, *index)),
                other => panic!("unexpected {other}"),
            }
        }
        let err = Matcher::new(vec![RuleSpec {
            name: "sahel".into(),
            exclude: strings(&["--"]),
            ..RuleSpec::default()
        }])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "exclude term 0 (\"--\") of rule \"sahel\" has no words to match; \
             a term needs at least one letter or digit"
        );
    }

    #[test]
    fn field_names() {
        assert_eq!(Field::Summary.to_string(), "summary");
        assert_eq!(serde_json::to_string(&Field::Title).unwrap(), "\"title\"");
        assert_eq!(
            serde_json::from_str::<Field>("\"body\"").unwrap(),
            Field::Body
        );
    }

    #[test]
    fn vocabulary_survives_a_hash_collision() {
        // Pretend "bamako" and "gao" hash like "minusma": each must still
        // be found as itself, and none mistaken for another.
        let hash = |w: &str| word_hash(WordKey::of(w.as_bytes()), w.as_bytes());
        let h = hash("minusma");
        let long = "maintiendelapaixausahel";
        let (mut v, ids) = Vocabulary::<(u32, u32)>::with_hashes(&[
            ("minusma", h),
            ("bamako", h),
            (long, hash(long)),
        ]);
        for (k, &id) in ids.iter().enumerate() {
            v.set_item(id, (k as u32, k as u32 + 1));
        }
        let get = |w: &str| v.get_hashed(w.as_bytes(), WordKey::of(w.as_bytes()), h);
        assert_eq!(get("minusma"), Some((ids[0], (0, 1))));
        assert_eq!(get("bamako"), Some((ids[1], (1, 2))));
        assert_eq!(get("gao"), None);
        assert_eq!(v.get(long.as_bytes()), Some((ids[2], (2, 3))));
        assert_eq!(v.get(b"maintiendelapaixausahem"), None);
        assert_eq!(v.get(b"casque"), None);
        assert_eq!(v.get(b""), None);
        assert_eq!(Vocabulary::<(u32, u32)>::default().get(b"mali"), None);
        // Long words that differ only between their first and last 8 bytes.
        let (v, ids) = Vocabulary::<(u32, u32)>::new(
            ["maintien-de-la-paix", "maintien-ee-la-paix"].into_iter(),
        );
        assert_eq!(v.get(b"maintien-de-la-paix"), Some((ids[0], (0, 0))));
        assert_eq!(v.get(b"maintien-ee-la-paix"), Some((ids[1], (0, 0))));
        assert_eq!(v.get(b"maintien-fe-la-paix"), None);
        // No word is empty, but an empty one would not be an empty slot.
        let (v, ids) = Vocabulary::<(u32, u32)>::new(["", "a"].into_iter());
        assert_eq!(v.get(b""), Some((ids[0], (0, 0))));
        assert_eq!(v.get(b"a"), Some((ids[1], (0, 0))));
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn vocabulary_finds_its_words_and_only_them() {
        // Every length from 1 to 40 bytes, multibyte chars included.
        let words: Vec<String> = (0..20_000)
            .map(|i: usize| {
                let stem = format!("{i}é{}", i % 7);
                stem.repeat(1 + i % 5)
            })
            .collect();
        let (v, ids) = Vocabulary::<(u32, u32)>::new(words.iter().map(String::as_str));
        let mut distinct = ids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), words.len());
        let id_of = |bytes: &[u8]| {
            let k = words.iter().position(|w| w.as_bytes() == bytes);
            k.map(|k| (ids[k], (0, 0)))
        };
        for (k, word) in words.iter().enumerate() {
            assert_eq!(v.get(word.as_bytes()), Some((ids[k], (0, 0))), "{word}");
            let mut other = word.clone();
            other.push('x');
            assert_eq!(v.get(other.as_bytes()), None, "{other}");
            if k % 50 == 0 {
                let shorter = &word.as_bytes()[1..];
                assert_eq!(
                    v.get(shorter),
                    id_of(shorter),
                    "{word} without its first byte"
                );
            }
        }
    }

    #[test]
    fn matcher_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Matcher>();
    }

    /// Byte range of `needle` in `haystack`, for building snippet cases.
    #[test]
    fn hits_point_at_the_first_occurrence_of_quiet_words_too() {
        // One of the two words triggers the rule, the other is only noted
        // as found: the hits of both point at their first occurrence.
        let matcher = Matcher::new(vec![RuleSpec {
            name: "retrait".into(),
            query: Some("minusma retrait".into()),
            ..RuleSpec::default()
        }])
        .unwrap();
        let title = "Bamako : pas de retrait";
        let body = "Le RETRAIT est lent, dit la Minusma. Le retrait des troupes suit.";
        let doc = Document {
            title,
            body,
            ..Document::default()
        };
        let got = matcher.match_document(&doc, "src", &[]);
        let mut hits: Vec<(&str, Field, &str, usize)> = got[0]
            .hits
            .iter()
            .map(|h| {
                let shown = &h.snippet[h.highlight.clone()];
                (h.term.as_str(), h.field, shown, h.highlight.start)
            })
            .collect();
        hits.sort();
        assert_eq!(
            hits,
            [
                (
                    "minusma",
                    Field::Body,
                    "Minusma",
                    body.find("Minusma").unwrap()
                ),
                (
                    "retrait",
                    Field::Title,
                    "retrait",
                    title.find("retrait").unwrap()
                ),
                (
                    "retrait",
                    Field::Body,
                    "RETRAIT",
                    body.find("RETRAIT").unwrap()
                ),
            ]
        );
    }

    #[test]
    fn snippet_of_a_hit_in_multibyte_text() {
        let body = format!(
            "{} la MINUSMA quitte le Mali {}",
            "éèê ".repeat(40),
            "日本 ".repeat(40)
        );
        let matcher = Matcher::new(vec![RuleSpec {
            name: "minusma".into(),
            keywords: strings(&["minusma quitte"]),
            ..RuleSpec::default()
        }])
        .unwrap();
        let doc = Document {
            body: &body,
            ..Document::default()
        };
        let got = matcher.match_document(&doc, "src", &[]);
        let hit = &got[0].hits[0];
        assert_eq!(&hit.snippet[hit.highlight.clone()], "MINUSMA quitte");
        assert!(
            hit.snippet.starts_with("…éèê ") && hit.snippet.ends_with(" 日本…"),
            "{}",
            hit.snippet
        );
    }
}
