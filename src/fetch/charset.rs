//! Bytes → UTF-8 text for documents whose declared charset may be missing
//! or wrong: BOM, then the HTTP header, then the XML/HTML declaration, then
//! sniffing. A declaration that claims UTF-8 over bytes that are not UTF-8
//! (a windows-1252 feed saying `encoding="UTF-8"` is common) is overruled.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// The text and the encoding it was read with.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> (String, &'static Encoding) {
    let encoding = detect(bytes, content_type);
    if encoding == UTF_8 && Encoding::for_bom(bytes).is_none() {
        return (decode_utf8_mixed(bytes), UTF_8);
    }
    // decode() strips a BOM and replaces malformed sequences: the result is
    // always valid UTF-8.
    let (text, _, _) = encoding.decode(bytes);
    (text.into_owned(), encoding)
}

/// UTF-8 with stray windows-1252 bytes, as aggregators produce when they
/// paste a Latin-1 item into a UTF-8 feed: each byte that is not part of a
/// valid UTF-8 sequence is read as windows-1252 (`0x92` → `’`), so the
/// rest of the document keeps its accents.
fn decode_utf8_mixed(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        let (text, _) = WINDOWS_1252.decode_without_bom_handling(chunk.invalid());
        out.push_str(&text);
    }
    out
}

/// Counts, over the whole document, the non-ASCII characters that are
/// valid UTF-8 and the byte runs that are not.
fn utf8_evidence(bytes: &[u8]) -> (usize, usize) {
    bytes
        .utf8_chunks()
        .fold((0, 0), |(multibyte, invalid), chunk| {
            (
                multibyte + chunk.valid().chars().filter(|c| !c.is_ascii()).count(),
                invalid + usize::from(!chunk.invalid().is_empty()),
            )
        })
}

pub fn detect(bytes: &[u8], content_type: Option<&str>) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(bytes) {
        return encoding;
    }
    // `<?` in UTF-16 without a BOM: every other byte is zero, which is
    // also valid UTF-8, so it must be recognised before the UTF-8 check.
    if bytes.starts_with(&[0, b'<', 0, b'?']) {
        return encoding_rs::UTF_16BE;
    }
    if bytes.starts_with(&[b'<', 0, b'?', 0]) {
        return encoding_rs::UTF_16LE;
    }
    let (multibyte, invalid) = utf8_evidence(bytes);
    // Valid multi-byte sequences essentially never occur by chance in
    // windows-1252 text: a document with any is UTF-8, perhaps with a stray
    // Latin-1 paste, which `decode_utf8_mixed` reads byte by byte.
    let mostly_utf8 = invalid == 0 || multibyte > 0;
    let declared = [content_type.and_then(charset_param), declaration(bytes)];
    for label in declared.into_iter().flatten() {
        let Some(encoding) = Encoding::for_label(label.as_bytes()) else {
            continue;
        };
        if encoding == UTF_8 && !mostly_utf8 {
            continue;
        }
        // A single-byte label over bytes that are valid, non-ASCII UTF-8 is
        // a server default, not the document's truth: reading them as
        // Latin-1 would turn every "é" into "Ã©".
        if encoding.is_single_byte() && mostly_utf8 && multibyte > 0 {
            return UTF_8;
        }
        // UTF-16 labels on a byte stream without a BOM are nearly always
        // wrong declarations of an 8-bit document.
        if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
            continue;
        }
        // Labels such as "hz-gb-2312" map to the "replacement" encoding,
        // which turns the whole document into one U+FFFD: never useful.
        if encoding == encoding_rs::REPLACEMENT {
            continue;
        }
        return encoding;
    }
    if mostly_utf8 {
        return UTF_8;
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let guess = detector.guess(None, chardetng::Utf8Detection::Allow);
    // chardetng may guess a legacy CJK or Cyrillic encoding on short Latin
    // text; for our sources windows-1252 is the likelier truth then.
    if guess.is_single_byte() {
        guess
    } else {
        WINDOWS_1252
    }
}

/// The `charset=` parameter of a Content-Type header.
fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']).to_string())
    })
}

