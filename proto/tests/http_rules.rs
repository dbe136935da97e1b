//! The `google.api.http` rules of the contracts, as the REST gateway's
//! transcoder and the OpenAPI generator read them from the descriptor set.
//!
//! Conventions checked here (see the RPCs' options in proto/themodel):
//! - every method of every `themodel.*` service has exactly one rule (no
//!   `additional_bindings`, no `response_body`, no custom method);
//! - paths start with `/v1/<service>/` (`/v1/events` and `/v1/operations/` for
//!   the shared contracts), literal segments are kebab-case, a custom verb is
//!   lowerCamelCase, and a variable is a single-segment `{field.path}` naming a
//!   string or integer field reached through singular messages only;
//! - `get` and `delete` have no body, `post`, `put` and `patch` have `body: "*"`;
//! - Create* posts to a collection, Update* patches, Delete* deletes, all
//!   without a verb; any other method that posts has a verb; Get*/List* are
//!   `get` unless their request cannot travel as query parameters;
//! - every field of a `get` or `delete` request not bound by the path can be a
//!   query parameter (no repeated or map message fields);
//! - no two rules share a method and path template, and no two could be told
//!   apart only by guessing (a variable against a literal, or a last variable
//!   against the same path with a verb), across every service.

use std::collections::BTreeMap;

use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, Value,
};

const HTTP_METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn pool() -> DescriptorPool {
    DescriptorPool::decode(themodel_proto::FILE_DESCRIPTOR_SET).expect("descriptor set decodes")
}

fn http_extension(pool: &DescriptorPool) -> ExtensionDescriptor {
    pool.get_extension_by_name("google.api.http")
        .expect("google.api.http is in the descriptor set")
}

/// Every method of every service of a `themodel.` package.
fn methods(pool: &DescriptorPool) -> Vec<MethodDescriptor> {
    let methods: Vec<_> = pool
        .services()
        .filter(|s| s.package_name().starts_with("themodel."))
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .collect();
    assert!(methods.len() > 100, "only {} methods found", methods.len());
    methods
}

/// A parsed rule.
#[derive(Debug, Clone)]
struct Rule {
    rpc: String,
    method: &'static str,
    path: String,
    body: String,
    /// Path segments, a variable as `{field.path}`.
    segments: Vec<String>,
    verb: Option<String>,
}

impl Rule {
    fn variables(&self) -> impl Iterator<Item = &str> {
        self.segments
            .iter()
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }
}

