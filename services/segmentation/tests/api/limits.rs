//! Oversized and malformed input: refused with a short, bounded error that
//! changes nothing, never INTERNAL and never a broken connection.

use themodel_platform::{
    auth::Role,
    testing::{hex, raw_unary},
};
use themodel_proto::segmentation as pb;
use tonic::{Code, Status};

use crate::helpers::*;

const CREATE: &str = "/themodel.segmentation.v1.SegmentationService/CreateAccount";

/// The status and its details fit in a few KiB whatever the input size.
fn assert_bounded(status: &Status) {
    assert!(
        status.message().len() <= 1024,
        "message of {} bytes",
        status.message().len()
    );
    assert!(
        status.details().len() <= 8 * 1024,
        "details of {} bytes",
        status.details().len()
    );
}

#[tokio::test]
async fn oversized_strings_are_invalid_with_short_errors() {
    let app = spawn_app().await;
    let mut client = app.admin();
    // Six fields of the largest size stay under the 4 MiB message limit.
    for size in [8_000, 200_000, 600_000] {
        let huge = "x".repeat(size);
        let status = client
            .get_account(pb::GetAccountRequest { id: huge.clone() })
            .await
            .expect_err("oversized id");
        assert_eq!(violated_fields(&status), ["id"]);
        assert_bounded(&status);

        let status = client
            .create_account(create(pb::Account {
                external_id: huge.clone(),
                name: huge.clone(),
                industry: huge.clone(),
                owner_csm_id: huge.clone(),
                partner_id: huge.clone(),
                acv: Some(themodel_proto::common::Money {
                    currency_code: huge.clone(),
                    units: 1,
                    nanos: 0,
                }),
                ..Default::default()
            }))
            .await
            .expect_err("oversized fields");
        assert_eq!(
            violated_fields(&status),
            [
                "account.external_id",
                "account.name",
                "account.industry",
                "account.acv.currency_code",
                "account.owner_csm_id",
                "account.partner_id"
            ]
        );
        assert_bounded(&status);

        let status = client
            .update_account(pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    id: huge.clone(),
                    etag: huge.clone(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec![huge.clone(); 3],
                }),
                request_id: huge.clone(),
            })
            .await
            .expect_err("oversized update");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_bounded(&status);

        let status = client
            .list_accounts(pb::ListAccountsRequest {
                page_token: huge.clone(),
                external_id: huge.clone(),
                ..Default::default()
            })
            .await
            .expect_err("oversized listing");
        assert_eq!(violated_fields(&status), ["external_id", "page_token"]);
        assert_bounded(&status);
    }
    // Many bad mask paths are refused as one, not echoed one by one.
    let status = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: "0190a0b0-0000-7000-8000-000000000000".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["nope".repeat(25); 10_000],
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("huge mask");
    assert_eq!(violated_fields(&status), ["update_mask.paths"]);
    assert_bounded(&status);
    assert!(app.all_accounts().await.is_empty());
}

/// Bytes no generated client sends: an invalid UTF-8 string in
/// `account.name`, and a length prefix running past the end of the message.
const UNDECODABLE: [&str; 2] = ["0a0b1a06fffe2062616432050a034a5059", "0affffffff0f"];

#[tokio::test]
async fn undecodable_requests_are_invalid_argument_and_oversized_ones_resource_exhausted() {
    let app = spawn_app().await;
    let bearer = themodel_platform::testing::bearer(Role::Admin, None);
    for body in UNDECODABLE {
        let status = raw_unary(app.channel(), CREATE, hex(body), &bearer)
            .await
            .expect_err("undecodable");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(reason(&status), "MALFORMED_REQUEST");
        assert_bounded(&status);
    }
    // Over the 4 MiB message limit.
    let status = raw_unary(app.channel(), CREATE, vec![0; 5 << 20], &bearer)
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(&status), "MESSAGE_TOO_LARGE");
    assert!(app.all_accounts().await.is_empty());
}
