//! The OpenAPI 3.1 document of the JSON/REST routes. It is generated from the
//! same descriptors the routes are, so it describes exactly what the gateway
//! serves: one operation per route, one schema per message in the canonical
//! proto3 JSON mapping, and the contracts' comments as descriptions.

use std::collections::{BTreeMap, HashMap};

use prost_reflect::{
    DescriptorPool, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
};
use serde_json::{Map, Value, json};
use themodel_platform::registry;

use crate::forward::SOURCE_HEADER;
use crate::rest::{
    REQUEST_TIMEOUT,
    routes::{Body, Route, Routes},
    template::{Segment, Template},
};

/// Where component schemas are referenced from.
const SCHEMAS: &str = "#/components/schemas/";
/// The schema of every error body.
const STATUS: &str = "google.rpc.Status";
/// Content type of streamed bodies.
const NDJSON: &str = "application/x-ndjson";
/// A `google.protobuf.Duration` in the JSON mapping (`1.5s`).
const DURATION_PATTERN: &str = r"^-?[0-9]+(\.[0-9]+)?s$";
/// Well-known types whose JSON form is a string or number, so that a query
/// parameter can give them (the transcoder passes such text through).
const TEXT_WELL_KNOWN: [&str; 11] = [
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.protobuf.DoubleValue",
    "google.protobuf.FloatValue",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.Int32Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
];

/// The OpenAPI document of `routes`, whose RPCs are described by `pool`.
/// Objects' keys are sorted, so the document's text is stable.
pub fn document(routes: &Routes, pool: &DescriptorPool) -> Value {
    let mut builder = Builder {
        comments: Comments::new(pool),
        schemas: BTreeMap::new(),
    };
    let (mut paths, tags) = builder.paths(routes.all());
    paths.insert("/openapi.json".to_owned(), openapi_path_item());
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "THE MODEL customer-success suite",
            "version": env!("CARGO_PKG_VERSION"),
            "license": { "name": env!("CARGO_PKG_LICENSE"), "identifier": env!("CARGO_PKG_LICENSE") },
            "description": "JSON/REST API of the suite, served by the gateway and transcoded to \
                the services' gRPC contracts by their google.api.http rules. Messages use the \
                canonical proto3 JSON mapping: lowerCamelCase names (the proto names are also \
                accepted), 64-bit integers as strings, enums by name, unset fields omitted.",
        },
        "servers": [{
            "url": format!("http://127.0.0.1:{}", registry::GATEWAY_PORT),
            "description": "The gateway's default address.",
        }],
        "security": [{ "bearer": [] }],
        "tags": tags,
        "paths": paths,
        "components": components(builder.schemas),
    });
    document.sort_all_objects();
    document
}

/// The components: the schemas the operations use, the error response and
/// the shared parameters.
fn components(mut schemas: BTreeMap<String, Value>) -> Value {
    schemas.extend(status_schemas());
    json!({
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A token issued to a user or a service of the suite.",
            },
        },
        "parameters": {
            "RequestTimeout": {
                "name": REQUEST_TIMEOUT,
                "in": "header",
                "required": false,
                "description": "The call's deadline in seconds (decimals allowed): at least 1, \
                    at most 86400. Past it the call ends with 504.",
                "schema": { "type": "number", "minimum": 1, "maximum": 86400 },
            },
            "Source": {
                "name": SOURCE_HEADER,
                "in": "header",
                "required": true,
                "description": "The service whose own instance of this shared contract to call.",
                "schema": {
                    "type": "string",
                    "enum": registry::SERVICES.iter().map(|s| s.name).collect::<Vec<_>>(),
                },
            },
        },
        "responses": { "Error": error_response() },
        "schemas": schemas,
    })
}

/// The document of the suite's contracts as `docs/openapi.json` holds it:
/// pretty-printed, with a final newline.
pub fn generate() -> anyhow::Result<String> {
    let pool = crate::rest::descriptor_pool()?;
    let routes = Routes::from_pool(&pool)?;
    let mut text = serde_json::to_string_pretty(&document(&routes, &pool))?;
    text.push('\n');
    Ok(text)
}

