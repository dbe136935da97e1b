//! The JSON/REST routes, read from the contracts' descriptors: every method
//! of a `themodel.*` service with a `google.api.http` rule is one route, so a
//! new RPC is served as soon as its contract says how.

use std::collections::HashMap;

use http::Method;
use prost_reflect::{DescriptorPool, MethodDescriptor, Value};

use super::template::Template;

/// The extension holding a method's HTTP rule.
const HTTP_RULE: &str = "google.api.http";
/// The rule's fields naming the HTTP method and path template.
const VERBS: [(&str, Method); 5] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("patch", Method::PATCH),
];

/// What of the request the HTTP body carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Nothing: every field comes from the path and the query.
    None,
    /// The whole request message (`body: "*"`).
    Whole,
}

/// One method served over JSON/REST.
#[derive(Debug, Clone)]
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path template.
    pub template: Template,
    /// What the body carries.
    pub body: Body,
    /// The RPC.
    pub rpc: MethodDescriptor,
    /// The RPC's gRPC path, `/<package>.<Service>/<Method>`.
    pub grpc_path: String,
}

/// Every route, found by the first two segments of the path (`v1/<service>`)
/// so a request is matched against its service's routes only.
#[derive(Debug, Default)]
pub struct Routes {
    all: Vec<Route>,
    /// Indexes into `all` by the path's first two segments.
    by_prefix: HashMap<(String, String), Vec<usize>>,
}

/// Where a request leads.
pub enum Found<'a> {
    /// A route and the path's bound variables.
    Route(&'a Route, Vec<(&'a str, String)>),
    /// The path exists, not with this method: these are allowed.
    MethodNotAllowed(Vec<Method>),
    /// No such path.
    NotFound,
}

impl Routes {
    /// The routes of every `themodel.*` service in `pool`; an RPC without an
    /// HTTP rule, or with a rule this gateway cannot serve, is an error.
    pub fn from_pool(pool: &DescriptorPool) -> anyhow::Result<Self> {
        let rule_ext = pool
            .get_extension_by_name(HTTP_RULE)
            .ok_or_else(|| anyhow::anyhow!("the descriptors lack {HTTP_RULE}"))?;
        let mut routes = Self::default();
        for service in pool.services() {
            if !service.full_name().starts_with("themodel.") {
                continue;
            }
            for rpc in service.methods() {
                let options = rpc.options();
                if !options.has_extension(&rule_ext) {
                    anyhow::bail!("{} has no {HTTP_RULE} rule", rpc.full_name());
                }
                let rule = options.get_extension(&rule_ext);
                let Value::Message(rule) = rule.as_ref() else {
                    anyhow::bail!("{}: {HTTP_RULE} is not a message", rpc.full_name());
                };
                let route = route_of(&rpc, rule)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", rpc.full_name()))?;
                routes.add(route);
            }
        }
        Ok(routes)
    }

    fn add(&mut self, route: Route) {
        if let Some(key) = prefix(&route.template) {
            self.by_prefix.entry(key).or_default().push(self.all.len());
            self.all.push(route);
        }
    }

    /// Every route, in the contracts' order.
    pub fn all(&self) -> &[Route] {
        &self.all
    }

    /// The route for `method` on `path`.
    pub fn find(&self, method: &Method, path: &str) -> Found<'_> {
        let mut parts = path.trim_start_matches('/').splitn(3, '/');
        let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
            return Found::NotFound;
        };
        // The second segment may carry a verb (`/v1/events:watch`).
        let b = b.split(':').next().unwrap_or(b);
        let Some(candidates) = self.by_prefix.get(&(a.to_owned(), b.to_owned())) else {
            return Found::NotFound;
        };
        let mut allowed = Vec::new();
        for route in candidates.iter().map(|&i| &self.all[i]) {
            if let Some(bound) = route.template.matches(path) {
                if route.method == method {
                    return Found::Route(route, bound);
                }
                allowed.push(route.method.clone());
            }
        }
        if allowed.is_empty() {
            Found::NotFound
        } else {
            Found::MethodNotAllowed(allowed)
        }
    }
}

/// The first two literal segments of a template.
fn prefix(template: &Template) -> Option<(String, String)> {
    use super::template::Segment::Literal;
    match template.segments.as_slice() {
        [Literal(a), Literal(b), ..] => Some((a.clone(), b.clone())),
        _ => None,
    }
}

