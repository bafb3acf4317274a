//! The rule matcher at 10, 1,000 and 10,000 rules over 10,000 articles of
//! about 3 KB of French and English news text: articles per second and MB/s
//! on one core, the matcher's heap at each size, and beside it the naive
//! way (one regex per rule, run over every article) to show the ratio.
//! Times are CPU seconds of the measuring thread, so a busy machine does not
//! skew them.
//! A figure printer, not a timed test:
//!
//!     cargo bench --bench rules
//!
//! Each rule count is timed over several passes on the same articles
//! (`RULES_BENCH_PASSES`, 5 by default), and both the best pass and the
//! median are printed: the machines this runs on are shared, and another
//! tenant only ever slows a pass down, so the best is the matcher's own
//! speed and the median what a busy machine gives.
//!
//! `RULES_BENCH_ARTICLES=2000` runs on fewer articles, `RULES_BENCH_SIZES=10000`
//! on one rule count, `RULES_BENCH_PASSES=1` once, `RULES_BENCH_NAIVE=0`
//! without the baseline (to profile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use vigie::rules::{Document, Matcher, RuleSpec};

/// Counts the bytes on the heap, to weigh the compiled matcher.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Seconds this thread has spent on a CPU (Linux's schedstat), so that the
/// figures hold on a busy machine; wall time where it is unavailable.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Measures `f` in CPU seconds of this thread (or wall seconds).
fn measure<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let out = f();
    let seconds = match (cpu, cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => wall.elapsed().as_secs_f64(),
    };
    (out, seconds)
}

/// xorshift64*: a fixed sequence, so every run measures the same input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FR: &[&str] = &[
    "le",
    "la",
    "les",
    "des",
    "du",
    "de",
    "un",
    "une",
    "et",
    "à",
    "au",
    "aux",
    "pour",
    "dans",
    "sur",
    "par",
    "avec",
    "selon",
    "après",
    "avant",
    "depuis",
    "contre",
    "entre",
    "sans",
    "gouvernement",
    "ministre",
    "président",
    "junte",
    "transition",
    "armée",
    "soldats",
    "casques",
    "bleus",
    "mission",
    "retrait",
    "calendrier",
    "sécurité",
    "conseil",
    "résolution",
    "nations",
    "unies",
    "l’ONU",
    "d’État",
    "Minusma",
    "Bamako",
    "Mali",
    "Gao",
    "Tombouctou",
    "Kidal",
    "Mopti",
    "Ségou",
    "Niger",
    "Burkina",
    "Sahel",
    "région",
    "population",
    "réfugiés",
    "humanitaire",
    "aide",
    "pluies",
    "récoltes",
    "agriculteurs",
    "élections",
    "référendum",
    "constitution",
    "dialogue",
    "accord",
    "paix",
    "Alger",
    "groupes",
    "armés",
    "attaque",
    "convoi",
    "base",
    "camp",
    "autorités",
    "maliennes",
    "annonce",
    "confirme",
    "dément",
    "déclare",
    "rencontre",
    "visite",
    "haut",
    "responsable",
    "porte-parole",
    "communiqué",
    "samedi",
    "dimanche",
    "lundi",
    "mardi",
    "juin",
    "juillet",
    "août",
    "2023",
    "2024",
    "13 000",
    "économie",
    "prix",
    "carburant",
    "coupures",
    "électricité",
    "école",
    "santé",
    "hôpital",
    "journalistes",
    "presse",
    "radio",
    "télévision",
    "réseaux",
    "sociaux",
    "qu’il",
    "jusqu’ici",
];

