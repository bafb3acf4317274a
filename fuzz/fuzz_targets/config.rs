//! `config::parse` and the rendering of its diagnostics. The renderer slices
//! the text by error spans (lines, carets, masked secrets): it must never
//! panic, whatever the span, multi-byte text or CRLF line ends.
//! Input: any bytes, read as (lossy) UTF-8 TOML.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(diagnostics) = vigie::config::parse(&text, Path::new("fuzz.toml")) {
        let rendered = diagnostics.to_string();
        assert!(rendered.contains("fuzz.toml"));
        for e in &diagnostics.errors {
            if let Some(span) = &e.span {
                let _ = diagnostics.line_col(span.start);
                let _ = diagnostics.line_col(span.end);
            }
        }
    }
});
