//! `stratus-admin rotate-signing-key`: a fresh KMS key signs, and no token is refused on the way.
//!
//! The stack has two key slots, blue and green. `SigningKeySlot` says which one signs;
//! `OtherSigningKey` whether the other exists as well, and why. Every key that exists is
//! published in the JWK Set (functions/signing-keys). A rotation from blue is three updates:
//!
//! 1. **publish** (`blue`, `next`): a fresh green key is made and published; blue still signs.
//!    Then wait until every cached copy of the JWK Set lists green (CloudFront caches it for
//!    5 minutes, verifiers elsewhere for as long as they were told).
//! 2. **switch** (`green`, `previous`): green signs; blue stays published. Then wait until every
//!    token blue signed has expired (an access token lives 15 minutes).
//! 3. **retire** (`green`, `none`): blue is deleted (KMS waits 7 days before it is gone).
//!
//! Each step is a parameter change on the stack's own template (see `stack.rs`), written to
//! samconfig.toml too. The waits are measured from the moment the stack's update finished, as
//! its events record it, so a rerun after an interruption waits only what is left, and a rerun
//! after a failed step finds the stack where it was and does that step again.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::target::{Target, wait_until};

pub const SLOT: &str = "SigningKeySlot";
pub const OTHER: &str = "OtherSigningKey";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Blue,
    Green,
}

impl Slot {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "blue" => Ok(Self::Blue),
            "green" => Ok(Self::Green),
            other => Err(format!("{SLOT} is {other:?}, neither blue nor green")),
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Self::Blue => "blue",
            Self::Green => "green",
        }
    }
    fn other(self) -> Self {
        match self {
            Self::Blue => Self::Green,
            Self::Green => Self::Blue,
        }
    }
}

/// The other slot's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other {
    None,
    /// Published, about to sign.
    Next,
    /// Published, no longer signing.
    Previous,
}

