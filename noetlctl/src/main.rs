//! `noetl`: the NoETL command-line tool (client of the contract in docs/api.md).

mod client;
mod config;
mod output;
mod playbook;
mod process;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
use serde_json::{json, Value};

use crate::client::Client;
use crate::config::{Config, DEFAULT_PORT};
use crate::output::{catalog_table, field, key_values, list_field, table, Output};

/// The version `noetl --version` prints: the build's (`NOETL_BUILD_VERSION`, set by the
/// wheel builds to the package's PEP 440 version, e.g. `0.2.0.dev3+g1a2b3c4`), else the crate's.
pub const VERSION: &str = match option_env!("NOETL_BUILD_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};

#[derive(Parser)]
#[command(
    name = "noetl",
    version = VERSION,
    about = "NoETL command-line tool",
    arg_required_else_help = true
)]
struct Cli {
    /// Server URL (overrides --host/--port and the current context)
    #[arg(long, global = true, value_name = "URL")]
    server_url: Option<String>,
    /// Server host (default localhost; for 'server start': the address to bind, default 127.0.0.1)
    #[arg(long, global = true, value_name = "HOST")]
    host: Option<String>,
    /// Server port (default 8082)
    #[arg(long, global = true, value_name = "PORT")]
    port: Option<u16>,
    /// Print machine-readable JSON instead of tables
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage named server contexts
    #[command(subcommand)]
    Context(ContextCommand),
    /// Register and inspect playbooks
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Start, stop and inspect a local NoETL server
    #[command(subcommand)]
    Server(ServerCommand),
    /// Initialize and validate the server's database
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Subcommand)]
enum ContextCommand {
    /// Add (or replace) a context: noetl context add NAME --server-url URL [--use]
    Add {
        name: String,
        /// Make it the current context
        #[arg(long = "use")]
        make_current: bool,
    },
    /// List contexts
    List,
    /// Make a context the current one
    Use { name: String },
    /// Delete a context
    Delete { name: String },
    /// Show the current context
    Current,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Register a playbook YAML file (a new version if its path exists)
    Register { file: PathBuf },
    /// List the latest version of every playbook
    List,
    /// Print a playbook's YAML (JSON entry with --json)
    Get {
        path: String,
        /// Version to fetch (default: latest)
        #[arg(long, value_name = "N")]
        version: Option<u64>,
    },
}

