//! Normalization and word splitting, one function for rule terms and article texts alike: text in, folded words with their byte ranges in the original out.

use std::ops::Range;

use rust_stemmers::{Algorithm, Stemmer};
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::{
    canonical_combining_class, decompose_compatible, is_combining_mark,
};

/// How much of the written form a rule cares about.
///
/// Both flags default to `false`, which is what readers of French news want:
/// `PUBLIÉ`, `Publié` and `publie` are one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FoldOptions {
    /// Keep upper and lower case apart, for acronyms that are also common
    /// words (`ONU` vs `onu` rarely matters, `US` vs `us` does). Default false.
    pub case_sensitive: bool,
    /// Keep accents, for the rare pairs whose accent carries the meaning
    /// (`retraité` vs `retraite`). Default false.
    pub accent_sensitive: bool,
    /// Reduce each word to its stem, so word forms match (`retraits` ~
    /// `retrait`, `casques` ~ `casque`). Off by default: it also makes
    /// `retraite` match `retrait`.
    pub stem: Option<Stem>,
}

/// A language whose Snowball stemmer folds word forms together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    #[serde(rename = "fr")]
    French,
    #[serde(rename = "en")]
    English,
}

impl Stem {
    /// `"fr"` or `"en"`, as the config writes it.
    pub fn from_code(code: &str) -> Option<Stem> {
        match code {
            "fr" => Some(Stem::French),
            "en" => Some(Stem::English),
            _ => None,
        }
    }

    fn stemmer(self) -> Stemmer {
        Stemmer::create(match self {
            Stem::French => Algorithm::French,
            Stem::English => Algorithm::English,
        })
    }
}

/// One folded word and where it was in the original text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    /// The word after folding, in NFC; never empty, never contains a separator.
    pub text: String,
    /// Byte offset of the word's first char in the original input.
    pub start: usize,
    /// Byte offset just past the word's last char (including any accent or
    /// soft hyphen folded away) in the original input.
    pub end: usize,
}

/// Splits `text` into folded words.
///
/// NFKD first (so `ﬁ` is `fi` and `²` is `2`), then combining accents are
/// dropped unless `accent_sensitive`, letters lowercased unless
/// `case_sensitive`, `œ`, `æ` and `ß` spelled `oe`, `ae` and `ss`. A word is a
/// run of alphanumeric chars; anything else separates words: spaces of every
/// width, hyphens, slashes, punctuation and apostrophes, so `l’ONU` is `l` and
/// `onu`. Soft hyphens and zero-width joiners, which HTML leaves inside words,
/// are skipped without splitting.
///
/// Scripts written without spaces (Chinese, Japanese, Thai) come out as one
/// word per run of letters; rules for them need whole runs.
pub fn tokenize(text: &str, opts: FoldOptions) -> Vec<Token> {
    let folded = Folded::new(text, opts);
    (0..folded.len())
        .map(|i| {
            let span = folded.span(i);
            Token {
                text: folded.word(i).to_owned(),
                start: span.start,
                end: span.end,
            }
        })
        .collect()
}

/// The folded words of `text`, for rule terms: `"Casques-Bleus"` gives
/// `["casques", "bleus"]`.
pub fn fold_words(text: &str, opts: FoldOptions) -> Vec<String> {
    let folded = Folded::new(text, opts);
    (0..folded.len())
        .map(|i| folded.word(i).to_owned())
        .collect()
}

/// A text folded for scanning: its words joined as `" w1 w2 w3 "`, so that a
/// pattern `" a b "` can only match whole, consecutive words.
#[derive(Debug, Clone, Default)]
pub(crate) struct Folded {
    joined: String,
    /// Byte offset in `joined` of each word's first byte, ascending.
    starts: Vec<usize>,
    /// Byte range of each word in the original text.
    spans: Vec<Range<usize>>,
}

impl Folded {
    pub(crate) fn new(text: &str, opts: FoldOptions) -> Folded {
        let mut folded = Folded::default();
        folded.refill(text, opts);
        folded
    }

