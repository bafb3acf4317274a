//! Article pages → [`Page`]: title, dates, authors (an agency credit
//! included), body text, language. Configured CSS selectors win; without
//! them, the page's metadata (JSON-LD `NewsArticle`, `og:`/`article:`
//! meta, `<time datetime>`, a "Publié le …" line), then readability-style
//! main-content extraction. The extraction crate (dom_smoothie, a port of
//! Mozilla's Readability) and its DOM stay inside this module.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use dom_query::Document as Dom;
use serde_json::Value;
use url::Url;

use super::date::parse_date;
use super::text::html_to_text;
use crate::normalize::one_line;

/// The CSS selectors of `[sources.NAME.html]` that apply to article pages.
/// Each is checked at config load ([`valid_selector`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selectors {
    pub title: Option<String>,
    pub date: Option<String>,
    pub body: Option<String>,
    pub author: Option<String>,
}

/// What one article page says of itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub title: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    /// People and agencies, in page order, without duplicates.
    pub authors: Vec<String>,
    /// Paragraphs separated by newlines.
    pub body: String,
    /// The page's own summary (`og:description`, `description`).
    pub summary: Option<String>,
    /// A two- or three-letter code: detected from the text when it is long
    /// enough to tell, else as the page declares it.
    pub language: Option<String>,
}

/// A configured selector that matched nothing: the site's layout may have
/// changed, and silence would hide it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {field} selector \"{selector}\" matched nothing on {url}: the site's layout may have changed"
)]
pub struct NoMatch {
    /// `links`, `title`, `date`, `body` or `author`.
    pub field: &'static str,
    pub selector: String,
    pub url: String,
}

