//! The compiled keyword matcher: rule specs in, for each article the rules that match with their hits and snippets out.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::{Deserialize, Serialize};

use super::fold::{FoldOptions, Folded, fold_words};

/// One configured rule, already validated by the config module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSpec {
    /// The rule's name, as written in the config; names it in alerts and errors.
    pub name: String,
    /// Words or phrases of which any must be present. Empty means no keyword
    /// condition: the rule then matches every article in scope that no
    /// exclude term rules out.
    pub keywords: Vec<String>,
    /// Words or phrases none of which may be present.
    pub exclude: Vec<String>,
    /// See [`FoldOptions::case_sensitive`]. Default false.
    pub case_sensitive: bool,
    /// See [`FoldOptions::accent_sensitive`]. Default false.
    pub accent_sensitive: bool,
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
        }
    }

    /// Whether the rule looks at articles of this source at all.
    pub fn applies_to(&self, source: &str, source_tags: &[String]) -> bool {
        (self.sources.is_empty() && self.tags.is_empty())
            || self.sources.iter().any(|s| s == source)
            || self.tags.iter().any(|t| source_tags.contains(t))
    }
}

/// The part of an article a term was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Title,
    Summary,
    Body,
}

impl Field {
    /// In the order hits are reported.
    pub const ALL: [Field; 3] = [Field::Title, Field::Summary, Field::Body];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Summary => "summary",
            Field::Body => "body",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The texts of an article that rules search, each on its own: a phrase
/// never spans the end of the title and the start of the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Document<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    pub body: &'a str,
}

impl<'a> Document<'a> {
    pub fn field(&self, field: Field) -> &'a str {
        match field {
            Field::Title => self.title,
            Field::Summary => self.summary,
            Field::Body => self.body,
        }
    }
}

/// One keyword found in one field, with the text around it for the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// The keyword as written in the config, not as folded.
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
    /// One hit per keyword and field, keywords in config order, then fields
    /// in [`Field::ALL`] order. Empty for a rule without keywords.
    pub hits: Vec<Hit>,
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
    #[error("cannot compile the terms of {patterns} distinct keywords into one matcher")]
    Automaton {
        patterns: usize,
        #[source]
        source: aho_corasick::BuildError,
    },
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
    /// For each rule, the index in `groups` of its terms; `None` for a rule
    /// with neither keywords nor exclude terms.
    rule_group: Vec<Option<usize>>,
    groups: Vec<Group>,
}

/// Every term of every rule folded with one [`FoldOptions`], in one automaton.
#[derive(Debug)]
struct Group {
    opts: FoldOptions,
    automaton: AhoCorasick,
    /// Indexed by pattern id.
    patterns: Vec<Pattern>,
}

#[derive(Debug)]
struct Pattern {
    /// Number of words, to find the last matched token from the first.
    words: usize,
    /// The terms that fold to this pattern: a term shared by several rules
    /// is searched once.
    uses: Vec<TermRef>,
}

#[derive(Debug, Clone, Copy)]
struct TermRef {
    rule: usize,
    /// Index in the rule's `keywords` or `exclude`.
    term: usize,
    exclude: bool,
}

#[derive(Default)]
struct GroupBuilder {
    ids: HashMap<String, usize>,
    texts: Vec<String>,
    patterns: Vec<Pattern>,
}

/// A keyword occurrence, before snippets are cut for the rules that match.
struct Found {
    rule: usize,
    term: usize,
    field: Field,
    span: Range<usize>,
}