    /// Folds `text` into `self`, reusing its buffers: the matcher folds
    /// every field of every article, and allocating for each showed in
    /// profiles.
    pub(crate) fn refill(&mut self, text: &str, opts: FoldOptions) {
        let mut builder = Builder::reuse(std::mem::take(self), text.len(), opts);
        let ascii = if opts.case_sensitive {
            &ASCII_KEEP
        } else {
            &ASCII_LOWER
        };
        let quick = quick_table(opts);
        let bytes = text.as_bytes();
        let mut at = 0;
        while let Some(&b) = bytes.get(at) {
            match ascii[usize::from(b)] {
                ASCII_SEPARATOR => {
                    builder.close();
                    // Punctuation comes with spaces: close once for all.
                    at += 1;
                    while bytes
                        .get(at)
                        .is_some_and(|&b| ascii[usize::from(b)] == ASCII_SEPARATOR)
                    {
                        at += 1;
                    }
                }
                NOT_ASCII => {
                    let c = text
                        .get(at..)
                        .and_then(|rest| rest.chars().next())
                        .unwrap_or(char::REPLACEMENT_CHARACTER);
                    builder.feed_with(c, at, quick);
                    at += c.len_utf8();
                }
                _ => {
                    // Most of any text is runs of ASCII letters, which NFKD
                    // leaves alone: copy each run at once, folded by table.
                    let end = ascii_word_end(bytes, at);
                    builder.push_ascii(&bytes[at..end], at);
                    at = end;
                }
            }
        }
        *self = builder.finish();
    }

    /// The words, each preceded and followed by one space.
    pub(crate) fn joined(&self) -> &str {
        &self.joined
    }

    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    pub(crate) fn word(&self, i: usize) -> &str {
        let Some(&start) = self.starts.get(i) else {
            return "";
        };
        // Every word is followed by its separating space, the last one too.
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.joined.len(), |&next| next)
            .saturating_sub(1);
        self.joined.get(start..end).unwrap_or_default()
    }

    /// The bytes of each word, in order.
    pub(crate) fn word_bytes(&self) -> impl Iterator<Item = &[u8]> {
        let joined = self.joined.as_bytes();
        // Every word is followed by its separating space, the last one too.
        let ends = self
            .starts
            .iter()
            .skip(1)
            .copied()
            .chain(std::iter::once(joined.len()))
            .map(|next| next.saturating_sub(1));
        self.starts
            .iter()
            .zip(ends)
            .map(|(&start, end)| joined.get(start..end).unwrap_or_default())
    }

    pub(crate) fn span(&self, i: usize) -> Range<usize> {
        self.spans.get(i).cloned().unwrap_or_default()
    }

    /// The index of the word that the byte `offset` of `joined` is in.
    pub(crate) fn word_containing(&self, offset: usize) -> Option<usize> {
        let i = self
            .starts
            .partition_point(|&s| s <= offset)
            .checked_sub(1)?;
        (offset < self.starts[i] + self.word(i).len()).then_some(i)
    }
}