/// Why a CSS selector is not valid, for config errors.
pub fn valid_selector(css: &str) -> Result<(), String> {
    dom_query::Matcher::new(css)
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// News agencies whose credit counts as an author.
const AGENCIES: &[&str] = &[
    "AFP",
    "Reuters",
    "AP",
    "Associated Press",
    "AMAP",
    "APS",
    "APA",
    "MAP",
    "PANA",
    "Xinhua",
    "Anadolu",
    "ANP",
    "dpa",
    "EFE",
    "ATS",
    "Belga",
];

/// Schema.org types of a news or blog article in JSON-LD.
const ARTICLE_TYPES: &[&str] = &[
    "NewsArticle",
    "Article",
    "ReportageNewsArticle",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
    "BackgroundNewsArticle",
    "BlogPosting",
    "LiveBlogPosting",
    "Report",
    "ScholarlyArticle",
    "TechArticle",
    "SocialMediaPosting",
];

/// Extracts the article of `html`, read from `url`. `tz` reads dates
/// without an offset; `now` (the fetch time) is the origin of relative
/// dates.
pub fn article(
    html: &str,
    url: &Url,
    selectors: &Selectors,
    tz: Option<Tz>,
    now: DateTime<Utc>,
) -> Result<Page, NoMatch> {
    let dom = Dom::from(super::text::cap_nesting(html, super::text::MAX_DEPTH).as_ref());
    let no_match = |field: &'static str, selector: &str| NoMatch {
        field,
        selector: selector.to_string(),
        url: url.to_string(),
    };
    // What the configured selectors pick, read before readability takes
    // the document.
    let picked =
        |field: &'static str, css: &Option<String>| -> Result<Option<Vec<String>>, NoMatch> {
            let Some(css) = css else { return Ok(None) };
            let sel = dom.try_select(css).ok_or_else(|| no_match(field, css))?;
            Ok(Some(
                sel.nodes()
                    .iter()
                    .map(|n| match field {
                        "body" => n.html().to_string(),
                        "date" => ["datetime", "content"]
                            .iter()
                            .find_map(|a| n.attr(a).filter(|v| parse_date(v, tz, now).is_some()))
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| n.text().to_string()),
                        _ => one_line(&n.text()),
                    })
                    .collect(),
            ))
        };
    let title_nodes = picked("title", &selectors.title)?;
    let date_nodes = picked("date", &selectors.date)?;
    let body_nodes = picked("body", &selectors.body)?;
    let author_nodes = picked("author", &selectors.author)?;

    let ld = json_ld(&dom);
    let meta = Meta::read(&dom);
    let headings: Vec<String> = dom
        .try_select("h1")
        .map(|h| {
            h.nodes()
                .iter()
                .take(3)
                .map(|n| one_line(&n.text()))
                .collect()
        })
        .unwrap_or_default();

    let title = match &title_nodes {
        Some(texts) => texts.first().cloned(),
        None => None,
    };

    let date_line = find_date_line(&dom, tz, now);
    let published = match &date_nodes {
        Some(texts) => texts.iter().find_map(|t| parse_date(t, tz, now)),
        None => ld
            .published
            .as_deref()
            .and_then(|d| parse_date(d, tz, now))
            .or_else(|| meta.published.iter().find_map(|d| parse_date(d, tz, now)))
            .or_else(|| time_element(&dom, tz, now))
            .or(date_line.as_ref().and_then(|l| l.date)),
    };
    let updated = ld
        .modified
        .as_deref()
        .or(meta.modified.as_deref())
        .and_then(|d| parse_date(d, tz, now));

    let mut authors: Vec<String> = match &author_nodes {
        Some(texts) => texts.iter().filter(|a| !a.is_empty()).cloned().collect(),
        None => {
            let mut a = ld.authors.clone();
            if a.is_empty() {
                a.extend(meta.authors.iter().cloned());
            }
            a
        }
    };
    // An agency credit on the date line ("… | AFP") is an author too.
    if let Some(line) = &date_line {
        authors.extend(line.credits.iter().cloned());
    }

    let body = match &body_nodes {
        Some(htmls) => htmls
            .iter()
            .map(|h| html_to_text(h))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        None => String::new(),
    };
    let declared_lang = meta
        .lang
        .clone()
        .or_else(|| ld.language.clone())
        .and_then(|l| language_code(&l));

    // Readability last: it rewrites the document.
    let readable = if body_nodes.is_none() || title.is_none() {
        readability(dom, url)
    } else {
        None
    };
    let body = if body_nodes.is_some() {
        body
    } else {
        choose_body(
            ld.body.as_deref(),
            readable.as_ref().map(|r| r.body.as_str()),
        )
    };
    let body = if body_nodes.is_some() {
        body
    } else {
        let byline = readable.as_ref().and_then(|r| r.byline.as_deref());
        let dateline = date_line.as_ref().map(|l| l.text.as_str());
        strip_meta_lines(&body, &[byline, dateline])
    };
    // A page without title metadata whose <title> is only a site's name
    // and section ("Mali | Actualités") and whose one headline says
    // something else: the headline.
    let headline = match headings.as_slice() {
        [h1] if ld.headline.is_none() && meta.title.is_none() => Some(h1.clone()),
        _ => None,
    };
    let readable_title = readable.as_ref().and_then(|r| r.title.clone());
    let readable_title = match (readable_title, headline) {
        (Some(t), Some(h))
            if site_title(&t) && h.split_whitespace().count() >= 3 && !similar(&t, &h) =>
        {
            Some(h)
        }
        (t, _) => t,
    };
    let title = title
        .or(readable_title)
        .or_else(|| ld.headline.clone())
        .or_else(|| meta.title.clone())
        .filter(|t| !t.is_empty());
    if author_nodes.is_none()
        && authors.is_empty()
        && let Some(byline) = readable.as_ref().and_then(|r| r.byline.clone())
    {
        authors.push(byline);
    }
    if author_nodes.is_none() {
        authors.extend(body_credits(&body));
    }
    let authors = dedup_authors(authors);
    let language = detect_language(&body).or(declared_lang);
    Ok(Page {
        title,
        published,
        updated,
        authors,
        summary: meta.description.clone().or(ld.description.clone()),
        body,
        language,
    })
}

