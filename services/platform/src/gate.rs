//! One shape for the server's own middleware: look at a call, answer it at
//! once or let it through, then adjust its response. Load shedding,
//! authentication, call bounds and the status guard are each a [`Gate`].

use std::task::{Context, Poll};

use futures::future::BoxFuture;

/// The response every gate sees and returns.
pub type Response = http::Response<tonic::body::Body>;

/// A check in front of every call of a server.
pub trait Gate: Clone + Send + 'static {
    /// What is kept from admission until the response (a permit, a guard).
    type Pass: Send + 'static;

    /// Lets the call through (possibly adding to its extensions) or answers it
    /// at once.
    #[allow(
        clippy::result_large_err,
        reason = "the answer moves once, straight into the response future"
    )]
    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<Self::Pass, Response>;

    /// The response to send, given what the rest of the stack answered.
    fn respond(&self, _pass: Self::Pass, response: Response) -> Response {
        response
    }
}

/// Tower layer putting a [`Gate`] in front of a service.
#[derive(Clone)]
pub struct GateLayer<G>(pub G);

impl<S, G: Clone> tower::Layer<S> for GateLayer<G> {
    type Service = Gated<S, G>;
    fn layer(&self, inner: S) -> Self::Service {
        Gated {
            inner,
            gate: self.0.clone(),
        }
    }
}

/// The service made by [`GateLayer`].
#[derive(Clone)]
pub struct Gated<S, G> {
    inner: S,
    gate: G,
}

impl<S, G, B> tower::Service<http::Request<B>> for Gated<S, G>
where
    S: tower::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    G: Gate,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let pass = match self.gate.admit(&mut request) {
            Ok(pass) => pass,
            Err(answer) => return Box::pin(async move { Ok(answer) }),
        };
        // Use the service that was made ready, leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(gate.respond(pass, response))
        })
    }
}