fn string_field(message: &DynamicMessage, name: &str) -> String {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

/// The rule of a method, checked for shape; `Err` names what is wrong.
fn rule(method: &MethodDescriptor, ext: &ExtensionDescriptor) -> Result<Rule, String> {
    let options = method.options();
    if !options.has_extension(ext) {
        return Err("no google.api.http option".into());
    }
    let value = options.get_extension(ext);
    let Value::Message(http) = value.as_ref() else {
        return Err(format!("google.api.http is not a message: {value:?}"));
    };
    if http.has_field_by_name("custom") {
        return Err("custom HTTP method".into());
    }
    match http.get_field_by_name("additional_bindings").as_deref() {
        Some(Value::List(list)) if !list.is_empty() => return Err("additional_bindings".into()),
        _ => {}
    }
    if !string_field(http, "response_body").is_empty() {
        return Err("response_body".into());
    }
    let set: Vec<&'static str> = HTTP_METHODS
        .into_iter()
        .filter(|m| http.has_field_by_name(m))
        .collect();
    let [verb_method] = set[..] else {
        return Err(format!("expected one HTTP method, got {set:?}"));
    };
    let path = string_field(http, verb_method);
    let body = string_field(http, "body");
    let (segments, verb) = parse_template(&path)?;
    Ok(Rule {
        rpc: method.full_name().to_owned(),
        method: verb_method,
        path,
        body,
        segments,
        verb,
    })
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && s.starts_with(|c: char| c.is_ascii_lowercase())
}

fn is_lower_camel(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_field_path(s: &str) -> bool {
    s.split('.').all(|part| {
        part.starts_with(|c: char| c.is_ascii_lowercase())
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Splits `/a/{b.c}/d:verb` into its segments and verb, refusing what the
/// conventions leave out (`{x=pattern}`, `*`, `**`, empty segments).
fn parse_template(path: &str) -> Result<(Vec<String>, Option<String>), String> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("{path}: does not start with /"))?;
    // The verb follows the last ':' outside a variable.
    let (rest, verb) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('}') => (&rest[..i], Some(rest[i + 1..].to_owned())),
        _ => (rest, None),
    };
    if let Some(verb) = &verb
        && !is_lower_camel(verb)
    {
        return Err(format!("{path}: verb {verb:?} is not lowerCamelCase"));
    }
    let mut segments = Vec::new();
    for segment in rest.split('/') {
        if let Some(var) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if !is_field_path(var) {
                return Err(format!(
                    "{path}: variable {{{var}}} is not a single-segment field path"
                ));
            }
        } else if !is_kebab(segment) {
            return Err(format!(
                "{path}: segment {segment:?} is not a kebab-case literal"
            ));
        }
        segments.push(segment.to_owned());
    }
    Ok((segments, verb))
}

/// The path prefix of a package's services: `themodel.partner_success.v1` →
/// `/v1/partner-success/`; the shared contracts have their own.
fn prefix_ok(package: &str, rule: &Rule) -> bool {
    let service = package
        .strip_prefix("themodel.")
        .and_then(|p| p.strip_suffix(".v1"))
        .unwrap_or_else(|| panic!("unexpected package {package}"));
    match service {
        // `/v1/events` itself is the collection (`/v1/events:watch` too).
        "events" => rule.segments.len() == 2 && rule.segments[..2] == ["v1", "events"],
        _ => {
            rule.segments.len() >= 3
                && rule.segments[0] == "v1"
                && rule.segments[1] == service.replace('_', "-")
        }
    }
}

/// Resolves a path variable against the request: every part but the last a
/// singular message field, the last a singular string or integer field.
fn resolve(request: &MessageDescriptor, path: &str) -> Result<FieldDescriptor, String> {
    let mut message = request.clone();
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let field = message
            .get_field_by_name(part)
            .ok_or_else(|| format!("{} has no field {part}", message.full_name()))?;
        if field.is_list() || field.is_map() {
            return Err(format!("{} is repeated or a map", field.full_name()));
        }
        if i + 1 == parts.len() {
            return match field.kind() {
                Kind::String
                | Kind::Int32
                | Kind::Int64
                | Kind::Uint32
                | Kind::Uint64
                | Kind::Sint32
                | Kind::Sint64
                | Kind::Fixed32
                | Kind::Fixed64
                | Kind::Sfixed32
                | Kind::Sfixed64 => Ok(field),
                kind => Err(format!(
                    "{} is {kind:?}, not a string or integer",
                    field.full_name()
                )),
            };
        }
        match field.kind() {
            Kind::Message(m) => message = m,
            kind => return Err(format!("{} is {kind:?}, not a message", field.full_name())),
        }
    }
    unreachable!("a field path has at least one part")
}

/// Whether a field can travel as query parameters: a scalar or enum, repeated
/// or not, a well-known type with a string JSON form, or a singular message
/// whose own fields can (as `a.b=...`).
fn query_expressible(field: &FieldDescriptor, depth: usize) -> bool {
    if field.is_map() {
        return false;
    }
    match field.kind() {
        Kind::Message(message) => {
            match message.full_name() {
                "google.protobuf.Timestamp"
                | "google.protobuf.Duration"
                | "google.protobuf.FieldMask" => return true,
                name if name.starts_with("google.protobuf.") && name.ends_with("Value") => {
                    // Wrappers are scalars; Struct's Value is not.
                    return name != "google.protobuf.Value" && !field.is_list();
                }
                name if name.starts_with("google.protobuf.") => return false,
                _ => {}
            }
            !field.is_list()
                && depth < 8
                && message.fields().all(|f| query_expressible(&f, depth + 1))
        }
        _ => true,
    }
}

fn rpc_name(rule: &Rule) -> &str {
    rule.rpc.rsplit('.').next().expect("a full name")
}

#[test]
fn descriptor_set_carries_the_vendored_googleapis_files() {
    let pool = pool();
    for file in ["google/api/annotations.proto", "google/api/http.proto"] {
        assert!(pool.get_file_by_name(file).is_some(), "{file} is missing");
    }
    assert!(pool.get_message_by_name("google.api.HttpRule").is_some());
    let ext = http_extension(&pool);
    assert_eq!(ext.number(), 72_295_728);
    assert_eq!(
        ext.containing_message().full_name(),
        "google.protobuf.MethodOptions"
    );
}

