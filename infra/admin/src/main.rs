//! stratus-admin: every operation a person performs on a deployed stack, so that none is a
//! hand-typed `sam` or `aws` line. Each one reads the live state first and does only the steps
//! that are missing (run it again after an interruption or a failure and it goes on from where
//! the stack is), refuses when the state is not one it knows, says what it will change before
//! changing it (`--dry-run` stops there), writes the parameters it changes to samconfig.toml so
//! that the next plain `sam deploy` keeps them, and acts on the stack and region of
//! `--config-env` (samconfig.toml), as `sam deploy` does. docs/operations.md tells each one.

mod oauth_client;
mod origin_secret;
mod parameters;
mod provision;
mod samconfig;
mod signing_key;
mod stack;
mod target;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

use clap::{Parser, Subcommand};
use stratus_auth::bootstrap::{AdminSeed, BootstrapError, create_admin, promote_existing};
use stratus_core::domain::{Email, Username};

use crate::target::{StackArgs, Target};

#[derive(Parser)]
#[command(name = "stratus-admin", about = "Operations on a deployed Stratus stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The stack's state: its status, the signing keys, and what a plain `sam deploy` would change.
    Status(StackArgs),
    /// Rotate the signing key: publish a fresh key, let it sign, retire the old one (about 30
    /// minutes). `--type` switches between a KMS key and a sealed one the same way.
    RotateSigningKey {
        #[command(flatten)]
        stack: StackArgs,
        /// Seconds from publishing the new key to letting it sign: every cached JWK Set must list
        /// it (CloudFront keeps one 5 minutes; verifiers elsewhere as long as they were told).
        #[arg(long, default_value_t = 600)]
        publish_wait: u64,
        /// Seconds from switching to deleting the old key: its access tokens (15 minutes) must
        /// have expired.
        #[arg(long, default_value_t = 1200)]
        retire_wait: u64,
        /// The slot that signs at the end (blue or green). Give it when running the command again
        /// after an interruption: it makes the rerun finish that rotation rather than start another.
        #[arg(long, value_parser = signing_key::Slot::parse)]
        to: Option<signing_key::Slot>,
        /// The new key's type: kms (one kms:Sign a token) or sealed (made in the stack, sealed
        /// under a KMS key, unsealed once per sandbox: docs/signing.md). By default the type of
        /// the key that signs, or of the one a rotation under way makes.
        #[arg(long = "type", value_parser = signing_key::KeyType::parse)]
        key_type: Option<signing_key::KeyType>,
    },
    /// Rotate the secret CloudFront proves itself with (about 6 minutes).
    RotateOriginSecret {
        #[command(flatten)]
        stack: StackArgs,
        /// Seconds between the new value becoming current and CloudFront sending it: every
        /// function must have read it (they read again every 300 s).
        #[arg(long, default_value_t = 330)]
        wait: u64,
        /// The secret, if not the stack's OriginVerifySecretArn output.
        #[arg(long)]
        secret_id: Option<String>,
        /// The distribution, if not the stack's CloudFrontDistributionId output.
        #[arg(long)]
        distribution_id: Option<String>,
        /// CloudFront sends a value the functions refuse (so they refuse everything): send the current one.
        #[arg(long)]
        repair: bool,
    },
    /// Put the WAF web ACL (infra/edge/waf.yaml's stack) in front of the distribution.
    AttachWaf {
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        web_acl_arn: Option<String>,
        /// The edge stack (in us-east-1) whose WebAclArn output to use.
        #[arg(long)]
        edge_stack: Option<String>,
    },
    /// Take the WAF web ACL off the distribution.
    DetachWaf(StackArgs),
    /// Set PublicBaseUrl (the issuer's and jwks_uri's address) to the stack's CloudFront URL, or to --url.
    SetPublicUrl {
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        url: Option<String>,
    },
    /// Change template parameters, keeping every other one.
    SetParameter {
        #[command(flatten)]
        stack: StackArgs,
        /// KEY=VALUE (an empty VALUE is allowed).
        #[arg(required = true, value_parser = parameters::parse_assignment)]
        assignments: Vec<(String, String)>,
    },
    /// Write the stack's values of the parameters samconfig.toml lists, so a plain deploy changes nothing.
    SyncConfig(StackArgs),
    /// Create an admin (password on standard input), or promote an existing account.
    CreateAdmin {
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Promote the existing account with this email (its email verified, or its own password given).
        #[arg(long)]
        promote_existing: bool,
    },
    /// Register an OAuth client under an id you choose, or bring it to the flags (idempotent);
    /// its credentials are shown once, as JSON on standard output.
    RegisterClient {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        client: oauth_client::ClientArgs,
    },
    /// Create env.json's tables, queues and keys on the local engines (for `sam local`).
    ProvisionLocal {
        #[arg(default_value = "env.json")]
        env_file: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() {
    if let Err(message) = run(Cli::parse().command).await {
        eprintln!("stratus-admin: {message}");
        std::process::exit(1);
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Status(stack) => status(&Target::resolve(&stack).await?).await,
        Command::RotateSigningKey { stack, publish_wait, retire_wait, to, key_type } => {
            let waits = signing_key::Waits {
                publish: Duration::from_secs(publish_wait),
                retire: Duration::from_secs(retire_wait),
            };
            signing_key::rotate(&mut Target::resolve(&stack).await?, waits, to, key_type).await
        }
        Command::RotateOriginSecret { stack, wait, secret_id, distribution_id, repair } => {
            // Given both, no stack is read: the secret and the distribution are all it touches.
            let (sdk, secret_id, distribution_id) = match (secret_id, distribution_id) {
                (Some(secret), Some(distribution)) => {
                    (target::sdk_config(stack.region.clone()).await, secret, distribution)
                }
                (secret, distribution) => {
                    let target = Target::resolve(&stack).await?;
                    let live = target.live().await?;
                    let secret =
                        secret.map_or_else(|| live.output("OriginVerifySecretArn").map(str::to_owned), Ok)?;
                    let distribution = distribution
                        .map_or_else(|| live.output("CloudFrontDistributionId").map(str::to_owned), Ok)?;
                    (target.sdk, secret, distribution)
                }
            };
            let rotation = origin_secret::Rotation {
                secret_id,
                distribution_id,
                wait: Duration::from_secs(wait),
                repair,
                dry_run: stack.dry_run,
            };
            origin_secret::rotate(&sdk, rotation).await
        }
        Command::AttachWaf { stack, web_acl_arn, edge_stack } => {
            let arn = parameters::web_acl_arn(web_acl_arn, edge_stack).await?;
            parameters::set(
                &mut Target::resolve(&stack).await?,
                BTreeMap::from([("WebAclArn".to_owned(), arn)]),
            )
            .await
        }
        Command::DetachWaf(stack) => {
            let values = BTreeMap::from([("WebAclArn".to_owned(), String::new())]);
            parameters::set(&mut Target::resolve(&stack).await?, values).await
        }
        Command::SetPublicUrl { stack, url } => {
            parameters::public_url(&mut Target::resolve(&stack).await?, url).await
        }
        Command::SetParameter { stack, assignments } => {
            parameters::set(&mut Target::resolve(&stack).await?, assignments.into_iter().collect()).await
        }
        Command::SyncConfig(stack) => parameters::sync_config(&mut Target::resolve(&stack).await?).await,
        Command::CreateAdmin { stack, username, email, promote_existing } => {
            admin(stack, username, email, promote_existing).await
        }
        Command::RegisterClient { stack, client } => oauth_client::register(&stack, client).await,
        Command::ProvisionLocal { env_file } => provision::provision_local(&env_file).await,
    }
}

async fn status(target: &Target) -> Result<(), String> {
    let live = target.live().await?;
    println!(
        "stack {} ({}): {}",
        live.name,
        target.sdk.region().map_or("default region", |r| r.as_ref()),
        live.status
    );
    if let (Some(slot), Some(other)) =
        (live.parameters.get(signing_key::SLOT), live.parameters.get(signing_key::OTHER))
    {
        println!("signing key: {slot} signs; the other slot's key: {other}");
        if let Ok(keys) = signing_key::Keys::live(&live.parameters, &live.name)
            && keys.types.is_some()
        {
            println!(
                "key types: blue {}, green {}",
                keys.type_of(signing_key::Slot::Blue).as_str(),
                keys.type_of(signing_key::Slot::Green).as_str()
            );
        }
    }
    for key in ["WebAclArn", "PublicBaseUrl"] {
        if let Some(value) = live.parameters.get(key) {
            println!("{key}: {}", if value.is_empty() { "(none)" } else { value });
        }
    }
    let drift = target.drift(&live)?;
    if drift.is_empty() {
        println!(
            "{} [{}]: a plain sam deploy keeps every parameter",
            target.config.path().display(),
            target.env
        );
    }
    for (key, now, saved) in drift {
        println!(
            "drift: a plain sam deploy would set {key} from {now:?} to {saved:?} (stratus-admin sync-config fixes it)"
        );
    }
    Ok(())
}

/// The users table: `USERS_TABLE` (a local engine's), else the stack's `UsersTableName` output.
async fn admin(stack: StackArgs, username: String, email: String, promote: bool) -> Result<(), String> {
    let (sdk, table) = target::table(&stack, "USERS_TABLE", "UsersTableName").await?;
    if stack.dry_run {
        println!("dry run: would create or promote {username} in table {table}; nothing was changed");
        return Ok(());
    }
    let users = stratus_aws::dynamodb::DynamoUserStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    // Read first, either way: the new admin's password, or the existing account's own, which
    // (unless its email is verified) is what shows that the account is the operator's.
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password).map_err(|e| e.to_string())?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    if promote {
        let name = Username::parse(&username).map_err(|e| format!("--username: {e}"))?;
        let address = Email::parse(&email).map_err(|e| format!("--email: {e}"))?;
        match promote_existing(&users, &name, &address, &password).await {
            Ok(done) => {
                println!("{username}: {done}");
                return Ok(());
            }
            // Nobody has the name: create the admin, as without the flag.
            Err(BootstrapError::NoSuchUser(_)) => {}
            Err(error) => return Err(error.to_string()),
        }
    }
    let seed = AdminSeed::parse(&username, &email, password)?;
    let done =
        create_admin(&users, seed, time::OffsetDateTime::now_utc()).await.map_err(|e| e.to_string())?;
    println!("{username}: {done}");
    Ok(())
}
