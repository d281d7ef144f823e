//! `register-client`: an OAuth client under an id the operator chooses, straight in the clients
//! table, checked by the same rules as `POST /oauth/clients` (`stratus_auth::oauth::clients`).
//!
//! The id is what makes it idempotent: a rerun finds the client it made, and does nothing if the
//! flags describe it already. The flags describe the whole registration, as RFC 7592's PUT does:
//! one left out takes its default. Credentials are stored only hashed, so they are shown once,
//! when they are made (at creation or with `--rotate-secret`), as JSON on standard output, the
//! only thing written there; everything else the command says goes to standard error.

use aws_sdk_dynamodb::Client;
use stratus_auth::oauth::clients::{self, ClientMetadata, Credentials};
use stratus_aws::dynamodb::DynamoClientStore;
use stratus_core::domain::{ClientId, OAuthClient};
use stratus_core::ports::{ClientStore, ClientWriteError};
use time::OffsetDateTime;

use crate::target::{self, StackArgs};

/// How long after its creation a client whose secret may never have been seen is pointed out: a
/// create whose answer was lost is rerun within minutes, while a client older than this was
/// created by a run that finished, or long enough ago that its operator knows.
const RECENT: time::Duration = time::Duration::minutes(15);

#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// The client's id, chosen once and kept (`my-web-app`): 1 to 64 of A-Z, a-z, 0-9, '_', '-'.
    #[arg(long)]
    client_id: String,
    /// Exact redirect URI (https, or http on a loopback address, or an app's own scheme); repeat for more.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser back; repeat for more.
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// authorization_code (the default), refresh_token, client_credentials; repeat for more.
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    /// client_secret_basic (the default), client_secret_post, or none (a public client: no secret).
    #[arg(long)]
    auth_method: Option<String>,
    /// The most the client may be granted, space-separated (default "openid profile email",
    /// with offline_access for the refresh_token grant).
    #[arg(long)]
    scope: Option<String>,
    /// The name the consent page shows.
    #[arg(long)]
    name: Option<String>,
    /// RS256 (the default) or ES256.
    #[arg(long)]
    id_token_alg: Option<String>,
    /// The deployment's own application: its users are not asked to consent.
    #[arg(long)]
    first_party: bool,
    /// Issue a new secret and registration access token (the old ones stop working at once).
    #[arg(long)]
    rotate_secret: bool,
}

impl ClientArgs {
    /// The flags as a registration request: the same metadata `POST /oauth/clients` takes.
    fn metadata(&self) -> ClientMetadata {
        let list = |values: &Vec<String>| (!values.is_empty()).then(|| values.clone());
        ClientMetadata {
            redirect_uris: list(&self.redirect_uris),
            grant_types: list(&self.grant_types),
            response_types: None,
            token_endpoint_auth_method: self.auth_method.clone(),
            scope: self.scope.clone(),
            client_name: self.name.clone(),
            post_logout_redirect_uris: list(&self.post_logout_redirect_uris),
            id_token_signed_response_alg: self.id_token_alg.clone(),
            first_party: Some(self.first_party),
        }
    }
}

pub async fn register(stack: &StackArgs, args: ClientArgs) -> Result<(), String> {
    let id = ClientId::parse(&args.client_id).map_err(|e| format!("--client-id: {e}"))?;
    let metadata = args.metadata();
    // Checked before anything is read or written: metadata the provider refuses stops here.
    let (fresh, credentials) = clients::new_client(id.clone(), metadata.clone(), OffsetDateTime::now_utc())
        .map_err(|e| format!("client {id} refused, nothing was changed: {e}"))?;
    let (sdk, table) = target::table(stack, "OAUTH_CLIENTS_TABLE", "OAuthClientsTableName").await?;
    let store = DynamoClientStore::new(Client::new(&sdk), table.clone());
    let dry = if stack.dry_run { "dry run: would " } else { "" };
    let current = store.get(&id).await.map_err(|e| format!("reading client {id} in {table}: {e}"))?;
    let Some(current) = current else {
        eprintln!("client {id} ({}): {dry}create in table {table}", kind(&fresh));
        if stack.dry_run {
            return nothing_changed();
        }
        write_with_credentials(&store, &fresh, Write::Create).await?;
        return show(&fresh, credentials);
    };
    if args.rotate_secret {
        // New credentials, and the metadata the flags give; the client keeps its creation time.
        let rotated = OAuthClient { created_at: current.created_at, ..fresh };
        say_changes(&current, &rotated, dry);
        eprintln!(
            "client {id} ({}): {dry}issue a new {}registration access token; the old ones stop working",
            kind(&rotated),
            if rotated.secret_hash.is_some() { "secret and " } else { "" },
        );
        if stack.dry_run {
            return nothing_changed();
        }
        write_with_credentials(&store, &rotated, Write::Replace).await?;
        return show(&rotated, credentials);
    }
    let wanted = clients::with_metadata(current.clone(), metadata).map_err(|e| {
        format!("client {id} refused, nothing was changed: {e} (or rerun with --rotate-secret: new credentials of the new kind)")
    })?;
    if clients::metadata_differences(&current, &wanted).is_empty() {
        let secret =
            current.secret_hash.map_or("", |_| "; its secret is not shown again (only its hash is stored)");
        eprintln!("client {id} ({}): unchanged{secret}", kind(&current));
    } else {
        say_changes(&current, &wanted, dry);
        eprintln!("client {id} ({}): {dry}replace its metadata, keeping its credentials", kind(&wanted));
        if stack.dry_run {
            return nothing_changed();
        }
        store.replace(&wanted).await.map_err(|e| match e {
            ClientWriteError::NotFound => {
                format!("client {id} was deleted meanwhile: run the command again to create it")
            }
            ClientWriteError::Store(e) => format!("replacing client {id}: {e}"),
        })?;
        eprintln!("client {id}: replaced");
    }
    warn_if_recent(&current);
    if stack.dry_run { nothing_changed() } else { Ok(()) }
}

