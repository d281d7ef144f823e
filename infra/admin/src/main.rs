//! `stratus-admin create-admin --username NAME --email ADDRESS [--promote-existing]`
//! (password on standard input)
//!
//! Creates the user as an admin. An account that already has the name is refused unless it is an
//! admin already: registration is public, so it may be anyone's. With `--promote-existing`, an
//! existing account whose stored email is ADDRESS is promoted instead (and says so), if its email
//! is verified or the password given is its password: the address alone proves nothing, since
//! anyone may register with any address. Talks to the
//! users table named by `USERS_TABLE` with the standard AWS credentials and endpoint variables:
//! the stack's table on AWS, or DynamoDB Local with `AWS_ENDPOINT_URL_DYNAMODB`.
//!
//! `stratus-admin rotate-origin-secret --secret-id ARN --distribution-id ID [--wait SECONDS]`
//! rotates the secret CloudFront proves itself with (see `rotate.rs`).
//!
//! `stratus-admin provision-local [ENV_JSON]` creates, on the local engines only, the tables,
//! queues and signing key that `sam local start-api --env-vars env.json` expects.

mod provision;
mod rotate;

use std::io::BufRead;

use stratus_auth::bootstrap::{AdminSeed, BootstrapError, create_admin, promote_existing};
use stratus_core::domain::{Email, Username};
use stratus_wiring::Wiring;

const USAGE: &str = "usage: stratus-admin create-admin --username NAME --email ADDRESS [--promote-existing] < password-file\n\
                     (reads the password from the first line of standard input: the new admin's, or with\n\
                     --promote-existing the existing account's own unless its email is verified; needs USERS_TABLE)\n\
                     usage: stratus-admin provision-local [env.json]\n\
                     usage: stratus-admin rotate-origin-secret --secret-id ARN --distribution-id ID [--wait SECONDS]";

#[tokio::main]
async fn main() {
    if let Err(message) = run().await {
        eprintln!("stratus-admin: {message}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("create-admin") => {}
        Some("rotate-origin-secret") => return rotate_origin_secret(args).await,
        Some("provision-local") => {
            let file = args.next().unwrap_or_else(|| "env.json".into());
            return provision::provision_local(std::path::Path::new(&file)).await;
        }
        _ => return Err(USAGE.into()),
    }
    let (mut username, mut email, mut promote) = (None, None, false);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--username" => username = args.next(),
            "--email" => email = args.next(),
            "--promote-existing" => promote = true,
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    let (Some(username), Some(email)) = (username, email) else { return Err(USAGE.into()) };
    let users = stratus_wiring::aws::AwsWiring::from_env().await.users().map_err(|e| e.to_string())?;
    // Read first, either way: the new admin's password, or the existing account's own, which
    // (unless its email is verified) is what shows that the account is the operator's.
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password).map_err(|e| e.to_string())?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    if promote {
        let name = Username::parse(&username).map_err(|e| format!("--username: {e}"))?;
        let address = Email::parse(&email).map_err(|e| format!("--email: {e}"))?;
        match promote_existing(users.as_ref(), &name, &address, &password).await {
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
    let done = create_admin(users.as_ref(), seed, time::OffsetDateTime::now_utc())
        .await
        .map_err(|e| e.to_string())?;
    println!("{username}: {done}");
    Ok(())
}

async fn rotate_origin_secret(mut args: impl Iterator<Item = String>) -> Result<(), String> {
    let (mut secret_id, mut distribution_id) = (None, None);
    // The functions read the secret again every 300 s by default: wait that and a margin.
    let mut wait = std::time::Duration::from_secs(330);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--secret-id" => secret_id = args.next(),
            "--distribution-id" => distribution_id = args.next(),
            "--wait" => {
                let seconds = args.next().ok_or(USAGE)?;
                wait = std::time::Duration::from_secs(seconds.parse().map_err(|e| format!("--wait: {e}"))?);
            }
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    let (Some(secret_id), Some(distribution_id)) = (secret_id, distribution_id) else {
        return Err(USAGE.into());
    };
    rotate::rotate(rotate::Rotation { secret_id, distribution_id, wait }).await
}
