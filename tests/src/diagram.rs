//! The architecture diagram in docs/architecture.md, drawn from template.yaml so it cannot go stale: the
//! edge, the API and the routes that reach each function, and an edge from each function to every
//! table, queue, key and secret its policies (or the key's own policy) let it use, labelled with
//! the actions. `make diagram` rewrites it; a test fails when the copy in docs/architecture.md differs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::template::Template;

/// The lines around the diagram in docs/architecture.md.
pub const START: &str = "<!-- architecture: generated from template.yaml by `make diagram`; do not edit -->";
pub const END: &str = "<!-- architecture: end -->";

/// The Mermaid flowchart for `template`.
pub fn mermaid(template: &Template) -> String {
    let mut lines = vec!["flowchart LR".to_owned()];
    let mut nodes = BTreeSet::new();
    let mut edges = BTreeSet::new();
    let resources: BTreeMap<&str, &Value> = template.resources().collect();
    let type_of = |id: &str| resources.get(id).and_then(|r| r["Type"].as_str()).unwrap_or_default();

    lines.push("    client([\"client\"])".to_owned());
    for (id, resource) in &resources {
        match resource["Type"].as_str().unwrap_or_default() {
            "AWS::CloudFront::Distribution" => {
                nodes.insert(format!("    {id}[\"CloudFront\"]"));
                edges.insert(format!("    client -- HTTPS --> {id}"));
                for origin in named(&resource["Properties"]["DistributionConfig"]["Origins"]) {
                    match type_of(&origin) {
                        "AWS::Serverless::HttpApi" => {
                            edges.insert(format!("    {id} --> {origin}"));
                        }
                        "AWS::SecretsManager::Secret" => {
                            edges.insert(format!("    {origin} -. \"origin header\" .-> {id}"));
                        }
                        _ => {}
                    }
                }
            }
            "AWS::Serverless::HttpApi" => {
                nodes.insert(format!("    {id}[\"HTTP API\"]"));
            }
            "AWS::Serverless::Function" => {
                let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or(id);
                nodes.insert(format!("    {id}[\"{binary}\"]"));
            }
            "AWS::DynamoDB::Table" => {
                nodes.insert(format!("    {id}[(\"{} table\")]", words(short(id, "Table"))));
            }
            "AWS::SQS::Queue" => {
                nodes.insert(format!("    {id}>\"{}\"]", words(short(id, "Queue"))));
                for target in Template::refs_in(&resource["Properties"]["RedrivePolicy"]) {
                    let receives = &resource["Properties"]["RedrivePolicy"]["maxReceiveCount"];
                    edges.insert(format!("    {id} -. \"after {receives} receives\" .-> {target}"));
                }
            }
            "AWS::KMS::Key" => {
                nodes.insert(format!("    {id}{{{{\"{} (KMS)\"}}}}", words(short(id, "Key"))));
            }
            "AWS::SecretsManager::Secret" => {
                nodes.insert(format!("    {id}{{{{\"{} (secret)\"}}}}", words(short(id, "Secret"))));
            }
            _ => {}
        }
    }

    for (id, function) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::Serverless::Function") {
        let mut routes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for event in function["Properties"]["Events"].as_object().into_iter().flat_map(|e| e.values()) {
            let properties = &event["Properties"];
            match event["Type"].as_str() {
                Some("HttpApi") => {
                    let api = properties["ApiId"]["Ref"].as_str().unwrap_or("HttpApi").to_owned();
                    let path = properties["Path"].as_str().unwrap_or_default();
                    let route = match properties["Method"].as_str() {
                        Some("ANY") => path.to_owned(),
                        Some(method) => format!("{method} {path}"),
                        None => path.to_owned(),
                    };
                    routes.entry(api).or_default().push(route);
                }
                Some("SQS") => {
                    for queue in Template::refs_in(&properties["Queue"]) {
                        edges.insert(format!("    {queue} -- batches --> {id}"));
                    }
                }
                _ => {}
            }
        }
        // A queue feeds it through an event source mapping of its own (not a SAM event).
        for (_, mapping) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::Lambda::EventSourceMapping") {
            if Template::refs_in(&mapping["Properties"]["FunctionName"]).contains(&(*id).to_owned()) {
                for queue in Template::refs_in(&mapping["Properties"]["EventSourceArn"]) {
                    edges.insert(format!("    {queue} -- batches --> {id}"));
                }
            }
        }
        for (api, mut keys) in routes {
            keys.sort();
            edges.insert(format!("    {api} -- \"{}\" --> {id}", keys.join("<br/>").replace('$', "#36;")));
        }
        let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for statement in function["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|policy| policy["Statement"].as_array().into_iter().flatten())
        {
            for target in Template::refs_in(&statement["Resource"]) {
                grants.entry(target).or_default().extend(actions(&statement["Action"]));
            }
        }
        // What a key policy lets this function's role do.
        for (key, resource) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::KMS::Key") {
            for statement in resource["Properties"]["KeyPolicy"]["Statement"].as_array().into_iter().flatten()
            {
                if Template::refs_in(&statement["Principal"]).contains(&format!("{id}Role")) {
                    grants.entry((*key).to_owned()).or_default().extend(actions(&statement["Action"]));
                }
            }
        }
        for (target, actions) in
            grants.into_iter().filter(|(target, _)| resources.contains_key(target.as_str()))
        {
            let actions: Vec<String> = actions.into_iter().collect();
            edges.insert(format!("    {id} -- \"{}\" --> {target}", actions.join(", ")));
        }
    }

    lines.extend(nodes);
    lines.extend(edges);
    lines.join("\n") + "\n"
}

