#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test.
# Needs only the Rust toolchain pinned in rust-toolchain.toml: every server
# the tests use (feeds, webhook receiver, SMTP) runs inside the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
