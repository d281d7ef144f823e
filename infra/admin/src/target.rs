//! Which stack an operation acts on, where, and what it may do: the options every stack
//! command takes, resolved the way `sam deploy` resolves them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::samconfig::SamConfig;
use crate::stack::{Live, Stacks};

#[derive(clap::Args, Debug, Clone)]
pub struct StackArgs {
    /// The samconfig.toml environment: its stack_name and region, and where parameters that
    /// must survive the next plain `sam deploy` are written.
    #[arg(long, default_value = "default")]
    pub config_env: String,
    #[arg(long, default_value = "samconfig.toml")]
    pub config_file: PathBuf,
    /// The stack, if not the environment's stack_name.
    #[arg(long)]
    pub stack_name: Option<String>,
    /// The stack's region, if not the environment's (then AWS_REGION or the profile's).
    #[arg(long)]
    pub region: Option<String>,
    /// Say what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub struct Target {
    pub env: String,
    pub config: SamConfig,
    pub stack_name: String,
    pub sdk: SdkConfig,
    pub stacks: Stacks,
    pub dry_run: bool,
}

impl Target {
    pub async fn resolve(args: &StackArgs) -> Result<Self, String> {
        let config = SamConfig::load(&args.config_file)?;
        let stack_name =
            args.stack_name.clone().or_else(|| config.stack_name(&args.config_env)).ok_or_else(|| {
                format!(
                    "no stack: {} has no stack_name for environment {:?}; pass --stack-name or --config-env",
                    args.config_file.display(),
                    args.config_env
                )
            })?;
        let region = args.region.clone().or_else(|| config.region(&args.config_env));
        let sdk = sdk_config(region).await;
        Ok(Self {
            env: args.config_env.clone(),
            stacks: Stacks::new(&sdk),
            config,
            stack_name,
            sdk,
            dry_run: args.dry_run,
        })
    }

    pub async fn live(&self) -> Result<Live, String> {
        self.stacks.read(&self.stack_name).await
    }

    /// Writes `values` into the environment's parameter_overrides where they differ, so that
    /// the next plain `sam deploy` keeps them. Says what it wrote (or would).
    pub fn remember(&mut self, values: &BTreeMap<String, String>) -> Result<(), String> {
        let saved: BTreeMap<String, String> = self.config.parameters(&self.env)?.into_iter().collect();
        let stale: BTreeMap<String, String> = values
            .iter()
            .filter(|(k, v)| saved.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let keys = stale.keys().cloned().collect::<Vec<_>>().join(", ");
        if self.dry_run {
            println!("  would write {keys} to {} [{}]", self.config.path().display(), self.env);
            return Ok(());
        }
        self.config.set_parameters(&self.env, &stale)?;
        self.config.save()?;
        println!(
            "  wrote {keys} to {} [{}]: a plain sam deploy keeps them",
            self.config.path().display(),
            self.env
        );
        Ok(())
    }

    /// The parameters a plain `sam deploy` of this environment would set to another value than
    /// the stack has.
    pub fn drift(&self, live: &Live) -> Result<Vec<(String, String, String)>, String> {
        Ok(self
            .config
            .parameters(&self.env)?
            .into_iter()
            .filter_map(|(key, saved)| {
                let now = live.parameters.get(&key)?;
                (now != &saved).then(|| (key, now.clone(), saved))
            })
            .collect())
    }
}

/// A table of the stack's: the one `env_var` names (a local engine's, or to skip reading the
/// stack), else the stack's `output`; with the SDK configuration to reach it.
pub async fn table(args: &StackArgs, env_var: &str, output: &str) -> Result<(SdkConfig, String), String> {
    match std::env::var(env_var) {
        Ok(table) => Ok((sdk_config(args.region.clone()).await, table)),
        Err(_) => {
            let target = Target::resolve(args).await?;
            let table = target.live().await?.output(output)?.to_owned();
            Ok((target.sdk, table))
        }
    }
}

pub async fn sdk_config(region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

/// Waits until `deadline`, saying so; an interrupted wait is resumed by running the command
/// again, which measures from the same recorded moment.
pub async fn wait_until(deadline: time::OffsetDateTime, why: &str, dry_run: bool) {
    let left = deadline - time::OffsetDateTime::now_utc();
    if left.is_negative() || left.is_zero() {
        return;
    }
    let seconds = left.whole_seconds().max(1);
    if dry_run {
        println!("  would wait {seconds} s {why}");
        return;
    }
    println!(
        "  waiting {seconds} s {why} (until {deadline}); interrupting is safe, run the command again to go on"
    );
    tokio::time::sleep(left.unsigned_abs()).await;
}
