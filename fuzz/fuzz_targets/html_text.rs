//! `parse::text::html_to_text`: every title, summary, body and author of a
//! feed goes through it. Input: any bytes, read as (lossy) UTF-8.
//!
//! Checks its contract: no control character but '\n' in the result, and
//! no leading or trailing whitespace.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    let text = vigie::parse::text::html_to_text(&html);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "control character left in {text:?}"
    );
    assert_eq!(text.trim(), text, "untrimmed output");
});