/// Builds operations, defining the schemas they use as it goes.
struct Builder {
    comments: Comments,
    /// Component schemas by full name, each defined on first use.
    schemas: BTreeMap<String, Value>,
}

impl Builder {
    /// The path items of `routes`, and a tag per service (in the contracts'
    /// order) described by the service's comment.
    fn paths(&mut self, routes: &[Route]) -> (BTreeMap<String, Map<String, Value>>, Vec<Value>) {
        let names = path_names(routes);
        let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        let mut tags: Vec<Value> = Vec::new();
        for route in routes {
            let plain = plain_names(&route.template);
            let named = names.get(&shape(&route.template)).unwrap_or(&plain);
            paths.entry(named.openapi_path()).or_default().insert(
                route.method.as_str().to_ascii_lowercase(),
                self.operation(route, named),
            );
            let service = route.rpc.parent_service();
            if !tags.iter().any(|tag| tag["name"] == service.name()) {
                let mut tag = json!({ "name": service.name() });
                describe(
                    &mut tag,
                    self.comments.get(&service.parent_file(), service.path()),
                );
                tags.push(tag);
            }
        }
        (paths, tags)
    }

    /// The operation of `route`, under the path `named` (the route's template
    /// or one differing only in its variables' names).
    fn operation(&mut self, route: &Route, named: &Template) -> Value {
        let rpc = &route.rpc;
        let mut operation = json!({
            "operationId": format!("{}_{}", rpc.parent_service().name(), rpc.name()),
            "tags": [rpc.parent_service().name()],
            "parameters": self.parameters(route, named),
            "responses": {
                "200": self.success(route),
                "default": { "$ref": "#/components/responses/Error" },
            },
        });
        if let Some(comment) = self.comments.get(&rpc.parent_file(), rpc.path()) {
            let summary = first_sentence(comment);
            operation["summary"] = summary.into();
            if summary != comment {
                operation["description"] = comment.into();
            }
        }
        if route.body == Body::Whole {
            operation["requestBody"] = self.request_body(route);
        }
        operation
    }

    /// Path variables, then query parameters (for a route without a body),
    /// then headers.
    fn parameters(&mut self, route: &Route, named: &Template) -> Vec<Value> {
        let input = route.rpc.input();
        let mut parameters = Vec::new();
        for (name, field_path) in variables(named).zip(variables(&route.template)) {
            // Names differ only where another route shares this path.
            let note = (name != field_path).then(|| format!("Sets the request's `{field_path}`."));
            // Every variable names such a field: the routes were checked.
            let schema = match crate::rest::transcode::path_field(&input, field_path) {
                Ok(field) => self.field(&field),
                Err(_) => json!({ "type": "string" }),
            };
            parameters.push(parameter(name, "path", schema, note));
        }
        if route.body == Body::None {
            let bound: Vec<&str> = variables(&route.template).collect();
            parameters.extend(self.query_parameters(&input, &bound));
        }
        parameters.push(json!({ "$ref": "#/components/parameters/RequestTimeout" }));
        if is_shared(route) {
            parameters.push(json!({ "$ref": "#/components/parameters/Source" }));
        }
        parameters
    }

    /// A query parameter for each field of `input` a query can set, except
    /// those the path sets (`bound`).
    fn query_parameters(&mut self, input: &MessageDescriptor, bound: &[&str]) -> Vec<Value> {
        let mut chains = Vec::new();
        query_fields(input, &[], &mut chains);
        let mut parameters = Vec::new();
        for chain in chains {
            let Some(field) = chain.last() else { continue };
            if bound.contains(&join(&chain, FieldDescriptor::name).as_str()) {
                continue;
            }
            let name = join(&chain, FieldDescriptor::json_name);
            parameters.push(parameter(&name, "query", self.field(field), None));
        }
        parameters
    }

    fn request_body(&mut self, route: &Route) -> Value {
        let schema = json!({ "schema": self.message(&route.rpc.input()) });
        if route.rpc.is_client_streaming() {
            return json!({
                "required": false,
                "description": "The stream of requests as newline-delimited JSON: one request \
                    object per line, every one checked before any is sent.",
                "content": { NDJSON: schema.clone(), "application/json": schema },
            });
        }
        let mut body = json!({
            "required": false,
            "content": { "application/json": schema },
        });
        if variables(&route.template).next().is_some() {
            body["description"] =
                "The request; the path's parameters override the fields they set.".into();
        }
        body
    }

