//! samconfig.toml: where `sam deploy` keeps each environment's stack, region and parameters.
//!
//! A plain `sam deploy --config-env ENV` sends the parameters listed in the environment's
//! `parameter_overrides` and keeps every other one as the stack has it (`UsePreviousValue`).
//! `sam deploy --guided` lists every parameter. So a parameter an operation changes on the stack
//! must be written here as well, or the next plain deploy sets it back: a signing key rotated
//! back, the WAF detached. The file is edited in place (comments, order and every other setting
//! kept), with values quoted as the guided deploy writes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, value};

pub struct SamConfig {
    path: PathBuf,
    document: DocumentMut,
}

impl SamConfig {
    /// A missing file reads as an empty one; `save` creates it.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => "version = 0.1\n".to_owned(),
            Err(error) => return Err(format!("{}: {error}", path.display())),
        };
        let document = text.parse::<DocumentMut>().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self { path: path.to_owned(), document })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A setting as SAM looks it up: the command's table first, then the environment's global one.
    fn setting(&self, env: &str, command: &str, key: &str) -> Option<&Item> {
        [command, "global"]
            .iter()
            .find_map(|section| self.document.get(env)?.get(section)?.get("parameters")?.get(key))
    }

    pub fn stack_name(&self, env: &str) -> Option<String> {
        self.setting(env, "deploy", "stack_name")?.as_str().map(str::to_owned)
    }

    pub fn region(&self, env: &str) -> Option<String> {
        self.setting(env, "deploy", "region")?.as_str().map(str::to_owned)
    }

    /// The parameters a plain deploy of `env` sends, in the file's order.
    pub fn parameters(&self, env: &str) -> Result<Vec<(String, String)>, String> {
        let Some(item) = self.setting(env, "deploy", "parameter_overrides") else { return Ok(Vec::new()) };
        if let Some(text) = item.as_str() {
            return parse_overrides(text);
        }
        // SAM also takes a list of `Key=Value` strings.
        let list = item.as_array().ok_or("parameter_overrides is neither a string nor a list")?;
        let mut all = Vec::new();
        for entry in list.iter() {
            all.extend(parse_overrides(entry.as_str().ok_or("parameter_overrides lists a non-string")?)?);
        }
        Ok(all)
    }

    /// Sets `changes` in `env`'s deploy parameters, keeping the others and their order. Written
    /// to `[env.deploy.parameters]`, where the guided deploy keeps them.
    pub fn set_parameters(&mut self, env: &str, changes: &BTreeMap<String, String>) -> Result<(), String> {
        let mut all = self.parameters(env)?;
        for (key, new) in changes {
            match all.iter_mut().find(|(k, _)| k == key) {
                Some((_, old)) => old.clone_from(new),
                None => all.push((key.clone(), new.clone())),
            }
        }
        let deploy = table(table(table(self.document.as_table_mut(), env)?, "deploy")?, "parameters")?;
        deploy["parameter_overrides"] = value(format_overrides(&all));
        Ok(())
    }

    pub fn save(&self) -> Result<(), String> {
        std::fs::write(&self.path, self.document.to_string())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// The table `key` of `parent`, made if missing (as a `[a.b.c]` header, not inline).
fn table<'a>(parent: &'a mut Table, key: &str) -> Result<&'a mut Table, String> {
    let item = parent.entry(key).or_insert_with(|| {
        let mut made = Table::new();
        made.set_implicit(true);
        Item::Table(made)
    });
    item.as_table_mut().ok_or_else(|| format!("samconfig.toml: {key} is not a table"))
}

/// SAM's `Key=Value Key2="a value"` list. A value is a run of non-blank characters or a double
/// quoted string in which `\"` and `\\` stand for `"` and `\`.
pub fn parse_overrides(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(format!("parameter_overrides: expected Key=Value near {key:?}"));
        }
        let mut val = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => val.push(chars.next().ok_or("parameter_overrides: unfinished escape")?),
                    Some('"') => break,
                    Some(c) => val.push(c),
                    None => return Err(format!("parameter_overrides: unterminated quote in {key}")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                val.push(c);
            }
        }
        pairs.push((key, val));
    }
}

/// The list as the guided deploy writes it: every value quoted, so an empty one survives.
pub fn format_overrides(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(key, val)| format!("{key}=\"{}\"", val.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_round_trip_through_quotes_spaces_and_empty_values() {
        let pairs = vec![
            ("Stage".to_owned(), "prod".to_owned()),
            ("WebAclArn".to_owned(), String::new()),
            ("Note".to_owned(), "a \"quoted\" \\ value".to_owned()),
        ];
        assert_eq!(parse_overrides(&format_overrides(&pairs)).unwrap(), pairs);
        assert_eq!(
            parse_overrides("Stage=dev  A=\"x y\" B=").unwrap(),
            vec![("Stage".into(), "dev".into()), ("A".into(), "x y".into()), ("B".into(), String::new())]
        );
        assert!(parse_overrides("Stage").is_err());
        assert!(parse_overrides("A=\"open").is_err());
    }

    #[test]
    fn setting_a_parameter_keeps_the_others_their_order_and_the_comments() {
        let dir = std::env::temp_dir().join(format!("samconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("samconfig.toml");
        std::fs::write(
            &path,
            "version = 0.1\n# keep me\n[prod.global.parameters]\nstack_name = \"s-prod\"\nregion = \"eu-west-1\"\n\
             [prod.deploy.parameters]\nconfirm_changeset = true\nparameter_overrides = \"Stage=prod Throttle=5\"\n",
        )
        .unwrap();
        let mut config = SamConfig::load(&path).unwrap();
        assert_eq!(config.stack_name("prod").as_deref(), Some("s-prod"));
        assert_eq!(config.region("prod").as_deref(), Some("eu-west-1"));
        config
            .set_parameters(
                "prod",
                &BTreeMap::from([("Throttle".into(), "9".into()), ("WebAclArn".into(), String::new())]),
            )
            .unwrap();
        config.set_parameters("dev", &BTreeMap::from([("Stage".into(), "dev".into())])).unwrap();
        config.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# keep me") && text.contains("confirm_changeset = true"), "{text}");
        assert!(text.contains(r#"Stage="prod" Throttle="9" WebAclArn="""#), "{text}");
        assert!(text.contains("[dev.deploy.parameters]"), "{text}");
        let again = SamConfig::load(&path).unwrap();
        assert_eq!(
            again.parameters("prod").unwrap(),
            vec![
                ("Stage".into(), "prod".into()),
                ("Throttle".into(), "9".into()),
                ("WebAclArn".into(), String::new())
            ]
        );
        assert_eq!(again.parameters("dev").unwrap(), vec![("Stage".into(), "dev".into())]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
