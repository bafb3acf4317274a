//! HTML listing pages → the article links they list and the feeds they
//! announce. Links come from the `html.links` CSS selector, or, without
//! one, are found automatically: same-site links with a headline's text
//! and an article's path, outside navigation, tags and pagination.

use dom_query::{Document as Dom, NodeRef};
use url::Url;

use super::extract::NoMatch;

/// A feed a page announces with `<link rel="alternate">`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedLink {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `rss`, `atom` or `json`.
    pub format: &'static str,
    /// A feed of comments, not of articles: listed, never watched.
    pub comments: bool,
}

/// The feeds `html` announces, RSS and Atom before JSON Feed, comment
/// feeds last.
pub fn feeds(html: &str, base: &Url) -> Vec<FeedLink> {
    let dom = Dom::from(super::text::cap_nesting(html, super::text::MAX_DEPTH).as_ref());
    let base = document_base(&dom, base);
    let mut found: Vec<FeedLink> = Vec::new();
    let Some(links) = dom.try_select("link[rel][href][type]") else {
        return found;
    };
    for link in links.nodes() {
        let rel = link.attr("rel").unwrap_or_default().to_ascii_lowercase();
        if !rel.split_whitespace().any(|r| r == "alternate") {
            continue;
        }
        let kind = link.attr("type").unwrap_or_default().to_ascii_lowercase();
        let format = match kind.trim() {
            "application/rss+xml" | "application/rdf+xml" => "rss",
            "application/atom+xml" => "atom",
            "application/feed+json" | "application/json" => "json",
            _ => continue,
        };
        let Some(url) = link
            .attr("href")
            .and_then(|h| base.join(h.trim()).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
        else {
            continue;
        };
        let url = url.to_string();
        if found.iter().any(|f| f.url == url) {
            continue;
        }
        let title = link
            .attr("title")
            .map(|t| crate::normalize::one_line(&t))
            .filter(|t| !t.is_empty());
        // "Commentaires", "Comments Feed", ".../comments/feed".
        let comments = title
            .as_deref()
            .is_some_and(|t| t.to_lowercase().contains("comment"))
            || url.to_lowercase().contains("comment");
        found.push(FeedLink {
            url,
            title,
            format,
            comments,
        });
    }
    // Comment feeds and JSON last: the articles' feed is what is wanted.
    found.sort_by_key(|f| (f.comments, f.format == "json"));
    found
}

/// The article links of a listing page, absolute, in page order, each
/// once. With `selector`, the links it matches (an element that is not a
/// link gives the links inside it); a selector that matches nothing is
/// an error.
pub fn links(html: &str, base: &Url, selector: Option<&str>) -> Result<Vec<Url>, NoMatch> {
    let dom = Dom::from(super::text::cap_nesting(html, super::text::MAX_DEPTH).as_ref());
    let base = document_base(&dom, base);
    let mut out: Vec<Url> = Vec::new();
    let mut push = |url: Url| {
        if !out.contains(&url) {
            out.push(url);
        }
    };
    match selector {
        Some(css) => {
            let no_match = || NoMatch {
                field: "links",
                selector: css.to_string(),
                url: base.to_string(),
            };
            let selected = dom.try_select(css).ok_or_else(no_match)?;
            for node in selected.nodes() {
                let anchors: Vec<NodeRef> = if node.has_attr("href") {
                    vec![*node]
                } else {
                    node.find(&["a"])
                };
                for a in anchors {
                    if let Some(url) = resolve(&a, &base) {
                        push(url);
                    }
                }
            }
            if out.is_empty() {
                return Err(no_match());
            }
        }
        None => {
            let Some(anchors) = dom.try_select("a[href]") else {
                return Ok(out);
            };
            for a in anchors.nodes() {
                if let Some(url) = resolve(a, &base)
                    && looks_like_article(a, &url, &base)
                {
                    push(url);
                }
            }
        }
    }
    Ok(out)
}

/// `<base href>` when the page sets one.
fn document_base(dom: &Dom, url: &Url) -> Url {
    dom.try_select("base[href]")
        .and_then(|b| b.attr("href"))
        .and_then(|h| url.join(h.trim()).ok())
        .unwrap_or_else(|| url.clone())
}

/// An http(s) link, without its fragment.
fn resolve(a: &NodeRef, base: &Url) -> Option<Url> {
    let href = a.attr("href")?;
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let mut url = base.join(href).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    Some(url)
}

/// Ancestors whose links are navigation, not articles.
const CHROME: &[&str] = &[
    "nav",
    "menu",
    "breadcrumb",
    "pagination",
    "pager",
    "footer",
    "header",
    "sidebar",
    "social",
    "share",
    "partage",
    "tags",
    "tagcloud",
    "login",
    "cookie",
    "widget-menu",
];

/// Path segments of section, tag, author, search and service pages.
const NOT_ARTICLES: &[&str] = &[
    "tag",
    "tags",
    "categorie",
    "category",
    "categories",
    "rubrique",
    "rubriques",
    "section",
    "auteur",
    "author",
    "authors",
    "search",
    "recherche",
    "login",
    "connexion",
    "inscription",
    "register",
    "contact",
    "contacts",
    "about",
    "a-propos",
    "apropos",
    "mentions-legales",
    "cgu",
    "privacy",
    "feed",
    "rss",
    "page",
    "archives",
    "abonnement",
    "newsletter",
    "publicite",
    "wp-login.php",
];

/// File types that are not article pages.
const NOT_PAGES: &[&str] = &[
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".pdf", ".mp3", ".mp4", ".zip", ".xml",
    ".css", ".js", ".doc", ".docx",
];

/// A headline link to an article of the same site: on the same host (a
/// `www.` aside), outside the page's chrome, with a path that names one
/// article (an id or a long slug) and the text of a headline.
fn looks_like_article(a: &NodeRef, url: &Url, base: &Url) -> bool {
    let site = |u: &Url| {
        u.host_str()
            .map(|h| h.trim_start_matches("www.").to_ascii_lowercase())
    };
    if site(url) != site(base) {
        return false;
    }
    let path = url.path().to_ascii_lowercase();
    if path == base.path().to_ascii_lowercase() && url.query() == base.query() {
        return false;
    }
    if path.trim_matches('/').is_empty() || NOT_PAGES.iter().any(|ext| path.ends_with(ext)) {
        return false;
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| NOT_ARTICLES.contains(s)) {
        return false;
    }
    if url
        .query_pairs()
        .any(|(k, _)| matches!(k.as_ref(), "page" | "p" | "s" | "q" | "tag" | "replytocom"))
    {
        return false;
    }
    let last = segments.last().copied().unwrap_or_default();
    let stem = last.split('.').next().unwrap_or_default();
    let digits = segments
        .iter()
        .any(|s| s.chars().filter(char::is_ascii_digit).count() >= 4);
    let slug = stem.split(['-', '_']).filter(|w| !w.is_empty()).count() >= 3;
    let id_query = url
        .query_pairs()
        .any(|(k, v)| matches!(k.as_ref(), "id" | "article" | "art" | "nid") && !v.is_empty());
    if !(digits || slug || id_query) {
        return false;
    }
    let text = crate::normalize::one_line(&a.text());
    let headline = text.split_whitespace().count() >= 3
        || a.attr("title")
            .is_some_and(|t| t.split_whitespace().count() >= 3)
        || in_heading(a);
    headline && !in_chrome(a)
}

fn in_heading(a: &NodeRef) -> bool {
    a.ancestors_it(Some(4)).any(|n| {
        n.node_name()
            .is_some_and(|name| matches!(name.as_ref(), "h1" | "h2" | "h3" | "h4" | "article"))
    })
}

fn in_chrome(a: &NodeRef) -> bool {
    a.ancestors_it(None).any(|n| {
        let name = n.node_name().map(|n| n.to_string()).unwrap_or_default();
        if matches!(name.as_str(), "nav" | "footer" | "header" | "aside") {
            // An article teaser inside <header> of an <article> is content.
            return name != "header" || n.ancestors_it(None).all(|p| !p.has_name("article"));
        }
        if n.attr("role")
            .is_some_and(|r| matches!(r.as_ref(), "navigation" | "banner" | "contentinfo"))
        {
            return true;
        }
        let marks = format!(
            "{} {}",
            n.attr("class").unwrap_or_default(),
            n.attr("id").unwrap_or_default()
        )
        .to_ascii_lowercase();
        marks.split(|c: char| c.is_whitespace()).any(|token| {
            CHROME.iter().any(|c| {
                token == *c
                    || token.starts_with(&format!("{c}-"))
                    || token.ends_with(&format!("-{c}"))
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"<html><head>
      <link rel="alternate" type="application/rss+xml" title="Commentaires" href="/comments/feed">
      <link rel="alternate" type="application/rss+xml" title="Actualités" href="/feed.xml">
      </head><body>
      <nav class="menu"><a href="/politique/minusma-retrait-annonce-2023">Le retrait de la Minusma annoncé</a></nav>
      <div class="news">
        <h2><a href="/news/2023/08/19/visite-onu-bamako.html">Un haut responsable de l'ONU à Bamako</a></h2>
        <a href="/news/2023/08/19/visite-onu-bamako.html#commentaires">Commentaires</a>
        <a href="article.php?id=4521">Les Casques bleus quittent Tessalit ce samedi</a>
        <a href="/tag/minusma-retrait-mali">Minusma retrait Mali</a>
        <a href="/politique/?page=2">Page suivante des articles</a>
        <a href="https://autre.example.org/news/2023/08/19/ailleurs">Un article d'un autre site</a>
        <a href="/contact">Nous écrire</a>
      </div>
      <ul class="pagination"><li><a href="/news/2023/08/page-2-des-actualites">Page 2 des actualités du Mali</a></li></ul>
    </body></html>"#;

    #[test]
    fn article_links_are_found_without_a_selector() {
        let base = Url::parse("https://www.maliweb.example/").unwrap();
        let found: Vec<String> = links(LISTING, &base, None)
            .unwrap()
            .into_iter()
            .map(|u| u.to_string())
            .collect();
        assert_eq!(
            found,
            [
                "https://www.maliweb.example/news/2023/08/19/visite-onu-bamako.html",
                "https://www.maliweb.example/article.php?id=4521",
            ]
        );
    }

    #[test]
    fn a_selector_takes_its_links_and_nothing_else() {
        let base = Url::parse("https://www.maliweb.example/").unwrap();
        let found = links(LISTING, &base, Some("div.news h2")).unwrap();
        assert_eq!(found.len(), 1);
        let err = links(LISTING, &base, Some("div.actualites a")).unwrap_err();
        assert_eq!(err.field, "links");
        assert!(err.to_string().contains("div.actualites a"), "{err}");
    }

    #[test]
    fn announced_feeds_put_comment_feeds_last() {
        let base = Url::parse("https://www.maliweb.example/").unwrap();
        let found = feeds(LISTING, &base);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].url, "https://www.maliweb.example/feed.xml");
        assert!(!found[0].comments && found[1].comments);
    }
}