const EN: &[&str] = &[
    "the",
    "a",
    "of",
    "to",
    "in",
    "and",
    "for",
    "on",
    "with",
    "after",
    "before",
    "from",
    "by",
    "government",
    "minister",
    "president",
    "junta",
    "transition",
    "army",
    "troops",
    "peacekeepers",
    "mission",
    "withdrawal",
    "timetable",
    "security",
    "council",
    "resolution",
    "United",
    "Nations",
    "UN",
    "Minusma",
    "Bamako",
    "Mali",
    "Gao",
    "Timbuktu",
    "Niger",
    "Sahel",
    "region",
    "refugees",
    "humanitarian",
    "aid",
    "rains",
    "harvest",
    "farmers",
    "elections",
    "referendum",
    "constitution",
    "dialogue",
    "agreement",
    "peace",
    "armed",
    "groups",
    "attack",
    "convoy",
    "base",
    "authorities",
    "announced",
    "confirmed",
    "denied",
    "said",
    "visit",
    "senior",
    "official",
    "spokesperson",
    "statement",
    "Saturday",
    "June",
    "economy",
    "prices",
    "fuel",
    "power",
    "cuts",
    "schools",
    "health",
    "hospital",
    "reporters",
    "press",
    "radio",
    "don’t",
    "it’s",
    "Security-Council",
    "well-known",
];

const PUNCT: &[&str] = &[
    " ", " ", " ", " ", " ", ", ", " ", " ", " : ", " ", " « ", " » ", "\n",
];

/// Function words, about 45% of running text in both languages.
const FR_FUNCTION: &[&str] = &[
    "le", "la", "les", "l’", "de", "des", "du", "d’", "un", "une", "et", "à", "au", "aux", "en",
    "pour", "dans", "sur", "par", "avec", "qui", "que", "qu’", "ne", "pas", "se", "est", "a",
    "ont", "son", "sa", "ses", "ce", "cette", "il", "elle", "ils", "on", "plus", "mais",
];
const EN_FUNCTION: &[&str] = &[
    "the", "a", "an", "of", "to", "in", "and", "for", "on", "with", "that", "is", "was", "by",
    "it", "as", "at", "from", "has", "have", "its", "their", "he", "she", "they", "but", "not",
    "more", "this", "which",
];

/// A language's vocabulary with Zipf frequencies: real news words first,
/// then thousands of made-up ones, the word of rank r drawn with weight
/// 1/r — the shape of real text, where a content word a rule names is in
/// some articles, not all.
struct Language {
    function: &'static [&'static str],
    content: Vec<String>,
    /// Cumulative weights of `content`.
    cumulative: Vec<f64>,
}

impl Language {
    fn new(rng: &mut Rng, function: &'static [&'static str], real: &[&str]) -> Language {
        let mut content: Vec<String> = real
            .iter()
            .filter(|w| w.chars().count() > 3)
            .map(|w| w.to_string())
            .collect();
        // Made-up common words, from other syllables than the names.
        const SYL: &[&str] = &[
            "pro", "con", "ver", "tion", "ment", "ré", "par", "dé", "in", "ter", "al", "es", "on",
            "ir", "ique", "eur", "ance", "at", "ul", "or",
        ];
        while content.len() < 5_000 {
            let n = 2 + rng.below(3);
            content.push((0..n).map(|_| rng.pick(SYL)).collect());
        }
        let mut total = 0.0;
        let cumulative = (1..=content.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Language {
            function,
            content,
            cumulative,
        }
    }

    fn content_word(&self, rng: &mut Rng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let i = self.cumulative.partition_point(|&c| c < x);
        &self.content[i.min(self.content.len() - 1)]
    }

    /// A mid-frequency content word, as rules name them.
    fn rule_word(&self, rng: &mut Rng) -> &str {
        &self.content[10 + rng.below(1_500)]
    }
}

/// One word of running text: a function word, a proper noun (one in
/// twelve: people, villages, groups), or a content word.
fn word(rng: &mut Rng, lang: &Language, out: &mut String) {
    match rng.below(24) {
        0..=10 => out.push_str(rng.pick(lang.function)),
        11 | 12 => out.push_str(&name(rng)),
        _ => out.push_str(lang.content_word(rng)),
    }
}

fn sentence(rng: &mut Rng, lang: &Language, out: &mut String) {
    let n = 8 + rng.below(18);
    for i in 0..n {
        let start = out.len();
        word(rng, lang, out);
        if i == 0 {
            let first: String = out[start..]
                .chars()
                .take(1)
                .flat_map(char::to_uppercase)
                .collect();
            let len = out[start..].chars().next().map_or(0, char::len_utf8);
            out.replace_range(start..start + len, &first);
        }
        let elided = out.ends_with('’');
        if !elided {
            out.push_str(if i + 1 == n { ". " } else { rng.pick(PUNCT) });
        }
    }
}

