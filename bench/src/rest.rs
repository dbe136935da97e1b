//! JSON/REST at the gateway: `GetAccount` over HTTP/1.1 and JSON against the
//! same call over gRPC, both through the gateway, in the same run.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

use crate::{
    load::{Report, closed_loop},
    report::Section,
    scenarios::{Bench, CONCURRENCY, latency_row, p50_row, throughput_row},
};

impl Bench {
    /// `GetAccount` over JSON/REST and over gRPC through one gateway.
    pub async fn rest(&mut self) -> anyhow::Result<Vec<Section>> {
        let seg = self
            .spawn(
                "segmentation",
                &["--database-url", &self.sqlite_url("rest")],
            )
            .await?;
        let ids = self.seed(seg.addr, 1000).await?;
        let gw = self
            .spawn("gateway", &["--backend", &format!("http://{}", seg.addr)])
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let grpc_latency = self.get_load(gw.addr, &ids, 1).await?;
        let grpc = self.get_load(gw.addr, &ids, CONCURRENCY).await?;
        let rest_latency = self.rest_load(gw.addr, &ids, 1).await?;
        let rest = self.rest_load(gw.addr, &ids, CONCURRENCY).await?;
        gw.stop().await;
        seg.stop().await;

        Ok(vec![Section {
            title: "JSON/REST at the gateway".into(),
            setup: format!(
                "`GET /v1/segmentation/accounts/{{id}}` (HTTP/1.1, JSON, one of 1,000 accounts on SQLite) \
                 through the gateway against `GetAccount` over gRPC through the same gateway. Latency \
                 with one call at a time; throughput with {CONCURRENCY} concurrent calls (REST: one \
                 keep-alive connection per call in flight; gRPC: 4 HTTP/2 connections)."
            ),
            rows: vec![
                p50_row(&rest_latency, &grpc_latency, 1.5),
                throughput_row(&rest, &grpc, 0.60),
                latency_row("latency, 1 in flight,", &rest_latency, &grpc_latency),
                latency_row("latency under load,", &rest, &grpc),
            ],
            notes: vec![format!(
                "errors: REST {}, gRPC {}",
                rest.errors_text(),
                grpc.errors_text()
            )],
        }])
    }

    /// Closed-loop `GET /v1/segmentation/accounts/{id}` at `concurrency`.
    async fn rest_load(
        &self,
        addr: std::net::SocketAddr,
        ids: &[String],
        concurrency: usize,
    ) -> anyhow::Result<Report> {
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency)
            .build_http();
        let token = http::HeaderValue::from_str(self.bearer.0.to_str()?)?;
        let uris = Arc::new(
            ids.iter()
                .map(|id| format!("http://{addr}/v1/segmentation/accounts/{id}").parse())
                .collect::<Result<Vec<http::Uri>, _>>()?,
        );
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        Ok(closed_loop(
            concurrency,
            self.plan.warmup,
            self.plan.measure,
            move |_| {
                let client = client.clone();
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let uri = uris[n % uris.len()].clone();
                let token = token.clone();
                async move {
                    let mut request = http::Request::new(Empty::new());
                    *request.uri_mut() = uri;
                    request
                        .headers_mut()
                        .insert(http::header::AUTHORIZATION, token);
                    let response = client
                        .request(request)
                        .await
                        .map_err(|_| tonic::Code::Unavailable)?;
                    let ok = response.status() == http::StatusCode::OK;
                    response
                        .into_body()
                        .collect()
                        .await
                        .map_err(|_| tonic::Code::Unavailable)?;
                    if ok {
                        Ok(())
                    } else {
                        Err(tonic::Code::Unknown)
                    }
                }
            },
        )
        .await)
    }
}
