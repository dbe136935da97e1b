//! JSON to protobuf and back, by the canonical proto3 JSON mapping: a request
//! message from the body, the query and the path; gRPC message frames; a
//! response message as JSON.

use std::collections::HashSet;
use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use prost_reflect::{
    Cardinality, DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
    ReflectMessage,
};
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::routes::Body;
use crate::error::Error;

/// Length of a gRPC message frame's header: compression flag and length.
const FRAME_HEADER: usize = 5;

/// The field `path` (`account.id`) names in `message`, when it is a singular
/// scalar reached through singular message fields, as a path variable must.
pub fn path_field(message: &MessageDescriptor, path: &str) -> Result<FieldDescriptor, String> {
    let mut current = message.clone();
    let mut fields = path.split('.').peekable();
    while let Some(name) = fields.next() {
        let field = current
            .get_field_by_name(name)
            .ok_or_else(|| format!("{} has no field {name}", current.full_name()))?;
        if field.cardinality() == Cardinality::Repeated {
            return Err(format!("{path}: {name} is repeated"));
        }
        match (field.kind(), fields.peek()) {
            (Kind::Message(next), Some(_)) => current = next,
            (Kind::Message(_), None) => return Err(format!("{path}: {name} is a message")),
            (_, Some(_)) => return Err(format!("{path}: {name} is not a message")),
            (_, None) => return Ok(field),
        }
    }
    Err(format!("{path}: names no field"))
}

/// The request of an RPC from its HTTP parts: the body (when the rule takes
/// one), then the query parameters, then the path's variables, each later
/// part overriding the earlier.
pub fn request(
    input: &MessageDescriptor,
    body_rule: Body,
    body: &[u8],
    query: Option<&str>,
    bound: &[(&str, String)],
) -> Result<DynamicMessage, Error> {
    let mut message = match body_rule {
        Body::Whole if !is_blank(body) => {
            parse_body(input, body).map_err(|e| Error::invalid("body", e))?
        }
        _ => DynamicMessage::new(input.clone()),
    };
    for (key, values) in query_pairs(query)? {
        if body_rule == Body::Whole {
            return Err(Error::invalid(
                format!("query.{key}"),
                "this route takes its fields in the JSON body, not the query",
            ));
        }
        overlay(&mut message, &key, &values, "query")?;
    }
    for (field, value) in bound {
        overlay(&mut message, field, std::slice::from_ref(value), "path")?;
    }
    Ok(message)
}

