//! `coffee-pay` — the Coffee Payments Server.

use coffee_adapter_memory::{MemoryStore, SystemClock};
use coffee_adapter_mqtt::{Narrator, VirtualMachine, VirtualOutcome};
use coffee_adapter_postgres::PgStore;
use coffee_domain::ports::CatalogRepository;
use coffee_server::config::Config;
use coffee_server::moving_over::{self, import_original, ImportOptions};
use coffee_server::secrets::SecretBox;
use coffee_server::startup::{demo_wiring, migrate, production_wiring, Application, StartupError};
use coffee_server::{console, demo, fleet, telemetry};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const USAGE_TEMPLATE: &str = "\
coffee-pay — payment server for coffee vending machines

USAGE:
    coffee-pay [serve]              run the server (demo mode when DATABASE_URL is unset)
    coffee-pay fleet apply FILE     upsert merchants, devices and drinks from a fleet file
    coffee-pay fleet check FILE     check a fleet file without applying it
    coffee-pay fleet export [FILE]  write the stored fleet as a fleet file (standard output
                                    without FILE); secrets as *_env references
    coffee-pay migrate              apply pending database migrations (DATABASE_URL)
    coffee-pay import original --from POSTGRES_URL [--dry-run] [--allow-skips]
                                    move a network over from the original Django system:
                                    merchants, devices, drinks, credentials and orders, in one
                                    transaction (see docs/operations.md)
    coffee-pay machine simulate --device ID [--outcome success|failed|silent] [--delay-ms N]
                                    a virtual MQTT machine on the broker of MQTT_URL: announces
                                    itself online and answers every make command on its topic
{console}
    coffee-pay help                 this text

Configuration comes from the environment and a .env file; see docs/configuration.md.";

fn usage() -> String {
    USAGE_TEMPLATE.replace("{console}", console::cli::USAGE)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format, config.debug);
    actix_web::rt::System::new().block_on(async move {
        match args.as_slice() {
            [] | ["serve"] => match config.check_serve() {
                Ok(()) => serve(config).await,
                Err(error) => {
                    eprintln!("{error}");
                    ExitCode::from(2)
                }
            },
            ["fleet", "apply", file] => fleet_command(&config, file, true).await,
            ["fleet", "check", file] => fleet_command(&config, file, false).await,
            ["fleet", "export"] => fleet_export(&config, None).await,
            ["fleet", "export", file] => fleet_export(&config, Some(file)).await,
            ["migrate"] => migrate_command(&config).await,
            ["import", "original", options @ ..] => import_command(&config, options).await,
            ["users", rest @ ..] => console::cli::users(&config, rest).await,
            ["tokens", rest @ ..] => console::cli::tokens(&config, rest).await,
            ["machine", "simulate", options @ ..] => simulate_command(&config, options).await,
            ["help" | "--help" | "-h"] => {
                println!("{}", usage());
                ExitCode::SUCCESS
            }
            _ => {
                eprintln!("{}", usage());
                ExitCode::from(2)
            }
        }
    })
}

