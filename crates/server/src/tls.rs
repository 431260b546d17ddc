//! TLS in the server (rustls with the ring provider, TLS 1.2 and 1.3),
//! and the optional plain-HTTP listener that only redirects to https.
//!
//! Passkeys need a secure context: https, or plain http on localhost for
//! development. The certificate chain and key are read from PEM files
//! once at start; this module does not watch them (restart to rotate).

use std::path::Path;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("{path}: {reason}")]
    Pem { path: String, reason: String },
    #[error("the certificate and key do not work together: {0}")]
    Config(String),
}

/// A rustls server configuration from PEM files: the chain (leaf first)
/// and its private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let cert_pem = read(cert_file)?;
    let key_pem = read(key_file)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert_file.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_file.display().to_string(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
        path: key_file.display().to_string(),
        reason: format!("no usable private key: {e}"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The plain-HTTP redirect: every request goes to the same path on the
/// https origin (308, so a form post stays a post).
pub fn redirect_router(https_origin: String) -> axum::Router {
    axum::Router::new().fallback(move |req: Request| {
        let origin = https_origin.clone();
        async move {
            // The configured origin, never the request's Host: a redirect
            // must not be steerable to another site.
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            let mut r: Response = StatusCode::PERMANENT_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{origin}{path}")) {
                r.headers_mut().insert(LOCATION, v);
            }
            r
        }
    })
}
