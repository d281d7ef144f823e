//! `stratus-admin rotate-signing-key`: a fresh key signs, and no token is refused on the way.
//!
//! A slot's key is a KMS key or a sealed one (`BlueSigningKeyType`, `GreenSigningKeyType`:
//! docs/signing.md). A rotation makes the next key of the type `--type` says, by default the
//! type of the key that signs: so switching a stack from `kms` to `sealed` (or back) is a
//! rotation like any other, with both keys published while either may have signed a live token.
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
pub const BLUE_TYPE: &str = "BlueSigningKeyType";
pub const GREEN_TYPE: &str = "GreenSigningKeyType";

/// What a slot's key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// An ECC_NIST_P256 KMS key: one `kms:Sign` a token.
    Kms,
    /// A P-256 key made in the stack and kept sealed under `TokenSealingKey`.
    Sealed,
}

impl KeyType {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "kms" => Ok(Self::Kms),
            "sealed" => Ok(Self::Sealed),
            other => Err(format!("a signing key's type is kms or sealed, not {other:?}")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kms => "kms",
            Self::Sealed => "sealed",
        }
    }
}

/// Each slot's key type; `None` on a stack whose template predates them (every key is KMS's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Types {
    pub blue: KeyType,
    pub green: KeyType,
}

impl Types {
    fn of(self, slot: Slot) -> KeyType {
        match slot {
            Slot::Blue => self.blue,
            Slot::Green => self.green,
        }
    }
    fn with(self, slot: Slot, key_type: KeyType) -> Self {
        match slot {
            Slot::Blue => Self { blue: key_type, ..self },
            Slot::Green => Self { green: key_type, ..self },
        }
    }
}

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
    pub types: Option<Types>,
}

impl Keys {
    /// The stack's keys as its parameters say.
    pub fn live(parameters: &BTreeMap<String, String>, name: &str) -> Result<Self, String> {
        let parameter = |key: &str| {
            parameters.get(key).map(String::as_str).ok_or_else(|| {
                format!("stack {name} has no parameter {key}: deploy this version's template first")
            })
        };
        let types = match (parameters.get(BLUE_TYPE), parameters.get(GREEN_TYPE)) {
            (Some(blue), Some(green)) => {
                Some(Types { blue: KeyType::parse(blue)?, green: KeyType::parse(green)? })
            }
            _ => None,
        };
        Ok(Keys { signing: Slot::parse(parameter(SLOT)?)?, other: Other::parse(parameter(OTHER)?)?, types })
    }

    pub fn parameters(self) -> BTreeMap<String, String> {
        let mut parameters = BTreeMap::from([
            (SLOT.to_owned(), self.signing.as_str().to_owned()),
            (OTHER.to_owned(), self.other.as_str().to_owned()),
        ]);
        if let Some(types) = self.types {
            parameters.insert(BLUE_TYPE.to_owned(), types.blue.as_str().to_owned());
            parameters.insert(GREEN_TYPE.to_owned(), types.green.as_str().to_owned());
        }
        parameters
    }

    /// The type of `slot`'s key.
    pub fn type_of(self, slot: Slot) -> KeyType {
        self.types.map_or(KeyType::Kms, |types| types.of(slot))
    }