/// The messages of a client stream: JSON objects one after another
/// (newline-delimited JSON), every one checked before any is sent.
pub fn stream_requests(
    input: &MessageDescriptor,
    body: &[u8],
) -> Result<Vec<DynamicMessage>, Error> {
    let mut messages = Vec::new();
    let mut rest = body;
    let mut index = 0;
    while !is_blank(rest) {
        let mut stream =
            serde_json::Deserializer::from_slice(rest).into_iter::<serde_json::Value>();
        let (value, used) = match stream.next() {
            Some(Ok(value)) => (value, stream.byte_offset()),
            Some(Err(e)) => return Err(Error::invalid(format!("body[{index}]"), e.to_string())),
            None => break,
        };
        let text = &rest[..used];
        if !value.is_object() {
            return Err(Error::invalid(
                format!("body[{index}]"),
                "each line must be a JSON object",
            ));
        }
        messages.push(
            parse_body(input, text).map_err(|e| Error::invalid(format!("body[{index}]"), e))?,
        );
        rest = &rest[used..];
        index += 1;
    }
    Ok(messages)
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// A message from a JSON object, refusing unknown and repeated fields.
fn parse_body(input: &MessageDescriptor, body: &[u8]) -> Result<DynamicMessage, String> {
    let bad = |e: serde_json::Error| e.to_string();
    let mut check = serde_json::Deserializer::from_slice(body);
    Unique.deserialize(&mut check).map_err(bad)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let message = DynamicMessage::deserialize_with_options(
        input.clone(),
        &mut de,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(bad)?;
    de.end().map_err(bad)?;
    Ok(message)
}

/// Sets the field at `path` from its text form(s), by merging a message that
/// holds just that field.
fn overlay(
    message: &mut DynamicMessage,
    path: &str,
    values: &[String],
    origin: &str,
) -> Result<(), Error> {
    let name = format!("{origin}.{path}");
    let invalid = |m: String| Error::invalid(name.clone(), m);
    let descriptor = message.descriptor();
    let mut current = descriptor.clone();
    let mut names: Vec<&str> = path.split('.').collect();
    let last = names.pop().unwrap_or_default();
    let mut chain = Vec::new();
    for part in &names {
        let field = find_field(&current, part).ok_or_else(|| invalid("no such field".into()))?;
        let Kind::Message(next) = field.kind() else {
            return Err(invalid(format!("{part} is not a message")));
        };
        if field.is_list() || field.is_map() {
            return Err(invalid(format!("{part} is repeated")));
        }
        chain.push(field.json_name().to_owned());
        current = next;
    }
    let field = find_field(&current, last).ok_or_else(|| invalid("no such field".into()))?;
    if field.is_map() {
        return Err(invalid("a map cannot be given in the query".into()));
    }
    let value = if field.is_list() {
        Value::Array(
            values
                .iter()
                .map(|v| text_value(&field, v))
                .collect::<Result<_, _>>()
                .map_err(invalid)?,
        )
    } else {
        let [value] = values else {
            return Err(invalid("given more than once".into()));
        };
        text_value(&field, value).map_err(invalid)?
    };
    let mut json = serde_json::Map::new();
    json.insert(field.json_name().to_owned(), value);
    let mut json = Value::Object(json);
    for name in chain.into_iter().rev() {
        let mut outer = serde_json::Map::new();
        outer.insert(name, json);
        json = Value::Object(outer);
    }
    let part = DynamicMessage::deserialize(descriptor, json).map_err(|e| invalid(e.to_string()))?;
    message
        .merge(part.encode_to_vec().as_slice())
        .map_err(|e| invalid(e.to_string()))
}

fn find_field(message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    message
        .get_field_by_name(name)
        .or_else(|| message.get_field_by_json_name(name))
}

/// The JSON value a text parameter stands for, by the field's kind: the
/// mapping reads numbers from strings, so only booleans, floats and enum
/// numbers change shape here.
fn text_value(field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    Ok(match field.kind() {
        Kind::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("{text:?} is not true or false")),
        },
        Kind::Enum(_) => match text.parse::<i32>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(text.to_owned()),
        },
        Kind::Double | Kind::Float => match text.parse::<f64>() {
            Ok(n) if n.is_finite() => serde_json::Number::from_f64(n)
                .map_or_else(|| Value::String(text.to_owned()), Value::Number),
            _ => Value::String(text.to_owned()),
        },
        Kind::Message(m) if !m.full_name().starts_with("google.protobuf.") => {
            return Err(format!(
                "{} cannot be given as text; send it in a JSON body",
                m.full_name()
            ));
        }
        _ => Value::String(text.to_owned()),
    })
}

/// The query's parameters, decoded, in order of first appearance, with the
/// values of a repeated name together.
fn query_pairs(query: Option<&str>) -> Result<Vec<(String, Vec<String>)>, Error> {
    let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |text: &str| {
            form_decode(text).ok_or_else(|| {
                Error::invalid("query", format!("{pair:?} is not percent-encoded UTF-8"))
            })
        };
        let (key, value) = (decode(key)?, decode(value)?);
        match pairs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => pairs.push((key, vec![value])),
        }
    }
    Ok(pairs)
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A message as one gRPC frame (uncompressed).
pub fn frame(message: &DynamicMessage) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(FRAME_HEADER + len);
    buf.put_u8(0);
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Encoding into a buffer of the right size cannot fail.
    let _ = message.encode(&mut buf);
    buf.freeze()
}

/// The next whole frame's message at the start of `buf`, taken off it;
/// `Ok(None)` while the frame is incomplete.
pub fn take_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, String> {
    if buf.len() < FRAME_HEADER {
        return Ok(None);
    }
    if buf[0] != 0 {
        return Err("the backend answered with a compressed message".into());
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if buf.len() < FRAME_HEADER + len {
        return Ok(None);
    }
    buf.advance(FRAME_HEADER);
    Ok(Some(buf.split_to(len).freeze()))
}

/// A message as canonical JSON.
pub fn to_json(message: &DynamicMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::new(&mut out);
    // Serializing a well-formed message into memory cannot fail.
    let _ =
        message.serialize_with_options(&mut serializer, &prost_reflect::SerializeOptions::new());
    out
}

/// Walks a JSON document and fails on the first object that names a key
/// twice (the mapping itself keeps the last, silently).
struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(UniqueVisitor)
    }
}

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor)?;
        Ok(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !seen.insert(key.clone().into_owned()) {
                return Err(de::Error::custom(format!("duplicate field '{key}'")));
            }
            map.next_value::<Unique>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}