impl Other {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "none" => Ok(Self::None),
            "next" => Ok(Self::Next),
            "previous" => Ok(Self::Previous),
            other => Err(format!("{OTHER} is {other:?}, not none, next or previous")),
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Next => "next",
            Self::Previous => "previous",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys {
    pub signing: Slot,
    pub other: Other,
}

impl Keys {
    pub fn parameters(self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (SLOT.to_owned(), self.signing.as_str().to_owned()),
            (OTHER.to_owned(), self.other.as_str().to_owned()),
        ])
    }

    /// The step that follows, in a rotation under way or one that starts here.
    pub fn next(self) -> (Step, Keys) {
        match self.other {
            Other::None => (Step::Publish, Keys { signing: self.signing, other: Other::Next }),
            Other::Next => (Step::Switch, Keys { signing: self.signing.other(), other: Other::Previous }),
            Other::Previous => (Step::Retire, Keys { signing: self.signing, other: Other::None }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Publish,
    Switch,
    Retire,
}

pub struct Waits {
    /// After publishing, before the new key signs: every cache of the JWK Set must have it.
    pub publish: Duration,
    /// After switching, before the old key goes: every token it signed must have expired.
    pub retire: Duration,
}

/// Where a rotation from `keys` ends: the other slot, or for one under way, its destination.
fn destination(keys: Keys) -> Slot {
    match keys.other {
        Other::None | Other::Next => keys.signing.other(),
        Other::Previous => keys.signing,
    }
}

/// Rotates to `to` (by default: the other slot, or where the rotation under way goes). Given
/// `to`, a rerun is idempotent: once `to` signs alone there is nothing left to do, whereas
/// without it a rerun after a rotation that finished (its last answer lost) starts another.
pub async fn rotate(target: &mut Target, waits: Waits, to: Option<Slot>) -> Result<(), String> {
    let live = target.live().await?;
    let keys =
        Keys { signing: Slot::parse(live.parameter(SLOT)?)?, other: Other::parse(live.parameter(OTHER)?)? };
    let to = to.unwrap_or_else(|| destination(keys));
    if keys == (Keys { signing: to, other: Other::None }) {
        target.remember(&keys.parameters())?;
        println!("stack {}: {} already signs alone; nothing to do", live.name, to.as_str());
        return Ok(());
    }
    if destination(keys) != to {
        return Err(format!(
            "stack {}: a rotation to {} is under way ({SLOT}={}, {OTHER}={}); finish it with --to {} first",
            live.name,
            destination(keys).as_str(),
            keys.signing.as_str(),
            keys.other.as_str(),
            destination(keys).as_str()
        ));
    }
    let resume = format!(
        "run `stratus-admin rotate-signing-key --to {}` again to go on from where the stack is",
        to.as_str()
    );
    steps(target, waits, live, keys).await.map_err(|e| format!("{e}\n{resume}"))
}

async fn steps(
    target: &mut Target,
    waits: Waits,
    mut live: crate::stack::Live,
    mut keys: Keys,
) -> Result<(), String> {
    println!(
        "stack {}: {} signs{}",
        live.name,
        keys.signing.as_str(),
        match keys.other {
            Other::None => String::new(),
            Other::Next => format!(
                "; {} is published and signs next (a rotation is under way)",
                keys.signing.other().as_str()
            ),
            Other::Previous => format!(
                "; {} is published and no longer signs (a rotation is under way)",
                keys.signing.other().as_str()
            ),
        }
    );
    loop {
        let (step, after) = keys.next();
        let settled = live.settled_at.unwrap_or_else(time::OffsetDateTime::now_utc);
        match step {
            Step::Publish => {
                println!(
                    "step 1 of 3: make a {} key and publish it; {} keeps signing",
                    after.signing.other().as_str(),
                    keys.signing.as_str()
                );
            }
            Step::Switch => {
                wait_until(
                    settled + waits.publish,
                    "for every cached JWK Set to list the new key",
                    target.dry_run,
                )
                .await;
                println!(
                    "step 2 of 3: {} signs; {} stays published",
                    after.signing.as_str(),
                    keys.signing.as_str()
                );
            }
            Step::Retire => {
                wait_until(
                    settled + waits.retire,
                    "for every token the old key signed to expire",
                    target.dry_run,
                )
                .await;
                println!(
                    "step 3 of 3: delete the {} key ({} signs alone)",
                    keys.signing.other().as_str(),
                    keys.signing.as_str()
                );
            }
        }
        if target.dry_run {
            target.stacks.change(&live, &after.parameters(), true).await?;
            target.remember(&after.parameters())?;
            println!("dry run: nothing was changed; the steps after this one follow the same way");
            return Ok(());
        }
        live = target.stacks.change(&live, &after.parameters(), false).await?;
        target.remember(&after.parameters())?;
        keys = after;
        if step == Step::Retire {
            break;
        }
    }
    target.remember(&keys.parameters())?;
    println!("stack {}: {} signs alone; the rotation is complete", live.name, keys.signing.as_str());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_goes_to_the_other_slot_or_where_the_one_under_way_goes() {
        let keys = |signing, other| Keys { signing, other };
        assert_eq!(destination(keys(Slot::Blue, Other::None)), Slot::Green);
        assert_eq!(destination(keys(Slot::Blue, Other::Next)), Slot::Green);
        assert_eq!(destination(keys(Slot::Green, Other::Previous)), Slot::Green);
    }

    #[test]
    fn a_rotation_publishes_then_switches_then_retires_and_ends_on_the_other_slot() {
        let mut keys = Keys { signing: Slot::Blue, other: Other::None };
        let mut steps = Vec::new();
        for _ in 0..3 {
            let (step, after) = keys.next();
            steps.push(step);
            keys = after;
        }
        assert_eq!(steps, [Step::Publish, Step::Switch, Step::Retire]);
        assert_eq!(keys, Keys { signing: Slot::Green, other: Other::None });
    }
}
