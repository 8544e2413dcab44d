//! TLS material generated at start: a throw-away CA (its PEM written to a file so clients can
//! verify the simulator for real) and a server certificate for 127.0.0.1, ::1 and localhost.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::error::AviSimError;

pub struct TlsMaterial {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub acceptor: TlsAcceptor,
}

fn cert_error(e: impl std::fmt::Display) -> AviSimError {
    AviSimError::Certificate(e.to_string())
}

/// Generates the CA and server certificate and writes `<dir>/ca.pem`.
pub fn generate(dir: &Path) -> Result<TlsMaterial, AviSimError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "amko-rs Avi simulator CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(cert_error)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_error)?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut leaf_params = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ])
    .map_err(cert_error)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "avi-controller.sim");
    let leaf_key = KeyPair::generate().map_err(cert_error)?;
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &issuer)
        .map_err(cert_error)?;

    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).map_err(|source| AviSimError::Write {
        path: ca_file.clone(),
        source,
    })?;

    let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(cert_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(cert_error)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem,
        ca_file,
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}
