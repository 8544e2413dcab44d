//! TLS for the simulated API servers: a CA generated at start-up and one server certificate it
//! signs for the loopback names, served with rustls (aws-lc-rs provider).

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate the simulator certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot build the TLS server configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The generated CA (PEM, for kubeconfigs) and the acceptor serving the signed server certificate.
pub struct ServerTls {
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

pub fn generate(ip: IpAddr) -> Result<ServerTls, TlsError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "amko-sim CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params.subject_alt_names.push(SanType::IpAddress(ip));
    for loopback in ["127.0.0.1", "::1"] {
        if let Ok(addr) = loopback.parse::<IpAddr>()
            && addr != ip
        {
            params.subject_alt_names.push(SanType::IpAddress(addr));
        }
    }
    params
        .distinguished_name
        .push(DnType::CommonName, "amko-sim apiserver");
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;

    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(ServerTls {
        ca_pem: ca.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}