#[derive(Subcommand)]
enum ServerCommand {
    /// Start the server in the background (uses --host/--port)
    Start {
        /// Create the database tables at start-up
        #[arg(long)]
        init_db: bool,
        /// SQLite database file (default: the server's, <NOETL_HOME>/noetl.db)
        #[arg(long, value_name = "PATH")]
        db: Option<PathBuf>,
    },
    /// Stop the server started by 'noetl server start'
    Stop {
        /// Kill instead of asking it to terminate
        #[arg(long)]
        force: bool,
    },
    /// Show whether the server runs and answers
    Status,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create the database tables (idempotent)
    Init,
    /// Check that the database tables exist (exit 1 if not)
    Validate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            let message = format!("{err:#}");
            eprintln!(
                "error: {}",
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode> {
    let out = Output::new(cli.json);
    match &cli.command {
        Command::Context(command) => run_context(cli, out, command),
        Command::Catalog(command) => run_catalog(cli, out, command),
        Command::Server(command) => run_server(cli, out, command),
        Command::Db(command) => run_db(cli, out, command),
    }
}

fn server_url(cli: &Cli) -> Result<String> {
    let config = Config::load(&config::config_path()?)?;
    config::resolve_server_url(
        cli.server_url.as_deref(),
        cli.host.as_deref(),
        cli.port,
        &config,
    )
}

fn client(cli: &Cli) -> Result<Client> {
    Client::new(&server_url(cli)?)
}

// ---------------------------------------------------------------- context

fn run_context(cli: &Cli, out: Output, command: &ContextCommand) -> Result<ExitCode> {
    let path = config::config_path()?;
    let mut config = Config::load(&path)?;
    match command {
        ContextCommand::Add { name, make_current } => {
            // --server-url is the global option, required here.
            let Some(url) = cli.server_url.as_deref() else {
                Cli::command()
                    .error(
                        ErrorKind::MissingRequiredArgument,
                        "'noetl context add NAME' needs --server-url URL",
                    )
                    .exit();
            };
            let replaced = config.add(name, url, *make_current)?;
            config.save(&path)?;
            let entry = config.entry(name)?;
            out.show(
                &json!({"name": name, "server_url": entry.server_url, "current": *make_current}),
                || {
                    let verb = if replaced { "Updated" } else { "Added" };
                    let suffix = if *make_current { " (now current)" } else { "" };
                    format!("{verb} context '{name}' -> {}{suffix}", entry.server_url)
                },
            );
        }
        ContextCommand::List => show_contexts(out, &config),
        ContextCommand::Use { name } => {
            config.use_context(name)?;
            config.save(&path)?;
            let entry = config.entry(name)?;
            out.show(
                &json!({"name": name, "server_url": entry.server_url, "current": true}),
                || format!("Switched to context '{name}' ({})", entry.server_url),
            );
        }
        ContextCommand::Delete { name } => {
            let was_current = config.delete(name)?;
            config.save(&path)?;
            let note = if was_current {
                " (it was current; no context is current now)"
            } else {
                ""
            };
            out.show(
                &json!({"deleted": name, "was_current": was_current}),
                || format!("Deleted context '{name}'{note}"),
            );
        }
        ContextCommand::Current => {
            let Some((name, entry)) = config.current()? else {
                bail!("no current context (set one with 'noetl context use NAME')");
            };
            out.show(
                &json!({"name": name, "server_url": entry.server_url}),
                || format!("{name} ({})", entry.server_url),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show_contexts(out: Output, config: &Config) {
    let current = config.current_context.as_deref();
    let contexts: Vec<Value> = config
        .contexts
        .iter()
        .map(|(name, entry)| {
            json!({"name": name, "server_url": entry.server_url, "current": Some(name.as_str()) == current})
        })
        .collect();
    out.show(
        &json!({"current_context": current, "contexts": contexts}),
        || contexts_text(config),
    );
}

fn contexts_text(config: &Config) -> String {
    if config.contexts.is_empty() {
        return "No contexts defined (add one with 'noetl context add NAME --server-url URL')."
            .to_string();
    }
    let current = config.current_context.as_deref();
    let rows = config
        .contexts
        .iter()
        .map(|(name, entry)| {
            let marker = if Some(name.as_str()) == current {
                "*"
            } else {
                ""
            };
            vec![marker.to_string(), name.clone(), entry.server_url.clone()]
        })
        .collect();
    table(&["CURRENT", "NAME", "SERVER URL"], rows)
}

// ---------------------------------------------------------------- catalog

fn run_catalog(cli: &Cli, out: Output, command: &CatalogCommand) -> Result<ExitCode> {
    match command {
        CatalogCommand::Register { file } => {
            let playbook = playbook::load(file)?;
            let entry = client(cli)?.register_playbook(&playbook.content)?;
            out.show(&entry, || {
                format!(
                    "Registered playbook '{}' (name: {}) as version {}",
                    field(&entry, "path"),
                    field(&entry, "name"),
                    field(&entry, "version")
                )
            });
        }
        CatalogCommand::List => {
            let listing = client(cli)?.list_playbooks()?;
            let items = listing
                .get("items")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    anyhow!("unexpected catalog listing from the server: no 'items' list")
                })?;
            out.show(&listing, || {
                if items.is_empty() {
                    "No playbooks registered.".to_string()
                } else {
                    catalog_table(items)
                }
            });
        }
        CatalogCommand::Get { path, version } => {
            let entry = client(cli)?.get_playbook(path, *version)?;
            out.try_show(&entry, || {
                let content = entry
                    .get("content")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        anyhow!("unexpected answer from the server: no 'content' for '{path}'")
                    })?;
                // The YAML as stored; show adds the final newline, so strip the content's own.
                Ok(content.strip_suffix('\n').unwrap_or(content).to_string())
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- server

fn run_server(cli: &Cli, out: Output, command: &ServerCommand) -> Result<ExitCode> {
    let home = server::noetl_home()?;
    match command {
        ServerCommand::Start { init_db, db } => {
            let options = server::StartOptions {
                host: cli
                    .host
                    .clone()
                    .unwrap_or_else(|| server::DEFAULT_BIND_HOST.to_string()),
                port: cli.port.unwrap_or(DEFAULT_PORT),
                init_db: *init_db,
                db: db.clone(),
            };
            let info = server::start(&home, &options)?;
            out.show(&info.to_json(), || {
                format!(
                    "NoETL server started at {} (pid {})\nLog: {}",
                    info.url,
                    info.pid,
                    home.join(server::LOG_FILE_NAME).display()
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        ServerCommand::Stop { force } => {
            let outcome = server::stop(&home, *force)?;
            let (status, pid) = match outcome {
                server::StopOutcome::Stopped(pid) => ("stopped", pid),
                server::StopOutcome::StaleRemoved(pid) => ("stale_pid_file_removed", pid),
            };
            out.show(&json!({"status": status, "pid": pid}), || {
                if status == "stopped" {
                    format!("NoETL server stopped (pid {pid})")
                } else {
                    format!("Removed stale pid file: process {pid} is not running")
                }
            });
            Ok(ExitCode::SUCCESS)
        }
        ServerCommand::Status => {
            let status = server::status(&home, &server_url(cli)?)?;
            out.show(&status.to_json(), || status_text(&status));
            Ok(if status.healthy() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn status_text(status: &server::ServerStatus) -> String {
    let health = status.health.as_ref().ok();
    let mut rows = vec![
        ("Status", status.state_label().to_string()),
        ("URL", status.url.clone()),
        (
            "PID",
            status
                .pid()
                .map_or_else(|| "-".to_string(), |pid| pid.to_string()),
        ),
        ("PID file", status.pid_file.display().to_string()),
    ];
    if let Some(health) = health {
        rows.push(("Version", field(health, "version")));
        rows.push(("Database", field(health, "database")));
    }
    if let Err(problem) = &status.health {
        rows.push(("Health", problem.clone()));
    }
    key_values(&rows)
}

// ---------------------------------------------------------------- db

fn run_db(cli: &Cli, out: Output, command: &DbCommand) -> Result<ExitCode> {
    let client = client(cli)?;
    match command {
        DbCommand::Init => {
            let answer = client.db_init()?;
            out.show(&answer, || {
                format!(
                    "Database {} (tables: {})",
                    field(&answer, "status"),
                    list_field(&answer, "tables")
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Validate => {
            let answer = client.db_validate()?;
            let valid = answer
                .get("valid")
                .and_then(Value::as_bool)
                .ok_or_else(|| {
                    anyhow!("unexpected answer from the server: no boolean 'valid' in {answer}")
                })?;
            out.show(&answer, || {
                key_values(&[
                    ("Valid", if valid { "yes" } else { "no" }.to_string()),
                    ("Tables", list_field(&answer, "tables")),
                    ("Missing", list_field(&answer, "missing")),
                ])
            });
            if !valid {
                bail!(
                    "the database is not valid: missing tables: {} (run 'noetl db init')",
                    list_field(&answer, "missing")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn catalog_get_accepts_version_and_global_json() {
        let cli =
            Cli::try_parse_from(["noetl", "catalog", "get", "a/b", "--version", "3", "--json"])
                .unwrap();
        assert!(cli.json);
        match cli.command {
            Command::Catalog(CatalogCommand::Get { path, version }) => {
                assert_eq!((path.as_str(), version), ("a/b", Some(3)));
            }
            _ => panic!("wrong command"),
        }
    }

    #[test]
    fn server_start_takes_host_and_port() {
        let cli = Cli::try_parse_from([
            "noetl",
            "server",
            "start",
            "--host",
            "0.0.0.0",
            "--port",
            "9000",
            "--init-db",
        ])
        .unwrap();
        assert_eq!(
            (cli.host.as_deref(), cli.port),
            (Some("0.0.0.0"), Some(9000))
        );
        assert!(matches!(
            cli.command,
            Command::Server(ServerCommand::Start {
                init_db: true,
                db: None
            })
        ));
    }

    #[test]
    fn version_matches_python_package() {
        let init = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../noetl/__init__.py");
        let Ok(text) = std::fs::read_to_string(&init) else {
            return; // crate built outside the repository
        };
        let python_version = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("__version__"))
            .and_then(|rest| rest.split(['"', '\'']).nth(1))
            .expect("__version__ in noetl/__init__.py");
        assert_eq!(python_version, env!("CARGO_PKG_VERSION"));
    }
}
