//! `config/vigie.example.toml` is the config's documentation (STYLE.md: every
//! key, commented with its default), so it must stay true: it passes
//! `vigie check`, it is plain TOML, and it mentions every key of the schema.
//! The keys are read from the text of `src/config/raw.rs`, the serde types
//! that define the schema, so a key added there without documenting it here
//! fails this test.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const EXAMPLE: &str = "config/vigie.example.toml";

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn the_example_config_passes_vigie_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check", "--config", EXAMPLE])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run vigie");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with(&format!("{EXAMPLE}: ok (")), "{stdout}");
}

#[test]
fn the_example_config_is_plain_toml() {
    let table: toml::Table = toml::from_str(&read(EXAMPLE)).expect("the example is valid TOML");
    for key in table.keys() {
        assert!(
            vigie::config::raw::TOP_KEYS.contains(&key.as_str()),
            "unknown top-level table [{key}]"
        );
    }
}

/// The TOML key of every field of the `Raw*` structs in `raw.rs`, by struct:
/// the field name, or its `#[serde(rename = "...")]`.
fn schema_keys(raw_rs: &str) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    let mut current: Option<String> = None;
    let mut rename: Option<String> = None;
    for line in raw_rs.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("pub struct Raw") {
            let name = rest.split(|c: char| !c.is_alphanumeric()).next();
            current = name.map(|n| format!("Raw{n}"));
        } else if line == "}" {
            current = None;
        } else if let Some(owner) = &current {
            if let Some(attr) = line.strip_prefix("#[serde(rename = \"") {
                rename = attr.split('"').next().map(str::to_string);
            } else if let Some(field) = line.strip_prefix("pub ")
                && let Some((name, _type)) = field.split_once(':')
            {
                let key = rename.take().unwrap_or_else(|| name.trim().to_string());
                keys.push((owner.clone(), key));
            }
        }
    }
    keys
}

/// `line` without its leading `#` comment marks and indentation.
fn uncommented(line: &str) -> &str {
    line.trim_start_matches(|c: char| c == '#' || c.is_whitespace())
}

/// `KEY = ...` or `# KEY = ...` at the start of a line, or a table header
/// (commented or not) whose last part is KEY: `[sources.abamako.html]`.
fn documents(example: &str, key: &str) -> bool {
    example.lines().map(uncommented).any(|line| {
        let assigned = line
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        let header = line
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
            .is_some_and(|(name, _)| name == key || name.ends_with(&format!(".{key}")));
        assigned || header
    })
}

/// A table header (commented or not) that opens `[KEY]` or `[KEY.NAME]`.
fn opens_table(example: &str, key: &str) -> bool {
    example.lines().map(uncommented).any(|line| {
        line.strip_prefix('[')
            .and_then(|l| l.split_once(']'))
            .is_some_and(|(name, _)| name == key || name.starts_with(&format!("{key}.")))
    })
}

#[test]
fn the_schema_reader_finds_every_raw_struct() {
    // Guards the test below against reading nothing.
    let keys = schema_keys(&read("src/config/raw.rs"));
    let structs: BTreeSet<&str> = keys.iter().map(|(s, _)| s.as_str()).collect();
    for expected in [
        "RawDaemon",
        "RawSource",
        "RawHtml",
        "RawRule",
        "RawNotifier",
        "RawSmtp",
    ] {
        assert!(structs.contains(expected), "{expected} not found");
    }
    let notifier: Vec<&str> = keys
        .iter()
        .filter(|(s, _)| s == "RawNotifier")
        .map(|(_, k)| k.as_str())
        .collect();
    assert!(notifier.contains(&"type"), "rename not honoured");
    assert!(!notifier.contains(&"kind"), "rename not honoured");
    assert!(keys.len() >= 40, "only {} keys found", keys.len());
}

#[test]
fn every_key_of_the_schema_is_documented_in_the_example() {
    let example = read(EXAMPLE);
    let mut missing: Vec<String> = vigie::config::raw::TOP_KEYS
        .iter()
        .filter(|key| !opens_table(&example, key))
        .map(|key| format!("[{key}]"))
        .collect();
    missing.extend(
        schema_keys(&read("src/config/raw.rs"))
            .into_iter()
            .filter(|(_, key)| !documents(&example, key))
            .map(|(owner, key)| format!("{key} ({owner})")),
    );
    assert!(
        missing.is_empty(),
        "{EXAMPLE} does not document, as `KEY =`, `# KEY =` or a [..KEY] header: {}",
        missing.join(", ")
    );
}