    /// The success response: one message, or a stream of lines for a
    /// server-streaming RPC.
    fn success(&mut self, route: &Route) -> Value {
        let output = self.message(&route.rpc.output());
        if !route.rpc.is_server_streaming() {
            return json!({
                "description": "The response.",
                "content": { "application/json": { "schema": output } },
            });
        }
        json!({
            "description": "Newline-delimited JSON: one `result` line per message of the \
                stream, and an `error` line if the stream fails after it started.",
            "content": { NDJSON: { "schema": {
                "oneOf": [
                    object_with("result", output),
                    object_with("error", reference(STATUS)),
                ],
            } } },
        })
    }

    /// A reference to `message`'s schema, defining it (and what it uses)
    /// first; well-known types are written out in place.
    fn message(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        let name = message.full_name();
        if !self.schemas.contains_key(name) {
            // Claimed before the fields are walked, so a recursive message
            // refers to itself rather than looping.
            self.schemas.insert(name.to_owned(), Value::Null);
            let properties = message
                .fields()
                .map(|field| (field.json_name().to_owned(), self.field(&field)))
                .collect::<Map<_, _>>();
            // The transcoder refuses unknown fields.
            let mut schema = json!({
                "type": "object",
                "properties": properties,
                "additionalProperties": false,
            });
            describe(
                &mut schema,
                self.comments.get(&message.parent_file(), message.path()),
            );
            self.schemas.insert(name.to_owned(), schema);
        }
        reference(name)
    }

    /// A reference to `enumeration`'s schema, defining it first: the value's
    /// name (as written), or its number (as also read).
    fn enumeration(&mut self, enumeration: &EnumDescriptor) -> Value {
        let name = enumeration.full_name();
        if !self.schemas.contains_key(name) {
            let names: Vec<String> = enumeration.values().map(|v| v.name().to_owned()).collect();
            let mut schema = json!({
                "anyOf": [
                    { "type": "string", "enum": names },
                    { "type": "integer", "format": "int32" },
                ],
            });
            describe(&mut schema, self.enum_description(enumeration).as_deref());
            self.schemas.insert(name.to_owned(), schema);
        }
        reference(name)
    }

    /// The enum's comment, then each value's.
    fn enum_description(&self, enumeration: &EnumDescriptor) -> Option<String> {
        let comment = self
            .comments
            .get(&enumeration.parent_file(), enumeration.path());
        let values: Vec<String> = enumeration
            .values()
            .filter_map(|v| {
                let comment = self.comments.get(&v.parent_file(), v.path())?;
                Some(format!("- `{}`: {comment}", v.name()))
            })
            .collect();
        let values = (!values.is_empty()).then(|| values.join("\n"));
        let text: Vec<String> = comment
            .map(str::to_owned)
            .into_iter()
            .chain(values)
            .collect();
        (!text.is_empty()).then(|| text.join("\n\n"))
    }

    /// The schema of a field's value, with the field's comment.
    fn field(&mut self, field: &FieldDescriptor) -> Value {
        let kind = field.kind();
        let mut schema = match kind.as_message() {
            Some(entry) if field.is_map() => json!({
                "type": "object",
                "additionalProperties": self.kind(&entry.map_entry_value_field().kind()),
            }),
            _ if field.is_list() => json!({ "type": "array", "items": self.kind(&kind) }),
            _ => self.kind(&kind),
        };
        describe(
            &mut schema,
            self.comments.get(&field.parent_file(), field.path()),
        );
        schema
    }

    /// The schema of one value of `kind` in the JSON mapping. 64-bit integers
    /// are written as strings but read from numbers too; floats may be the
    /// strings `NaN`, `Infinity` and `-Infinity`.
    fn kind(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Message(message) => self.message(message),
            Kind::Enum(enumeration) => self.enumeration(enumeration),
            Kind::Double => json!({ "type": ["number", "string"], "format": "double" }),
            Kind::Float => json!({ "type": ["number", "string"], "format": "float" }),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({ "type": "integer", "format": "int32" })
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({ "type": "integer", "format": "uint32", "minimum": 0 })
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({ "type": ["string", "integer"], "format": "int64" })
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({ "type": ["string", "integer"], "format": "uint64" })
            }
            Kind::Bool => json!({ "type": "boolean" }),
            Kind::String => json!({ "type": "string" }),
            Kind::Bytes => json!({ "type": "string", "format": "byte" }),
        }
    }
}

