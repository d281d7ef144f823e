//! Changing stack parameters: `set-parameter`, `attach-waf`, `detach-waf`, `set-public-url` and
//! `sync-config`. Each reads the stack first, changes only what differs, and writes the values
//! to samconfig.toml so that the next plain `sam deploy` keeps them.

use std::collections::BTreeMap;

use crate::target::Target;

/// Sets `values` on the stack (the ones that differ) and remembers them all in samconfig.toml.
pub async fn set(target: &mut Target, values: BTreeMap<String, String>) -> Result<(), String> {
    let live = target.live().await?;
    let mut changes = BTreeMap::new();
    for (key, new) in &values {
        let now = live.parameter(key)?;
        if now == new {
            println!("{key}: already {new:?} on stack {}", live.name);
        } else {
            println!("{key}: {now:?} -> {new:?} on stack {}", live.name);
            changes.insert(key.clone(), new.clone());
        }
    }
    warn_of_drift(target, &live, &values)?;
    if !changes.is_empty() {
        target.stacks.change(&live, &changes, target.dry_run).await?;
    }
    target.remember(&values)?;
    if target.dry_run {
        println!("dry run: nothing was changed");
    }
    Ok(())
}

/// The parameters a command of their own changes, and that command. A signing key's parameters
/// move together through steps with waits between them (a key signs only once every cache
/// publishes it); set on their own, in one update, they sign with a key no verifier has and drop
/// the old one while its tokens live. `PublicBaseUrl` and `WebAclArn` have commands that check
/// the value (an https origin that is not API Gateway's own, a web ACL from the edge stack).
const OWNED_BY_A_COMMAND: &[(&str, &str)] = &[
    (crate::signing_key::SLOT, "rotate-signing-key"),
    (crate::signing_key::OTHER, "rotate-signing-key"),
    (crate::signing_key::BLUE_TYPE, "rotate-signing-key --type"),
    (crate::signing_key::GREEN_TYPE, "rotate-signing-key --type"),
    ("PublicBaseUrl", "set-public-url"),
    ("WebAclArn", "attach-waf or detach-waf"),
];

/// `KEY=VALUE` as given to `set-parameter`: any parameter but those a command of their own changes.
pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("{text:?}: expected KEY=VALUE"))?;
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("{key:?} is not a parameter name"));
    }
    if let Some((_, command)) = OWNED_BY_A_COMMAND.iter().find(|(owned, _)| *owned == key) {
        return Err(format!(
            "{key} is changed by `stratus-admin {command}`, which changes it safely; set-parameter does not"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// The web ACL to attach: given, or the `WebAclArn` output of the edge stack (infra/edge/waf.yaml),
/// which lives in us-east-1 whatever the API's region.
pub async fn web_acl_arn(arn: Option<String>, edge_stack: Option<String>) -> Result<String, String> {
    match (arn, edge_stack) {
        (Some(arn), None) => Ok(arn),
        (None, Some(edge)) => {
            let sdk = crate::target::sdk_config(Some("us-east-1".into())).await;
            let live = crate::stack::Stacks::new(&sdk).read(&edge).await?;
            Ok(live.output("WebAclArn")?.to_owned())
        }
        _ => Err("give one of --web-acl-arn and --edge-stack".into()),
    }
}

/// `PublicBaseUrl` from the stack's own `CloudFrontUrl` output (the custom domain's URL when
/// there is one), unless a URL is given. Never the execute-api URL, which answers only CloudFront.
pub async fn public_url(target: &mut Target, url: Option<String>) -> Result<(), String> {
    let url = match url {
        Some(url) => url,
        None => target.live().await?.output("CloudFrontUrl")?.to_owned(),
    };
    let url = url.trim_end_matches('/').to_owned();
    if !url.starts_with("https://") || url["https://".len()..].contains('/') {
        return Err(format!("{url:?}: expected https://host, with no path"));
    }
    if url.contains(".execute-api.") {
        return Err(format!("{url} is API Gateway's own endpoint, which refuses everyone but CloudFront"));
    }
    set(target, BTreeMap::from([("PublicBaseUrl".to_owned(), url)])).await
}

/// Writes every parameter samconfig.toml lists with a value other than the stack's as the
/// stack has it, so that a plain deploy changes nothing.
pub async fn sync_config(target: &mut Target) -> Result<(), String> {
    let live = target.live().await?;
    let drift = target.drift(&live)?;
    if drift.is_empty() {
        println!("{} [{}] matches stack {}", target.config.path().display(), target.env, live.name);
        return Ok(());
    }
    for (key, now, saved) in &drift {
        println!("{key}: samconfig.toml says {saved:?}, the stack has {now:?}");
    }
    target.remember(&drift.into_iter().map(|(key, now, _)| (key, now)).collect())
}

/// A plain deploy would set these back: say so before changing anything else.
fn warn_of_drift(
    target: &Target,
    live: &crate::stack::Live,
    changing: &BTreeMap<String, String>,
) -> Result<(), String> {
    for (key, now, saved) in target.drift(live)? {
        if !changing.contains_key(&key) {
            println!(
                "warning: a plain sam deploy would set {key} from {now:?} back to {saved:?} \
                 (samconfig.toml); `stratus-admin sync-config` writes the stack's value there"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn assignments_are_a_name_and_any_value() {
        assert_eq!(super::parse_assignment("AlarmEmail=").unwrap(), ("AlarmEmail".into(), String::new()));
        assert_eq!(super::parse_assignment("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(super::parse_assignment("nothing").is_err());
        assert!(super::parse_assignment("a-b=1").is_err());
    }

    #[test]
    fn parameters_a_command_owns_are_refused_naming_it() {
        for (assignment, command) in [
            ("SigningKeySlot=green", "rotate-signing-key"),
            ("OtherSigningKey=none", "rotate-signing-key"),
            ("GreenSigningKeyType=sealed", "rotate-signing-key --type"),
            ("BlueSigningKeyType=kms", "rotate-signing-key --type"),
            ("PublicBaseUrl=https://example.com", "set-public-url"),
            ("WebAclArn=", "attach-waf or detach-waf"),
        ] {
            let refused = super::parse_assignment(assignment).unwrap_err();
            assert!(refused.contains(&format!("`stratus-admin {command}`")), "{assignment}: {refused}");
        }
        assert!(super::parse_assignment("LoginRateLimit=9").is_ok());
    }
}