#[test]
fn every_method_has_a_conventional_http_rule() {
    let pool = pool();
    let ext = http_extension(&pool);
    let mut problems = Vec::new();
    for method in methods(&pool) {
        let name = method.full_name().to_owned();
        let rule = match rule(&method, &ext) {
            Ok(rule) => rule,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut bad =
            |what: String| problems.push(format!("{name} ({} {}): {what}", rule.method, rule.path));
        let package = method.parent_service().package_name().to_owned();
        if !prefix_ok(&package, &rule) {
            bad(format!("path does not start with the prefix of {package}"));
        }

        // Path variables: existing, singular, string or integer, once each.
        let request = method.input();
        let mut bound = Vec::new();
        for var in rule.variables() {
            match resolve(&request, var) {
                Ok(_) => {}
                Err(e) => bad(format!("path variable {{{var}}}: {e}")),
            }
            if bound.contains(&var) {
                bad(format!("path variable {{{var}}} twice"));
            }
            bound.push(var);
        }

        // Bodies.
        match (rule.method, rule.body.as_str()) {
            ("get" | "delete", "") | ("post" | "put" | "patch", "*") => {}
            (m, body) => bad(format!(
                "{m} with body {body:?}; expected \"\" for get/delete, \"*\" otherwise"
            )),
        }

        // The request of a body-less rule must fit in the path and the query.
        let queryable = request
            .fields()
            .filter(|f| !bound.iter().any(|v| v.split('.').next() == Some(f.name())))
            .all(|f| query_expressible(&f, 0));
        if rule.body.is_empty() && !queryable {
            bad("a field that is neither in the path nor a possible query parameter".into());
        }

        // Streaming.
        if method.is_client_streaming() && rule.method != "post" {
            bad("a client stream must be posted".into());
        }
        if method.is_server_streaming() && !method.is_client_streaming() && rule.method != "get" {
            bad("a server stream must be a get".into());
        }

        // Standard methods by name.
        let rpc = rpc_name(&rule);
        let verb = rule.verb.as_deref();
        if rpc.starts_with("Create") {
            if rule.method != "post" || verb.is_some() || rule.variables().next().is_some() {
                bad("Create* posts to a collection, with no variable or verb".into());
            }
        } else if rpc.starts_with("Update") {
            if rule.method != "patch" || verb.is_some() {
                bad("Update* patches, with no verb".into());
            }
        } else if rpc.starts_with("Delete") {
            if rule.method != "delete" || verb.is_some() {
                bad("Delete* deletes, with no verb".into());
            }
        } else if rpc.starts_with("Get") || rpc.starts_with("List") {
            match rule.method {
                "get" => {}
                // Only a query that cannot travel as query parameters.
                "post" if verb.is_some() && !queryable => {}
                m => bad(format!(
                    "{m}: Get*/List* are get (or post with a verb when the request cannot be query parameters)"
                )),
            }
        } else if rule.method != "get" && verb.is_none() {
            bad("a custom method that is not a get needs a :verb".into());
        } else if rule.method == "get" && !queryable {
            bad("a get whose request cannot be query parameters".into());
        }
        if rule.method == "put" {
            bad("put is not used: Update* patches".into());
        }
        if rule.method == "delete" && !rpc.starts_with("Delete") {
            bad("delete is kept for Delete*".into());
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Whether a router could match one request to both templates.
fn ambiguous(a: &Rule, b: &Rule) -> bool {
    if a.method != b.method || a.segments.len() != b.segments.len() {
        return false;
    }
    let compatible = |x: &String, y: &String| x == y || x.starts_with('{') || y.starts_with('{');
    let n = a.segments.len();
    if !a.segments[..n - 1]
        .iter()
        .zip(&b.segments[..n - 1])
        .all(|(x, y)| compatible(x, y))
    {
        return false;
    }
    let (last_a, last_b) = (&a.segments[n - 1], &b.segments[n - 1]);
    match (&a.verb, &b.verb) {
        (x, y) if x == y => compatible(last_a, last_b),
        // `/x/{id}` would swallow `/x/abc:verb`.
        (None, Some(_)) => last_a.starts_with('{'),
        (Some(_), None) => last_b.starts_with('{'),
        _ => false,
    }
}

#[test]
fn no_two_rules_collide_across_services() {
    let pool = pool();
    let ext = http_extension(&pool);
    let rules: Vec<Rule> = methods(&pool)
        .iter()
        .filter_map(|m| rule(m, &ext).ok())
        .collect();
    let mut problems = Vec::new();
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for rule in &rules {
        // The template with variables blanked: `{id}` and `{account_id}` are the same route.
        let normalised: Vec<&str> = rule
            .segments
            .iter()
            .map(|s| if s.starts_with('{') { "{}" } else { s.as_str() })
            .collect();
        let key = (
            rule.method.to_owned(),
            format!(
                "/{}{}",
                normalised.join("/"),
                rule.verb
                    .as_deref()
                    .map(|v| format!(":{v}"))
                    .unwrap_or_default()
            ),
        );
        if let Some(other) = seen.insert(key.clone(), rule.rpc.clone()) {
            problems.push(format!("{} {}: {} and {}", key.0, key.1, other, rule.rpc));
        }
    }
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            if ambiguous(a, b) {
                problems.push(format!(
                    "{} {} ({}) and {} {} ({}) can match the same request",
                    a.method, a.path, a.rpc, b.method, b.path, b.rpc
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} collisions:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn checks_catch_bad_rules() {
    // The checks themselves, on made-up templates.
    assert!(parse_template("/v1/segmentation/accounts/{id}").is_ok());
    assert!(parse_template("/v1/segmentation/accounts/{account.id}:overrideTier").is_ok());
    assert!(parse_template("/v1/segmentation/accounts/{id=*}").is_err());
    assert!(parse_template("/v1/segmentation/accounts/**").is_err());
    assert!(parse_template("/v1/segmentation/Accounts").is_err());
    assert!(parse_template("/v1/segmentation/tier_policies").is_err());
    assert!(parse_template("/v1/segmentation/accounts:batch_upsert").is_err());
    assert!(parse_template("/v1/segmentation//accounts").is_err());

    let rule = |method: &'static str, path: &str| {
        let (segments, verb) = parse_template(path).expect("parses");
        Rule {
            rpc: String::new(),
            method,
            path: path.into(),
            body: String::new(),
            segments,
            verb,
        }
    };
    assert!(ambiguous(
        &rule("get", "/v1/x/accounts/{id}"),
        &rule("get", "/v1/x/accounts/summary")
    ));
    assert!(ambiguous(
        &rule("get", "/v1/x/accounts/{id}"),
        &rule("get", "/v1/x/accounts/{id}:summary")
    ));
    assert!(!ambiguous(
        &rule("get", "/v1/x/accounts/{id}"),
        &rule("get", "/v1/x/accounts:summary")
    ));
    assert!(!ambiguous(
        &rule("get", "/v1/x/accounts/{id}"),
        &rule("post", "/v1/x/accounts/{id}:close")
    ));
    assert!(!ambiguous(
        &rule("get", "/v1/x/a/{id}/b"),
        &rule("get", "/v1/x/a/{id}/c")
    ));

    let pool = pool();
    let get_account = pool
        .get_message_by_name("themodel.segmentation.v1.GetAccountRequest")
        .expect("GetAccountRequest");
    let update_account = pool
        .get_message_by_name("themodel.segmentation.v1.UpdateAccountRequest")
        .expect("UpdateAccountRequest");
    let batch = pool
        .get_message_by_name("themodel.segmentation.v1.BatchUpsertAccountsRequest")
        .expect("BatchUpsertAccountsRequest");
    assert!(resolve(&get_account, "id").is_ok());
    assert!(resolve(&get_account, "nope").is_err());
    assert!(resolve(&update_account, "account.id").is_ok());
    assert!(
        resolve(&update_account, "account").is_err(),
        "a message is not a scalar"
    );
    assert!(
        resolve(&update_account, "account.acv").is_err(),
        "Money is not a scalar"
    );
    assert!(
        resolve(&batch, "accounts.id").is_err(),
        "inside a repeated field"
    );
    let accounts = batch.get_field_by_name("accounts").expect("accounts");
    assert!(!query_expressible(&accounts, 0));
}
