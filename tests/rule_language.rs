//! The rule language of DESIGN.md §4, case by case: each row is a query (with
//! its options), an article, and whether the rule must match. Then the
//! explanations `test-rule` shows, and properties that must hold for any
//! text: folding is idempotent, a phrase cut from a text matches it, `OR`
//! and `NOT` mean what they say.

use proptest::prelude::*;
use vigie::rules::{Document, FoldOptions, Matcher, RuleSpec, Stem, fold_words};

/// The article of a case: a title, plus whatever else the case needs.
#[derive(Clone, Copy, Default)]
struct Art {
    title: &'static str,
    summary: &'static str,
    body: &'static str,
    authors: &'static [&'static str],
    url: &'static str,
    language: &'static str,
    categories: &'static [&'static str],
}

const fn t(title: &'static str) -> Art {
    Art {
        title,
        summary: "",
        body: "",
        authors: &[],
        url: "",
        language: "",
        categories: &[],
    }
}

const fn b(body: &'static str) -> Art {
    Art { body, ..t("") }
}

const fn tb(title: &'static str, body: &'static str) -> Art {
    Art { body, ..t(title) }
}

/// Options of a case, as a rule would set them.
#[derive(Clone, Copy)]
enum Opt {
    Plain,
    Case,
    Accent,
    StemFr,
    StemEn,
}

use Opt::*;

const SOURCE: &str = "un-news";
const SOURCE_TAGS: &[&str] = &["mali", "onu"];

/// (what the case shows, query, options, article, must it match)
type Row = (&'static str, &'static str, Opt, Art, bool);