/// The end of the run of ASCII letters and digits from `at`: the first
/// byte from there that is not one, or the end of `bytes`. Eight bytes at a
/// time, a word's worth: a byte at a time was a quarter of the folding's
/// instructions, and a branch mispredicted about once a word.
fn ascii_word_end(bytes: &[u8], mut at: usize) -> usize {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The top bit of each byte of `x` that is above `low` and below `high`
    // (both at most 128), for bytes under 0x80 (Bit Twiddling Hacks,
    // "determine if a word has a byte between m and n").
    let between = |x: u64, low: u64, high: u64| {
        let seven = x & (LOW * 127);
        (LOW * (127 + high)).wrapping_sub(seven) & !x & seven.wrapping_add(LOW * (127 - low)) & HIGH
    };
    while let Some(chunk) = bytes.get(at..at + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let letters = between(x | (LOW * 0x20), u64::from(b'a') - 1, u64::from(b'z') + 1);
        let digits = between(x, u64::from(b'0') - 1, u64::from(b'9') + 1);
        let others = !(letters | digits) & HIGH;
        if others != 0 {
            return at + (others.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    bytes
        .get(at..)
        .and_then(|rest| rest.iter().position(|b| !b.is_ascii_alphanumeric()))
        .map_or(bytes.len(), |n| at + n)
}

/// In [`ASCII_LOWER`] and [`ASCII_KEEP`]: an ASCII byte that ends a word.
const ASCII_SEPARATOR: u8 = 0;
/// In [`ASCII_LOWER`] and [`ASCII_KEEP`]: a byte of a multibyte char.
const NOT_ASCII: u8 = 0xFF;

/// What each byte of UTF-8 text is, for the folding loop: an ASCII letter
/// or digit is itself (lowercased unless `keep_case`), any other ASCII byte
/// [`ASCII_SEPARATOR`], any other byte [`NOT_ASCII`].
const fn ascii_table(keep_case: bool) -> [u8; 256] {
    let mut table = [NOT_ASCII; 256];
    let mut b = 0;
    while b < 128 {
        let byte = b as u8;
        table[b] = if !byte.is_ascii_alphanumeric() {
            ASCII_SEPARATOR
        } else if keep_case {
            byte
        } else {
            byte.to_ascii_lowercase()
        };
        b += 1;
    }
    table
}

static ASCII_LOWER: [u8; 256] = ascii_table(false);
static ASCII_KEEP: [u8; 256] = ascii_table(true);

/// Apostrophes that would otherwise count as letters (`ʼ` is a modifier
/// letter) or that French typography uses for elision.
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{2032}')
}

/// Invisible chars that HTML and word processors leave inside words: the soft
/// hyphen of `retrai&shy;te`, joiners, the byte order mark.
fn is_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

/// What folding does to a common non-ASCII char, worked out once by the
/// full path: French and other Latin-script letters (`é`, `ç`, `œ`) and
/// the punctuation and spaces of French typography (`’`, `«`, NBSP).
#[derive(Debug, Clone, Copy)]
enum Quick {
    /// Ends the word, as a space does.
    Separator,
    /// These letters (up to three, `\0` after the last), as the full path
    /// gives them (NFC).
    Letters([char; 3]),
    /// Not in the table, or not a plain letter or separator (`¼`, soft
    /// hyphen): the full path.
    Slow,
}

/// The chars the table covers: Latin-1 Supplement and Latin Extended-A.
const QUICK_LATIN: std::ops::RangeInclusive<char> = '\u{A0}'..='\u{17F}';

/// What folding does to each char of [`QUICK_LATIN`] with `opts` (the
/// stemmer aside, which works on whole words).
fn quick_table(opts: FoldOptions) -> &'static [Quick] {
    static TABLES: std::sync::OnceLock<[Vec<Quick>; 4]> = std::sync::OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        [(false, false), (true, false), (false, true), (true, true)].map(|(case, accent)| {
            let opts = FoldOptions {
                case_sensitive: case,
                accent_sensitive: accent,
                stem: None,
            };
            QUICK_LATIN.map(|c| quick_entry(c, opts)).collect()
        })
    });
    let table = usize::from(opts.case_sensitive) | usize::from(opts.accent_sensitive) << 1;
    &tables[table]
}

/// What folding does to a non-ASCII char, from `table` (of [`quick_table`]).
fn quick_fold(c: char, table: &[Quick]) -> Quick {
    // General Punctuation (dashes, quotes, spaces, `…`): all separators
    // but the invisible joiners.
    if ('\u{2000}'..='\u{206F}').contains(&c) {
        return if is_ignorable(c) {
            Quick::Slow
        } else {
            Quick::Separator
        };
    }
    let index = (c as usize).wrapping_sub(*QUICK_LATIN.start() as usize);
    table.get(index).copied().unwrap_or(Quick::Slow)
}

