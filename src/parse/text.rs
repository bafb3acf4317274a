//! HTML from feeds → plain text: the one place that walks markup, so the
//! HTML parser's types stay inside `parse/`.

use ego_tree::iter::Edge;
use scraper::{Html, Node};

/// Beyond this many tags, the HTML parser's time grows too fast on deep
/// nesting (quadratically, in html5ever's open-element scans): such a text
/// is stripped of its tags by a linear pass instead.
const MAX_TAGS: usize = 20_000;

/// HTML (or plain text with entities) → readable text: tags dropped,
/// entities decoded, scripts and styles removed, block elements separated,
/// whitespace collapsed. Paragraphs are kept apart by a newline.
pub fn html_to_text(html: &str) -> String {
    if !html.contains(['<', '&']) {
        return collapse(html);
    }
    if html.matches('<').count() > MAX_TAGS {
        return collapse(&strip_tags(html));
    }
    let fragment = Html::parse_fragment(html);
    let mut out = String::with_capacity(html.len());
    // Iterative: hostile nesting (tens of thousands of open tags) must not
    // overflow the stack, which would abort the whole process.
    let mut skipped = 0usize;
    for edge in fragment.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Text(text) if skipped == 0 => out.push_str(text),
                Node::Element(el) if is_hidden(el.name()) => skipped += 1,
                Node::Element(el) if skipped == 0 && is_block(el.name()) => out.push('\n'),
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    let name = el.name();
                    if is_hidden(name) {
                        skipped = skipped.saturating_sub(1);
                    } else if skipped == 0 && is_block(name) {
                        out.push('\n');
                    } else if skipped == 0 && matches!(name, "td" | "th") {
                        out.push(' ');
                    }
                }
            }
        }
    }
    collapse(&out)
}

/// Elements nested deeper than this are unwrapped by [`cap_nesting`]: real
/// pages stay far below it.
pub const MAX_DEPTH: usize = 256;

/// `html` with every element nested deeper than `max_depth` unwrapped (its
/// tags dropped, its content kept), in one linear pass, so that a hostile
/// page of tens of thousands of nested tags can neither overflow a
/// recursive walk in the DOM crates nor make their tree algorithms
/// quadratic. A page within the limit is returned as it is.
pub fn cap_nesting(html: &str, max_depth: usize) -> std::borrow::Cow<'_, str> {
    // Cheap bound first: a page with fewer tags cannot be that deep.
    if html.matches('<').count() <= max_depth {
        return html.into();
    }
    let mut out = String::new();
    let mut copied = 0;
    // (lowercase name, kept) of the open elements.
    let mut stack: Vec<(String, bool)> = Vec::new();
    let mut changed = false;
    let mut i = 0;
    while let Some(offset) = html[i..].find('<') {
        let start = i + offset;
        let Some(len) = html[start..].find('>') else {
            break;
        };
        let end = start + len + 1;
        let tag = &html[start + 1..end - 1];
        i = end;
        if tag.starts_with('!') || tag.starts_with('?') {
            if tag.starts_with("!--")
                && !tag.ends_with("--")
                && let Some(close) = html[start..].find("-->")
            {
                i = start + close + 3;
            }
            continue;
        }
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        if closing {
            let Some(at) = stack.iter().rposition(|(n, _)| *n == name) else {
                continue;
            };
            let dropped = !stack[at].1;
            stack.truncate(at);
            if dropped {
                out.push_str(&html[copied..start]);
                copied = end;
                changed = true;
            }
            continue;
        }
        if is_void(&name) || tag.ends_with('/') {
            continue;
        }
        if matches!(name.as_str(), "script" | "style" | "textarea" | "title") {
            // Raw text: no tags inside, skip to the end tag.
            let closing_tag = format!("</{name}");
            if let Some(close) = html[end..].to_ascii_lowercase().find(&closing_tag) {
                i = end + close;
            }
            continue;
        }
        let kept = stack.len() < max_depth;
        stack.push((name, kept));
        if !kept {
            out.push_str(&html[copied..start]);
            copied = end;
            changed = true;
        }
    }
    if !changed {
        return html.into();
    }
    out.push_str(&html[copied..]);
    out.into()
}