struct Article {
    title: String,
    summary: String,
    body: String,
    url: String,
}

fn articles(rng: &mut Rng, langs: &[Language; 2], count: usize) -> Vec<Article> {
    (0..count)
        .map(|i| {
            let english = i.is_multiple_of(3);
            let lang = &langs[usize::from(english)];
            let mut title = String::new();
            sentence(rng, lang, &mut title);
            let mut summary = String::new();
            sentence(rng, lang, &mut summary);
            let mut body = String::new();
            while body.len() < 2800 {
                sentence(rng, lang, &mut body);
            }
            Article {
                title: title.trim().to_string(),
                summary: summary.trim().to_string(),
                body,
                url: format!(
                    "https://news.example.org/{}/story/2023/{i}",
                    if english { "en" } else { "fr" }
                ),
            }
        })
        .collect()
}

/// A made-up proper noun of three to five syllables, so that 10,000 rules
/// have distinct terms the way real rule sets do (people, places,
/// organisations), each rare in the texts.
fn name(rng: &mut Rng) -> String {
    const SYL: &[&str] = &[
        "ba", "ma", "ko", "ti", "dou", "si", "ka", "ra", "ne", "so", "gou", "lé", "mou", "fa",
        "di", "ya", "ké", "sa", "bo", "ni",
    ];
    let n = 3 + rng.below(3);
    (0..n).map(|_| rng.pick(SYL)).collect()
}

/// The query of rule `i`: a realistic mix in which every rule names
/// something specific, alone or with common words around it.
fn query(rng: &mut Rng, langs: &[Language; 2], i: usize) -> String {
    // Content words, as people write them in rules: never `le` or `the`.
    let lang = &langs[usize::from(i.is_multiple_of(3))];
    let common = |rng: &mut Rng| lang.rule_word(rng).replace('’', " ");
    match i % 100 {
        0 => format!("/{}(ien|ienne)s?/", name(rng)),
        1..=30 => name(rng),
        31..=45 => format!("\"{} {}\"", name(rng), common(rng)),
        46..=55 => format!("{}*", name(rng)),
        56..=70 => format!("{} AND ({} OR {})", name(rng), common(rng), common(rng)),
        71..=80 => format!(
            "title:{} OR body:\"{} {}\"",
            name(rng),
            common(rng),
            name(rng)
        ),
        81..=88 => format!("{} -{}", name(rng), common(rng)),
        89..=94 => format!("\"{} {}\"~8", name(rng), common(rng)),
        _ => format!("({} OR {}) {}", name(rng), name(rng), common(rng)),
    }
}

fn specs(rng: &mut Rng, langs: &[Language; 2], count: usize) -> Vec<RuleSpec> {
    (0..count)
        .map(|i| RuleSpec {
            name: format!("rule-{i}"),
            query: Some(query(rng, langs, i)),
            ..RuleSpec::default()
        })
        .collect()
}

/// The naive baseline: each rule's terms as one case-insensitive regex
/// over the raw text.
fn naive(specs: &[RuleSpec]) -> Vec<regex::Regex> {
    specs
        .iter()
        .map(|s| {
            let q = s.query.as_deref().unwrap_or("");
            let terms: Vec<String> = q
                .split(|c: char| c.is_whitespace() || "()\"~*/:-".contains(c))
                .filter(|t| !t.is_empty() && !matches!(*t, "AND" | "OR" | "NOT" | "title" | "body"))
                .map(regex::escape)
                .collect();
            regex::Regex::new(&format!(r"(?i)\b(?:{})\b", terms.join("|"))).expect("regex")
        })
        .collect()
}