/// A `<title>` that names a site and a section, not an article: a few
/// words around a separator.
fn site_title(title: &str) -> bool {
    let words = title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .count();
    words <= 4
        && [" | ", " - ", " – ", " — ", " · "]
            .iter()
            .any(|sep| title.contains(sep))
}

/// Whether two titles say the same thing: one contains the other, or most
/// of the shorter one's words are in the longer one.
fn similar(a: &str, b: &str) -> bool {
    let words = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (a, b) = (words(a), words(b));
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    if short.is_empty() {
        return false;
    }
    let shared = short.iter().filter(|w| long.contains(w)).count();
    shared * 2 >= short.len()
}

/// What readability made of the page.
struct Readable {
    title: Option<String>,
    byline: Option<String>,
    body: String,
}

fn readability(dom: Dom, url: &Url) -> Option<Readable> {
    let config = dom_smoothie::Config {
        // Pages beyond this are not articles; it bounds the work on
        // hostile ones.
        max_elements_to_parse: 60_000,
        ..Default::default()
    };
    let mut reader =
        dom_smoothie::Readability::with_document(dom, Some(url.as_str()), Some(config))
            .or_else(|_| dom_smoothie::Readability::with_document(Dom::from(""), None, None))
            .ok()?;
    let article = reader.parse().ok()?;
    Some(Readable {
        title: Some(one_line(&article.title)).filter(|t| !t.is_empty()),
        byline: article
            .byline
            .as_deref()
            .map(one_line)
            .filter(|b| !b.is_empty() && b.len() < 120),
        body: html_to_text(&article.content),
    })
}

/// The JSON-LD `articleBody` when it is the whole text (long, and not a
/// teaser the extracted text mostly contains), else the extracted text.
fn choose_body(ld: Option<&str>, extracted: Option<&str>) -> String {
    let extracted = extracted.unwrap_or_default();
    match ld.map(html_to_text) {
        Some(ld) if ld.len() >= 500 && ld.len() * 10 >= extracted.len() * 7 => ld,
        _ => extracted.to_string(),
    }
}

/// The body without its first lines when they repeat the byline or the
/// date line (readability keeps them when they sit inside the article).
fn strip_meta_lines(body: &str, meta: &[Option<&str>]) -> String {
    let meta: Vec<&str> = meta.iter().flatten().copied().collect();
    let mut lines = body.lines().peekable();
    let mut dropped = 0;
    while dropped < 3
        && let Some(line) = lines.peek()
        && meta.iter().any(|m| one_line(line) == *m)
    {
        lines.next();
        dropped += 1;
    }
    if dropped == 0 {
        return body.to_string();
    }
    lines.collect::<Vec<_>>().join("\n")
}

/// JSON-LD of the page's article, whatever its nesting (`@graph`, arrays).
#[derive(Debug, Default)]
struct JsonLd {
    headline: Option<String>,
    published: Option<String>,
    modified: Option<String>,
    authors: Vec<String>,
    body: Option<String>,
    language: Option<String>,
    description: Option<String>,
}