const CASES: &[Row] = &[
    // Case and accents.
    (
        "lower query, upper text",
        "minusma",
        Plain,
        t("La MINUSMA quitte le Mali"),
        true,
    ),
    (
        "upper query, lower text",
        "MINUSMA",
        Plain,
        b("la minusma quitte le mali"),
        true,
    ),
    (
        "accent in text only",
        "publie",
        Plain,
        t("Rapport PUBLIÉ hier à Bamako"),
        true,
    ),
    (
        "accent in query only",
        "élysée",
        Plain,
        t("l'Elysee dement"),
        true,
    ),
    (
        "decomposed accent",
        "publié",
        Plain,
        t("rapport publie\u{301}"),
        true,
    ),
    (
        "case_sensitive refuses other case",
        "US",
        Case,
        t("tell us more"),
        false,
    ),
    (
        "case_sensitive keeps same case",
        "US",
        Case,
        t("US troops leave Niger"),
        true,
    ),
    (
        "accent_sensitive refuses missing accent",
        "retraité",
        Accent,
        t("les retraites"),
        false,
    ),
    (
        "accent_sensitive keeps same accent",
        "retraité",
        Accent,
        t("un RETRAITÉ de l'armée"),
        true,
    ),
    // Elisions and apostrophes.
    (
        "straight apostrophe",
        "onu",
        Plain,
        t("le chef de l'ONU à Bamako"),
        true,
    ),
    (
        "typographic apostrophe",
        "onu",
        Plain,
        t("le chef de l’ONU à Bamako"),
        true,
    ),
    (
        "left quote as apostrophe",
        "onu",
        Plain,
        t("le chef de l‘ONU"),
        true,
    ),
    (
        "modifier letter apostrophe",
        "onu",
        Plain,
        t("le chef de lʼONU"),
        true,
    ),
    (
        "prime as apostrophe",
        "onu",
        Plain,
        t("le chef de l′ONU"),
        true,
    ),
    (
        "elided phrase, other apostrophe",
        "\"l'onu\"",
        Plain,
        t("le chef de l’ONU"),
        true,
    ),
    ("d' elision", "etat", Plain, t("deux coups d’État"), true),
    ("qu' elision", "armee", Plain, t("plus qu’armée"), true),
    ("lorsqu' elision", "il", Plain, t("lorsqu’il arrive"), true),
    (
        "jusqu' elision",
        "ici",
        Plain,
        t("jusqu’ici tout va bien"),
        true,
    ),
    (
        "elision is not inside a word",
        "onu",
        Plain,
        t("l’onusien parle"),
        false,
    ),
    // Hyphens, slashes, spaces.
    (
        "phrase over a hyphen",
        "\"casques bleus\"",
        Plain,
        t("Les Casques-bleus quittent"),
        true,
    ),
    (
        "hyphenated query over a space",
        "casques-bleus",
        Plain,
        t("des casques bleus"),
        true,
    ),
    (
        "phrase across a line break",
        "\"casques bleus\"",
        Plain,
        b("les casques\nbleus partent"),
        true,
    ),
    (
        "phrase across punctuation",
        "\"retrait onu\"",
        Plain,
        b("le retrait, ONU oblige"),
        true,
    ),
    (
        "phrase across NBSP",
        "\"nations unies\"",
        Plain,
        t("Nations\u{a0}unies"),
        true,
    ),
    (
        "phrase across narrow NBSP",
        "\"25 km\"",
        Plain,
        t("à 25\u{202f}km de Gao"),
        true,
    ),
    ("slash separates", "mali", Plain, t("Bamako/Mali"), true),
    (
        "phrase words out of order",
        "\"bleus casques\"",
        Plain,
        t("les casques bleus"),
        false,
    ),
    (
        "phrase words not adjacent",
        "\"casques bleus\"",
        Plain,
        t("les casques sont bleus"),
        false,
    ),
    // Whole words.
    (
        "retrait is not retraite",
        "retrait",
        Plain,
        t("la retraite des soldats"),
        false,
    ),
    (
        "retrait is not retraités",
        "retrait",
        Plain,
        t("les retraités manifestent"),
        false,
    ),
    (
        "retrait is retrait",
        "retrait",
        Plain,
        t("le retrait des casques bleus"),
        true,
    ),
    (
        "Mali is not Malien",
        "mali",
        Plain,
        t("le peuple malien"),
        false,
    ),
    ("Mali is not Somalie", "mali", Plain, t("en Somalie"), false),
    (
        "Mali before a full stop",
        "mali",
        Plain,
        t("au Mali."),
        true,
    ),
    (
        "ONU is not onusida",
        "onu",
        Plain,
        t("l'onusida alerte"),
        false,
    ),
    // Ligatures and special letters.
    (
        "œ spelled oe",
        "oeuvre",
        Plain,
        t("une œuvre de paix"),
        true,
    ),
    ("Œ upper", "soeur", Plain, t("SŒUR Marie"), true),
    ("ß spelled ss", "strasse", Plain, t("Hauptstraße"), false),
    ("ß word", "strasse", Plain, t("die Straße"), true),
    ("æ spelled ae", "\"ex aequo\"", Plain, t("ex æquo"), true),
    (
        "fi ligature",
        "financement",
        Plain,
        t("le ﬁnancement de la mission"),
        true,
    ),
    // AND, juxtaposition, OR, NOT and precedence.
    (
        "AND both",
        "minusma AND retrait",
        Plain,
        t("Retrait de la Minusma"),
        true,
    ),
    (
        "AND one missing",
        "minusma AND retrait",
        Plain,
        t("la Minusma reste"),
        false,
    ),
    (
        "juxtaposition is AND",
        "minusma retrait",
        Plain,
        t("la Minusma reste"),
        false,
    ),
    (
        "OR either",
        "minusma OR onu",
        Plain,
        t("l'ONU à Bamako"),
        true,
    ),
    (
        "OR neither",
        "minusma OR onu",
        Plain,
        t("Bamako sous la chaleur"),
        false,
    ),
    (
        "NOT excludes",
        "mali NOT football",
        Plain,
        t("Mali : le football reprend"),
        false,
    ),
    (
        "minus excludes",
        "mali -football",
        Plain,
        t("Mali : la junte"),
        true,
    ),
    (
        "AND before OR, left",
        "mali OR senegal football",
        Plain,
        t("Mali"),
        true,
    ),
    (
        "AND before OR, right",
        "mali OR senegal football",
        Plain,
        t("Sénégal"),
        false,
    ),
    (
        "parentheses change it",
        "(mali OR senegal) football",
        Plain,
        t("Sénégal"),
        false,
    ),
    (
        "parentheses, both",
        "(mali OR senegal) football",
        Plain,
        t("Sénégal : football"),
        true,
    ),
    (
        "NOT before AND, true",
        "NOT mali onu OR junte",
        Plain,
        t("l'ONU"),
        true,
    ),
    (
        "NOT before AND, false",
        "NOT mali onu OR junte",
        Plain,
        t("Mali"),
        false,
    ),
    (
        "NOT group",
        "NOT (mali OR onu) bamako",
        Plain,
        t("Bamako"),
        true,
    ),
    (
        "NOT group excludes",
        "NOT (mali OR onu) bamako",
        Plain,
        t("Bamako, Mali"),
        false,
    ),
    (
        "NOT before AND before OR",
        "mali AND NOT football OR onu",
        Plain,
        t("football à l'ONU"),
        true,
    ),
    (
        "explicit AND and NOT",
        "mali AND NOT football",
        Plain,
        t("Mali football"),
        false,
    ),
    (
        "design example, retrait and nations unies",
        "minusma OR \"casques bleus\" OR (retrait AND (onu OR \"nations unies\"))",
        Plain,
        t("Retrait des Nations unies"),
        true,
    ),
    (
        "design example, retrait alone",
        "minusma OR \"casques bleus\" OR (retrait AND (onu OR \"nations unies\"))",
        Plain,
        t("Retrait du Mali"),
        false,
    ),
    ("lowercase or is a word", "mali or", Plain, t("Mali"), false),
    // Fields.
    (
        "title: not in body",
        "title:minusma",
        Plain,
        b("la Minusma"),
        false,
    ),
    (
        "title: in title",
        "title:minusma",
        Plain,
        t("la Minusma"),
        true,
    ),
    (
        "summary: in summary",
        "summary:retrait",
        Plain,
        Art {
            summary: "Le retrait est acté",
            ..t("")
        },
        true,
    ),
    (
        "body: not in title",
        "body:retrait",
        Plain,
        t("Retrait"),
        false,
    ),
    (
        "no field: summary too",
        "retrait",
        Plain,
        Art {
            summary: "Le retrait est acté",
            ..t("")
        },
        true,
    ),
    (
        "no field: not author",
        "minusma",
        Plain,
        Art {
            authors: &["Minusma"],
            ..t("")
        },
        false,
    ),
    (
        "author:",
        "author:afp",
        Plain,
        Art {
            authors: &["Rédaction", "avec AFP"],
            ..t("")
        },
        true,
    ),
    (
        "author: phrase",
        "author:\"serge daniel\"",
        Plain,
        Art {
            authors: &["Serge Daniel"],
            ..t("")
        },
        true,
    ),
    (
        "url: word",
        "url:minusma",
        Plain,
        Art {
            url: "https://example.org/2023/06/fin-minusma.html",
            ..t("")
        },
        true,
    ),
    (
        "url: host",
        "url:\"news.un.org\"",
        Plain,
        Art {
            url: "https://news.un.org/fr/story/2023/06/1",
            ..t("")
        },
        true,
    ),
    (
        "url: whole address",
        "url:https://news.un.org/fr",
        Plain,
        Art {
            url: "https://news.un.org/fr/story/2023/06/1",
            ..t("")
        },
        true,
    ),
    ("source: exact", "source:un-news", Plain, t("x"), true),
    ("source: whole name only", "source:un", Plain, t("x"), false),
    ("source: prefix", "source:un*", Plain, t("x"), true),
    ("tag: source tag", "tag:mali", Plain, t("x"), true),
    (
        "tag: article category",
        "tag:sahel",
        Plain,
        Art {
            categories: &["Sahel"],
            ..t("")
        },
        true,
    ),
    ("tag: absent", "tag:niger", Plain, t("x"), false),
    (
        "lang: region",
        "lang:fr",
        Plain,
        Art {
            language: "fr-FR",
            ..t("")
        },
        true,
    ),
    (
        "lang: other",
        "lang:en",
        Plain,
        Art {
            language: "fr",
            ..t("")
        },
        false,
    ),
    (
        "field on a group",
        "title:(minusma OR onu)",
        Plain,
        t("L'ONU"),
        true,
    ),
    (
        "field on a group, body",
        "title:(minusma OR onu)",
        Plain,
        b("L'ONU"),
        false,
    ),
    (
        "negated field",
        "mali -title:football",
        Plain,
        tb("Mali", "football"),
        true,
    ),
    (
        "field and no field",
        "title:mali AND onu",
        Plain,
        tb("Mali", "à l'ONU"),
        true,
    ),
    // Proximity.
    (
        "near: too far",
        "\"retrait onu\"~3",
        Plain,
        b("le retrait annoncé par l'ONU"),
        false,
    ),
    (
        "near: close enough",
        "\"retrait onu\"~4",
        Plain,
        b("le retrait annoncé par l'ONU"),
        true,
    ),
    (
        "near: either order",
        "\"onu retrait\"~4",
        Plain,
        b("le retrait annoncé par l'ONU"),
        true,
    ),
    (
        "near: not across fields",
        "\"retrait onu\"~8",
        Plain,
        tb("Retrait", "l'ONU"),
        false,
    ),
    (
        "near: three words",
        "\"casques bleus mali\"~5",
        Plain,
        b("Les bleus du Mali et leurs casques"),
        true,
    ),
    (
        "near: three words, too far",
        "\"casques bleus mali\"~4",
        Plain,
        b("Les bleus du Mali et leurs casques"),
        false,
    ),
    (
        "near: best of many",
        "\"retrait onu\"~3",
        Plain,
        b("retrait ici, puis bien plus loin le retrait de l'ONU"),
        true,
    ),
    // Prefixes.
    (
        "prefix: longer word",
        "retrait*",
        Plain,
        t("les retraités"),
        true,
    ),
    (
        "prefix: retraite",
        "retrait*",
        Plain,
        t("la retraite"),
        true,
    ),
    (
        "prefix: the word itself",
        "retrait*",
        Plain,
        t("le retrait"),
        true,
    ),
    ("prefix: absent", "retrait*", Plain, t("le départ"), false),
    (
        "prefix: not mid-word",
        "trait*",
        Plain,
        t("le retrait"),
        false,
    ),
    (
        "prefix: last word of a phrase",
        "\"casques bl*\"",
        Plain,
        t("casques bleus"),
        true,
    ),
    (
        "prefix: accents folded",
        "securit*",
        Plain,
        t("la sécurité"),
        true,
    ),
    (
        "prefix: two letters",
        "un*",
        Plain,
        t("vote à l'unanimité"),
        true,
    ),
    ("prefix: three letters", "onu*", Plain, t("l'ONUCI"), true),
    (
        "prefix: short, word too short",
        "onu*",
        Plain,
        t("on a dit"),
        false,
    ),
    (
        "prefix: same first letters only",
        "retrait*",
        Plain,
        t("le retour des retraitements"),
        true,
    ),
    (
        "prefix: of eight letters",
        "djihadis*",
        Plain,
        t("des groupes djihadistes"),
        true,
    ),
    (
        "prefix: of eight letters, the word shorter",
        "djihadis*",
        Plain,
        t("le djihad armé"),
        false,
    ),
    (
        "prefix: of 32 letters",
        "intergouvernementalisationnistes*",
        Plain,
        t("les intergouvernementalisationnistesques"),
        true,
    ),
    (
        "prefix: of 32 letters, one differs",
        "intergouvernementalisationnistes*",
        Plain,
        t("les intergouvernementalisationnistas"),
        false,
    ),
    (
        "prefix: same first four letters only",
        "retrait*",
        Plain,
        t("le retour, la retransmission"),
        false,
    ),
    // Regular expressions.
    (
        "regex: maliens",
        "/mali(en|enne)s?/",
        Plain,
        t("les Maliens votent"),
        true,
    ),
    (
        "regex: whole words",
        "/mali(en|enne)s?/",
        Plain,
        t("les Somaliens votent"),
        false,
    ),
    (
        "regex: malienne",
        "/mali(en|enne)s?/",
        Plain,
        t("la société Malienne"),
        true,
    ),
    (
        "regex: digits",
        "/\\d{4}/",
        Plain,
        t("déployée depuis 2013"),
        true,
    ),
    (
        "regex: accent in the pattern is folded",
        "/r[eé]solution/",
        Plain,
        t("la résolution 2690"),
        true,
    ),
    (
        "regex: over normalized text",
        "/coups? d etat/",
        Plain,
        t("le coup d’État"),
        true,
    ),
    ("regex: field", "title:/bamako/", Plain, b("Bamako"), false),
    (
        "regex: ligature as a group",
        "/cœurs?/",
        Plain,
        t("le coeur du Sahel"),
        true,
    ),
    (
        "regex: ? after a ligature",
        "/straß?e/",
        Plain,
        t("die Strase"),
        false,
    ),
    (
        "regex: ? after a ligature, present",
        "/straß?e/",
        Plain,
        t("die Straße"),
        true,
    ),
    (
        "regex: decomposed accent",
        "/re\u{301}solution/",
        Plain,
        t("la résolution"),
        true,
    ),
    ("regex: superscript digit", "/m²/", Plain, t("200 m2"), true),
    ("regex: case_sensitive", "/ONU/", Case, t("l'onu"), false),
    // Stemming.
    (
        "stem fr: plural",
        "retrait",
        StemFr,
        t("les retraits"),
        true,
    ),
    (
        "no stem: plural",
        "retrait",
        Plain,
        t("les retraits"),
        false,
    ),
    (
        "stem fr: phrase",
        "\"casque bleu\"",
        StemFr,
        t("des casques bleus"),
        true,
    ),
    (
        "no stem: phrase",
        "\"casque bleu\"",
        Plain,
        t("des casques bleus"),
        false,
    ),
    (
        "stem fr: plural in the query",
        "\"casques bleus\"",
        StemFr,
        t("un casque bleu"),
        true,
    ),
    (
        "stem fr: feminine plural",
        "armee",
        StemFr,
        t("les armées"),
        true,
    ),
    (
        "stem fr: keeps other words apart",
        "retrait",
        StemFr,
        t("le départ"),
        false,
    ),
    (
        "stem en: plural",
        "peacekeeper",
        StemEn,
        t("UN peacekeepers leave"),
        true,
    ),
    (
        "stem en: -ing",
        "withdraw",
        StemEn,
        t("withdrawing troops"),
        true,
    ),
    (
        "no stem en",
        "peacekeeper",
        Plain,
        t("UN peacekeepers leave"),
        false,
    ),
    // English.
    (
        "en: word",
        "peacekeepers",
        Plain,
        t("UN Peacekeepers leave Mali"),
        true,
    ),
    (
        "en: hyphenated phrase",
        "\"security council\"",
        Plain,
        t("the Security-Council voted"),
        true,
    ),
    (
        "en: UN case_sensitive",
        "UN",
        Case,
        t("the UN mission ends"),
        true,
    ),
    ("en: un case_sensitive", "UN", Case, t("un jour"), false),
    (
        "en: prefix",
        "withdraw*",
        Plain,
        t("the withdrawal of troops"),
        true,
    ),
    (
        "en: contraction",
        "\"don't\"",
        Plain,
        t("they don’t leave"),
        true,
    ),
    (
        "en: phrase across line",
        "\"united nations\"",
        Plain,
        b("the United\nNations"),
        true,
    ),
];

