//! Snippets: about [`SNIPPET_CHARS`] chars of a field around a hit, cut at
//! whitespace, with every run of whitespace shown as one space, and the
//! hit's place in them.
//!
//! Every alert carries one per hit, so this runs for every match of every
//! article: the text is walked by bytes and copied by runs, and the slow
//! path (decoding a char) is taken only at the bytes that may start a
//! whitespace char.

use std::ops::Range;

/// Length of a snippet, in chars, when the field is long enough.
pub(crate) const SNIPPET_CHARS: usize = 120;

/// Cuts about [`SNIPPET_CHARS`] chars of `text` around the byte range `hit`,
/// preferably at whitespace, and returns it with the hit's byte range in it.
///
/// Total on any input: a range that is not on char boundaries of `text`
/// gives an empty snippet rather than a panic.
pub(crate) fn snippet(text: &str, hit: Range<usize>) -> (String, Range<usize>) {
    let (hs, he) = (hit.start, hit.end);
    let (Some(before), Some(matched), Some(_)) = (text.get(..hs), text.get(hs..he), text.get(he..))
    else {
        return (String::new(), 0..0);
    };
    let bytes = text.as_bytes();

    // Share the room left by the hit between both sides; a side that runs
    // out of text gives its share to the other.
    // A side of four bytes a char or more has the whole budget: most hits
    // in a body need no counting but the walk to their snippet's ends.
    let budget = SNIPPET_CHARS.saturating_sub(char_starts(matched.as_bytes()));
    let avail_before = if hs >= 4 * budget {
        budget
    } else {
        chars_back(bytes, hs, budget).0
    };
    let avail_after = if text.len() - he >= 4 * budget {
        budget
    } else {
        chars_forward(bytes, he, budget).0
    };
    let want_after = (budget - (budget / 2).min(avail_before)).min(avail_after);
    let want_before = (budget - want_after).min(avail_before);

    // Every index below is a char boundary: `chars_back` and
    // `chars_forward` stop on the first byte of a char, and `find` and
    // `rfind` return one.
    let mut start = chars_back(bytes, hs, want_before).1;
    let cut_mid_word = start > 0 && !before[..start].ends_with(char::is_whitespace);
    if cut_mid_word && let Some(i) = before[start..].find(char::is_whitespace) {
        start += i;
    }
    let mut end = chars_forward(bytes, he, want_after).1;
    let cut_mid_word = end < text.len() && !text[end..].starts_with(char::is_whitespace);
    if cut_mid_word && let Some(i) = text[he..end].rfind(char::is_whitespace) {
        end = he + i;
    }
    let cut_start = text[..start].chars().rev().any(|c| !c.is_whitespace());
    let cut_end = text[end..].chars().any(|c| !c.is_whitespace());

    // The hit as shown: from its first char that is not whitespace to the
    // end of its last one (the matcher's hits are words at both ends).
    let shown_start = text[hs..end]
        .find(|c: char| !c.is_whitespace())
        .map(|i| hs + i);
    let shown_end = start + text[start..he].trim_end().len();
    let mut shown = Shown {
        out: String::with_capacity(end - start + 2 * '…'.len_utf8()),
        shown_start,
        shown_end: (shown_end > start).then_some(shown_end),
        highlight_start: None,
        highlight_end: None,
    };
    if cut_start {
        shown.out.push('…');
    }
    let body_start = shown.out.len();

    // Leading whitespace is dropped, every other run of it becomes one
    // space (or its no-break space), trailing whitespace is dropped; all
    // else is copied by runs.
    let mut at = skip_whitespace(text, start, end);
    let mut run = at;
    loop {
        at = skip_plain(bytes, at, end);
        let Some(&b) = bytes.get(at).filter(|_| at < end) else {
            break;
        };
        if !MAY_START_WHITESPACE[usize::from(b)] {
            at += 1;
            continue;
        }
        // One plain space between two words is copied with them.
        if b == b' '
            && at + 1 < end
            && bytes
                .get(at + 1)
                .is_some_and(|&next| !MAY_START_WHITESPACE[usize::from(next)])
        {
            at += 2;
            continue;
        }
        let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        let after = at + c.len_utf8();
        if !c.is_whitespace() {
            at = after;
            continue;
        }
        let gap_end = skip_whitespace(text, after, end);
        // A lone space or no-break space between two words (`" « "`,
        // `"ONU :"`) is shown as it is: still the same run.
        if gap_end == after && after < end && (c == ' ' || is_no_break(c)) {
            at = after;
            continue;
        }
        shown.copy(text, run..at);
        if gap_end < end {
            shown.out.push(gap_char(&text[at..gap_end]).unwrap_or(' '));
        }
        at = gap_end;
        run = at;
    }
    shown.copy(text, run..end.max(run));

    let highlight_end = shown.highlight_end.unwrap_or(body_start);
    // A hit made only of whitespace (never produced by the matcher) would
    // leave the start past the end.
    let highlight_start = shown.highlight_start.unwrap_or(highlight_end);
    let highlight = highlight_start..highlight_end.max(highlight_start);
    let mut out = shown.out;
    if cut_end {
        out.push('…');
    }
    (out, highlight)
}