async fn serve(config: Config) -> ExitCode {
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("coffee-pay: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), StartupError> {
    let app = if config.is_demo() {
        let wiring = demo_wiring(&config, Arc::new(SystemClock)).await?;
        let catalog = wiring.ctx.ports.catalog.clone();
        let console = console::Console {
            accounts: wiring.accounts.clone(),
            audit: wiring.audit.clone(),
            queries: wiring.queries.clone(),
            clock: wiring.ctx.ports.clock.clone(),
            settings: config.console,
            secure_cookies: false,
        };
        let admin = demo::console_admin(&console).await;
        let app = Application::start(&config, wiring, Duration::from_millis(250))?;
        let run_tag = format!("demo-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
        let urls = demo::qr_urls(catalog.as_ref(), &config.base_url, &run_tag).await;
        println!("{}", demo::banner(&config.base_url, &urls, admin.as_ref()));
        app
    } else {
        let wiring = production_wiring(&config, Arc::new(SystemClock)).await?;
        Application::start(&config, wiring, Duration::from_millis(250))?
    };
    tracing::info!(port = app.port(), demo = config.is_demo(), "listening");
    app.run_until_stopped()
        .await
        .map_err(|source| StartupError::Bind {
            addr: config.bind_addr.to_string(),
            source,
        })
}

async fn fleet_command(config: &Config, file: &str, apply: bool) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("{file}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let sealer = match config.secret_key.as_deref().map(SecretBox::from_secret_key) {
        Some(Ok(sealer)) => sealer,
        None => match SecretBox::random() {
            Ok(sealer) => sealer,
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        },
        Some(Err(error)) => {
            eprintln!("SECRET_KEY: {error}");
            return ExitCode::FAILURE;
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    let secrets = fleet::Secrets {
        sealer: &sealer,
        env: &env,
    };
    let destination = if config.is_demo() {
        fleet::Destination::Demo
    } else {
        fleet::Destination::Database {
            sandbox_allowed: config.sandbox_allow_with_database,
        }
    };
    let parsed = match fleet::parse(file, &text, &secrets, destination) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("{error}\nnothing was applied");
            return ExitCode::FAILURE;
        }
    };
    if !apply {
        println!(
            "{file}: ok ({} merchants, {} devices, {} drinks)",
            parsed.merchants.len(),
            parsed.devices.len(),
            parsed.drinks.len()
        );
        return ExitCode::SUCCESS;
    }
    if config.is_demo() {
        let store = MemoryStore::new();
        return match store
            .apply_fleet(&parsed, coffee_domain::ports::Clock::now(&SystemClock))
            .await
        {
            Ok(changes) => {
                println!(
                    "{file}: valid; DATABASE_URL is unset (demo mode), so nothing was persisted. Would insert {}.",
                    changes.inserted
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{file}: {error}\nnothing was applied");
                ExitCode::FAILURE
            }
        };
    }
    let Some(database_url) = config.database_url.as_deref() else {
        return ExitCode::FAILURE;
    };
    let store = match PgStore::connect(database_url, 2).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("{error}\nnothing was applied");
            return ExitCode::FAILURE;
        }
    };
    match store
        .apply_fleet(&parsed, coffee_domain::ports::Clock::now(&SystemClock))
        .await
    {
        Ok(changes) => {
            println!(
                "{file}: applied — {} inserted, {} updated, {} unchanged",
                changes.inserted, changes.updated, changes.unchanged
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{file}: {error}\nnothing was applied");
            ExitCode::FAILURE
        }
    }
}

/// `fleet export [FILE]`: the database's fleet as a fleet file `fleet apply` accepts.
async fn fleet_export(config: &Config, file: Option<&str>) -> ExitCode {
    let Some(database_url) = config.database_url.as_deref() else {
        eprintln!("DATABASE_URL is not set: demo mode's fleet is deploy/demo-fleet.toml");
        return ExitCode::from(2);
    };
    let store = match PgStore::connect(database_url, 2).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let read = async {
        let merchants = store.merchants().await?;
        let devices = store.devices().await?;
        let mut drinks = Vec::new();
        for device in &devices {
            drinks.extend(store.drinks(&device.device_uuid).await?);
        }
        Ok::<_, coffee_domain::ports::RepositoryError>((merchants, devices, drinks))
    };
    let (merchants, devices, drinks) = match read.await {
        Ok(fleet) => fleet,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let (text, env) = match fleet::export::fleet_file(&merchants, &devices, &drinks) {
        Ok(exported) => exported,
        Err(error) => {
            eprintln!("cannot write the fleet file: {error}");
            return ExitCode::FAILURE;
        }
    };
    match file {
        None => print!("{text}"),
        Some(path) => {
            if let Err(error) = std::fs::write(path, &text) {
                eprintln!("{path}: {error}");
                return ExitCode::FAILURE;
            }
            println!(
                "{path}: {} merchants, {} devices, {} drinks",
                merchants.len(),
                devices.len(),
                drinks.len()
            );
        }
    }
    if !env.is_empty() {
        eprintln!(
            "secrets are not exported; set before `fleet apply`: {}",
            env.join(", ")
        );
    }
    ExitCode::SUCCESS
}

async fn migrate_command(config: &Config) -> ExitCode {
    let Some(database_url) = config.database_url.as_deref() else {
        eprintln!("DATABASE_URL is not set: demo mode has no database to migrate");
        return ExitCode::from(2);
    };
    match migrate(database_url).await {
        Ok(applied) if applied.is_empty() => {
            println!("database is up to date");
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            println!(
                "applied {} migration(s): {}",
                applied.len(),
                applied.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// `import original`: the original's database into ours.
async fn import_command(config: &Config, options: &[&str]) -> ExitCode {
    let mut from = None;
    let mut run = ImportOptions::default();
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        match *option {
            "--from" => from = rest.next().copied(),
            "--dry-run" => run.dry_run = true,
            "--allow-skips" => run.allow_skips = true,
            other => {
                eprintln!("unknown option {other:?}\n\n{}", usage());
                return ExitCode::from(2);
            }
        }
    }
    let Some(from) = from else {
        eprintln!("--from POSTGRES_URL (the original's database) is required");
        return ExitCode::from(2);
    };
    let Some(database_url) = config.database_url.as_deref() else {
        eprintln!("DATABASE_URL is not set: the import writes to this server's database");
        return ExitCode::from(2);
    };
    // Credentials are sealed for the server that will open them: never under a random key.
    let sealer = match config.secret_key.as_deref().map(SecretBox::from_secret_key) {
        Some(Ok(sealer)) => sealer,
        Some(Err(error)) => {
            eprintln!("SECRET_KEY: {error}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("SECRET_KEY is not set: imported credentials are sealed under it");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = migrate(database_url).await {
        eprintln!("{error}");
        return ExitCode::FAILURE;
    }
    let store = match PgStore::connect(database_url, 2).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    match import_original(&store, from, &sealer, run, chrono::Utc::now()).await {
        Ok(outcome) => {
            print!("{}", moving_over::summary(&outcome, run));
            if outcome.is_success(run) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// `machine simulate`: runs a virtual MQTT machine until Ctrl-C.
async fn simulate_command(config: &Config, options: &[&str]) -> ExitCode {
    let Some(mqtt) = &config.mqtt else {
        eprintln!(
            "MQTT_URL is not set: the virtual machine connects to the broker the server uses"
        );
        return ExitCode::from(2);
    };
    let machine = match simulate_options(options) {
        Ok(machine) => machine,
        Err(error) => {
            eprintln!("{error}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    println!(
        "virtual machine {} on {}: answers {:?} after {} ms (Ctrl-C stops it)",
        machine.device,
        mqtt.url,
        machine.outcome,
        machine.delay.as_millis()
    );
    let say: Narrator = Arc::new(|line| println!("{line}"));
    tokio::select! {
        outcome = machine.run(mqtt, say) => match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("MQTT_*: {error}");
                ExitCode::from(2)
            }
        },
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}

fn simulate_options(options: &[&str]) -> Result<VirtualMachine, String> {
    let mut device = None;
    let mut outcome = VirtualOutcome::Success;
    let mut delay_ms: u64 = 2000;
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let mut value = || {
            rest.next()
                .copied()
                .ok_or_else(|| format!("{option} needs a value"))
        };
        match *option {
            "--device" => device = Some(value()?.to_owned()),
            "--outcome" => {
                let text = value()?;
                outcome = VirtualOutcome::parse(text)
                    .ok_or_else(|| format!("--outcome {text:?}: success, failed or silent"))?;
            }
            "--delay-ms" => {
                let text = value()?;
                delay_ms = text
                    .parse()
                    .map_err(|_| format!("--delay-ms {text:?} is not a number of milliseconds"))?;
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(VirtualMachine {
        device: device.ok_or("--device is required")?,
        outcome,
        delay: Duration::from_millis(delay_ms),
    })
}
