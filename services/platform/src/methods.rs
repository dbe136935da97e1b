//! The gRPC methods of every contract a server of the suite serves (the
//! suite's own, health and reflection), read once from the compiled-in
//! descriptors: which stream their responses, and the bounded set of names
//! metrics may carry.

use std::{collections::HashMap, sync::OnceLock};

use prost::Message as _;

/// Metric label of a path that names no known method: a caller choosing
/// paths freely must not grow the metrics without bound.
pub const UNKNOWN: &str = "unknown";

/// Every known method path (`/package.Service/Method`) and whether its
/// response streams.
fn all() -> &'static HashMap<String, bool> {
    static METHODS: OnceLock<HashMap<String, bool>> = OnceLock::new();
    METHODS.get_or_init(|| {
        let sets = [
            themodel_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ];
        let mut methods = HashMap::new();
        for bytes in sets {
            let Ok(set) = prost_types::FileDescriptorSet::decode(bytes) else {
                tracing::error!("a compiled-in descriptor set does not decode");
                continue;
            };
            for file in set.file {
                let package = file.package();
                for service in &file.service {
                    for method in &service.method {
                        methods.insert(
                            format!("/{package}.{}/{}", service.name(), method.name()),
                            method.server_streaming(),
                        );
                    }
                }
            }
        }
        methods
    })
}

/// True when the method at `path` streams its response.
pub fn is_streaming(path: &str) -> bool {
    all().get(path).copied().unwrap_or(false)
}

/// The full names of the gRPC services in `package` (e.g.
/// `themodel.segmentation.v1`), sorted.
pub fn services_in(package: &str) -> Vec<String> {
    let mut services: Vec<String> = all()
        .keys()
        .filter_map(|path| {
            let service = path.strip_prefix('/')?.split('/').next()?;
            let (pkg, _) = service.rsplit_once('.')?;
            (pkg == package).then(|| service.to_owned())
        })
        .collect();
    services.sort();
    services.dedup();
    services
}

/// The metric label of `path`: the path of a known method, else [`UNKNOWN`].
pub fn label(path: &str) -> &'static str {
    all()
        .get_key_value(path)
        .map_or(UNKNOWN, |(known, _)| known.as_str())
}

/// Every label [`label`] can return: each known method and [`UNKNOWN`].
pub fn labels() -> impl Iterator<Item = &'static str> {
    all()
        .keys()
        .map(String::as_str)
        .chain(std::iter::once(UNKNOWN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_come_from_the_descriptors() {
        assert!(is_streaming(
            "/themodel.events.v1.EventFeedService/WatchEvents"
        ));
        assert!(is_streaming("/grpc.health.v1.Health/Watch"));
        assert!(is_streaming(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!is_streaming(
            "/themodel.events.v1.EventFeedService/ListEvents"
        ));
        assert!(!is_streaming(
            "/themodel.segmentation.v1.SegmentationService/GetAccount"
        ));
        assert_eq!(
            label("/themodel.segmentation.v1.SegmentationService/GetAccount"),
            "/themodel.segmentation.v1.SegmentationService/GetAccount"
        );
        assert_eq!(label("/x.y/any-path-a-caller-invents"), UNKNOWN);
        assert_eq!(
            services_in("themodel.segmentation.v1"),
            ["themodel.segmentation.v1.SegmentationService"]
        );
    }
}
