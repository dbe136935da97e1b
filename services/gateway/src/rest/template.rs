//! Path templates of `google.api.http` rules, as the contracts write them:
//! literal segments and single-segment variables naming a request field
//! (`/v1/segmentation/accounts/{account.id}`), with an optional custom verb
//! (`/v1/segmentation/accounts:batchUpsert`).

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Must equal this text.
    Literal(String),
    /// Any one non-empty segment, bound to this field path.
    Variable(String),
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The segments after the leading `/`.
    pub segments: Vec<Segment>,
    /// The custom verb after the last `:`, if any.
    pub verb: Option<String>,
}

impl Template {
    /// Parses `template`; the contracts' shape only (see the module docs).
    pub fn parse(template: &str) -> Result<Self, String> {
        let rest = template
            .strip_prefix('/')
            .ok_or_else(|| format!("{template}: must start with /"))?;
        let (path, verb) = split_verb(rest);
        let segments = path
            .split('/')
            .map(|segment| {
                if let Some(inner) = segment.strip_prefix('{') {
                    let field = inner
                        .strip_suffix('}')
                        .filter(|f| !f.is_empty() && !f.contains(['=', '*', '{', '}']))
                        .ok_or_else(|| format!("{template}: unsupported variable {segment}"))?;
                    Ok(Segment::Variable(field.to_owned()))
                } else if segment.is_empty() || segment.contains(['{', '}', '*']) {
                    Err(format!("{template}: unsupported segment {segment:?}"))
                } else {
                    Ok(Segment::Literal(segment.to_owned()))
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            segments,
            verb: verb.map(str::to_owned),
        })
    }

    /// The variables bound by `path` (percent-decoded), or `None` when it does
    /// not match.
    pub fn matches(&self, path: &str) -> Option<Vec<(&str, String)>> {
        let rest = path.strip_prefix('/')?;
        let (path, verb) = split_verb(rest);
        if verb != self.verb.as_deref() {
            return None;
        }
        let mut bound = Vec::new();
        let mut parts = path.split('/');
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(text) if text == part => {}
                Segment::Literal(_) => return None,
                Segment::Variable(field) => {
                    if part.is_empty() {
                        return None;
                    }
                    // A malformed escape is kept as sent, for the service
                    // to refuse as an invalid value rather than a missing
                    // route.
                    let value = percent_decode(part).unwrap_or_else(|| part.to_owned());
                    bound.push((field.as_str(), value));
                }
            }
        }
        parts.next().is_none().then_some(bound)
    }

    /// The template with each variable written `{name}`, as OpenAPI paths
    /// are.
    pub fn openapi_path(&self) -> String {
        let mut path = String::new();
        for segment in &self.segments {
            path.push('/');
            match segment {
                Segment::Literal(text) => path.push_str(text),
                Segment::Variable(field) => {
                    path.push('{');
                    path.push_str(field);
                    path.push('}');
                }
            }
        }
        if let Some(verb) = &self.verb {
            path.push(':');
            path.push_str(verb);
        }
        path
    }
}

/// Splits a custom verb off the last segment (`accounts:batchUpsert`).
fn split_verb(path: &str) -> (&str, Option<&str>) {
    let last = path.rfind('/').map_or(0, |i| i + 1);
    match path[last..].rfind(':') {
        Some(i) => (&path[..last + i], Some(&path[last + i + 1..])),
        None => (path, None),
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or text that is not
/// UTF-8. (`+` stays a plus sign in a path.)
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_variables_and_verbs() {
        let t = Template::parse("/v1/segmentation/accounts/{account.id}").expect("parses");
        assert_eq!(
            t.matches("/v1/segmentation/accounts/a%2Fb"),
            Some(vec![("account.id", "a/b".to_owned())])
        );
        assert_eq!(t.matches("/v1/segmentation/accounts/"), None);
        assert_eq!(t.matches("/v1/segmentation/accounts/a/b"), None);
        assert_eq!(t.matches("/v1/segmentation/accounts/a:x"), None);
        assert_eq!(
            t.matches("/v1/segmentation/accounts/%zz"),
            Some(vec![("account.id", "%zz".to_owned())])
        );
        assert_eq!(t.openapi_path(), "/v1/segmentation/accounts/{account.id}");

        let v = Template::parse("/v1/segmentation/accounts:batchUpsert").expect("parses");
        assert_eq!(v.verb.as_deref(), Some("batchUpsert"));
        assert_eq!(
            v.matches("/v1/segmentation/accounts:batchUpsert"),
            Some(vec![])
        );
        assert_eq!(v.matches("/v1/segmentation/accounts"), None);
        assert_eq!(v.openapi_path(), "/v1/segmentation/accounts:batchUpsert");
    }

    #[test]
    fn refuses_what_the_contracts_do_not_use() {
        assert!(Template::parse("v1/x").is_err());
        assert!(Template::parse("/v1/{name=accounts/*}").is_err());
        assert!(Template::parse("/v1/**").is_err());
        assert!(Template::parse("/v1//x").is_err());
    }
}
