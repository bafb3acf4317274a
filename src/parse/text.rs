//! HTML from feeds → plain text: the one place that walks markup, so the
//! HTML parser's types stay inside `parse/`.

use scraper::{Html, Node};

/// HTML (or plain text with entities) → readable text: tags dropped,
/// entities decoded, scripts and styles removed, block elements separated,
/// whitespace collapsed. Paragraphs are kept apart by a newline.
pub fn html_to_text(html: &str) -> String {
    if !html.contains(['<', '&']) {
        return collapse(html);
    }
    let fragment = Html::parse_fragment(html);
    let mut out = String::with_capacity(html.len());
    walk(fragment.tree.root(), &mut out);
    collapse(&out)
}

fn walk(node: ego_tree::NodeRef<'_, Node>, out: &mut String) {
    for child in node.children() {
        match child.value() {
            Node::Text(text) => out.push_str(text),
            Node::Element(el) => {
                let name = el.name();
                if matches!(
                    name,
                    "script" | "style" | "noscript" | "template" | "iframe" | "object"
                ) {
                    continue;
                }
                let block = matches!(
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
                );
                if block {
                    out.push('\n');
                }
                walk(child, out);
                if block {
                    out.push('\n');
                } else if matches!(name, "td" | "th") {
                    out.push(' ');
                }
            }
            _ => walk(child, out),
        }
    }
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
    fn c1_controls_are_windows_1252_punctuation() {
        assert_eq!(
            html_to_text("l&#146;ONU &#147;Minusma&#148; &#133;"),
            "l’ONU “Minusma” …"
        );
        assert_eq!(html_to_text("don\u{92}t"), "don’t");
        assert_eq!(html_to_text("a\u{81}b"), "a b");
    }
}