/// The snippet being written, and where the hit lands in it.
struct Shown {
    out: String,
    /// Byte offsets in the text of the hit's first shown char, and of the
    /// end of its last one.
    shown_start: Option<usize>,
    shown_end: Option<usize>,
    highlight_start: Option<usize>,
    highlight_end: Option<usize>,
}

impl Shown {
    /// Appends `text[range]` as it is, noting where the hit starts or ends
    /// in it.
    fn copy(&mut self, text: &str, range: Range<usize>) {
        let Some(part) = text.get(range.clone()) else {
            return;
        };
        if let Some(s) = self.shown_start.filter(|s| range.contains(s)) {
            self.highlight_start = Some(self.out.len() + s - range.start);
        }
        if let Some(e) = self
            .shown_end
            .filter(|&e| range.start < e && e <= range.end)
        {
            self.highlight_end = Some(self.out.len() + e - range.start);
        }
        self.out.push_str(part);
    }
}

/// The first byte at or after `at` (and before `end`) that is not
/// whitespace, or `end`.
fn skip_whitespace(text: &str, at: usize, end: usize) -> usize {
    text.get(at..end)
        .and_then(|rest| rest.find(|c: char| !c.is_whitespace()))
        .map_or(end, |i| at + i)
}

/// What a run of whitespace inside a snippet is shown as: its first char
/// when it is made only of no-break spaces, which keep French typography
/// (`ONU :`, `25 %`); a plain space (`None`) for any other run.
fn gap_char(gap: &str) -> Option<char> {
    let first = gap.chars().next()?;
    gap.chars().all(is_no_break).then_some(first)
}

fn is_no_break(c: char) -> bool {
    matches!(c, '\u{00A0}' | '\u{202F}' | '\u{2007}')
}

/// The bytes that may start a whitespace char: ASCII's, and the first
/// bytes of U+0085 and U+00A0 (`C2`), U+1680 (`E1`), U+2000 to U+205F
/// (`E2`) and U+3000 (`E3`). Any other byte is never the start of one.
const MAY_START_WHITESPACE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x09;
    while b <= 0x0D {
        table[b] = true;
        b += 1;
    }
    table[0x20] = true;
    table[0xC2] = true;
    table[0xE1] = true;
    table[0xE2] = true;
    table[0xE3] = true;
    table
};