impl Matcher {
    /// Compiles the rules; fails on a term with no word in it, which could
    /// never match (or, as an exclude, never exclude).
    pub fn new(rules: Vec<RuleSpec>) -> Result<Matcher, RuleError> {
        let mut builders: Vec<(FoldOptions, GroupBuilder)> = Vec::new();
        let mut rule_group = Vec::with_capacity(rules.len());
        for (r, spec) in rules.iter().enumerate() {
            if spec.keywords.is_empty() && spec.exclude.is_empty() {
                rule_group.push(None);
                continue;
            }
            let opts = spec.fold_options();
            let g = match builders.iter().position(|(o, _)| *o == opts) {
                Some(g) => g,
                None => {
                    builders.push((opts, GroupBuilder::default()));
                    builders.len() - 1
                }
            };
            rule_group.push(Some(g));
            let lists = [
                ("keywords", &spec.keywords, false),
                ("exclude", &spec.exclude, true),
            ];
            for (list, terms, exclude) in lists {
                for (index, term) in terms.iter().enumerate() {
                    let words = fold_words(term, opts);
                    if words.is_empty() {
                        return Err(RuleError::EmptyTerm {
                            rule: spec.name.clone(),
                            list,
                            index,
                            term: term.clone(),
                        });
                    }
                    let text = format!(" {} ", words.join(" "));
                    let builder = &mut builders[g].1;
                    let id = match builder.ids.get(&text) {
                        Some(&id) => id,
                        None => {
                            let id = builder.patterns.len();
                            builder.patterns.push(Pattern {
                                words: words.len(),
                                uses: Vec::new(),
                            });
                            builder.ids.insert(text.clone(), id);
                            builder.texts.push(text);
                            id
                        }
                    };
                    builder.patterns[id].uses.push(TermRef {
                        rule: r,
                        term: index,
                        exclude,
                    });
                }
            }
        }

        let mut groups = Vec::with_capacity(builders.len());
        for (opts, builder) in builders {
            // Standard semantics, because overlapping search needs it: the
            // patterns " a " and " a b " both match in " a b ", and " a a "
            // matches twice in " a a a ".
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&builder.texts)
                .map_err(|source| RuleError::Automaton {
                    patterns: builder.texts.len(),
                    source,
                })?;
            groups.push(Group {
                opts,
                automaton,
                patterns: builder.patterns,
            });
        }
        Ok(Matcher {
            rules,
            rule_group,
            groups,
        })
    }

    pub fn rules(&self) -> &[RuleSpec] {
        &self.rules
    }

    /// The rules that match `doc`, in config order, among those that apply
    /// to `source` (by name or by one of its `source_tags`).
    ///
    /// A rule matches when none of its exclude terms is present and either
    /// one of its keywords is present or it has no keywords at all.
    pub fn match_document(
        &self,
        doc: &Document<'_>,
        source: &str,
        source_tags: &[String],
    ) -> Vec<RuleMatch> {
        let in_scope: Vec<bool> = self
            .rules
            .iter()
            .map(|rule| rule.applies_to(source, source_tags))
            .collect();
        if !in_scope.contains(&true) {
            return Vec::new();
        }

        let mut excluded = vec![false; self.rules.len()];
        let mut found: Vec<Found> = Vec::new();
        // Only the first hit of a term in a field is kept: a body repeating
        // one word a million times must not cost memory per occurrence.
        let mut recorded = std::collections::HashSet::new();
        for (g, group) in self.groups.iter().enumerate() {
            let needed = self
                .rule_group
                .iter()
                .zip(&in_scope)
                .any(|(rg, &scoped)| scoped && *rg == Some(g));
            if !needed {
                continue;
            }
            for field in Field::ALL {
                let text = doc.field(field);
                if text.is_empty() {
                    continue;
                }
                let folded = Folded::new(text, group.opts);
                for m in group.automaton.find_overlapping_iter(folded.joined()) {
                    let Some(pattern) = group.patterns.get(m.pattern().as_usize()) else {
                        continue;
                    };
                    // The pattern's leading space is the one before its first word.
                    let Some(first) = folded.word_at(m.start() + 1) else {
                        continue;
                    };
                    let last = first + pattern.words - 1;
                    let span = folded.span(first).start..folded.span(last).end;
                    for used in &pattern.uses {
                        if !in_scope[used.rule] {
                            continue;
                        }
                        if used.exclude {
                            excluded[used.rule] = true;
                        } else if recorded.insert((used.rule, used.term, field)) {
                            found.push(Found {
                                rule: used.rule,
                                term: used.term,
                                field,
                                span: span.clone(),
                            });
                        }
                    }
                }
            }
        }

        found.sort_unstable_by_key(|f| (f.rule, f.term, f.field, f.span.start));
        found.dedup_by_key(|f| (f.rule, f.term, f.field));

        let mut by_rule = found.chunk_by(|a, b| a.rule == b.rule).peekable();
        let mut matches = Vec::new();
        for (r, rule) in self.rules.iter().enumerate() {
            let hits = match by_rule.next_if(|c| c.first().is_some_and(|f| f.rule == r)) {
                Some(hits) => hits,
                None => &[],
            };
            if !in_scope[r] || excluded[r] {
                continue;
            }
            if rule.keywords.is_empty() {
                matches.push(RuleMatch {
                    rule: r,
                    hits: Vec::new(),
                });
                continue;
            }
            if hits.is_empty() {
                continue;
            }
            let hits = hits
                .iter()
                .map(|f| {
                    let (snippet, highlight) = snippet(doc.field(f.field), f.span.clone());
                    Hit {
                        term: rule.keywords.get(f.term).cloned().unwrap_or_default(),
                        field: f.field,
                        snippet,
                        highlight,
                    }
                })
                .collect();
            matches.push(RuleMatch { rule: r, hits });
        }
        matches
    }
}

