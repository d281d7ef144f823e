//! `local-api [--port N] [--host ADDR] [--backend memory|aws] [--create-tables]`
//!
//! Serves every route on http://127.0.0.1:3000 by default, on the embedded in-memory backend.
//! `--backend aws` uses DynamoDB/SQS through the standard AWS variables (point them at the
//! local engines with `AWS_ENDPOINT_URL_DYNAMODB`, …); tables are created only when that
//! endpoint is on this machine, or with `--create-tables`.

use local_api::{AwsOptions, Backend, CreateTables, Functions, LocalWiring};

/// Many small allocations per request (the event, headers, JSON): mimalloc's thread-local free
/// lists serve them without glibc's locks and consolidation (BENCHMARKS.md, local-api under load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: local-api [--port N] [--host ADDR] [--backend memory|aws] [--create-tables]";

struct Args {
    host: String,
    port: u16,
    backend: Backend,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { host: "127.0.0.1".into(), port: 3000, backend: Backend::Memory };
    let mut aws = AwsOptions {
        table_prefix: String::new(),
        create_tables: CreateTables::WhenLocal,
        queue_visibility: None,
    };
    let mut use_aws = false;
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--port" => args.port = value("--port")?.parse().map_err(|e| format!("--port: {e}"))?,
            "--host" => args.host = value("--host")?,
            "--backend" => match value("--backend")?.as_str() {
                "memory" => use_aws = false,
                // `dynamodb` is the name the issue tracker and older docs use.
                "aws" | "dynamodb" => use_aws = true,
                other => return Err(format!("unknown backend {other:?}\n{USAGE}")),
            },
            "--create-tables" => aws.create_tables = CreateTables::Always,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if use_aws {
        args.backend = Backend::Aws(aws);
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), local_api::Error> {
    local_api::log::init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let mut wiring = LocalWiring::build(&args.backend).await?;
    wiring.default_public_url(&format!("http://{}:{}", args.host, args.port));
    bootstrap_admin(&wiring).await?;
    let functions = Functions::build(&wiring).await?;
    let _worker = local_api::start_worker(&wiring).await?;
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    let backend = match args.backend {
        Backend::Memory => "memory",
        Backend::Aws(_) => "aws",
    };
    tracing::info!(address = %listener.local_addr()?, backend, "local-api listening");
    eprintln!("Stratus local API on http://{} ({backend} backend); Ctrl-C stops it", listener.local_addr()?);
    local_api::serve(listener, functions, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// `STRATUS_ADMIN_USERNAME`, `STRATUS_ADMIN_EMAIL` and `STRATUS_ADMIN_PASSWORD`, when set,
/// create that admin at start: the embedded backend has no other way in. As with
/// `stratus-admin`, an existing account of that name is refused, unless it is an admin already or
/// `STRATUS_ADMIN_PROMOTE_EXISTING=true` asks to promote it (its email must match, and be
/// verified or `STRATUS_ADMIN_PASSWORD` be the account's password).
async fn bootstrap_admin(wiring: &LocalWiring) -> Result<(), local_api::Error> {
    use stratus_auth::bootstrap::{AdminSeed, BootstrapError, create_admin, promote_existing};
    let Some(username) = stratus_core::config::optional("STRATUS_ADMIN_USERNAME") else { return Ok(()) };
    let email = stratus_core::config::required("STRATUS_ADMIN_EMAIL")?;
    let password = stratus_core::config::required("STRATUS_ADMIN_PASSWORD")?;
    if stratus_core::config::parsed_or("STRATUS_ADMIN_PROMOTE_EXISTING", false)? {
        let name = stratus_core::domain::Username::parse(&username).map_err(|e| e.to_string())?;
        let address = stratus_core::domain::Email::parse(&email).map_err(|e| e.to_string())?;
        match promote_existing(wiring.users.as_ref(), &name, &address, &password).await {
            Ok(done) => {
                tracing::info!(%username, outcome = %done, "admin bootstrapped");
                eprintln!("admin {username}: {done}");
                return Ok(());
            }
            Err(BootstrapError::NoSuchUser(_)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let seed = AdminSeed::parse(&username, &email, password)?;
    let done = create_admin(wiring.users.as_ref(), seed, wiring.clock.now()).await?;
    tracing::info!(%username, outcome = %done, "admin bootstrapped");
    eprintln!("admin {username}: {done}");
    Ok(())
}