fn json_ld(dom: &Dom) -> JsonLd {
    let mut out = JsonLd::default();
    let Some(scripts) = dom.try_select("script[type='application/ld+json']") else {
        return out;
    };
    for script in scripts.nodes() {
        let text = script.text();
        // Some pages wrap the JSON in CDATA (`//<![CDATA[ … //]]>`).
        let json = text
            .trim()
            .trim_start_matches("//")
            .trim_start_matches("<![CDATA[")
            .trim_end_matches("]]>")
            .trim_end()
            .trim_end_matches("//");
        let Ok(value) = serde_json::from_str::<Value>(json.trim()) else {
            continue;
        };
        let mut stack = vec![&value];
        while let Some(v) = stack.pop() {
            match v {
                Value::Array(items) => stack.extend(items.iter().rev()),
                Value::Object(map) => {
                    if let Some(graph) = map.get("@graph") {
                        stack.push(graph);
                    }
                    let is_article = match map.get("@type") {
                        Some(Value::String(t)) => ARTICLE_TYPES.contains(&t.as_str()),
                        Some(Value::Array(ts)) => ts
                            .iter()
                            .any(|t| t.as_str().is_some_and(|t| ARTICLE_TYPES.contains(&t))),
                        _ => false,
                    };
                    if is_article && out.published.is_none() && out.headline.is_none() {
                        let s = |k: &str| {
                            map.get(k)
                                .and_then(Value::as_str)
                                .map(|s| one_line(&html_to_text(s)))
                                .filter(|s| !s.is_empty())
                        };
                        out.headline = s("headline").or_else(|| s("name"));
                        out.published = s("datePublished").or_else(|| s("dateCreated"));
                        out.modified = s("dateModified");
                        out.description = s("description");
                        out.language = s("inLanguage");
                        out.body = map
                            .get("articleBody")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        out.authors = people(map.get("author"));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Names from a schema.org `author`: a string, a `Person` or
/// `Organization`, or a list of them.
fn people(value: Option<&Value>) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack: Vec<&Value> = value.into_iter().collect();
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => names.push(one_line(s)),
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Object(map) => {
                if let Some(name) = map.get("name").and_then(Value::as_str) {
                    names.push(one_line(name));
                }
            }
            _ => {}
        }
    }
    names
        .into_iter()
        .filter(|n| !n.is_empty() && !n.starts_with("http"))
        .collect()
}

/// The `<meta>` and `<html>` metadata the page declares.
#[derive(Debug, Default)]
struct Meta {
    title: Option<String>,
    description: Option<String>,
    published: Vec<String>,
    modified: Option<String>,
    authors: Vec<String>,
    lang: Option<String>,
}

impl Meta {
    fn read(dom: &Dom) -> Meta {
        let mut meta = Meta::default();
        if let Some(metas) = dom.try_select("meta[content]") {
            for m in metas.nodes() {
                let key = m
                    .attr("property")
                    .or_else(|| m.attr("name"))
                    .or_else(|| m.attr("itemprop"))
                    .map(|k| k.to_ascii_lowercase());
                let (Some(key), Some(content)) = (key, m.attr("content")) else {
                    continue;
                };
                let content = one_line(&content);
                if content.is_empty() {
                    continue;
                }
                match key.as_str() {
                    "og:title" | "twitter:title" if meta.title.is_none() => {
                        meta.title = Some(content)
                    }
                    "og:description" | "description" | "twitter:description"
                        if meta.description.is_none() =>
                    {
                        meta.description = Some(content)
                    }
                    "article:published_time"
                    | "og:published_time"
                    | "datepublished"
                    | "date"
                    | "pubdate"
                    | "publishdate"
                    | "publish-date"
                    | "publication_date"
                    | "dc.date"
                    | "dc.date.issued"
                    | "dcterms.date"
                    | "dcterms.created"
                    | "sailthru.date"
                    | "parsely-pub-date"
                    | "article.published" => meta.published.push(content),
                    "article:modified_time" | "og:updated_time" | "datemodified"
                        if meta.modified.is_none() =>
                    {
                        meta.modified = Some(content)
                    }
                    "author" | "article:author" | "dc.creator" | "byl" | "parsely-author"
                        if !content.starts_with("http") =>
                    {
                        meta.authors
                            .push(content.trim_start_matches("By ").to_string())
                    }
                    "og:locale" | "content-language" | "language" if meta.lang.is_none() => {
                        meta.lang = Some(content)
                    }
                    _ => {}
                }
            }
        }
        if let Some(html) = dom.try_select("html[lang]")
            && let Some(lang) = html.attr("lang")
        {
            meta.lang = Some(lang.to_string());
        }
        meta
    }
}

/// `fr-FR`, `fr_FR`, `FR` → `fr`; anything else is not a language code.
fn language_code(text: &str) -> Option<String> {
    let code = text.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphabetic())).then_some(code)
}

/// The language of the text, when there is enough of it to tell.
fn detect_language(body: &str) -> Option<String> {
    if body.len() < 200 {
        return None;
    }
    let sample: String = body.chars().take(2000).collect();
    let info = whatlang::detect(&sample)?;
    if !info.is_reliable() {
        return None;
    }
    let code = match info.lang() {
        whatlang::Lang::Fra => "fr",
        whatlang::Lang::Eng => "en",
        whatlang::Lang::Deu => "de",
        whatlang::Lang::Spa => "es",
        whatlang::Lang::Por => "pt",
        whatlang::Lang::Ita => "it",
        whatlang::Lang::Nld => "nl",
        whatlang::Lang::Ara => "ar",
        whatlang::Lang::Rus => "ru",
        whatlang::Lang::Cmn => "zh",
        whatlang::Lang::Jpn => "ja",
        other => return Some(other.code().to_string()),
    };
    Some(code.to_string())
}

/// The first `<time>` that carries a readable `datetime`, preferring one
/// marked as the publication date.
fn time_element(dom: &Dom, tz: Option<Tz>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    for css in [
        "time[pubdate][datetime]",
        "[itemprop='datePublished'][datetime]",
        "article time[datetime]",
        "time[datetime]",
    ] {
        if let Some(found) = dom.try_select(css)
            && let Some(date) = found
                .nodes()
                .iter()
                .find_map(|n| n.attr("datetime").and_then(|d| parse_date(&d, tz, now)))
        {
            return Some(date);
        }
    }
    None
}

/// A short line that announces the publication, as portals without
/// metadata write it: `Publié le samedi 19 aout 2023 | AFP`.
#[derive(Debug, Clone, PartialEq)]
struct DateLine {
    /// The line as the page shows it.
    text: String,
    date: Option<DateTime<Utc>>,
    /// Agencies credited on the line.
    credits: Vec<String>,
}

const DATE_WORDS: &[&str] = &[
    "publié",
    "publie",
    "mis en ligne",
    "mis à jour",
    "published",
    "posted",
    "updated",
    "date :",
    "le ",
];

fn find_date_line(dom: &Dom, tz: Option<Tz>, now: DateTime<Utc>) -> Option<DateLine> {
    // The headline is selected too, as a landmark: portals often print
    // today's date in their header, before the article's own date line.
    let candidates = dom.try_select(
        "h1, [class*='date'], [class*='Date'], [id*='date'], [class*='time'], [class*='publi'], \
         [class*='meta'], [class*='byline'], [class*='info'], time, p, span, small, em, div",
    )?;
    let has_title = candidates.nodes().iter().any(|n| n.has_name("h1"));
    let mut after_title = false;
    let mut before_title: Option<DateLine> = None;
    let mut looked = 0;
    for node in candidates.nodes().iter().take(5_000) {
        if node.has_name("h1") {
            after_title = true;
            continue;
        }
        let text = one_line(&node.text());
        if text.len() < 6 || text.len() > 160 {
            continue;
        }
        looked += 1;
        // Only the page's first short blocks: a date in the body is about
        // something else.
        if looked > 400 {
            break;
        }
        let lower = text.to_lowercase();
        // "le 19 août" announces a date only in a short line.
        let announced = DATE_WORDS
            .iter()
            .any(|w| lower.contains(w) && (*w != "le " || text.len() <= 60))
            || node
                .attr("class")
                .is_some_and(|c| c.to_ascii_lowercase().contains("date"));
        if !announced {
            continue;
        }
        if let Some(date) = parse_date(&text, tz, now) {
            let line = DateLine {
                credits: credits(&text),
                text,
                date: Some(date),
            };
            if after_title || !has_title {
                return Some(line);
            }
            before_title.get_or_insert(line);
        }
    }
    before_title
}

/// Agencies named as a credit in a short text: `| AFP`, `(AFP)`,
/// `Source : Reuters`, `avec AFP`.
fn credits(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for part in text.split(['|', '(', ')', '/', '–', '—', ',', '-', '©']) {
        let part = part.trim();
        let part = ["source :", "source:", "avec", "with", "par", "by", "©"]
            .iter()
            .find_map(|p| {
                part.to_lowercase()
                    .starts_with(p)
                    .then(|| part[p.len()..].trim())
            })
            .unwrap_or(part);
        if let Some(agency) = AGENCIES.iter().find(|a| part.eq_ignore_ascii_case(a)) {
            found.push((*agency).to_string());
        }
    }
    found
}

/// Agencies credited at the start or end of the body: `BAMAKO (AFP) -`,
/// a last line `AFP` or `(Reuters)`, `Source : AMAP`.
fn body_credits(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(first) = body.lines().next() {
        let head: String = first.chars().take(80).collect();
        if let (Some(open), Some(close)) = (head.find('('), head.find(')'))
            && open < close
        {
            found.extend(credits(&head[open..=close]));
        }
    }
    if let Some(last) = body.lines().rev().find(|l| !l.trim().is_empty())
        && last.len() <= 60
    {
        found.extend(credits(last));
    }
    found
}

fn dedup_authors(authors: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in authors {
        let a = one_line(a.trim_start_matches("Par ").trim_start_matches("By "));
        if !a.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&a)) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_are_found_in_date_lines() {
        assert_eq!(credits("Publié le samedi 19 aout 2023 | AFP"), ["AFP"]);
        assert_eq!(credits("Source : AMAP"), ["AMAP"]);
        assert_eq!(credits("Bamako, le 19 août (Reuters)"), ["Reuters"]);
        assert!(credits("Publié par Moussa Traoré").is_empty());
    }

    #[test]
    fn the_article_date_line_wins_over_the_date_of_the_day_in_the_header() {
        let html = r#"<html><body>
            <div class="date-du-jour">Samedi 26 août 2023</div>
            <nav><a href="/">Accueil</a></nav>
            <h1>À Gao, les commerçants s’inquiètent du départ de la mission</h1>
            <p class="infos">Publié le lundi 21 aout 2023 à 16h40</p>
            <p>Au grand marché de Gao, le départ annoncé de la Minusma occupe toutes les conversations.</p>
            </body></html>"#;
        let url = Url::parse("https://www.example-portal.ml/societe/gao.html").unwrap();
        let page = article(html, &url, &Selectors::default(), None, Utc::now()).unwrap();
        assert_eq!(
            page.published.map(|d| d.to_rfc3339()).as_deref(),
            Some("2023-08-21T16:40:00+00:00")
        );
        // Without a headline, the first date line is the one.
        let html =
            r#"<html><body><p class="date">Publié le 19/08/2023</p><p>Texte.</p></body></html>"#;
        let page = article(html, &url, &Selectors::default(), None, Utc::now()).unwrap();
        assert_eq!(
            page.published.map(|d| d.to_rfc3339()).as_deref(),
            Some("2023-08-19T00:00:00+00:00")
        );
    }

    #[test]
    fn language_codes_are_normalised() {
        assert_eq!(language_code("fr-FR").as_deref(), Some("fr"));
        assert_eq!(language_code("fr_ML").as_deref(), Some("fr"));
        assert_eq!(language_code("x"), None);
    }
}

#[cfg(test)]
mod hostile {
    use super::*;

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let html = format!(
            "<html><body>{}<p>Minusma, le retrait.</p>{}</body></html>",
            "<div>".repeat(30_000),
            "</div>".repeat(30_000)
        );
        let page = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                let url = Url::parse("https://example.org/a").unwrap();
                article(&html, &url, &Selectors::default(), None, Utc::now()).unwrap()
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(page.body.contains("Minusma, le retrait."), "{page:?}");
    }
}