/// Length of a snippet, in chars, when the field is long enough.
const SNIPPET_CHARS: usize = 120;

/// No-break spaces keep French typography (`ONU :`, `25 %`) when they are
/// the whole gap; any other run of whitespace becomes one plain space.
fn is_no_break(c: char) -> bool {
    matches!(c, '\u{00A0}' | '\u{202F}' | '\u{2007}')
}

/// Cuts about [`SNIPPET_CHARS`] chars of `text` around the byte range `hit`,
/// preferably at whitespace, and returns it with the hit's byte range in it.
///
/// Total on any input: a range that is not on char boundaries of `text`
/// gives an empty snippet rather than a panic.
pub(crate) fn snippet(text: &str, hit: Range<usize>) -> (String, Range<usize>) {
    let (hs, he) = (hit.start, hit.end);
    let (Some(before), Some(matched), Some(after)) =
        (text.get(..hs), text.get(hs..he), text.get(he..))
    else {
        return (String::new(), 0..0);
    };

    // Share the room left by the hit between both sides; a side that runs
    // out of text gives its share to the other.
    let budget = SNIPPET_CHARS.saturating_sub(matched.chars().count());
    let avail_before = before.chars().rev().take(budget).count();
    let avail_after = after.chars().take(budget).count();
    let want_after = (budget - (budget / 2).min(avail_before)).min(avail_after);
    let want_before = (budget - want_after).min(avail_before);

    // Every index below comes from `char_indices` or `find`, so each slice
    // of `text` is on char boundaries.
    let mut start = before
        .char_indices()
        .rev()
        .take(want_before)
        .last()
        .map_or(hs, |(i, _)| i);
    let cut_mid_word = start > 0 && !before[..start].ends_with(char::is_whitespace);
    if cut_mid_word && let Some(i) = before[start..].find(char::is_whitespace) {
        start += i;
    }
    let mut end = he
        + after
            .char_indices()
            .nth(want_after)
            .map_or(after.len(), |(i, _)| i);
    let cut_mid_word = end < text.len() && !text[end..].starts_with(char::is_whitespace);
    if cut_mid_word && let Some(i) = text[he..end].rfind(char::is_whitespace) {
        end = he + i;
    }
    let cut_start = text[..start].chars().rev().any(|c| !c.is_whitespace());
    let cut_end = text[end..].chars().any(|c| !c.is_whitespace());

    let mut out = String::with_capacity(end - start + 8);
    if cut_start {
        out.push('…');
    }
    let body_start = out.len();
    let mut highlight_start: Option<usize> = None;
    let mut highlight_end: Option<usize> = None;
    // The whitespace run being skipped: its first char, and whether it is
    // made only of no-break spaces.
    let mut gap: Option<(char, bool)> = None;
    for (i, c) in text[start..end].char_indices() {
        let at = start + i;
        if at >= he && highlight_end.is_none() {
            highlight_end = Some(out.len());
        }
        if c.is_whitespace() {
            gap = match gap {
                None => Some((c, is_no_break(c))),
                Some((first, no_break)) => Some((first, no_break && is_no_break(c))),
            };
            continue;
        }
        if let Some((first, no_break)) = gap.take()
            && out.len() > body_start
        {
            out.push(if no_break { first } else { ' ' });
        }
        if at >= hs && highlight_start.is_none() {
            highlight_start = Some(out.len());
        }
        out.push(c);
    }
    let highlight_end = highlight_end.unwrap_or(out.len());
    // A hit made only of whitespace (never produced by the matcher) would
    // leave the start past the end.
    let highlight_start = highlight_start.unwrap_or(highlight_end);
    let highlight = highlight_start..highlight_end.max(highlight_start);
    if cut_end {
        out.push('…');
    }
    (out, highlight)
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
        assert_eq!(matcher.groups[0].patterns[0].uses.len(), 2);
        let doc = Document {
            title: "Les casques bleus quittent le MALI",
            summary: "",
            body: "Le Mali et les Casques bleus.",
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
    fn matcher_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Matcher>();
    }

    /// Byte range of `needle` in `haystack`, for building snippet cases.
    fn range_of(haystack: &str, needle: &str) -> Range<usize> {
        let start = haystack.find(needle).unwrap();
        start..start + needle.len()
    }

    #[test]
    fn snippets() {
        let long_fr = "Le Conseil de sécurité a voté à l’unanimité, vendredi 30 juin, la fin de la \
                       mission des casques bleus au Mali, déployés depuis 2013 dans le pays, \
                       à la demande de la junte au pouvoir à Bamako depuis deux coups d’État.";
        let cases: &[(&str, &str, &str, &str)] = &[
            // name, text, hit, expected snippet
            (
                "short text is whole",
                "Au Mali, la junte",
                "Mali",
                "Au Mali, la junte",
            ),
            (
                "whitespace collapsed",
                "  Au\n\n  Mali,\t la   junte \n",
                "Mali",
                "Au Mali, la junte",
            ),
            ("hit at start", "Mali : la junte", "Mali", "Mali : la junte"),
            ("hit at end", "la junte du Mali", "Mali", "la junte du Mali"),
            (
                "phrase across a line break",
                "les casques\n   bleus partent",
                "casques\n   bleus",
                "les casques bleus partent",
            ),
            (
                "no-break gap kept",
                "l’ONU\u{a0}: 25\u{202f}% des",
                "ONU",
                "l’ONU\u{a0}: 25\u{202f}% des",
            ),
            (
                "long text cut on whitespace",
                long_fr,
                "casques bleus",
                "…vendredi 30 juin, la fin de la mission des casques bleus au Mali, déployés \
                 depuis 2013 dans le pays, à la…",
            ),
            (
                "hit near the start gives room to the end",
                long_fr,
                "Conseil",
                "Le Conseil de sécurité a voté à l’unanimité, vendredi 30 juin, la fin de la \
                 mission des casques bleus au Mali, déployés…",
            ),
            (
                "hit near the end gives room to the start",
                long_fr,
                "d’État",
                "…bleus au Mali, déployés depuis 2013 dans le pays, à la demande de la junte au \
                 pouvoir à Bamako depuis deux coups d’État.",
            ),
        ];
        for (name, text, hit, expected) in cases {
            let hit = range_of(text, hit);
            let (snippet, highlight) = snippet(text, hit.clone());
            assert_eq!(&snippet, expected, "{name}");
            let collapsed = text[hit].split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(
                snippet[highlight].replace('\u{a0}', " "),
                collapsed,
                "{name}"
            );
            assert!(snippet.chars().count() <= SNIPPET_CHARS + 2, "{name}");
        }
    }

    #[test]
    fn snippets_never_cut_inside_a_char() {
        // Multibyte chars everywhere, and no whitespace to fall back on.
        let texts = [
            "é".repeat(300),
            "日本語".repeat(100) + "マリ" + &"🇲🇱".repeat(100),
            format!("{} Mali {}", "ô".repeat(59), "👍🏽".repeat(61)),
            format!("{}Mali{}", "œ\u{301}".repeat(80), "\u{a0}ß".repeat(80)),
        ];
        for text in &texts {
            let bounds: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            for (k, &start) in bounds.iter().enumerate().step_by(7) {
                for &end in bounds[k..].iter().take(12) {
                    let (snippet, highlight) = snippet(text, start..end);
                    let inner = snippet
                        .get(highlight.clone())
                        .unwrap_or_else(|| panic!("highlight {highlight:?} not in {snippet:?}"));
                    let expected = text[start..end]
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    assert_eq!(inner.replace('\u{a0}', " "), expected);
                    assert!(snippet.chars().count() <= SNIPPET_CHARS + 2 + (end - start));
                }
            }
        }
        // Out-of-range and mid-char ranges come back empty, not as a panic.
        assert_eq!(snippet("é", 1..2), (String::new(), 0..0));
        assert_eq!(snippet("abc", 2..9), (String::new(), 0..0));
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 2..1;
        assert_eq!(snippet("abc", reversed), (String::new(), 0..0));
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