/// The schema of a well-known type in the JSON mapping, which writes them as
/// plain JSON values rather than objects of their fields.
fn well_known(message: &MessageDescriptor) -> Option<Value> {
    let name = message.full_name().strip_prefix("google.protobuf.")?;
    Some(match name {
        "Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "Duration" => json!({ "type": "string", "pattern": DURATION_PATTERN }),
        "FieldMask" => json!({
            "type": "string",
            "description": "Field paths, comma-separated, in lowerCamelCase.",
        }),
        "Struct" => json!({ "type": "object" }),
        "Value" => json!({}),
        "ListValue" => json!({ "type": "array" }),
        "Empty" => json!({ "type": "object", "additionalProperties": false }),
        "Any" => json!({
            "type": "object",
            "required": ["@type"],
            "properties": { "@type": { "type": "string" } },
        }),
        "DoubleValue" | "FloatValue" => json!({ "type": ["number", "string", "null"] }),
        "Int64Value" | "UInt64Value" => json!({ "type": ["string", "integer", "null"] }),
        "Int32Value" | "UInt32Value" => json!({ "type": ["integer", "null"] }),
        "BoolValue" => json!({ "type": ["boolean", "null"] }),
        "StringValue" => json!({ "type": ["string", "null"] }),
        "BytesValue" => json!({ "type": ["string", "null"], "format": "byte" }),
        _ => return None,
    })
}

/// Every chain of fields (`filter`, `tier`) a query parameter can set: scalars,
/// enums and well-known types written as text, reached through singular
/// messages that are not well-known types. A message is not entered twice on
/// one chain, so recursive messages end.
fn query_fields(
    message: &MessageDescriptor,
    chain: &[FieldDescriptor],
    out: &mut Vec<Vec<FieldDescriptor>>,
) {
    for field in message.fields().filter(|f| !f.is_map()) {
        let mut path = chain.to_vec();
        path.push(field.clone());
        match field.kind() {
            Kind::Message(inner) if TEXT_WELL_KNOWN.contains(&inner.full_name()) => out.push(path),
            Kind::Message(inner) => {
                let entered = inner.full_name() == message.full_name()
                    || chain
                        .iter()
                        .any(|f| f.parent_message().full_name() == inner.full_name());
                if !field.is_list()
                    && !inner.full_name().starts_with("google.protobuf.")
                    && !entered
                {
                    query_fields(&inner, &path, out);
                }
            }
            _ => out.push(path),
        }
    }
}

fn join(chain: &[FieldDescriptor], name: fn(&FieldDescriptor) -> &str) -> String {
    chain.iter().map(name).collect::<Vec<_>>().join(".")
}

/// Whether `route`'s contract is one every service serves for itself (its
/// package names no service of the suite), which the gateway routes by the
/// source header.
fn is_shared(route: &Route) -> bool {
    let package = route.rpc.parent_service().package_name();
    let owner = package.split('.').nth(1).unwrap_or_default();
    registry::find(owner).is_none()
}

/// A parameter whose description is its schema's (the field's comment),
/// after `note`.
fn parameter(name: &str, location: &str, mut schema: Value, note: Option<String>) -> Value {
    let comment = schema
        .as_object_mut()
        .and_then(|s| s.remove("description"))
        .and_then(|d| d.as_str().map(str::to_owned));
    let mut parameter = json!({
        "name": name,
        "in": location,
        "required": location == "path",
        "schema": schema,
    });
    let description: Vec<String> = note.into_iter().chain(comment).collect();
    if !description.is_empty() {
        parameter["description"] = description.join(" ").into();
    }
    parameter
}

/// The variables of a template, in order.
fn variables(template: &Template) -> impl Iterator<Item = &str> {
    template
        .segments
        .iter()
        .filter_map(|segment| match segment {
            Segment::Variable(field) => Some(field.as_str()),
            Segment::Literal(_) => None,
        })
}