fn route_of(rpc: &MethodDescriptor, rule: &prost_reflect::DynamicMessage) -> Result<Route, String> {
    let mut found = None;
    for (field, method) in VERBS {
        if let Some(Value::String(path)) = rule.get_field_by_name(field).as_deref()
            && !path.is_empty()
        {
            found = Some((method, path.clone()));
        }
    }
    let (method, path) = found.ok_or("the rule names no get, put, post, delete or patch path")?;
    let template = Template::parse(&path)?;
    if prefix(&template).is_none() {
        return Err(format!("{path}: must start with /v1/<service>"));
    }
    let body = match rule.get_field_by_name("body").as_deref() {
        Some(Value::String(b)) if b.is_empty() => Body::None,
        Some(Value::String(b)) if b == "*" => Body::Whole,
        Some(Value::String(b)) => {
            return Err(format!("body {b:?}: only \"\" and \"*\" are served"));
        }
        _ => Body::None,
    };
    if method == Method::GET && body != Body::None {
        return Err("a GET rule cannot take a body".into());
    }
    if rpc.is_client_streaming() && body != Body::Whole {
        return Err("a client-streaming RPC needs body \"*\"".into());
    }
    for segment in &template.segments {
        if let super::template::Segment::Variable(field) = segment {
            super::transcode::path_field(&rpc.input(), field)?;
        }
    }
    Ok(Route {
        grpc_path: format!("/{}/{}", rpc.parent_service().full_name(), rpc.name()),
        method,
        template,
        body,
        rpc: rpc.clone(),
    })
}

#[cfg(test)]
mod tests {
    use prost_types::{
        DescriptorProto, FileDescriptorProto, MethodDescriptorProto, ServiceDescriptorProto,
    };

    use super::*;

    /// The suite's contracts plus a service whose one RPC has no HTTP rule.
    fn pool_with_unruled_rpc() -> DescriptorPool {
        let mut pool = crate::rest::descriptor_pool().expect("descriptors");
        let message = |name: &str| DescriptorProto {
            name: Some(name.into()),
            ..Default::default()
        };
        pool.add_file_descriptor_proto(FileDescriptorProto {
            name: Some("themodel/newcomer/v1/newcomer.proto".into()),
            package: Some("themodel.newcomer.v1".into()),
            message_type: vec![message("PingRequest"), message("PingResponse")],
            service: vec![ServiceDescriptorProto {
                name: Some("NewcomerService".into()),
                method: vec![MethodDescriptorProto {
                    name: Some("Ping".into()),
                    input_type: Some(".themodel.newcomer.v1.PingRequest".into()),
                    output_type: Some(".themodel.newcomer.v1.PingResponse".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            syntax: Some("proto3".into()),
            ..Default::default()
        })
        .expect("a valid file");
        pool
    }

    #[test]
    fn every_rpc_of_the_contracts_is_routed() {
        let pool = crate::rest::descriptor_pool().expect("descriptors");
        let routes = Routes::from_pool(&pool).expect("every RPC has a rule");
        let rpcs: usize = pool
            .services()
            .filter(|s| s.full_name().starts_with("themodel."))
            .map(|s| s.methods().len())
            .sum();
        assert_eq!(routes.all().len(), rpcs);
        let Found::Route(route, bound) = routes.find(&Method::GET, "/v1/segmentation/accounts/a1")
        else {
            panic!("GetAccount is routed");
        };
        assert_eq!(
            route.grpc_path,
            "/themodel.segmentation.v1.SegmentationService/GetAccount"
        );
        assert_eq!(bound, [("id", "a1".to_owned())]);
        assert!(matches!(
            routes.find(&Method::PUT, "/v1/segmentation/accounts/a1"),
            Found::MethodNotAllowed(_)
        ));
        assert!(matches!(
            routes.find(&Method::GET, "/v1/segmentation/nothing"),
            Found::NotFound
        ));
        assert!(matches!(routes.find(&Method::GET, "/"), Found::NotFound));
    }

    #[test]
    fn an_rpc_without_a_rule_is_refused_at_start() {
        let err = Routes::from_pool(&pool_with_unruled_rpc()).expect_err("refused");
        assert!(
            err.to_string()
                .contains("themodel.newcomer.v1.NewcomerService.Ping has no google.api.http"),
            "{err}"
        );
    }
}
