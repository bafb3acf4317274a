//! `config/vigie.example.toml` is the config's documentation (STYLE.md: every
//! key, commented with its default), so it must stay true: it passes
//! `vigie check`, it is plain TOML, and it mentions every key of the schema.
//! The keys are read from the config's JSON Schema (`vigie schema`), derived
//! from the serde types that read the file, so a key added there without
//! documenting it here fails this test. The schema itself is checked
//! against the example: every key the example sets is known to it.

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

/// The TOML key of every property of the `Raw*` tables of the config's
/// JSON Schema (`vigie schema`), by table. The schema is derived from the
/// serde types that read the file, so a key added there without
/// documenting it here fails this test.
fn schema_keys() -> Vec<(String, String)> {
    let schema = vigie::config::raw::schema();
    let definitions = schema["definitions"]
        .as_object()
        .expect("the schema has definitions");
    let mut keys = Vec::new();
    for (name, definition) in definitions {
        if !name.starts_with("Raw") {
            continue;
        }
        for key in definition["properties"].as_object().into_iter().flatten() {
            keys.push((name.clone(), key.0.clone()));
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
    let keys = schema_keys();
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
        schema_keys()
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

#[test]
fn the_example_starts_with_a_schema_line_naming_the_committed_schema() {
    let example = read(EXAMPLE);
    let first = example.lines().next().unwrap_or_default();
    assert_eq!(first, "#:schema ./vigie.schema.json");
    let committed = read("config/vigie.schema.json");
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .arg("schema")
        .output()
        .expect("run vigie schema");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        committed,
        "config/vigie.schema.json is stale: run `vigie schema > config/vigie.schema.json`"
    );
}

/// The schema node of the value at `key` inside an object node, following
/// `$ref`, `allOf` and `additionalProperties`; `None` when the schema
/// refuses the key.
fn property<'a>(
    root: &'a serde_json::Value,
    node: &'a serde_json::Value,
    key: &str,
) -> Option<&'a serde_json::Value> {
    let node = resolve(root, node);
    if let Some(p) = node["properties"].get(key) {
        return Some(resolve(root, p));
    }
    match &node["additionalProperties"] {
        serde_json::Value::Bool(false) => None,
        serde_json::Value::Object(_) => Some(resolve(root, &node["additionalProperties"])),
        _ => node["allOf"]
            .as_array()
            .and_then(|all| all.iter().find_map(|n| property(root, n, key))),
    }
}

fn resolve<'a>(root: &'a serde_json::Value, node: &'a serde_json::Value) -> &'a serde_json::Value {
    match node["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/definitions/");
            resolve(root, &root["definitions"][name])
        }
        None => match node["allOf"].as_array() {
            Some(all) if all.len() == 1 => resolve(root, &all[0]),
            _ => node,
        },
    }
}

/// Every key path of `table`, tables included: `daemon.interval`.
fn key_paths(table: &toml::Table, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for (key, value) in table {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        out.push(path.clone());
        if let toml::Value::Table(inner) = value {
            key_paths(inner, &path, out);
        }
    }
}

#[test]
fn the_schema_knows_every_key_the_example_sets_and_refuses_a_misspelled_one() {
    let schema = vigie::config::raw::schema();
    let lookup = |path: &[String]| {
        let mut node = &schema;
        for key in path {
            node = property(&schema, node, key)?;
        }
        Some(node)
    };
    let table: toml::Table = toml::from_str(&read(EXAMPLE)).expect("the example is TOML");
    let mut paths = Vec::new();
    key_paths(&table, &[], &mut paths);
    assert!(paths.len() > 20, "only {} keys read", paths.len());
    let unknown: Vec<String> = paths
        .iter()
        .filter(|p| lookup(p).is_none())
        .map(|p| p.join("."))
        .collect();
    assert!(unknown.is_empty(), "keys the schema refuses: {unknown:?}");
    let misspelled = ["daemon".to_string(), "intervall".to_string()];
    assert!(lookup(&misspelled).is_none(), "a misspelled key passes");
    let rule_key = ["rules".into(), "any-name".into(), "notify".into()];
    assert!(lookup(&rule_key).is_some(), "rules are named tables");
}