/// A template's path with its variables unnamed (`/v1/x/{}`): templates of
/// the same shape are one path to OpenAPI.
fn shape(template: &Template) -> String {
    let segments = template
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Variable(_) => Segment::Variable(String::new()),
            literal => literal.clone(),
        })
        .collect();
    Template {
        segments,
        verb: template.verb.clone(),
    }
    .openapi_path()
}

/// The template naming each shape's variables. OpenAPI forbids paths that
/// differ only in their variables' names (`/accounts/{id}` for GET,
/// `/accounts/{account.id}` for PATCH), so routes of one shape share the
/// names of the one with the fewest nested fields, the first of those; and a
/// nested field is named by its last part (`{account.id}` is `{id}`), as
/// tools that fill path templates read a dot as attribute access.
fn path_names(routes: &[Route]) -> HashMap<String, Template> {
    let nesting = |t: &Template| variables(t).map(|v| v.matches('.').count()).sum::<usize>();
    let mut names: HashMap<String, &Template> = HashMap::new();
    for route in routes {
        let named = names
            .entry(shape(&route.template))
            .or_insert(&route.template);
        if nesting(&route.template) < nesting(named) {
            *named = &route.template;
        }
    }
    names
        .into_iter()
        .map(|(shape, template)| (shape, plain_names(template)))
        .collect()
}

/// `template` with each variable named by the last part of its field path.
fn plain_names(template: &Template) -> Template {
    let segments = template
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Variable(field) => {
                Segment::Variable(field.rsplit('.').next().unwrap_or(field).to_owned())
            }
            literal => literal.clone(),
        })
        .collect();
    Template {
        segments,
        verb: template.verb.clone(),
    }
}

/// The contracts' leading comments, by file and location path.
struct Comments(HashMap<String, HashMap<Vec<i32>, String>>);

impl Comments {
    fn new(pool: &DescriptorPool) -> Self {
        let files = pool.files().map(|file| {
            let locations = file
                .file_descriptor_proto()
                .source_code_info
                .iter()
                .flat_map(|info| &info.location)
                .filter_map(|l| Some((l.path.clone(), tidy(l.leading_comments.as_deref()?)?)))
                .collect();
            (file.name().to_owned(), locations)
        });
        Self(files.collect())
    }

    /// The comment of the definition at `path` in `file` (as
    /// `source_code_info` numbers it: `[4, 0, 2, 1]` is the second field of
    /// the first message).
    fn get(&self, file: &FileDescriptor, path: &[i32]) -> Option<&str> {
        self.0.get(file.name())?.get(path).map(String::as_str)
    }
}

/// A comment's lines joined by spaces, its paragraphs by blank lines.
fn tidy(comment: &str) -> Option<String> {
    let mut text = String::new();
    let mut paragraph_ended = false;
    for line in comment.lines().map(str::trim) {
        if line.is_empty() {
            paragraph_ended = !text.is_empty();
            continue;
        }
        if !text.is_empty() {
            text.push_str(if paragraph_ended { "\n\n" } else { " " });
        }
        text.push_str(line);
        paragraph_ended = false;
    }
    (!text.is_empty()).then_some(text)
}

/// The first sentence of `text`: up to a full stop followed by a capital
/// (so `e.g. the` does not end it), within the first paragraph.
fn first_sentence(text: &str) -> &str {
    let paragraph = text.split("\n\n").next().unwrap_or(text);
    paragraph
        .match_indices(". ")
        .find(|(i, _)| paragraph[i + 2..].starts_with(char::is_uppercase))
        .map_or(paragraph, |(i, _)| &paragraph[..=i])
}

/// Sets `value`'s description, if there is one.
fn describe(value: &mut Value, description: Option<&str>) {
    if let (Some(object), Some(description)) = (value.as_object_mut(), description) {
        object.insert("description".to_owned(), description.into());
    }
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{SCHEMAS}{name}") })
}

/// An object of exactly one property, `name`.
fn object_with(name: &str, schema: Value) -> Value {
    json!({
        "type": "object",
        "required": [name],
        "properties": { name: schema },
        "additionalProperties": false,
    })
}

