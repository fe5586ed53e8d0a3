#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

//! `deploy/` agrees with the code: every variable the configuration reads is in
//! `deploy/.env.example` with its documentation, and nothing there is a variable the server
//! does not read. (The compose file, the systemd unit and the Mosquitto ACL are checked by
//! `.ci/check-deploy`, with the tools they are written for.)

use std::collections::BTreeSet;
use std::path::Path;

fn repo_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `"UPPER_CASE"` string literals: the names the configuration reads (prefixes such as
/// `"TMETR_"`, which end in `_`, are not names).
fn variable_literals(source: &str) -> BTreeSet<String> {
    source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.len() > 2
                && s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !s.ends_with('_')
        })
        .map(str::to_owned)
        .collect()
}

/// Names set (`NAME=…`) or shown commented out (`# NAME=…`) in an env file.
fn env_file_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|line| line.trim_start_matches('#').trim())
        .filter_map(|line| line.split_once('='))
        .map(|(name, _)| name.trim())
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_variable_the_configuration_reads_is_in_the_env_example_and_nothing_else_is() {
    let mut read: BTreeSet<String> = [
        "crates/server/src/config/read.rs",
        "crates/server/src/config/mod.rs",
    ]
    .iter()
    .flat_map(|path| variable_literals(&repo_file(path)))
    .collect();
    // Read by the log filter and the optional OTLP exporter, not by the configuration.
    read.insert("RUST_LOG".to_owned());
    read.insert("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned());
    let mut example = env_file_names(&repo_file("deploy/.env.example"));
    // Read by compose for the Postgres container, not by the server.
    assert!(example.remove("POSTGRES_PASSWORD"));
    let missing: Vec<_> = read.difference(&example).collect();
    let unknown: Vec<_> = example.difference(&read).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "deploy/.env.example lacks {missing:?} and names {unknown:?}, which the server does not read"
    );
}

#[test]
fn every_variable_in_the_env_example_is_documented_in_the_configuration_guide() {
    let guide = repo_file("docs/configuration.md");
    let mut example = env_file_names(&repo_file("deploy/.env.example"));
    example.remove("POSTGRES_PASSWORD");
    let undocumented: Vec<_> = example
        .iter()
        .filter(|name| !guide.contains(&format!("`{name}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/configuration.md: {undocumented:?}"
    );
}
