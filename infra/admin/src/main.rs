//! `stratus-admin create-admin --username NAME --email ADDRESS` (password on standard input)
//!
//! Creates the user as an admin, or promotes it if it exists. Talks to the users table named
//! by `USERS_TABLE` with the standard AWS credentials and endpoint variables: the stack's
//! table on AWS, or DynamoDB Local with `AWS_ENDPOINT_URL_DYNAMODB`.
//!
//! `stratus-admin provision-local [ENV_JSON]` creates, on the local engines only, the tables,
//! queues and signing key that `sam local start-api --env-vars env.json` expects.

mod provision;

use std::io::BufRead;

use shared::Wiring;
use shared::auth::bootstrap::{AdminSeed, Bootstrapped, create_or_promote};

const USAGE: &str = "usage: stratus-admin create-admin --username NAME --email ADDRESS < password-file\n\
                     (reads the password from the first line of standard input; needs USERS_TABLE)\n\
                     usage: stratus-admin provision-local [env.json]";

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
        Some("provision-local") => {
            let file = args.next().unwrap_or_else(|| "env.json".into());
            return provision::provision_local(std::path::Path::new(&file)).await;
        }
        _ => return Err(USAGE.into()),
    }
    let (mut username, mut email) = (None, None);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--username" => username = args.next(),
            "--email" => email = args.next(),
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    let (Some(username), Some(email)) = (username, email) else { return Err(USAGE.into()) };
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password).map_err(|e| e.to_string())?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();

    let seed = AdminSeed::parse(&username, &email, password)?;
    let users = shared::aws::AwsWiring::from_env().await.users().map_err(|e| e.to_string())?;
    match create_or_promote(users.as_ref(), seed, time::OffsetDateTime::now_utc()).await? {
        Bootstrapped::Created => println!("created admin {username}"),
        Bootstrapped::Promoted => println!("promoted {username} to admin"),
    }
    Ok(())
}