/// `10000` as `10,000`.
fn rule_count_label(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() {
    let count: usize = std::env::var("RULES_BENCH_ARTICLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut rng = Rng(0x5EED_1E5C_A5E5_B1E5);
    let langs = [
        Language::new(&mut rng, FR_FUNCTION, FR),
        Language::new(&mut rng, EN_FUNCTION, EN),
    ];
    let texts = articles(&mut rng, &langs, count);
    let bytes: usize = texts
        .iter()
        .map(|a| a.title.len() + a.summary.len() + a.body.len() + a.url.len())
        .sum();
    let mb = bytes as f64 / 1e6;
    println!(
        "{count} articles, {:.1} MB of text ({} bytes per article on average), one thread",
        mb,
        bytes / count.max(1)
    );
    let passes: usize = std::env::var("RULES_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    println!("{passes} passes at each rule count: the best, and the median");
    println!(
        "{:>7}  {:>9}  {:>10}  {:>8}  {:>10}  {:>7}  {:>9}  {:>10}  {:>7}",
        "rules",
        "compile",
        "matcher",
        "matches",
        "articles/s",
        "MB/s",
        "median",
        "naive MB/s",
        "speedup"
    );
    // The best and median rates of the first rule count, and of the last.
    let mut first_rate = None;
    let mut last_rate = None;
    let sizes: Vec<usize> = std::env::var("RULES_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 1_000, 10_000]);
    let with_naive = std::env::var("RULES_BENCH_NAIVE").map_or(true, |v| v != "0");
    for rules in sizes {
        let specs = specs(&mut Rng(0xC0FF_EE00 + rules as u64), &langs, rules);
        let before = LIVE.load(Ordering::Relaxed);
        let started = Instant::now();
        let matcher = Matcher::new(specs.clone()).expect("rules compile");
        let compile = started.elapsed();
        let heap = LIVE.load(Ordering::Relaxed).saturating_sub(before);

        let scope = matcher.scope("bench", &[]);
        let mut matched = 0;
        let mut times: Vec<f64> = (0..passes)
            .map(|_| {
                let (found, elapsed) = measure(|| {
                    let mut found = 0usize;
                    for a in &texts {
                        let doc = Document {
                            title: &a.title,
                            summary: &a.summary,
                            body: &a.body,
                            url: &a.url,
                            ..Document::default()
                        };
                        found += matcher.match_in(&scope, &doc).len();
                    }
                    found
                });
                matched = found;
                elapsed
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let best = times[0];
        let median = times[times.len() / 2];
        let rate = mb / best;
        first_rate.get_or_insert((rule_count_label(rules), rate, mb / median));
        last_rate = Some((rule_count_label(rules), rate, mb / median));

        let mut line = format!(
            "{rules:>7}  {:>7.0}ms  {:>7.1}MiB  {matched:>8}  {:>10.0}  {:>7.1}  {:>9.1}",
            compile.as_secs_f64() * 1e3,
            heap as f64 / (1024.0 * 1024.0),
            count as f64 / best,
            rate,
            mb / median,
        );
        if with_naive {
            // The naive way is slow: time it on a sample and scale.
            let regexes = naive(&specs);
            let sample = (count * 10 / rules).clamp(20, count);
            let (naive_matched, naive_elapsed) = measure(|| {
                let mut naive_matched = 0usize;
                for a in &texts[..sample] {
                    for r in &regexes {
                        if r.is_match(&a.title) || r.is_match(&a.summary) || r.is_match(&a.body) {
                            naive_matched += 1;
                        }
                    }
                }
                naive_matched
            });
            std::hint::black_box(naive_matched);
            let naive_rate = mb * sample as f64 / count as f64 / naive_elapsed;
            // Against the median: the naive way is timed once.
            line += &format!("  {naive_rate:>10.2}  {:>6.0}×", mb / median / naive_rate);
        }
        println!("{line}");
        drop(matcher);
    }
    if let (Some((few, few_best, few_median)), Some((many, many_best, many_median))) =
        (first_rate, last_rate)
        && few != many
    {
        println!(
            "{many} rules take {:.2}× the time of {few} ({:.2}× by the medians)",
            few_best / many_best,
            few_median / many_median
        );
    }
}
