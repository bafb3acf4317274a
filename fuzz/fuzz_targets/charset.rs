//! `fetch::charset::decode`: every response body goes through it before
//! parsing. Input: one selector byte picking the Content-Type header, then
//! the body.
//!
//! Checks that it never panics, and that valid UTF-8 with nothing that
//! could declare another encoding (no header, no BOM, no `encoding`/`charset`
//! in the head, not the BOM-less UTF-16 `<?` prefix) comes back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("application/rss+xml; charset=utf-8"),
    Some("text/xml; charset=ISO-8859-1"),
    Some("text/html; charset=\"windows-1252\""),
    Some("text/xml; charset=utf-16"),
    Some("text/xml; charset=shift_jis"),
    Some("text/xml; charset=iso-2022-jp"),
    Some("text/plain; format=flowed; charset='koi8-r'"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector & 7)];
    let (text, _encoding) = vigie::fetch::charset::decode(bytes, content_type);

    // The undeclared valid-UTF-8 case: must be the identity.
    let Ok(utf8) = std::str::from_utf8(bytes) else {
        return;
    };
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    let undeclared = content_type.is_none()
        && !utf8.starts_with('\u{feff}')
        && !head.contains("encoding")
        && !head.contains("charset")
        && !bytes.starts_with(&[0, b'<', 0, b'?'])
        && !bytes.starts_with(&[b'<', 0, b'?', 0]);
    if undeclared {
        assert_eq!(text, utf8, "undeclared UTF-8 was altered");
    }
});