    /// The step that follows, in a rotation under way or one that starts here; a rotation that
    /// starts here makes a key of `new_type` in the other slot.
    pub fn next(self, new_type: KeyType) -> (Step, Keys) {
        match self.other {
            Other::None => (
                Step::Publish,
                Keys {
                    other: Other::Next,
                    types: self.types.map(|types| types.with(self.signing.other(), new_type)),
                    ..self
                },
            ),
            Other::Next => {
                (Step::Switch, Keys { signing: self.signing.other(), other: Other::Previous, ..self })
            }
            Other::Previous => (Step::Retire, Keys { other: Other::None, ..self }),
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

/// Rotates to `to` (by default: the other slot, or where the rotation under way goes), with a
/// key of `key_type` (by default: the type of the key that signs, or of the one a rotation under
/// way makes). Given `to`, a rerun is idempotent: once `to` signs alone, with a key of that type,
/// there is nothing left to do, whereas without it a rerun after a rotation that finished (its
/// last answer lost) starts another.
pub async fn rotate(
    target: &mut Target,
    waits: Waits,
    to: Option<Slot>,
    key_type: Option<KeyType>,
) -> Result<(), String> {
    let live = target.live().await?;
    let keys = Keys::live(&live.parameters, &live.name)?;
    if keys.types.is_none() && key_type.is_some_and(|t| t != KeyType::Kms) {
        return Err(format!(
            "stack {}: its template has no {BLUE_TYPE} or {GREEN_TYPE}, so every key is a KMS key; deploy this version's template first",
            live.name
        ));
    }
    let to = to.unwrap_or_else(|| destination(keys));
    let under_way = keys.other != Other::None;
    let new_type = match (key_type, under_way) {
        (Some(wanted), true) if wanted != keys.type_of(destination(keys)) => {
            return Err(format!(
                "stack {}: a rotation to a {} {} key is under way; finish it (without --type, or with --type {}) first",
                live.name,
                keys.type_of(destination(keys)).as_str(),
                destination(keys).as_str(),
                keys.type_of(destination(keys)).as_str()
            ));
        }
        (Some(wanted), _) => wanted,
        (None, true) => keys.type_of(destination(keys)),
        (None, false) => keys.type_of(keys.signing),
    };
    if keys.signing == to && keys.other == Other::None {
        if keys.type_of(to) != new_type {
            return Err(format!(
                "stack {}: {} already signs alone, with a {} key; a {} key comes with a rotation to the other slot (leave out --to)",
                live.name,
                to.as_str(),
                keys.type_of(to).as_str(),
                new_type.as_str()
            ));
        }
        target.remember(&keys.parameters())?;
        println!(
            "stack {}: {} already signs alone, with a {} key; nothing to do",
            live.name,
            to.as_str(),
            new_type.as_str()
        );
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
        "run `stratus-admin rotate-signing-key --to {} --type {}` again to go on from where the stack is",
        to.as_str(),
        new_type.as_str()
    );
    steps(target, waits, live, keys, new_type).await.map_err(|e| format!("{e}\n{resume}"))
}

async fn steps(
    target: &mut Target,
    waits: Waits,
    mut live: crate::stack::Live,
    mut keys: Keys,
    new_type: KeyType,
) -> Result<(), String> {
    println!(
        "stack {}: {} signs, with a {} key{}",
        live.name,
        keys.signing.as_str(),
        keys.type_of(keys.signing).as_str(),
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
        let (step, after) = keys.next(new_type);
        let settled = live.settled_at.unwrap_or_else(time::OffsetDateTime::now_utc);
        match step {
            Step::Publish => {
                println!(
                    "step 1 of 3: make a {} {} key and publish it; {} keeps signing",
                    new_type.as_str(),
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
    println!(
        "stack {}: {} signs alone, with a {} key; the rotation is complete",
        live.name,
        keys.signing.as_str(),
        keys.type_of(keys.signing).as_str()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_goes_to_the_other_slot_or_where_the_one_under_way_goes() {
        let keys = |signing, other| Keys { signing, other, types: None };
        assert_eq!(destination(keys(Slot::Blue, Other::None)), Slot::Green);
        assert_eq!(destination(keys(Slot::Blue, Other::Next)), Slot::Green);
        assert_eq!(destination(keys(Slot::Green, Other::Previous)), Slot::Green);
    }

    #[test]
    fn a_rotation_publishes_then_switches_then_retires_and_ends_on_the_other_slot() {
        let kms = Types { blue: KeyType::Kms, green: KeyType::Kms };
        let mut keys = Keys { signing: Slot::Blue, other: Other::None, types: Some(kms) };
        let mut steps = Vec::new();
        for _ in 0..3 {
            let (step, after) = keys.next(KeyType::Kms);
            steps.push(step);
            keys = after;
        }
        assert_eq!(steps, [Step::Publish, Step::Switch, Step::Retire]);
        assert_eq!(keys, Keys { signing: Slot::Green, other: Other::None, types: Some(kms) });
    }

    #[test]
    fn a_switch_of_type_is_a_rotation_whose_new_key_is_of_that_type() {
        let kms = Types { blue: KeyType::Kms, green: KeyType::Kms };
        let mut keys = Keys { signing: Slot::Blue, other: Other::None, types: Some(kms) };
        let mut seen = Vec::new();
        for _ in 0..3 {
            keys = keys.next(KeyType::Sealed).1;
            seen.push((keys.signing, keys.other, keys.type_of(Slot::Blue), keys.type_of(Slot::Green)));
        }
        // Green is made sealed and published while blue (KMS) signs; the KMS key stays published
        // until its tokens expired; then green, sealed, signs alone.
        assert_eq!(
            seen,
            [
                (Slot::Blue, Other::Next, KeyType::Kms, KeyType::Sealed),
                (Slot::Green, Other::Previous, KeyType::Kms, KeyType::Sealed),
                (Slot::Green, Other::None, KeyType::Kms, KeyType::Sealed),
            ]
        );
        // A stack whose template predates the types writes none.
        let old = Keys { signing: Slot::Blue, other: Other::None, types: None };
        assert_eq!(old.next(KeyType::Kms).1.parameters().len(), 2);
        assert_eq!(keys.parameters()[GREEN_TYPE], "sealed");
    }
}
