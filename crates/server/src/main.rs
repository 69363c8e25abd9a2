//! The `copythat` command: serve the API, run migrations, manage users, extract palettes.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use copythat_server::app::{Application, shutdown_signal};
use copythat_server::config::Config;
use copythat_server::telemetry;

#[derive(Parser)]
#[command(name = "copythat", version, about = "Turn images into design tokens")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (configuration from the environment).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Extract the colour palette of images and print it as tokens.
    Extract(copythat_server::cli::extract::ExtractArgs),
    /// Check a screenshot against the colours of a tokens file (design drift).
    Check(copythat_server::check_cli::CheckArgs),
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account (the only way to make the first admin).
    Create {
        #[arg(long)]
        email: String,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Extraction is synchronous work on all cores: no runtime, no configuration.
    if let Command::Extract(args) = &cli.command {
        return copythat_server::cli::extract::run(args);
    }
    if let Command::Check(args) = &cli.command {
        return ExitCode::from(copythat_server::check_cli::run(args));
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("copythat: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => {
            let config = load_config()?;
            if config.secret_key_generated {
                tracing::warn!(
                    "SECRET_KEY is not set: using a key generated for this process; \
                     tokens will not survive a restart (never do this in production)"
                );
            }
            let app = Application::build(config)
                .await
                .context("cannot start the service")?;
            tracing::info!(address = %app.local_addr()?, "listening");
            app.run_until_stopped(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let config = load_config()?;
            let store = copythat_server::store::connect(&config.database_url)
                .await
                .context("cannot open the database")?;
            store.migrate().await.context("migration failed")?;
            tracing::info!(backend = store.backend(), "migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        // Handled in `main` before any runtime starts.
        Command::Extract(_) | Command::Check(_) => Ok(ExitCode::SUCCESS),
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    admin,
                    password_stdin,
                },
        } => {
            let config = load_config()?;
            let id =
                copythat_server::cli::create_user(&config, &email, admin, password_stdin).await?;
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_config() -> anyhow::Result<Config> {
    let config = Config::from_env()?;
    telemetry::init(&config.log, config.log_json);
    Ok(config)
}
