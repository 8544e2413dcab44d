//! The listener: accepts TCP connections, does the TLS handshake when configured, tags each
//! request with its peer address, collapses `//` in paths (AMKO sends `https://host//api/...`)
//! and serves HTTP/1.1 until shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::http::Uri;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::state::ClientAddr;

fn collapse_slashes(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    if !path.contains("//") {
        return None;
    }
    let mut collapsed = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    let rebuilt = match uri.query() {
        Some(q) => format!("{collapsed}?{q}"),
        None => collapsed,
    };
    rebuilt.parse().ok()
}

async fn serve_connection<S>(io: S, peer: SocketAddr, app: Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ClientAddr(peer));
        if let Some(uri) = collapse_slashes(request.uri()) {
            *request.uri_mut() = uri;
        }
        let app = app.clone();
        async move {
            Ok::<_, Infallible>(
                app.oneshot(request)
                    .await
                    .unwrap_or_else(|never| match never {}),
            )
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = connection.await {
        tracing::debug!(%peer, error = %e, "Avi simulator connection ended with an error");
    }
}

/// Runs until `shutdown` fires; open connections are dropped then.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "Avi simulator accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls_stream) => serve_connection(tls_stream, peer, app).await,
                            Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake with the Avi simulator failed"),
                        },
                        None => serve_connection(stream, peer, app).await,
                    }
                });
            }
        }
    }
    connections.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_double_slashes_only_when_needed() {
        let uri: Uri = "//api//gslbservice?name=a//b".parse().unwrap();
        assert_eq!(
            collapse_slashes(&uri).unwrap().to_string(),
            "/api/gslbservice?name=a//b"
        );
        assert!(collapse_slashes(&"/api/x".parse().unwrap()).is_none());
    }
}
