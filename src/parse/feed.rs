//! RSS 0.9x/1.0/2.0, Atom and JSON Feed through feed-rs. The bytes are
//! transcoded to UTF-8 first (feed-rs trusts only the XML declaration), and a
//! document that strict XML rejects for an HTML entity or a bare `&` — the
//! commonest real-world breakage — is repaired and read again.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use feed_rs::model;
use url::Url;

use super::{Document, Entry, ParseError};
use crate::fetch::charset;

pub fn parse(
    bytes: &[u8],
    content_type: Option<&str>,
    base: &Url,
    timezone: Option<Tz>,
) -> Result<Document, ParseError> {
    if let Some(what) = binary_kind(bytes, content_type) {
        return Err(ParseError::NotAFeed(format!("the server sent {what}")));
    }
    let (text, _) = charset::decode(bytes, content_type);
    let text = declare_utf8(&text);
    // RSS 0.90 is RSS 1.0's structure under another namespace, which
    // feed-rs does not know: it would read no item at all.
    let text = match text.contains(RSS_090_NS) {
        true => text.replace(RSS_090_NS, "http://purl.org/rss/1.0/").into(),
        false => text,
    };
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    let first = match parse_text(&text, base, timezone) {
        Ok(doc) => return Ok(doc),
        Err(e) => e,
    };
    if looks_like_html(trimmed) {
        return Err(ParseError::Html);
    }
    // The repairs real feeds need, each tried once: undeclared HTML
    // entities and bare `&`; an RSS version feed-rs does not know (none,
    // 0.93, 0.94, 2.01) read as 2.0, which they all are in practice.
    let repaired = repair_xml(&text);
    let versioned = rss_version_2(&repaired);
    for candidate in [&repaired, &versioned] {
        if candidate != &text
            && let Ok(doc) = parse_text(candidate, base, timezone)
        {
            return Ok(doc);
        }
    }
    Err(first)
}

const RSS_090_NS: &str = "http://my.netscape.com/rdf/simple/0.9/";

/// `<rss>` with no version, or one feed-rs rejects, as `<rss version="2.0">`.
fn rss_version_2(text: &str) -> String {
    let Some(at) = text.find("<rss") else {
        return text.to_string();
    };
    let Some(end) = text[at..].find('>').map(|e| at + e) else {
        return text.to_string();
    };
    let tag = &text[at..end];
    if !tag[4..].starts_with(|c: char| c.is_whitespace() || c == '/') && tag.len() > 4 {
        return text.to_string();
    }
    let mut new_tag = String::from("<rss version=\"2.0\"");
    let mut rest = &tag[4..];
    // Keep every other attribute (namespaces), drop the old version.
    while let Some(v) = rest.find("version") {
        let before = &rest[..v];
        new_tag.push_str(before);
        let after = &rest[v + "version".len()..];
        let value_end = after
            .find(['"', '\''])
            .and_then(|q1| {
                let quote = after.as_bytes()[q1] as char;
                after[q1 + 1..].find(quote).map(|q2| q1 + 1 + q2 + 1)
            })
            .unwrap_or(0);
        rest = &after[value_end..];
    }
    new_tag.push_str(rest);
    format!("{}{}{}", &text[..at], new_tag, &text[end..])
}

fn parse_text(text: &str, base: &Url, timezone: Option<Tz>) -> Result<Document, ParseError> {
    let mut builder = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        // An empty id marks "the document gave none": feed-rs's generated
        // ids change with the headline and must not become article keys.
        .id_generator(|_, _, _| String::new());
    if let Some(tz) = timezone {
        builder = builder.timestamp_parser(move |s| parse_date(s, tz));
    }
    let parser = builder.build();
    // A panic inside the parser on hostile bytes must end this parse, not
    // the poll: quick-xml has panicked on some UTF-16 declarations.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parser.parse(text.as_bytes())
    }))
    .map_err(|_| ParseError::Malformed("the feed parser failed on this document".into()))?;
    let feed = parsed.map_err(|e| match e {
        feed_rs::parser::ParseFeedError::ParseError(
            feed_rs::parser::ParseErrorKind::NoFeedRoot,
        ) => ParseError::NotAFeed("no RSS, Atom or JSON Feed root element".into()),
        other => ParseError::Malformed(other.to_string()),
    })?;
    Ok(convert(feed, base))
}

