# Coffee Payments Server — common tasks. `just --list` shows them.

# Run the server (demo mode unless DATABASE_URL is set)
run *ARGS:
    cargo run -p coffee-server --bin coffee-pay -- {{ARGS}}

# Run every test (Postgres, Mosquitto and browser tests skip loudly when those are absent)
test:
    cargo test --workspace

# The throughput table (docs/performance.md): pgbench's ceiling, scans (from wrk), verified
# webhooks and lifecycles over HTTP through the release server on Postgres, with the CPU each
# costs, written to target/bench/; then the console's order list on 1 000 000 orders. Installs
# wrk and pgbench (Debian) when they are missing.
bench:
    command -v wrk >/dev/null && command -v pgbench >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk postgresql-client)
    # The server exactly as deploy/Dockerfile builds it: built with the examples in one
    # invocation it would take the features their dev-dependencies switch on (HTTP/2 and more).
    cargo build --release --locked -p coffee-server --bin coffee-pay
    cargo build --release -p coffee-server --example bench --example console_bench
    target/release/examples/bench
    target/release/examples/console_bench

# Complete lifecycles per second through the domain services alone (no HTTP); optional LIFECYCLES CONCURRENCY
bench-services *ARGS:
    cargo run --release -p coffee-server --example lifecycle_bench -- {{ARGS}}

# The console's order list on 1 000 000 orders in Postgres: one filtered page's time; optional ORDERS
bench-console *ARGS:
    cargo run --release -p coffee-server --example console_bench -- {{ARGS}}

# Lints and the hexagon's boundaries, as CI runs them
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    .ci/check-boundaries

# Format the code
fmt:
    cargo fmt --all

# Apply a fleet file (merchants, devices, drinks)
fleet FILE:
    cargo run -p coffee-server --bin coffee-pay -- fleet apply {{FILE}}

# Everything CI does
ci:
    bash .ci/run