/// The encoding named by `<?xml ... encoding="..."?>` or `<meta charset>`,
/// looked for in the first kilobyte.
fn declaration(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(1024)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    for marker in ["encoding", "charset"] {
        if let Some(at) = head.find(marker) {
            let Some(rest) = head[at + marker.len()..].trim_start().strip_prefix('=') else {
                continue;
            };
            let rest = rest.trim_start().trim_start_matches(['"', '\'']);
            let end = rest
                .find(|c: char| {
                    !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ':' || c == '.')
                })
                .unwrap_or(rest.len());
            if end > 0 {
                return Some(rest[..end].to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_claiming_utf8_is_read_as_windows_1252() {
        let mut bytes = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><t>".to_vec();
        bytes.extend_from_slice(b"L\x92ONU : le retrait a \xe9t\xe9 achev\xe9 \x85</t>");
        let (text, encoding) = decode(&bytes, Some("application/rss+xml; charset=utf-8"));
        assert_eq!(encoding, WINDOWS_1252);
        assert!(text.contains("L’ONU : le retrait a été achevé …"), "{text}");
    }

    #[test]
    fn iso_8859_1_declaration_is_followed() {
        let bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t>\xe9t\xe9</t>";
        let (text, _) = decode(bytes, None);
        assert!(text.contains("été"));
    }

    #[test]
    fn utf8_behind_a_latin1_header_stays_utf8() {
        let bytes = "<t>Casques bleus, été</t>".as_bytes();
        let (text, encoding) = decode(bytes, Some("text/xml; charset=ISO-8859-1"));
        assert_eq!(encoding, UTF_8);
        assert!(text.contains("été"));
    }

    #[test]
    fn a_stray_windows_1252_byte_in_a_utf8_feed_keeps_the_accents() {
        let mut bytes = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><t>Le retrait a été achevé, "
            .as_bytes()
            .to_vec();
        bytes.extend_from_slice(b"l\x92ONU confirme. Casques bleus, d\xc3\xa9part.</t>");
        let (text, encoding) = decode(&bytes, Some("application/rss+xml"));
        assert_eq!(encoding, UTF_8);
        assert!(
            text.contains("Le retrait a été achevé, l’ONU confirme. Casques bleus, départ."),
            "{text}"
        );
    }

    #[test]
    fn a_latin1_paragraph_in_a_utf8_feed_keeps_both_readable() {
        let mut bytes = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><t>L’ONU quitte le Mali</t>"
            .as_bytes()
            .to_vec();
        bytes.extend_from_slice(b"<t>Le retrait a \xe9t\xe9 achev\xe9</t>");
        let (text, _) = decode(&bytes, None);
        assert!(
            text.contains("L’ONU quitte le Mali") && text.contains("Le retrait a été achevé"),
            "{text}"
        );
    }

    #[test]
    fn declarations_may_have_spaces_around_the_equals_sign() {
        let bytes = b"<?xml version = \"1.0\" encoding = 'ISO-8859-1' ?><t>\xe9t\xe9</t>";
        assert_eq!(detect(bytes, None), WINDOWS_1252);
    }

    #[test]
    fn utf16_xml_without_a_bom_is_recognised() {
        let text = "<?xml version=\"1.0\" encoding=\"utf-16\"?><t>été</t>";
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode(&be, None).0, text);
        assert_eq!(decode(&le, None).0, text);
    }

    #[test]
    fn a_label_of_the_replacement_encoding_does_not_erase_the_feed() {
        let bytes = b"<?xml version=\"1.0\" encoding=\"hz-gb-2312\"?><t>Minusma</t>";
        assert!(decode(bytes, None).0.contains("Minusma"));
    }

    #[test]
    fn bom_wins() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice("<?xml encoding=\"iso-8859-1\"?><t>é</t>".as_bytes());
        let (text, encoding) = decode(&bytes, None);
        assert_eq!(encoding, UTF_8);
        assert!(text.starts_with("<?xml") && text.contains('é'));
    }

    #[test]
    fn undeclared_latin_text_is_sniffed() {
        let bytes = b"<t>Le retrait des Casques bleus a \xe9t\xe9 annonc\xe9 \xe0 Bamako</t>";
        let (text, _) = decode(bytes, None);
        assert!(text.contains("été annoncé à Bamako"), "{text}");
    }
}