/// The first byte from `at` that may start a whitespace char, eight bytes
/// at a time: the first byte below `0x21` or the first lead byte of a
/// multibyte char (`11xxxxxx`, a superset of those of
/// [`MAY_START_WHITESPACE`]), or where fewer than eight bytes are left
/// before `end`.
fn skip_plain(bytes: &[u8], mut at: usize, end: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while at + 8 <= end {
        let Some(chunk) = bytes.get(at..at + 8) else {
            break;
        };
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        // Below 0x21: the lowest byte flagged is one (a borrow only flags
        // bytes above it); 11xxxxxx: the second top bit shifted onto the
        // top one.
        let low = x.wrapping_sub(0x21 * ONES) & !x;
        let lead = x & (x << 1);
        let stops = (low | lead) & HIGH;
        if stops != 0 {
            return at + (stops.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at
}

/// Whether a byte of UTF-8 is the first of a char.
fn is_char_start(b: u8) -> bool {
    (b as i8) >= -0x40
}

/// How many chars start in `bytes`: every byte but UTF-8's continuation
/// bytes (`10xxxxxx`), counted eight at a time.
fn char_starts(bytes: &[u8]) -> usize {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut continuations = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        // The top bit set and the next one clear, as a 1 in each byte
        // that is one; the multiplication sums the bytes into the top one.
        let ones = (x & !(x << 1) & HIGH) >> 7;
        continuations += (ones.wrapping_mul(0x0101_0101_0101_0101) >> 56) as usize;
    }
    continuations += chunks
        .remainder()
        .iter()
        .filter(|&&b| !is_char_start(b))
        .count();
    bytes.len() - continuations
}

/// Walks back from byte `from` (a char boundary) of `bytes` over at most
/// `chars` chars: how many it passed, and where it stopped (a char
/// boundary).
///
/// By chunks, a byte per char still to go: in ASCII one chunk does.
fn chars_back(bytes: &[u8], from: usize, chars: usize) -> (usize, usize) {
    let (mut need, mut at) = (chars, from.min(bytes.len()));
    while need > 0 && at > 0 {
        let lo = at.saturating_sub(need);
        need -= char_starts(&bytes[lo..at]);
        at = lo;
    }
    // The chunk may have stopped inside the last char passed.
    while bytes.get(at).is_some_and(|&b| !is_char_start(b)) {
        at += 1;
    }
    (chars - need, at)
}

/// Walks forward from byte `from` (a char boundary) of `bytes` over at most
/// `chars` chars: how many it passed, and where it stopped (a char
/// boundary, or the end).
fn chars_forward(bytes: &[u8], from: usize, chars: usize) -> (usize, usize) {
    let (mut need, mut at) = (chars, from.min(bytes.len()));
    while need > 0 && at < bytes.len() {
        let hi = (at + need).min(bytes.len());
        need -= char_starts(&bytes[at..hi]);
        at = hi;
    }
    // The chunk may have stopped inside the last char passed.
    while bytes.get(at).is_some_and(|&b| !is_char_start(b)) {
        at += 1;
    }
    (chars - need, at)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The first, plain implementation of [`snippet`], char by char: what it
    /// must give.
    /// Cuts about [`SNIPPET_CHARS`] chars of `text` around the byte range `hit`,
    /// preferably at whitespace, and returns it with the hit's byte range in it.
    ///
    /// Total on any input: a range that is not on char boundaries of `text`
    /// gives an empty snippet rather than a panic.
    fn reference_snippet(text: &str, hit: Range<usize>) -> (String, Range<usize>) {
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

    #[test]
    fn skip_plain_stops_where_the_byte_loop_would() {
        // Every byte value at every place of a run of plain letters, from
        // every start: the first byte below 0x21 or from 0xC0 up, never
        // passed, or a stop anywhere in the last seven bytes.
        for b in 0..=u8::MAX {
            for place in 0..24 {
                let mut bytes = vec![b'a'; 24];
                bytes[place] = b;
                for from in 0..24 {
                    let got = skip_plain(&bytes, from, bytes.len());
                    let stop = (from..bytes.len())
                        .find(|&i| bytes[i] < 0x21 || bytes[i] >= 0xC0)
                        .unwrap_or(bytes.len());
                    let slow_from = bytes.len().saturating_sub(7).max(from);
                    assert!(got <= stop, "{b:#x} at {place} from {from}: {got}");
                    assert!(
                        got == stop || got >= slow_from,
                        "{b:#x} at {place} from {from}"
                    );
                }
            }
        }
    }

    #[test]
    fn snippets_agree_with_the_reference() {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        let pieces = [
            "Mali", "casques", "bleus", " ", "  ", "\n", "\t", "\u{a0}", "\u{202f}", "é", "ô",
            "l’", "«\u{a0}", "\u{a0}»", ",", ".", "日本", "👍🏽", "\u{2003}", "\u{b}", "\u{85}",
            "\r", "x", "ONU", "\u{3000}", "\u{1680}", "«", "…", "\u{2007}", "\u{205f}",
        ];
        for _ in 0..20_000 {
            let n = next(120);
            let text: String = (0..n).map(|_| pieces[next(pieces.len())]).collect();
            let bounds: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            let a = bounds[next(bounds.len())];
            let b = bounds[next(bounds.len())];
            let hit = a.min(b)..a.max(b);
            assert_eq!(
                snippet(&text, hit.clone()),
                reference_snippet(&text, hit.clone()),
                "{text:?} {hit:?}"
            );
        }
    }
}