/// The error response every operation may give.
fn error_response() -> Value {
    json!({
        "description": "The call failed; the body is its google.rpc.Status. The HTTP status \
            follows the gRPC code: 400 INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION or a \
            malformed request; 401 UNAUTHENTICATED; 403 PERMISSION_DENIED; 404 NOT_FOUND or no \
            such path; 405 a method the path does not take; 409 ALREADY_EXISTS, ABORTED; 412 a \
            stale etag (FAILED_PRECONDITION ETAG_MISMATCH); 413 a body over the limit; 415 a body \
            that is not JSON; 429 RESOURCE_EXHAUSTED; 499 CANCELLED; 500 UNKNOWN, INTERNAL, \
            DATA_LOSS; 501 UNIMPLEMENTED; 503 UNAVAILABLE; 504 DEADLINE_EXCEEDED.",
        "headers": {
            "WWW-Authenticate": {
                "description": "`Bearer`, with 401.",
                "schema": { "type": "string" },
            },
            "Retry-After": {
                "description": "Seconds to wait before trying again, with 429.",
                "schema": { "type": "integer", "minimum": 0 },
            },
            "Allow": {
                "description": "The methods the path takes, with 405.",
                "schema": { "type": "string" },
            },
        },
        "content": { "application/json": { "schema": reference(STATUS) } },
    })
}

/// `google.rpc.Status` and the details the suite's errors carry.
fn status_schemas() -> [(String, Value); 4] {
    let type_url = |name: &str| json!({ "type": "string", "const": format!("type.googleapis.com/google.rpc.{name}") });
    let detail = |name: &str, properties: Value, description: &str| {
        let mut properties = properties;
        properties["@type"] = type_url(name);
        (
            format!("google.rpc.{name}"),
            json!({
                "type": "object",
                "required": ["@type"],
                "properties": properties,
                "description": description,
            }),
        )
    };
    [
        (
            STATUS.to_owned(),
            json!({
                "type": "object",
                "description": "Why a call failed.",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {
                        "type": "integer",
                        "format": "int32",
                        "description": "The gRPC status code (3 INVALID_ARGUMENT, 5 NOT_FOUND, ...).",
                    },
                    "message": { "type": "string", "description": "For the developer, in English." },
                    "details": {
                        "type": "array",
                        "description": "Machine-readable details, each with its `@type`.",
                        "items": { "anyOf": [
                            reference("google.rpc.ErrorInfo"),
                            reference("google.rpc.BadRequest"),
                            reference("google.rpc.RetryInfo"),
                            {
                                "type": "object",
                                "required": ["@type"],
                                "properties": { "@type": { "type": "string" } },
                            },
                        ] },
                    },
                },
            }),
        ),
        detail(
            "ErrorInfo",
            json!({
                "reason": { "type": "string", "description": "Why, as an UPPER_SNAKE_CASE constant." },
                "domain": { "type": "string", "description": "The service that gave the reason." },
                "metadata": { "type": "object", "additionalProperties": { "type": "string" } },
            }),
            "The reason of an error, to act upon.",
        ),
        detail(
            "BadRequest",
            json!({
                "fieldViolations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {
                                "type": "string",
                                "description": "The field at fault (`body`, `query.pageSize`, ...).",
                            },
                            "description": { "type": "string" },
                        },
                    },
                },
            }),
            "What is wrong with the request.",
        ),
        detail(
            "RetryInfo",
            json!({ "retryDelay": { "type": "string", "pattern": DURATION_PATTERN } }),
            "How long to wait before trying again.",
        ),
    ]
}