fn kind(client: &OAuthClient) -> &'static str {
    if client.is_public() { "public" } else { "confidential" }
}

fn nothing_changed() -> Result<(), String> {
    eprintln!("dry run: nothing was changed");
    Ok(())
}

/// A client that exists, is recent and has a secret may be the work of a run whose answer was
/// lost (the write applied, the run stopped before printing): nobody has its secret then, and
/// nothing stored tells that apart from a run that printed it. Say so, with the way out.
fn warn_if_recent(client: &OAuthClient) {
    let age = OffsetDateTime::now_utc() - client.created_at;
    if client.secret_hash.is_some() && age < RECENT {
        eprintln!(
            "client {} was created {} minute(s) ago: if you did not see its secret, rerun with --rotate-secret",
            client.id,
            age.whole_minutes().max(0)
        );
    }
}

/// Each metadata field that differs, before and after, as RFC 7591 writes them.
fn say_changes(before: &OAuthClient, after: &OAuthClient, dry: &str) {
    // The registration endpoint's answer is where each field has its RFC 7591 form; the base
    // URL only goes into registration_client_uri, which is not metadata.
    let render = |client| serde_json::to_value(clients::information(client, "", None)).unwrap_or_default();
    let (old, new) = (render(before), render(after));
    for field in clients::metadata_differences(before, after) {
        eprintln!("  {dry}change {field}: {} -> {}", old[field], new[field]);
    }
}

enum Write {
    Create,
    Replace,
}

/// Stores a client with credentials made by this run. When the write fails the client is read
/// back: a write applied whose answer was lost (the SDK's retry then fails on the condition the
/// first attempt met) is told by the registration token's hash, which only this run could have
/// written, and counts as done, so the credentials are still shown.
async fn write_with_credentials(
    store: &DynamoClientStore,
    client: &OAuthClient,
    how: Write,
) -> Result<(), String> {
    let id = &client.id;
    let error = match how {
        Write::Create => store.create(client).await.map_err(|e| format!("creating client {id}: {e}")),
        Write::Replace => store.replace(client).await.map_err(|e| match e {
            ClientWriteError::NotFound => format!("client {id} was deleted meanwhile"),
            ClientWriteError::Store(e) => format!("replacing client {id}: {e}"),
        }),
    };
    let Err(error) = error else { return Ok(()) };
    match (store.get(id).await, how) {
        (Ok(Some(stored)), _) if stored.registration_token_hash == client.registration_token_hash => Ok(()),
        (Ok(Some(_)), Write::Create) => {
            Err(format!("{error}: another registration of {id} came first; run the command again"))
        }
        (Ok(_), _) => Err(format!("{error}; nothing was stored: run the command again")),
        // Whether it was stored is unknown: the rerun finds out, and says what to do if it was.
        (Err(_), _) => Err(format!("{error}; run the command again")),
    }
}

/// The credentials, once, on standard output; they are stored only hashed.
fn show(client: &OAuthClient, credentials: Credentials) -> Result<(), String> {
    let mut shown = serde_json::json!({
        "client_id": client.id.as_str(),
        "registration_access_token": credentials.registration_token,
    });
    if let Some(secret) = credentials.secret {
        shown["client_secret"] = secret.into();
    }
    eprintln!(
        "client {}: done; its credentials follow on standard output, shown this once (only their hashes are stored)",
        client.id
    );
    println!("{shown}");
    Ok(())
}