fn convert(feed: model::Feed, base: &Url) -> Document {
    let entries = feed
        .entries
        .into_iter()
        .map(|e| {
            // An RSS item with no <link> but a URL as its <guid> is at
            // that URL (feed-rs drops isPermaLink, so any URL-shaped guid).
            let guid_url = Some(e.id.as_str())
                .filter(|id| id.starts_with("http://") || id.starts_with("https://"));
            let link = pick_link(&e.links)
                .or(guid_url)
                .and_then(|href| base.join(href).ok())
                .map(|u| u.to_string());
            Entry {
                id: Some(e.id).filter(|id| !id.trim().is_empty()),
                link,
                title: e.title.map(|t| t.content),
                summary: e.summary.map(|t| t.content),
                content: e.content.and_then(|c| c.body),
                authors: e
                    .authors
                    .into_iter()
                    .filter_map(|p| p.name.map(|n| n.trim().to_string()))
                    .filter(|n| !n.is_empty())
                    .collect(),
                published: e.published,
                updated: e.updated,
                language: e.language,
            }
        })
        .collect();
    Document {
        title: feed.title.map(|t| t.content),
        language: feed.language,
        // RSS <ttl> is in minutes.
        ttl: feed
            .ttl
            .filter(|m| *m > 0)
            .map(|m| std::time::Duration::from_secs(u64::from(m) * 60)),
        entries,
    }
}

/// The article's own page: `rel="alternate"` or no rel, before enclosures,
/// comments or self links.
fn pick_link(links: &[model::Link]) -> Option<&str> {
    const NOT_THE_ARTICLE: &[&str] = &[
        "comments",
        "replies",
        "self",
        "edit",
        "enclosure",
        "license",
        "hub",
    ];
    // `target` marks RSS <comments> and comment feeds.
    let candidates = || links.iter().filter(|l| l.target.is_none());
    candidates()
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .or_else(|| {
            candidates().find(|l| {
                l.rel
                    .as_deref()
                    .is_none_or(|rel| !NOT_THE_ARTICLE.contains(&rel))
            })
        })
        .map(|l| l.href.as_str())
        .filter(|h| !h.trim().is_empty())
}

/// The text is UTF-8 now; every XML declaration must say so. feed-rs
/// would otherwise decode it a second time, and quick-xml panics on a
/// declaration of another encoding that is not at the very start.
fn declare_utf8(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("<?xml") {
        return text.into();
    }
    let text = text.trim_start_matches('\u{feff}');
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find("<?xml") {
        let (before, from_decl) = rest.split_at(start);
        out.push_str(before);
        let end = from_decl.find("?>").map_or(from_decl.len(), |e| e + 2);
        out.push_str(&utf8_declaration(&from_decl[..end]));
        rest = &from_decl[end..];
    }
    out.push_str(rest);
    out.into()
}

/// One `<?xml … ?>`, its encoding (if it names one) replaced by UTF-8; a
/// declaration too broken to edit becomes a plain one.
fn utf8_declaration(decl: &str) -> String {
    let Some(at) = decl.find("encoding") else {
        return decl.to_string();
    };
    let after = &decl[at..];
    let value = after.find(['"', '\'']).and_then(|q1| {
        // The quote is ASCII, so q1 + 1 is a char boundary.
        let quote = &after[q1..q1 + 1];
        after[q1 + 1..]
            .find(quote)
            .map(|q2| &after[..q1 + 1 + q2 + 1])
    });
    match value {
        Some(attribute) => decl.replacen(attribute, "encoding=\"UTF-8\"", 1),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?>".to_string(),
    }
}

