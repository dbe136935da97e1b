//! The feature catalogue: features of the expansion service's products.

use themodel_platform::auth::Role;
use themodel_proto::health as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn features_belong_to_catalogue_products_and_change_under_their_etag() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let created = create_feature(&mut admin, feature("analytics", "dashboards", true)).await;
    assert!(created.key_feature);
    assert!(!created.etag.is_empty());

    let unknown = admin
        .create_feature(pb::CreateFeatureRequest {
            feature: Some(feature("nope", "dashboards", true)),
            request_id: String::new(),
        })
        .await
        .expect_err("unknown product");
    assert_eq!(unknown.code(), Code::NotFound);
    let taken = admin
        .create_feature(pb::CreateFeatureRequest {
            feature: Some(feature("analytics", "dashboards", false)),
            request_id: String::new(),
        })
        .await
        .expect_err("taken");
    assert_eq!(taken.code(), Code::AlreadyExists);
    let bad = admin
        .create_feature(pb::CreateFeatureRequest {
            feature: Some(pb::Feature {
                display_name: String::new(),
                ..feature("analytics", "Bad Key", false)
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&bad),
        vec!["feature.feature_key", "feature.display_name"]
    );

    create_feature(&mut admin, feature("analytics", "exports", false)).await;
    let listed = app
        .client(Role::PartnerUser)
        .list_features(pb::ListFeaturesRequest {
            product_key: "analytics".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.features.len(), 1);
    assert_eq!(listed.features[0].feature_key, "dashboards");
    assert!(!listed.next_page_token.is_empty());

    let update = |etag: &str| pb::UpdateFeatureRequest {
        feature: Some(pb::Feature {
            product_key: "analytics".into(),
            feature_key: "dashboards".into(),
            retired: true,
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["retired".into()],
        }),
        request_id: String::new(),
    };
    let retired = admin
        .update_feature(update(&created.etag))
        .await
        .expect("retire")
        .into_inner()
        .feature
        .expect("feature");
    assert!(retired.retired);
    assert_eq!(retired.display_name, created.display_name);
    let stale = admin
        .update_feature(update(&created.etag))
        .await
        .expect_err("stale");
    assert_eq!(reason(&stale), "ETAG_MISMATCH");

    let csm = app
        .client(Role::Csm)
        .create_feature(pb::CreateFeatureRequest {
            feature: Some(feature("analytics", "alerts", false)),
            request_id: String::new(),
        })
        .await
        .expect_err("csm");
    assert_eq!(csm.code(), Code::PermissionDenied);

    let events = app.events().await;
    assert_eq!(payloads::<pb::FeatureCreated>(&events).len(), 2);
    let updated: Vec<pb::FeatureUpdated> = payloads(&events);
    assert_eq!(updated[0].changed_fields, vec!["retired"]);
}