/// The logical ids a node names: with `!Ref` and `!GetAtt`, and inside `!Sub` strings
/// (`${HttpApi}.execute-api…`, `{{resolve:secretsmanager:${Secret}…}}`).
fn named(node: &Value) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = Template::refs_in(node).into_iter().collect();
    fn subs(node: &Value, out: &mut BTreeSet<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(text)) = map.get("Fn::Sub") {
                    for piece in text.split("${").skip(1) {
                        if let Some(name) = piece.split('}').next() {
                            out.insert(name.split('.').next().unwrap_or(name).to_owned());
                        }
                    }
                }
                map.values().for_each(|v| subs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| subs(v, out)),
            _ => {}
        }
    }
    subs(node, &mut names);
    names
}

/// `dynamodb:GetItem` → `GetItem`.
fn actions(node: &Value) -> Vec<String> {
    let names: Vec<&str> = match node {
        Value::String(action) => vec![action],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    names.into_iter().map(|a| a.rsplit(':').next().unwrap_or(a).to_owned()).collect()
}

/// `UsersTable` → `Users`.
fn short<'a>(id: &'a str, suffix: &str) -> &'a str {
    id.strip_suffix(suffix).filter(|s| !s.is_empty()).unwrap_or(id)
}

/// `TasksDeadLetter` → `tasks dead letter`, `OAuthClients` → `oauth clients`: a capital after
/// a capital goes on the word, so a name like OAuth stays one.
fn words(id: &str) -> String {
    let mut out = String::new();
    let mut previous_upper = true;
    for c in id.chars() {
        if c.is_ascii_uppercase() && !previous_upper {
            out.push(' ');
        }
        previous_upper = c.is_ascii_uppercase();
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `text` with the diagram between [`START`] and [`END`] replaced by `diagram`.
pub fn replace_in(text: &str, diagram: &str) -> Result<String, String> {
    let start = text.find(START).ok_or("docs/architecture.md has no architecture marker")?;
    let end = text[start..].find(END).ok_or("docs/architecture.md has no end of the architecture")? + start;
    Ok(format!("{}{START}\n```mermaid\n{diagram}```\n{}", &text[..start], &text[end..]))
}