/// An image, a PDF or an archive where a feed was expected, by its magic
/// bytes or its declared type: named, never decoded as text.
fn binary_kind(bytes: &[u8], content_type: Option<&str>) -> Option<String> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF87a", "a GIF image"),
        (b"GIF89a", "a GIF image"),
        (b"%PDF-", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"\x1f\x8b", "gzip-compressed data"),
    ];
    if let Some((_, what)) = MAGIC.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Some((*what).to_string());
    }
    if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some("a WebP image".into());
    }
    let mime = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    let binary = ["image/", "audio/", "video/", "font/"]
        .iter()
        .any(|p| mime.starts_with(p))
        && mime != "image/svg+xml";
    binary.then(|| format!("content of type {mime}"))
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    (head.starts_with("<!doctype html") || head.contains("<html"))
        && !head.contains("<rss")
        && !head.contains("<feed")
}

/// HTML named entities that feeds use without declaring them, by code point.
const HTML_ENTITIES: &[(&str, u32)] = &[
    ("nbsp", 0xA0),
    ("iexcl", 0xA1),
    ("cent", 0xA2),
    ("pound", 0xA3),
    ("euro", 0x20AC),
    ("copy", 0xA9),
    ("laquo", 0xAB),
    ("raquo", 0xBB),
    ("reg", 0xAE),
    ("deg", 0xB0),
    ("middot", 0xB7),
    ("agrave", 0xE0),
    ("aacute", 0xE1),
    ("acirc", 0xE2),
    ("auml", 0xE4),
    ("ccedil", 0xE7),
    ("egrave", 0xE8),
    ("eacute", 0xE9),
    ("ecirc", 0xEA),
    ("euml", 0xEB),
    ("icirc", 0xEE),
    ("iuml", 0xEF),
    ("ocirc", 0xF4),
    ("ouml", 0xF6),
    ("ugrave", 0xF9),
    ("ucirc", 0xFB),
    ("uuml", 0xFC),
    ("Agrave", 0xC0),
    ("Acirc", 0xC2),
    ("Ccedil", 0xC7),
    ("Egrave", 0xC8),
    ("Eacute", 0xC9),
    ("Ecirc", 0xCA),
    ("Icirc", 0xCE),
    ("Ocirc", 0xD4),
    ("Ucirc", 0xDB),
    ("oelig", 0x153),
    ("OElig", 0x152),
    ("aelig", 0xE6),
    ("szlig", 0xDF),
    ("ndash", 0x2013),
    ("mdash", 0x2014),
    ("lsquo", 0x2018),
    ("rsquo", 0x2019),
    ("sbquo", 0x201A),
    ("ldquo", 0x201C),
    ("rdquo", 0x201D),
    ("bdquo", 0x201E),
    ("hellip", 0x2026),
    ("bull", 0x2022),
    ("trade", 0x2122),
    ("times", 0xD7),
    ("shy", 0xAD),
    ("thinsp", 0x2009),
    ("ensp", 0x2002),
    ("emsp", 0x2003),
    ("prime", 0x2032),
];

const XML_ENTITIES: &[&str] = &["amp", "lt", "gt", "quot", "apos"];

