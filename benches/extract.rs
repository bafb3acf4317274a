//! Article extraction speed on the article-extraction benchmark's 181 pages
//! (read from `../shared/corpora`, or `$VIGIE_CORPORA`): pages per second
//! on one core — one thread, charset detection and the whole extraction
//! (metadata, dates, readability, text) per page, the pages already in
//! memory. A figure printer, not a timed test:
//!
//!     cargo bench --bench extract
//!
//! Quality is measured by `tests/corpus_extract.rs`.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use url::Url;
use vigie::parse::extract::{self, Selectors};

const ROUNDS: usize = 5;

fn main() {
    let dir = std::env::var_os("VIGIE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"));
    let truth = dir.join("aeb/ground-truth.json");
    let Ok(truth) = std::fs::read(&truth) else {
        eprintln!(
            "skipped: corpora not found (set VIGIE_CORPORA or put shared/corpora beside the checkout)"
        );
        return;
    };
    let truth: serde_json::Value = serde_json::from_slice(&truth).expect("ground truth");
    let mut pages = Vec::new();
    for (hash, item) in truth.as_object().expect("an object") {
        let file = std::fs::File::open(dir.join(format!("aeb/html/{hash}.html.gz"))).expect("page");
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut bytes)
            .expect("gzip");
        let url = item["url"].as_str().unwrap_or("https://example.org/");
        pages.push((Url::parse(url).expect("url"), bytes));
    }
    let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let bytes: usize = pages.iter().map(|(_, b)| b.len()).sum();
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for (url, bytes) in &pages {
            let (html, _) = vigie::fetch::charset::decode(bytes, None);
            let page = extract::article(&html, url, &Selectors::default(), None, now)
                .expect("no selectors, no error");
            std::hint::black_box(page);
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "extract: {} pages ({:.1} MiB), best of {ROUNDS} rounds: {:.2} s, {:.0} pages/s on one core",
        pages.len(),
        bytes as f64 / (1024.0 * 1024.0),
        best,
        pages.len() as f64 / best
    );
}