/// `GET /openapi.json`: this document, served without a token.
fn openapi_path_item() -> Map<String, Value> {
    let mut item = Map::new();
    item.insert(
        "get".to_owned(),
        json!({
            "operationId": "OpenApi_GetDocument",
            "summary": "This document.",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document.",
                    "content": { "application/json": { "schema": { "type": "object" } } },
                },
            },
        }),
    );
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes_and_document() -> (Routes, Value) {
        let pool = crate::rest::descriptor_pool().expect("descriptors");
        let routes = Routes::from_pool(&pool).expect("routes");
        let document = document(&routes, &pool);
        (routes, document)
    }

    /// The operation serving `route`, and the path it is under.
    fn operation_of<'a>(document: &'a Value, route: &Route) -> (String, &'a Value) {
        let method = route.method.as_str().to_ascii_lowercase();
        let paths = document["paths"].as_object().expect("paths");
        let found = paths.iter().find(|(path, item)| {
            item.get(&method).is_some()
                && Template::parse(path).is_ok_and(|t| shape(&t) == shape(&route.template))
        });
        let (path, item) = found.unwrap_or_else(|| panic!("no operation for {}", route.grpc_path));
        (path.clone(), &item[&method])
    }

    fn parameters<'a>(operation: &'a Value, location: &str) -> Vec<&'a Value> {
        operation["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|p| p["in"] == location)
            .collect()
    }

    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(target)) = object.get("$ref") {
                    out.push(target);
                }
                object.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_route_has_its_operation_with_its_path_variables() {
        let (routes, document) = routes_and_document();
        assert!(!routes.all().is_empty());
        for route in routes.all() {
            let (path, operation) = operation_of(&document, route);
            let rpc = &route.rpc;
            assert_eq!(
                operation["operationId"],
                format!("{}_{}", rpc.parent_service().name(), rpc.name())
            );
            let template = Template::parse(&path).expect("the path parses");
            let names: Vec<&str> = parameters(operation, "path")
                .iter()
                .map(|p| p["name"].as_str().expect("name"))
                .collect();
            assert_eq!(names, variables(&template).collect::<Vec<_>>(), "{path}");
            assert_eq!(names.len(), variables(&route.template).count(), "{path}");
            if path != route.template.openapi_path() {
                // Renamed to share the path: each says which field it sets.
                for (parameter, field) in parameters(operation, "path")
                    .iter()
                    .zip(variables(&route.template))
                {
                    let description = parameter["description"].as_str().unwrap_or_default();
                    assert!(
                        parameter["name"] == field || description.contains(field),
                        "{path}: {field}"
                    );
                }
            }
        }
    }

    #[test]
    fn operation_ids_are_unique_and_every_ref_resolves() {
        let (_, document) = routes_and_document();
        let mut ids = std::collections::HashSet::new();
        for item in document["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("path item").values() {
                let id = operation["operationId"].as_str().expect("operationId");
                assert!(ids.insert(id.to_owned()), "{id} twice");
            }
        }
        let mut targets = Vec::new();
        refs(&document, &mut targets);
        assert!(!targets.is_empty());
        for target in targets {
            let pointer = target.strip_prefix('#').expect("a local reference");
            let resolved = document.pointer(pointer);
            assert!(
                resolved.is_some_and(|v| !v.is_null()),
                "{target} does not resolve"
            );
        }
    }

    #[test]
    fn get_account_is_described() {
        let (_, document) = routes_and_document();
        let operation = &document["paths"]["/v1/segmentation/accounts/{id}"]["get"];
        assert_eq!(operation["operationId"], "SegmentationService_GetAccount");
        assert_eq!(operation["tags"], json!(["SegmentationService"]));
        assert_eq!(operation["summary"], "Gets an account by id.");
        assert_eq!(
            operation["parameters"],
            json!([
                {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "description": "Id of the account (a UUID, at most 64 characters).",
                    "schema": { "type": "string" },
                },
                { "$ref": "#/components/parameters/RequestTimeout" },
            ])
        );
        assert!(operation.get("requestBody").is_none());
        assert_eq!(
            operation["responses"],
            json!({
                "200": {
                    "description": "The response.",
                    "content": { "application/json": { "schema": {
                        "$ref": "#/components/schemas/themodel.segmentation.v1.GetAccountResponse",
                    } } },
                },
                "default": { "$ref": "#/components/responses/Error" },
            })
        );
        let response =
            &document["components"]["schemas"]["themodel.segmentation.v1.GetAccountResponse"];
        assert_eq!(response["additionalProperties"], false);
        assert_eq!(
            response["properties"]["account"]["$ref"],
            "#/components/schemas/themodel.segmentation.v1.Account"
        );
    }

    #[test]
    fn routes_sharing_a_path_share_its_names() {
        let (_, document) = routes_and_document();
        let item = &document["paths"]["/v1/segmentation/accounts/{id}"];
        let update = &item["patch"];
        assert_eq!(update["operationId"], "SegmentationService_UpdateAccount");
        let id = &parameters(update, "path")[0];
        assert_eq!(id["name"], "id");
        assert!(
            id["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Sets the request's `account.id`."))
        );
        assert!(
            document["paths"]
                .get("/v1/segmentation/accounts/{account.id}")
                .is_none()
        );
    }

    #[test]
    fn query_parameters_are_the_unbound_fields_of_bodiless_routes() {
        let (_, document) = routes_and_document();
        let list = &document["paths"]["/v1/segmentation/accounts"]["get"];
        let names: Vec<&str> = parameters(list, "query")
            .iter()
            .map(|p| p["name"].as_str().expect("name"))
            .collect();
        assert!(
            names.contains(&"pageSize") && names.contains(&"tier"),
            "{names:?}"
        );
        let tier = parameters(list, "query")
            .into_iter()
            .find(|p| p["name"] == "tier")
            .expect("tier");
        assert_eq!(
            tier["schema"]["$ref"],
            "#/components/schemas/themodel.segmentation.v1.Tier"
        );
        let create = &document["paths"]["/v1/segmentation/accounts"]["post"];
        assert!(parameters(create, "query").is_empty());
        assert_eq!(create["requestBody"]["required"], false);
    }

    #[test]
    fn streams_and_shared_contracts_are_described() {
        let (_, document) = routes_and_document();
        let watch = &document["paths"]["/v1/events:watch"]["get"];
        let line = &watch["responses"]["200"]["content"][NDJSON]["schema"]["oneOf"];
        assert_eq!(
            line[0]["properties"]["result"]["$ref"],
            "#/components/schemas/themodel.events.v1.WatchEventsResponse"
        );
        assert_eq!(
            line[1]["properties"]["error"]["$ref"],
            format!("{SCHEMAS}{STATUS}")
        );
        let source = json!({ "$ref": "#/components/parameters/Source" });
        assert!(
            watch["parameters"]
                .as_array()
                .expect("parameters")
                .contains(&source)
        );
        let usage = &document["paths"]["/v1/health/usage-events:stream"]["post"];
        assert!(usage["requestBody"]["content"][NDJSON]["schema"]["$ref"].is_string());
        assert!(
            !usage["parameters"]
                .as_array()
                .expect("parameters")
                .contains(&source)
        );
    }

    #[test]
    fn values_follow_the_json_mapping() {
        let (_, document) = routes_and_document();
        let schemas = &document["components"]["schemas"];
        let event = &schemas["themodel.events.v1.Event"]["properties"];
        assert_eq!(event["sequence"]["type"], json!(["string", "integer"]));
        assert_eq!(event["occurredAt"]["format"], "date-time");
        assert_eq!(event["payload"]["required"], json!(["@type"]));
        let outcome = &schemas["themodel.operations.v1.JobOutcome"]["anyOf"];
        assert_eq!(outcome[0]["enum"][1], "JOB_OUTCOME_SUCCEEDED");
        assert_eq!(outcome[1]["type"], "integer");
    }

    #[test]
    fn comments_are_tidied() {
        assert_eq!(
            tidy(" One\n two.\n\n Three.\n").as_deref(),
            Some("One two.\n\nThree.")
        );
        assert_eq!(tidy(" \n"), None);
        assert_eq!(
            first_sentence("Gets it, e.g. this one. Then more."),
            "Gets it, e.g. this one."
        );
        assert_eq!(first_sentence("No stop\n\nSecond."), "No stop");
    }

    /// `docs/openapi.json` is this document; `UPDATE_OPENAPI=1` rewrites it.
    #[test]
    fn docs_openapi_json_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let generated = generate().expect("the document");
        if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
            std::fs::write(&path, &generated).expect("docs/openapi.json written");
            return;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == generated,
            "docs/openapi.json is out of date; regenerate it with \
             `UPDATE_OPENAPI=1 cargo test -p themodel-gateway --lib openapi`"
        );
    }
}