/// Turns HTML named entities into numeric references and escapes bare `&`,
/// so strict XML accepts the document. Unknown names are escaped too: the
/// reader then sees `&name;` rather than losing the whole feed.
pub fn repair_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let terminated = after[name_len..].starts_with(';');
        let numeric = name.strip_prefix('#').is_some_and(|n| {
            !n.is_empty()
                && (n.chars().all(|c| c.is_ascii_digit())
                    || (n.starts_with(['x', 'X'])
                        && n.len() > 1
                        && n[1..].chars().all(|c| c.is_ascii_hexdigit())))
        });
        if terminated && (numeric || XML_ENTITIES.contains(&name)) {
            out.push('&');
            rest = after;
        } else if let Some((_, code)) = HTML_ENTITIES.iter().find(|(n, _)| terminated && *n == name)
        {
            out.push_str(&format!("&#{code};"));
            rest = &after[name_len + 1..];
        } else {
            out.push_str("&amp;");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Zone names feeds write that RFC 2822 does not know, with their offsets.
const ZONES: &[(&str, &str)] = &[
    ("UTC", "+0000"),
    ("Z", "+0000"),
    ("WET", "+0000"),
    ("WEST", "+0100"),
    ("WAT", "+0100"),
    ("BST", "+0100"),
    ("CET", "+0100"),
    ("CEST", "+0200"),
    ("MET", "+0100"),
    ("MEST", "+0200"),
    ("EET", "+0200"),
    ("EEST", "+0300"),
    ("CAT", "+0200"),
    ("EAT", "+0300"),
];

/// Dates of a source with a configured time zone. Any date that carries an
/// offset or a zone name keeps it (RFC 3339, RFC 2822 with or without
/// seconds, ISO 8601 with `+0200`, common zone names); only naive dates are
/// read in `tz`.
fn parse_date(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let utc = |d: DateTime<chrono::FixedOffset>| d.with_timezone(&Utc);
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(utc(d));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(text) {
        return Some(utc(d));
    }
    // A trailing zone name becomes its offset.
    let (head, last) = text.rsplit_once(' ').unwrap_or(("", text));
    let with_offset = match ZONES
        .iter()
        .find(|(name, _)| last.eq_ignore_ascii_case(name))
    {
        Some((_, offset)) => format!("{head} {offset}"),
        None => text.to_string(),
    };
    if let Ok(d) = DateTime::parse_from_rfc2822(&with_offset) {
        return Some(utc(d));
    }
    for format in [
        "%a, %d %b %Y %H:%M %z",
        "%d %b %Y %H:%M:%S %z",
        "%d %b %Y %H:%M %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%d %H:%M:%S %z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(&with_offset, format) {
            return Some(utc(d));
        }
    }
    let local = |naive: NaiveDateTime| {
        tz.from_local_datetime(&naive)
            .earliest()
            .map(|d| d.with_timezone(&Utc))
    };
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return local(naive);
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    local(date.and_hms_opt(0, 0, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example.org/fr/feed/rss.xml").unwrap()
    }

    #[test]
    fn repairs_html_entities_and_bare_ampersands() {
        let fixed =
            repair_xml("Mali &amp; ONU&nbsp;: Casques &bleus & retrait &#233; &#xE9; &eacute;");
        assert_eq!(
            fixed,
            "Mali &amp; ONU&#160;: Casques &amp;bleus &amp; retrait &#233; &#xE9; &#233;"
        );
    }

    #[test]
    fn broken_feed_is_read_after_repair() {
        let xml = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Mali &amp; ONU</title>\
                   <item><title>Minusma&nbsp;: le retrait & après</title><link>/fr/story/1</link></item></channel></rss>";
        let doc = parse(xml.as_bytes(), None, &base(), None).unwrap();
        assert_eq!(
            doc.entries[0].title.as_deref(),
            Some("Minusma\u{a0}: le retrait & après")
        );
        assert_eq!(
            doc.entries[0].link.as_deref(),
            Some("https://news.example.org/fr/story/1")
        );
        assert_eq!(doc.entries[0].id, None);
    }

    #[test]
    fn rss_of_unknown_versions_is_read_as_2_0() {
        for tag in [
            "<rss>",
            "<rss version=\"0.94\">",
            "<rss xmlns:dc=\"http://purl.org/dc/elements/1.1/\" version='2.01'>",
        ] {
            let xml = format!(
                "{tag}<channel><title>Mali</title><item><title>Minusma</title></item></channel></rss>"
            );
            let doc =
                parse(xml.as_bytes(), None, &base(), None).unwrap_or_else(|e| panic!("{tag}: {e}"));
            assert_eq!(doc.entries[0].title.as_deref(), Some("Minusma"), "{tag}");
        }
        assert_eq!(
            rss_version_2("<rss version=\"0.93\" a=\"b\">"),
            "<rss version=\"2.0\"  a=\"b\">"
        );
    }

    #[test]
    fn a_guid_url_is_the_link_when_there_is_no_link() {
        let xml = "<rss version=\"2.0\"><channel><item><title>A</title><guid>https://news.example.org/a</guid>\
                   <comments>https://news.example.org/a#comments</comments></item></channel></rss>";
        let doc = parse(xml.as_bytes(), None, &base(), None).unwrap();
        assert_eq!(
            doc.entries[0].link.as_deref(),
            Some("https://news.example.org/a")
        );
    }

    #[test]
    fn html_page_is_not_a_feed() {
        let html = "<!DOCTYPE html><html><head><title>Accueil</title></head><body><p>Bamako &amp; &nbsp;</p></body></html>";
        assert!(matches!(
            parse(html.as_bytes(), Some("text/html"), &base(), None),
            Err(ParseError::Html)
        ));
    }

    #[test]
    fn naive_dates_are_read_in_the_source_time_zone() {
        let tz: Tz = "Africa/Bamako".parse().unwrap();
        let d = parse_date("2023-08-19 10:32:00", tz).unwrap();
        assert_eq!(d.to_rfc3339(), "2023-08-19T10:32:00+00:00");
        let paris: Tz = "Europe/Paris".parse().unwrap();
        assert_eq!(
            parse_date("2023-08-19T10:32:00", paris)
                .unwrap()
                .to_rfc3339(),
            "2023-08-19T08:32:00+00:00"
        );
        assert_eq!(
            parse_date("Sat, 19 Aug 2023 10:32:00 +0200", paris)
                .unwrap()
                .to_rfc3339(),
            "2023-08-19T08:32:00+00:00"
        );
        assert_eq!(parse_date("hier", paris), None);
    }

    #[test]
    fn dates_with_an_offset_keep_it_whatever_the_source_time_zone() {
        let tz: Tz = "Africa/Bamako".parse().unwrap();
        let table = [
            ("2023-08-19T10:32:00+02:00", "2023-08-19T08:32:00+00:00"),
            ("2023-08-19T10:32:00+0200", "2023-08-19T08:32:00+00:00"),
            ("2023-08-19T10:32+0200", "2023-08-19T08:32:00+00:00"),
            ("2023-08-19 10:32:00 +0200", "2023-08-19T08:32:00+00:00"),
            ("Sat, 19 Aug 2023 10:32:00 GMT", "2023-08-19T10:32:00+00:00"),
            ("Sat, 19 Aug 2023 10:32 CEST", "2023-08-19T08:32:00+00:00"),
            ("Sat, 19 Aug 2023 10:32:00 WAT", "2023-08-19T09:32:00+00:00"),
            ("19 Aug 2023 10:32:00 +0000", "2023-08-19T10:32:00+00:00"),
            ("Sat, 19 Aug 2023 10:32:00 UTC", "2023-08-19T10:32:00+00:00"),
            ("2023-08-19", "2023-08-19T00:00:00+00:00"),
        ];
        for (text, expected) in table {
            let got = parse_date(text, tz).map(|d| d.to_rfc3339());
            assert_eq!(got.as_deref(), Some(expected), "{text}");
        }
    }
}

#[cfg(test)]
mod hostile {
    use super::*;

    #[test]
    fn a_late_declaration_of_another_encoding_does_not_panic() {
        // Found by fuzzing: quick-xml asserts when a declaration naming a
        // non-UTF-8 encoding comes after its first buffer.
        let base = Url::parse("https://news.example.org/feed").unwrap();
        let inputs: [&[u8]; 3] = [
            b"ty'\n->\xc5\0\0\0tl>test&oity0<?xml v/rs0\">=\"1.0\" encoding=\"cp1252\"?>title>>",
            b"<rss><channel><title>a</title></channel></rss><?xml version=\"1.0\" encoding=\"utf-16\"?>",
            b"<?xml version=\"1.0\"?>\n<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><rss/>",
        ];
        for input in inputs {
            // Straight into feed-rs, without parse()'s catch_unwind: the
            // declarations must be made harmless before it ever sees them.
            let (text, _) = charset::decode(input, None);
            let _ = feed_rs::parser::parse(declare_utf8(&text).as_bytes());
            let _ = parse(input, None, &base, None);
        }
        assert_eq!(
            declare_utf8("<?xml version='1.0' encoding='cp1252'?><a/><?xml encoding=\"utf-16?>"),
            "<?xml version='1.0' encoding=\"UTF-8\"?><a/><?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        );
    }

    #[test]
    fn entity_expansion_is_not_performed() {
        let mut xml =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n<!ENTITY lol \"lol\">\n");
        xml.push_str("<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
        for i in 2..10 {
            let prev = format!("&lol{};", i - 1);
            xml.push_str(&format!("<!ENTITY lol{i} \"{}\">\n", prev.repeat(10)));
        }
        xml.push_str("<!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n]>\n");
        xml.push_str(
            "<rss version=\"2.0\"><channel><title>t</title><item><title>&lol9; &xxe;</title>",
        );
        xml.push_str("<link>https://news.example.org/a</link></item></channel></rss>");
        let base = Url::parse("https://news.example.org/feed").unwrap();
        let result = parse(xml.as_bytes(), None, &base, None);
        if let Ok(doc) = result {
            for e in doc.entries {
                let title = e.title.unwrap_or_default();
                assert!(
                    title.len() < 1000,
                    "entities were expanded: {} bytes",
                    title.len()
                );
                assert!(!title.contains("root:"), "an external entity was read");
            }
        }
    }
}

#[cfg(test)]
mod formats {
    use super::*;

    fn titles(xml: &str) -> Vec<String> {
        let base = Url::parse("https://news.example.org/feed").unwrap();
        let doc = parse(xml.as_bytes(), None, &base, None).unwrap_or_else(|e| panic!("{e}: {xml}"));
        doc.entries
            .into_iter()
            .map(|e| e.title.unwrap_or_default())
            .collect()
    }

    const ITEM: &str =
        "<item><title>Minusma : le retrait</title><link>https://news.example.org/a</link></item>";

    #[test]
    fn every_rss_version_is_read() {
        for version in ["0.91", "0.92", "2.0"] {
            let xml = format!(
                "<rss version=\"{version}\"><channel><title>t</title><link>https://news.example.org/</link>{ITEM}</channel></rss>"
            );
            assert_eq!(titles(&xml), ["Minusma : le retrait"], "RSS {version}");
        }
        let rss_090 = format!(
            "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://my.netscape.com/rdf/simple/0.9/\">\
             <channel><title>t</title><link>https://news.example.org/</link></channel>{ITEM}</rdf:RDF>"
        );
        assert_eq!(titles(&rss_090), ["Minusma : le retrait"], "RSS 0.90");
        let rss_10 = "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://purl.org/rss/1.0/\">\
             <channel rdf:about=\"https://news.example.org/\"><title>t</title><link>https://news.example.org/</link></channel>\
             <item rdf:about=\"https://news.example.org/a\"><title>Minusma : le retrait</title>\
             <link>https://news.example.org/a</link></item></rdf:RDF>";
        assert_eq!(titles(rss_10), ["Minusma : le retrait"], "RSS 1.0");
    }

    #[test]
    fn atom_and_json_feed_are_read() {
        let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title><id>urn:x</id><updated>2023-08-19T10:32:00Z</updated>\
                    <entry><title>Minusma : le retrait</title><id>urn:a</id><updated>2023-08-19T10:32:00Z</updated></entry></feed>";
        assert_eq!(titles(atom), ["Minusma : le retrait"]);
        let json = r#"{"version": "https://jsonfeed.org/version/1.1", "title": "t",
                       "items": [{"id": "a", "title": "Minusma : le retrait", "content_text": "x"}]}"#;
        assert_eq!(titles(json), ["Minusma : le retrait"]);
    }
}