/// One table entry, from the full path on the char alone.
fn quick_entry(c: char, opts: FoldOptions) -> Quick {
    if is_ignorable(c) || is_apostrophe(c) {
        return Quick::Slow;
    }
    let mut builder = Builder::reuse(Folded::default(), 8, opts);
    // Between two letters, so that a char that would end or split a word
    // (`ŉ` is an apostrophe and `n`, `Ŀ` an `L` and a middle dot) shows it.
    let len = c.len_utf8();
    builder.push('x', 0, 1);
    builder.slow_feed(c, 1, 1 + len);
    builder.push('y', 1 + len, 2 + len);
    let folded = builder.finish();
    let whole = folded.len() == 1 && folded.span(0) == (0..2 + len);
    if !whole {
        let apart = folded.len() == 2 && folded.word(0) == "x" && folded.word(1) == "y";
        return if apart { Quick::Separator } else { Quick::Slow };
    }
    let word = folded.word(0);
    let inner = word
        .strip_prefix('x')
        .and_then(|w| w.strip_suffix('y'))
        .unwrap_or_default();
    let mut letters = ['\0'; 3];
    let mut chars = inner.chars();
    for slot in &mut letters {
        *slot = chars.next().unwrap_or('\0');
    }
    if chars.next().is_some() || letters[0] == '\0' {
        return Quick::Slow;
    }
    Quick::Letters(letters)
}

struct Builder {
    opts: FoldOptions,
    /// The folded text so far, as bytes to push ASCII runs without a
    /// per-char check; only whole chars are ever pushed, so it stays UTF-8.
    joined: Vec<u8>,
    starts: Vec<usize>,
    spans: Vec<Range<usize>>,
    /// Original byte range of the word being built, if any.
    open: Option<Range<usize>>,
    /// Whether the word being built has a char that NFC might compose.
    needs_nfc: bool,
    /// Reused buffer for the decomposition of one char.
    decomposed: Vec<char>,
    stemmer: Option<(Stem, Stemmer)>,
}

impl Builder {
    /// A builder writing into the buffers of `out`, emptied.
    fn reuse(out: Folded, capacity: usize, opts: FoldOptions) -> Builder {
        let Folded {
            joined,
            mut starts,
            mut spans,
        } = out;
        let mut joined = joined.into_bytes();
        joined.clear();
        joined.reserve(capacity + 2);
        joined.push(b' ');
        starts.clear();
        spans.clear();
        // News text averages a word every six or seven bytes.
        starts.reserve(capacity / 6);
        spans.reserve(capacity / 6);
        Builder {
            opts,
            joined,
            starts,
            spans,
            open: None,
            needs_nfc: false,
            decomposed: Vec::new(),
            stemmer: opts.stem.map(|s| (s, s.stemmer())),
        }
    }

    #[cfg(test)]
    fn feed(&mut self, c: char, at: usize) {
        self.feed_with(c, at, quick_table(self.opts));
    }