fn spec(query: &str, opt: Opt) -> RuleSpec {
    RuleSpec {
        name: "r".into(),
        query: Some(query.to_string()),
        case_sensitive: matches!(opt, Case),
        accent_sensitive: matches!(opt, Accent),
        stem: match opt {
            StemFr => Some(Stem::French),
            StemEn => Some(Stem::English),
            _ => None,
        },
        ..RuleSpec::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Whether rule `spec` matches `art` from the test source.
fn matches(spec: RuleSpec, art: &Art) -> Result<bool, String> {
    let matcher = Matcher::new(vec![spec]).map_err(|e| e.to_string())?;
    let authors = strings(art.authors);
    let categories = strings(art.categories);
    let doc = Document {
        title: art.title,
        summary: art.summary,
        body: art.body,
        authors: &authors,
        url: art.url,
        language: art.language,
        categories: &categories,
    };
    let got = matcher.match_document(&doc, SOURCE, &strings(SOURCE_TAGS));
    // The explanation must agree with the matcher.
    let explained = matcher
        .explain(0, &doc, SOURCE, &strings(SOURCE_TAGS))
        .expect("rule 0");
    assert_eq!(explained.matched, !got.is_empty(), "explain disagrees");
    Ok(!got.is_empty())
}

#[test]
fn the_table() {
    assert!(CASES.len() >= 80, "only {} cases", CASES.len());
    let mut failures = Vec::new();
    for (what, query, opt, art, expect) in CASES {
        match matches(spec(query, *opt), art) {
            Ok(got) if got == *expect => {}
            Ok(got) => failures.push(format!("{what}: {query:?} gave {got}, want {expect}")),
            Err(e) => failures.push(format!("{what}: {query:?} failed to compile: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn keywords_exclude_and_query_must_all_hold() {
    let rule = |query: Option<&str>, keywords: &[&str], exclude: &[&str]| RuleSpec {
        name: "r".into(),
        query: query.map(str::to_string),
        keywords: strings(keywords),
        exclude: strings(exclude),
        ..RuleSpec::default()
    };
    let cases: &[(RuleSpec, &str, bool)] = &[
        (
            rule(None, &["Minusma", "Casques bleus"], &[]),
            "Les casques bleus",
            true,
        ),
        (
            rule(None, &["Minusma"], &["football"]),
            "Minusma et football",
            false,
        ),
        (rule(Some("retrait"), &["onu"], &[]), "Le retrait", false),
        (
            rule(Some("retrait"), &["onu"], &[]),
            "Le retrait de l'ONU",
            true,
        ),
        (
            rule(Some("retrait"), &["onu"], &["football"]),
            "Le retrait de l'ONU, football",
            false,
        ),
        // With keywords, a query may only exclude.
        (rule(Some("NOT football"), &["Mali"], &[]), "Le Mali", true),
        (
            rule(Some("NOT football"), &["Mali"], &[]),
            "Le Mali au football",
            false,
        ),
    ];
    for (spec, title, expect) in cases {
        let got = matches(spec.clone(), &t(title)).unwrap();
        assert_eq!(got, *expect, "{spec:?} on {title:?}");
    }
}

#[test]
fn what_only_compiling_tells_is_an_error() {
    let cases = [
        ("/c[œo]ur/", "œ is spelled oe"),
        ("\"onu onu\"~3", "needs different words"),
    ];
    for (query, message) in cases {
        let err = Matcher::new(vec![spec(query, Plain)]).unwrap_err();
        assert!(err.to_string().contains(message), "{query}: {err}");
    }
    let err = Matcher::new(vec![spec("\"retrait retraits\"~5", StemFr)]).unwrap_err();
    assert!(err.to_string().contains("needs different words"), "{err}");
    assert!(Matcher::new(vec![spec("\"retrait retraits\"~5", Plain)]).is_ok());
}

#[test]
fn proximity_sees_every_occurrence() {
    let body = format!("{}retrait", "onu ".repeat(10_001));
    let art = Art {
        body: leak(&body),
        ..t("")
    };
    assert!(matches(spec("\"onu retrait\"~1", Plain), &art).unwrap());
}

#[test]
fn a_query_that_needs_no_term_is_refused() {
    let err = Matcher::new(vec![spec("NOT football", Plain)]).unwrap_err();
    assert!(
        err.to_string().contains("would alert on every article"),
        "{err}"
    );
    let err = Matcher::new(vec![spec("minusma OR", Plain)]).unwrap_err();
    assert!(
        err.to_string().contains("OR needs a term on each side"),
        "{err}"
    );
}

/// The hits of a match: (term, field, highlighted text in the snippet).
fn hits(query: &str, art: &Art) -> Vec<(String, String, String)> {
    let matcher = Matcher::new(vec![spec(query, Plain)]).unwrap();
    let authors = strings(art.authors);
    let doc = Document {
        title: art.title,
        summary: art.summary,
        body: art.body,
        authors: &authors,
        url: art.url,
        ..Document::default()
    };
    let got = matcher.match_document(&doc, SOURCE, &strings(SOURCE_TAGS));
    got.into_iter()
        .flat_map(|m| m.hits)
        .map(|h| {
            let marked = h.snippet[h.highlight.clone()].to_string();
            (h.term, h.field.to_string(), marked)
        })
        .collect()
}

fn triples(items: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn matches_explain_themselves() {
    let art = tb(
        "Mali : la Minusma plie bagage",
        "Le retrait des Casques bleus, annoncé par l’ONU, s’achève. Les Maliens…",
    );
    assert_eq!(
        hits("minusma OR \"casques bleus\" OR (retrait AND onu)", &art),
        triples(&[
            ("minusma", "title", "Minusma"),
            ("casques bleus", "body", "Casques bleus"),
            ("retrait", "body", "retrait"),
            ("onu", "body", "ONU"),
        ])
    );
    // Only the terms that made the rule hold: not "football" under NOT,
    // not "niger" in a branch that failed.
    assert_eq!(
        hits("(niger AND retrait) OR minusma -football", &art),
        triples(&[("minusma", "title", "Minusma")])
    );
    assert_eq!(
        hits("\"retrait onu\"~7", &art),
        triples(&[(
            "retrait onu",
            "body",
            "retrait des Casques bleus, annoncé par l’ONU"
        )])
    );
    assert_eq!(
        hits("/malien(ne)?s/", &art),
        triples(&[("/malien(ne)?s/", "body", "Maliens")])
    );
    assert_eq!(
        hits("title:minus* source:un-news", &art),
        triples(&[
            ("minus*", "title", "Minusma"),
            ("un-news", "source", "un-news")
        ])
    );
}

#[test]
fn a_failed_match_says_which_part_failed() {
    let matcher = Matcher::new(vec![spec(
        "minusma OR (retrait AND (onu OR \"nations unies\"))",
        Plain,
    )])
    .unwrap();
    let doc = Document {
        title: "Le retrait des troupes françaises",
        ..Document::default()
    };
    let e = matcher.explain(0, &doc, SOURCE, &[]).unwrap();
    assert!(!e.matched && e.in_scope);
    let root = &e.root;
    assert_eq!(root.kind, "any");
    let parts: Vec<(&str, bool)> = root
        .children
        .iter()
        .map(|c| (c.text.as_str(), c.holds))
        .collect();
    assert_eq!(
        parts,
        [
            ("minusma", false),
            ("(retrait AND (onu OR \"nations unies\"))", false)
        ]
    );
    let and = &root.children[1];
    let inner: Vec<(&str, bool)> = and
        .children
        .iter()
        .map(|c| (c.text.as_str(), c.holds))
        .collect();
    assert_eq!(
        inner,
        [("retrait", true), ("(onu OR \"nations unies\")", false)]
    );
    assert_eq!(and.children[0].hits[0].snippet, doc.title);
}

#[test]
fn scoped_rules_are_not_evaluated_elsewhere() {
    let mut scoped = spec("source:abamako OR mali", Plain);
    scoped.sources = vec!["abamako".into()];
    let matcher = Matcher::new(vec![scoped, spec("mali", Plain)]).unwrap();
    let doc = Document {
        title: "Mali",
        ..Document::default()
    };
    let rules = |source: &str| -> Vec<usize> {
        matcher
            .match_document(&doc, source, &[])
            .iter()
            .map(|m| m.rule)
            .collect()
    };
    assert_eq!(rules("abamako"), [0, 1]);
    assert_eq!(rules("rfi"), [1]);
    let e = matcher.explain(0, &doc, "rfi", &[]).unwrap();
    assert!(!e.in_scope && !e.matched && e.root.holds);
}

const OPTIONS: [FoldOptions; 4] = [
    FoldOptions {
        case_sensitive: false,
        accent_sensitive: false,
        stem: None,
    },
    FoldOptions {
        case_sensitive: true,
        accent_sensitive: false,
        stem: None,
    },
    FoldOptions {
        case_sensitive: false,
        accent_sensitive: true,
        stem: None,
    },
    FoldOptions {
        case_sensitive: false,
        accent_sensitive: false,
        stem: Some(Stem::French),
    },
];

/// French and English news words, with the typography that trips matchers.
const VOCABULARY: &[&str] = &[
    "Minusma",
    "casques",
    "bleus",
    "Casques-bleus",
    "retrait",
    "retraite",
    "l’ONU",
    "l'ONU",
    "d’État",
    "Nations",
    "unies",
    "Bamako",
    "Mali",
    "Malien",
    "Somalie",
    "œuvre",
    "SŒUR",
    "Straße",
    "ex-æquo",
    "ﬁnancement",
    "PUBLIÉ",
    "publie\u{301}",
    "25\u{202f}%",
    "junte",
    "peacekeepers",
    "withdrawal",
    "don’t",
    "UN",
    "Security",
    "Council",
    "2023",
    "a",
    "à",
    "qu’il",
    "jusqu’ici",
    "retrai\u{ad}te",
    "Élysée",
    "ÉTAT",
    "naïveté",
    "ça",
];

const SEPARATORS: &[&str] = &[
    " ", "  ", "\n", ", ", ". ", " : ", "\u{a0}", "\u{202f}", "-", "/", " (", ") ", " « ", " » ",
    "’", "\t",
];

fn news_text() -> impl Strategy<Value = String> {
    let piece = (
        prop::sample::select(VOCABULARY),
        prop::sample::select(SEPARATORS),
    );
    prop_oneof![
        4 => prop::collection::vec(piece, 1..30).prop_map(|pieces| {
            pieces.into_iter().map(|(w, s)| format!("{w}{s}")).collect()
        }),
        1 => "\\PC{1,60}",
    ]
}

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "minusma",
            "retrait",
            "onu",
            "mali",
            "bamako",
            "casques",
            "bleus",
            "junte",
            "etat",
            "un",
            "peacekeepers",
            "2023",
        ][..],
    )
    .prop_map(str::to_string)
}

fn title_matches(query: &str, title: &str) -> bool {
    matches(
        spec(query, Plain),
        &Art {
            title: leak(title),
            ..t("")
        },
    )
    .unwrap()
}

/// One term of a generated query: a word, a phrase, a prefix, a field, a
/// proximity search or a regex, over the words of [`word`].
fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => word(),
        2 => (word(), word()).prop_map(|(a, b)| format!("\"{a} {b}\"")),
        1 => word().prop_map(|w| format!("{}*", &w[..w.len().min(3)])),
        1 => word().prop_map(|w| format!("title:{w}")),
        1 => (word(), word()).prop_map(|(a, b)| format!("body:\"{a} {b}\"")),
        1 => (word(), word(), 0u32..6).prop_map(|(a, b, d)| format!("\"{a} {b}\"~{d}")),
        1 => prop::sample::select(&["/mali(en|enne)?s?/", "/casques? bleus/", "/ba[a-z]+o/"][..])
            .prop_map(str::to_string),
    ]
}

/// A query as rules are written: a term alone, or two or three combined.
fn query() -> impl Strategy<Value = String> {
    (atom(), atom(), atom(), 0..6).prop_map(|(a, b, c, shape)| match shape {
        0 => a,
        1 => format!("{a} {b}"),
        2 => format!("{a} OR {b}"),
        3 => format!("({a} OR {b}) {c}"),
        4 => format!("{a} -{b}"),
        _ => format!("{a} AND ({b} OR {c})"),
    })
}

/// `Art` holds static strings: proptest texts are leaked, a few KB a run.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

proptest! {
    #[test]
    fn folding_is_idempotent(text in news_text(), o in 0..OPTIONS.len()) {
        let opts = OPTIONS[o];
        let once = fold_words(&text, opts);
        let twice = fold_words(&once.join(" "), opts);
        // Stemming a stem may shorten it again; folding without it may not.
        if opts.stem.is_none() {
            prop_assert_eq!(once, twice);
        }
    }

    #[test]
    fn a_phrase_cut_from_a_text_matches_it(text in news_text(), a in 0usize..40, len in 1usize..6) {
        let tokens = vigie::rules::tokenize(&text, FoldOptions::default());
        prop_assume!(!tokens.is_empty());
        let first = a % tokens.len();
        let last = (first + len - 1).min(tokens.len() - 1);
        // A char can make several words (`¼` is `1`, `4`): cut between
        // chars, not inside one.
        prop_assume!(first == 0 || tokens[first - 1].end <= tokens[first].start);
        prop_assume!(last + 1 == tokens.len() || tokens[last].end <= tokens[last + 1].start);
        let cut = &text[tokens[first].start..tokens[last].end];
        prop_assume!(!cut.contains('"') && !cut.contains('*'));
        let query = format!("\"{cut}\"");
        prop_assert!(title_matches(&query, &text), "{:?} in {:?}", query, text);
    }

    #[test]
    fn or_is_either(x in word(), y in word(), text in news_text()) {
        let a = title_matches(&x, &text);
        let b = title_matches(&y, &text);
        prop_assert_eq!(title_matches(&format!("{x} OR {y}"), &text), a || b);
        prop_assert_eq!(title_matches(&format!("{x} {y}"), &text), a && b);
    }

    #[test]
    fn not_is_the_opposite(x in word(), text in news_text()) {
        // A rule of NOT alone is refused, so an anchor word that is always
        // there carries it.
        let text = format!("ancre {text}");
        let a = title_matches(&x, &text);
        prop_assert_eq!(title_matches(&format!("ancre NOT {x}"), &text), !a);
        prop_assert_eq!(title_matches(&format!("ancre -{x}"), &text), !a);
    }
}

proptest! {
    // Each case compiles up to 30 rules, twice.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The matcher reads a rule only when its terms were found; evaluated
    /// alone and in full, each rule must come out the same, hits included.
    #[test]
    fn many_rules_match_as_each_alone(
        queries in prop::collection::vec((query(), 0..OPTIONS.len()), 1..30),
        title in news_text(),
        summary in news_text(),
        body in news_text(),
    ) {
        let opts = [Plain, Case, Accent, StemFr];
        let specs: Vec<RuleSpec> = queries
            .iter()
            .map(|(q, o)| spec(q, opts[o % opts.len()]))
            // Some generated queries are invalid (`"mali mali"~2`).
            .filter(|s| Matcher::new(vec![s.clone()]).is_ok())
            .collect();
        let matcher = Matcher::new(specs.clone()).unwrap();
        let doc = Document {
            title: &title,
            summary: &summary,
            body: &body,
            ..Document::default()
        };
        let got = matcher.match_document(&doc, SOURCE, &[]);
        for (r, spec) in specs.iter().enumerate() {
            let alone = matcher.explain(r, &doc, SOURCE, &[]).unwrap();
            let found = got.iter().find(|m| m.rule == r);
            prop_assert_eq!(found.is_some(), alone.matched, "{:?}", spec.query);
            if let Some(m) = found {
                prop_assert_eq!(&m.hits, &alone.hits, "{:?}", spec.query);
            }
        }
    }
}