/// Elements that never have content or an end tag.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Elements whose content is never text for a reader.
fn is_hidden(name: &str) -> bool {
    matches!(
        name,
        "script" | "style" | "noscript" | "template" | "iframe" | "object"
    )
}

/// Elements that separate lines of text.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "br"
            | "li"
            | "ul"
            | "ol"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "tr"
            | "table"
            | "blockquote"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "figure"
            | "figcaption"
            | "pre"
            | "hr"
            | "dd"
            | "dt"
    )
}

/// The fallback for pathological markup: everything between `<` and `>`
/// dropped, in one pass. Entities stay as written.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whitespace runs become one space, except that a run with a line break
/// becomes one newline; control characters go.
fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending: Option<char> = None;
    for c in text.chars().map(c1_as_windows_1252) {
        if c.is_whitespace() || c.is_control() {
            if c == '\n' || c == '\r' {
                pending = Some('\n');
            } else if pending.is_none() && c != '\u{feff}' {
                pending = Some(' ');
            }
            continue;
        }
        if let Some(p) = pending.take()
            && !out.is_empty()
        {
            out.push(p);
        }
        out.push(c);
    }
    out
}

/// C1 control characters in feed text are windows-1252 punctuation sent
/// as Latin-1 (`&#146;` meaning ’): read them as browsers do.
fn c1_as_windows_1252(c: char) -> char {
    match u8::try_from(u32::from(c)) {
        Ok(byte @ 0x80..=0x9f) => {
            let bytes = [byte];
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&bytes);
            text.chars().next().unwrap_or(c)
        }
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_neither_overflows_the_stack_nor_takes_forever() {
        // Found by fuzzing: 20,000 nested tags overflowed a recursive walk
        // and aborted the daemon. A small stack proves the walk iterative.
        let nested = format!(
            "{}Minusma{}",
            "<span>".repeat(15_000),
            "</span>".repeat(15_000)
        );
        let text = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || html_to_text(&nested))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(text, "Minusma");
        let huge = format!("{}retrait{}", "<div>".repeat(60_000), "</div>".repeat(10));
        assert_eq!(html_to_text(&huge), "retrait");
    }

    #[test]
    fn nesting_is_capped_and_shallow_pages_are_untouched() {
        let page = "<html><body><div class=\"a\"><p>Minusma</p><br></div></body></html>";
        assert_eq!(cap_nesting(page, 4), page);
        let deep = format!("{}texte{}", "<div>".repeat(10), "</div>".repeat(10));
        let capped = cap_nesting(&deep, 3);
        assert_eq!(capped, "<div><div><div>texte</div></div></div>");
        // Unclosed deep tags, a script with a fake tag, a comment.
        let messy = format!(
            "<script>if (a<b) {{ x = '<div>' }}</script><!-- <div> -->{}fin",
            "<span>".repeat(50)
        );
        let capped = cap_nesting(&messy, 5);
        assert_eq!(capped.matches("<span>").count(), 5);
        assert!(capped.contains("x = '<div>'") && capped.ends_with("fin"));
    }

    #[test]
    fn hidden_elements_and_blocks() {
        assert_eq!(
            html_to_text(
                "<p>Le <b>retrait</b></p><script>x<p>y</p></script><style>s</style><p>Suite</p><table><tr><td>a</td><td>b</td></tr></table>"
            ),
            "Le retrait\nSuite\na b"
        );
    }

    #[test]
    fn c1_controls_are_windows_1252_punctuation() {
        assert_eq!(
            html_to_text("l&#146;ONU &#147;Minusma&#148; &#133;"),
            "l’ONU “Minusma” …"
        );
        assert_eq!(html_to_text("don\u{92}t"), "don’t");
        assert_eq!(html_to_text("a\u{81}b"), "a b");
    }
}