    /// Takes the char `c` at byte `at` of the original, `quick` being
    /// [`quick_table`] for the builder's options.
    fn feed_with(&mut self, c: char, at: usize, quick: &[Quick]) {
        let end = at + c.len_utf8();
        // Most of any feed is ASCII, which NFKD leaves alone.
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                let c = if self.opts.case_sensitive {
                    c
                } else {
                    c.to_ascii_lowercase()
                };
                self.push(c, at, end);
            } else {
                self.close();
            }
            return;
        }
        match quick_fold(c, quick) {
            Quick::Separator => {
                self.close();
                return;
            }
            Quick::Letters(letters) => {
                for &l in letters.iter().take_while(|&&l| l != '\0') {
                    self.push(l, at, end);
                }
                return;
            }
            Quick::Slow => {}
        }
        self.slow_feed(c, at, end);
    }

    /// The full path: NFKD, then each decomposed char on its own.
    fn slow_feed(&mut self, c: char, at: usize, end: usize) {
        let mut decomposed = std::mem::take(&mut self.decomposed);
        decomposed.clear();
        decompose_compatible(c, |d| decomposed.push(d));
        for &d in &decomposed {
            if self.opts.case_sensitive {
                self.fold(d, at, end);
            } else {
                for lower in d.to_lowercase() {
                    self.fold(lower, at, end);
                }
            }
        }
        self.decomposed = decomposed;
    }

    /// Takes one decomposed, case-folded char of the original char at `at..end`.
    fn fold(&mut self, c: char, at: usize, end: usize) {
        match c {
            'œ' => self.push_str("oe", at, end),
            'Œ' => self.push_str("OE", at, end),
            'æ' => self.push_str("ae", at, end),
            'Æ' => self.push_str("AE", at, end),
            'ß' => self.push_str("ss", at, end),
            'ẞ' => self.push_str("SS", at, end),
            // Before the alphanumeric test: `ʼ` is a letter for Unicode, and
            // NFKD turns `ŉ` into `ʼn`.
            _ if is_apostrophe(c) => self.close(),
            _ if is_ignorable(c) => self.extend(end),
            _ if is_combining_mark(c) => {
                // Diacritics have a nonzero combining class; class-0 marks
                // are vowel signs of Indic scripts, part of the letter.
                let is_accent = canonical_combining_class(c) != 0;
                if is_accent && !self.opts.accent_sensitive {
                    self.extend(end);
                } else if self.open.is_some() {
                    self.push_char(c);
                    self.needs_nfc = true;
                    self.extend(end);
                } else if c.is_alphanumeric() {
                    self.push(c, at, end);
                }
                // Otherwise a mark with no letter to carry it: nothing to keep.
            }
            _ if c.is_alphanumeric() => self.push(c, at, end),
            _ => self.close(),
        }
    }

    /// A run of ASCII letters and digits starting at byte `at`.
    #[inline]
    fn push_ascii(&mut self, run: &[u8], at: usize) {
        let end = at + run.len();
        self.open_word(at, end);
        if self.opts.case_sensitive {
            self.joined.extend_from_slice(run);
        } else {
            // Digits and lowercase letters have the 0x20 bit already: for
            // ASCII letters and digits, this is `to_ascii_lowercase`, in a
            // loop the compiler vectorizes.
            self.joined.extend(run.iter().map(|&b| b | 0x20));
        }
    }

    fn push_str(&mut self, s: &str, at: usize, end: usize) {
        for c in s.chars() {
            self.push(c, at, end);
        }
    }

    fn push(&mut self, c: char, at: usize, end: usize) {
        self.open_word(at, end);
        self.needs_nfc |= !c.is_ascii();
        self.push_char(c);
    }

    /// Starts a word at `at` unless one is open, and makes it reach `end`.
    #[inline]
    fn open_word(&mut self, at: usize, end: usize) {
        match &mut self.open {
            Some(span) => span.end = end,
            None => {
                self.starts.push(self.joined.len());
                self.open = Some(at..end);
            }
        }
    }

    fn push_char(&mut self, c: char) {
        self.joined
            .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    }

    /// Folds a char away without ending the word it belongs to.
    fn extend(&mut self, end: usize) {
        if let Some(span) = &mut self.open {
            span.end = end;
        }
    }

    #[inline]
    fn close(&mut self) {
        let Some(span) = self.open.take() else {
            return;
        };
        if self.needs_nfc || self.stemmer.is_some() {
            self.rewrite_word();
        }
        self.joined.push(b' ');
        self.spans.push(span);
    }

    /// Recomposes (NFC) and stems the word being closed, when needed.
    #[inline(never)]
    fn rewrite_word(&mut self) {
        let start = self.starts.last().copied().unwrap_or(0);
        // Only whole chars are pushed, so the word is UTF-8.
        let Some(word) = self
            .joined
            .get(start..)
            .and_then(|w| std::str::from_utf8(w).ok())
        else {
            return;
        };
        let mut word = std::borrow::Cow::Borrowed(word);
        if self.needs_nfc {
            // Recompose so that a kept `é` is one char, as a rule author
            // would type it; NFC also puts stacked accents in canonical order.
            word = std::borrow::Cow::Owned(word.nfc().collect());
            self.needs_nfc = false;
        }
        if let Some((stem, stemmer)) = &self.stemmer {
            let unstemmed: &str = &word;
            let unstemmed = match stem {
                // Snowball's French stemmer reads `retrait` as a verb in
                // -ait (`retr`) but `retraits` as a plural (`retrait`), and
                // keeps the s of `bleus`: drop the plural mark first, so
                // that singular and plural always agree.
                Stem::French if unstemmed.chars().count() > 3 => {
                    unstemmed.strip_suffix(['s', 'x']).unwrap_or(unstemmed)
                }
                _ => unstemmed,
            };
            let stemmed = stemmer.stem(unstemmed).into_owned();
            if !stemmed.is_empty() {
                word = std::borrow::Cow::Owned(stemmed);
            }
        }
        if let std::borrow::Cow::Owned(word) = word {
            self.joined.truncate(start);
            self.joined.extend_from_slice(word.as_bytes());
        }
    }

    fn finish(mut self) -> Folded {
        self.close();
        // Only whole chars are pushed: the conversion cannot fail, and
        // checking costs a fraction of the folding.
        let joined = String::from_utf8(self.joined)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Folded {
            joined,
            starts: self.starts,
            spans: self.spans,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: FoldOptions = FoldOptions {
        case_sensitive: false,
        accent_sensitive: false,
        stem: None,
    };
    const CASE: FoldOptions = FoldOptions {
        case_sensitive: true,
        accent_sensitive: false,
        stem: None,
    };
    const ACCENT: FoldOptions = FoldOptions {
        case_sensitive: false,
        accent_sensitive: true,
        stem: None,
    };
    const BOTH: FoldOptions = FoldOptions {
        case_sensitive: true,
        accent_sensitive: true,
        stem: None,
    };
    const ALL_OPTIONS: [FoldOptions; 4] = [DEFAULT, CASE, ACCENT, BOTH];

    #[test]
    fn words() {
        let cases: &[(&str, FoldOptions, &[&str])] = &[
            ("", DEFAULT, &[]),
            ("  \n\t ", DEFAULT, &[]),
            ("Mali", DEFAULT, &["mali"]),
            (
                "Publié PUBLIÉ publie",
                DEFAULT,
                &["publie", "publie", "publie"],
            ),
            (
                "Publié PUBLIÉ publie",
                CASE,
                &["Publie", "PUBLIE", "publie"],
            ),
            (
                "Publié PUBLIÉ publie",
                ACCENT,
                &["publié", "publié", "publie"],
            ),
            (
                "Publié PUBLIÉ publie",
                BOTH,
                &["Publié", "PUBLIÉ", "publie"],
            ),
            // The same é, decomposed in the input.
            ("Publie\u{301}", DEFAULT, &["publie"]),
            ("Publie\u{301}", ACCENT, &["publié"]),
            ("l'ONU", DEFAULT, &["l", "onu"]),
            ("l’ONU", DEFAULT, &["l", "onu"]),
            ("lʼONU", DEFAULT, &["l", "onu"]),
            ("l′ONU", DEFAULT, &["l", "onu"]),
            ("jusqu’au", DEFAULT, &["jusqu", "au"]),
            ("aujourd'hui", DEFAULT, &["aujourd", "hui"]),
            ("Casques-bleus", DEFAULT, &["casques", "bleus"]),
            ("Casques‑Bleus", DEFAULT, &["casques", "bleus"]), // U+2011
            ("Nord/Sud", DEFAULT, &["nord", "sud"]),
            ("l’ONU\u{a0}: 25\u{202f}%", DEFAULT, &["l", "onu", "25"]),
            ("1\u{202f}000 soldats", DEFAULT, &["1", "000", "soldats"]),
            ("sœur SŒUR soeur", DEFAULT, &["soeur", "soeur", "soeur"]),
            ("Œuvre", CASE, &["OEuvre"]),
            ("ex æquo", DEFAULT, &["ex", "aequo"]),
            ("Straße STRASSE", DEFAULT, &["strasse", "strasse"]),
            ("GROẞE", DEFAULT, &["grosse"]),
            ("GROẞE", CASE, &["GROSSE"]),
            ("ﬁnance", DEFAULT, &["finance"]),
            ("km²", DEFAULT, &["km2"]),
            ("Ｍａｌｉ", DEFAULT, &["mali"]), // fullwidth
            ("retrai\u{ad}te", DEFAULT, &["retraite"]),
            ("G5-Sahel, 2024.", DEFAULT, &["g5", "sahel", "2024"]),
            ("İstanbul", DEFAULT, &["istanbul"]),
            ("Ελλάδα", DEFAULT, &["ελλαδα"]),
            ("Москва́", DEFAULT, &["москва"]),
            ("e-mail_address", DEFAULT, &["e", "mail", "address"]),
            ("\u{301}Mali", DEFAULT, &["mali"]), // stray accent before a word
            ("\u{301}Mali", ACCENT, &["mali"]),
        ];
        for (text, opts, expected) in cases {
            assert_eq!(
                fold_words(text, *opts),
                expected.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{text:?} with {opts:?}"
            );
        }
    }

    #[test]
    fn token_ranges_point_into_the_original() {
        let cases: &[(&str, &[&str])] = &[
            ("l’ONU a publié", &["l", "ONU", "a", "publié"]),
            ("Casques-Bleus\u{a0}!", &["Casques", "Bleus"]),
            ("sœur", &["sœur"]),
            ("retrai\u{ad}te\u{ad} x", &["retrai\u{ad}te\u{ad}", "x"]),
            ("Publie\u{301}s", &["Publie\u{301}s"]),
            ("½", &["½", "½"]),
        ];
        for (text, expected) in cases {
            let tokens = tokenize(text, DEFAULT);
            let got: Vec<&str> = tokens.iter().map(|t| &text[t.start..t.end]).collect();
            assert_eq!(&got, expected, "{text:?}");
        }
    }

    /// Tokenizing a folded word gives that word back, or rules and texts
    /// would drift apart after a second pass.
    #[test]
    fn folding_is_idempotent() {
        let tricky = [
            "Publié PUBLIÉ publie",
            "l’ONU jusqu'au aujourdʼhui",
            "sœur Œuvre æ Æ ß ẞ Straße",
            "ﬁ ﬂ ĳ Ǆ ǅ ǆ ㎞ ½ ² ℃ Å Ω K",
            "e\u{301}\u{323} e\u{323}\u{301} ệ",
            "İ ı ſ ς Σ ΐ",
            "한국어 日本語 ｶﾀｶﾅ",
            "हिन्दी বাংলা ไทย",
            "retrai\u{ad}te zero\u{200d}width",
            "\u{301}\u{301} a\u{20dd}",
        ];
        // Plus every char of the planes news text draws from, alone and after
        // a letter, so no decomposition or case mapping is left untested.
        let mut inputs: Vec<String> = tricky.iter().map(|s| s.to_string()).collect();
        for c in (0x80..0x3000u32)
            .chain(0xA640..0xA700)
            .chain(0xFB00..0xFFF0)
        {
            if let Some(c) = char::from_u32(c) {
                inputs.push(c.to_string());
                inputs.push(format!("a{c}"));
            }
        }
        for opts in ALL_OPTIONS {
            for input in &inputs {
                for word in fold_words(input, opts) {
                    assert!(!word.is_empty() && !word.contains(' '));
                    assert_eq!(
                        fold_words(&word, opts),
                        std::slice::from_ref(&word),
                        "{input:?} with {opts:?}"
                    );
                }
            }
        }
    }

    /// `Folded::new` with every non-ASCII char through the full path.
    fn slow_folded(text: &str, opts: FoldOptions) -> Folded {
        let mut builder = Builder::reuse(Folded::default(), text.len(), opts);
        for (at, c) in text.char_indices() {
            if c.is_ascii() {
                builder.feed(c, at);
            } else {
                builder.slow_feed(c, at, at + c.len_utf8());
            }
        }
        builder.finish()
    }

    #[test]
    fn the_quick_table_agrees_with_the_full_path() {
        let chars = QUICK_LATIN.chain('\u{2000}'..='\u{206F}');
        for c in chars {
            for opts in ALL_OPTIONS {
                for text in [
                    format!("a{c}b"),
                    format!("{c}b"),
                    format!("a{c}"),
                    format!("{c}{c}"),
                ] {
                    let (quick, slow) = (Folded::new(&text, opts), slow_folded(&text, opts));
                    assert_eq!(
                        quick.joined(),
                        slow.joined(),
                        "{c:?} ({:X}) in {text:?}",
                        c as u32
                    );
                    assert_eq!(quick.spans, slow.spans, "{c:?} in {text:?}");
                }
            }
        }
    }

    #[test]
    fn joined_words_are_space_framed() {
        let folded = Folded::new("L’ONU, les Casques-bleus.", DEFAULT);
        assert_eq!(folded.joined(), " l onu les casques bleus ");
        assert_eq!(folded.word_containing(3), Some(1));
        assert_eq!(folded.word_containing(5), Some(1));
        assert_eq!(folded.word_containing(6), None);
        assert_eq!(folded.word(3), "casques");
        assert_eq!(folded.word(4), "bleus");
        assert_eq!(folded.word(5), "");
        assert_eq!(Folded::new("--", DEFAULT).joined(), " ");
        let bytes: Vec<&[u8]> = folded.word_bytes().collect();
        let words: Vec<&[u8]> = (0..folded.len())
            .map(|i| folded.word(i).as_bytes())
            .collect();
        assert_eq!(bytes, words);
    }

    #[test]
    fn ascii_word_runs_end_where_the_first_byte_that_is_not_a_letter_or_digit_is() {
        let plain = |bytes: &[u8], at: usize| {
            bytes[at..]
                .iter()
                .position(|b| !b.is_ascii_alphanumeric())
                .map_or(bytes.len(), |n| at + n)
        };
        // Every byte value, at every place of a 24-byte run of letters.
        for stop in 0..=255u8 {
            for place in 0..24 {
                let mut bytes = b"MinusmaRetrait2023bamako".to_vec();
                bytes[place] = stop;
                for at in 0..bytes.len() {
                    assert_eq!(
                        ascii_word_end(&bytes, at),
                        plain(&bytes, at),
                        "{stop:#04x} at {place}, from {at}"
                    );
                }
            }
        }
    }

    /// The matcher folds every article into the buffers of the last one.
    #[test]
    fn refilling_forgets_the_last_text() {
        let texts = [
            "Le Conseil de sécurité a voté, à l’unanimité, la fin de la MINUSMA.",
            "",
            "Œuvre",
            "retrai\u{ad}te au Mali",
            "  ",
        ];
        for opts in ALL_OPTIONS {
            let mut reused = Folded::default();
            for text in texts.iter().chain(texts.iter().rev()) {
                reused.refill(text, opts);
                let fresh = Folded::new(text, opts);
                assert_eq!(reused.joined(), fresh.joined(), "{text:?}");
                assert_eq!(reused.starts, fresh.starts, "{text:?}");
                assert_eq!(reused.spans, fresh.spans, "{text:?}");
            }
        }
    }
}
