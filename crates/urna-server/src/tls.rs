//! TLS for urna's servers (`urna serve`, `urna witness serve`, `urna desk`): rustls with ring,
//! never OpenSSL, from a certificate chain and a private key in PEM files.
//!
//! Plain HTTP is for loopback only: a server asked to listen on any other address without a
//! certificate refuses to start ([`check_listen`]), and one on loopback says that it serves
//! plain HTTP. TLS 1.3 and 1.2 with rustls's safe defaults; HTTP/1.1 only (ALPN `http/1.1`),
//! as the servers speak. The handshake shares the connection's header-read deadline
//! ([`crate::conn`]), so a client that opens a socket and never finishes its handshake is
//! closed in time like one that never sends a request.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A server's TLS configuration, ready to accept connections.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    /// The certificate file, for the start-up line.
    pub cert: PathBuf,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("cert", &self.cert).finish()
    }
}

/// Why TLS could not be set up or a listen address was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file that cannot be read or holds nothing usable.
    #[error("{path}: {what}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// rustls refused the pair (e.g. the key does not belong to the certificate).
    #[error("{cert} with {key}: {source}")]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// Only one of the two files was given.
    #[error("--tls-cert and --tls-key go together: give both or neither")]
    Half,
    /// Plain HTTP on an address other than loopback.
    #[error(
        "--listen {addr}: plain HTTP is served on loopback only (127.0.0.1, ::1); give \
         --tls-cert and --tls-key to serve HTTPS on {addr}, or listen on loopback behind a \
         TLS-terminating proxy"
    )]
    PlainOutsideLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
}

impl Tls {
    /// Loads a certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1
    /// or SEC1).
    ///
    /// # Errors
    /// [`TlsError`] naming the file and what is wrong with it.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let file_err = |path: &Path, what: String| TlsError::File {
            path: path.to_owned(),
            what,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| file_err(cert, format!("cannot read certificates: {e}")))?
            .collect::<Result<_, _>>()
            .map_err(|e| file_err(cert, format!("not a PEM certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(file_err(
                cert,
                "holds no `BEGIN CERTIFICATE` block".to_owned(),
            ));
        }
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| file_err(key, format!("no PEM private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
            .map_err(|source| TlsError::Config {
                cert: cert.to_owned(),
                key: key.to_owned(),
                source,
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            cert: cert.to_owned(),
        })
    }

    /// From optional `--tls-cert` and `--tls-key` arguments: both or neither.
    ///
    /// # Errors
    /// [`TlsError::Half`] for one without the other, or a loading error.
    pub fn from_args(cert: Option<&Path>, key: Option<&Path>) -> Result<Option<Self>, TlsError> {
        match (cert, key) {
            (Some(c), Some(k)) => Self::from_pem_files(c, k).map(Some),
            (None, None) => Ok(None),
            _ => Err(TlsError::Half),
        }
    }
}

/// Refuses plain HTTP on an address that is not loopback.
///
/// # Errors
/// [`TlsError::PlainOutsideLoopback`].
pub fn check_listen(addr: SocketAddr, tls: Option<&Tls>) -> Result<(), TlsError> {
    if tls.is_none() && !addr.ip().is_loopback() {
        return Err(TlsError::PlainOutsideLoopback { addr });
    }
    Ok(())
}

/// `https` with TLS, `http` without: for a server's start-up line.
pub fn scheme(tls: Option<&Tls>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in ["127.0.0.1:8080", "[::1]:80", "127.1.2.3:0"] {
            assert!(check_listen(ok.parse().unwrap(), None).is_ok(), "{ok}");
        }
        for bad in ["0.0.0.0:8080", "192.168.1.10:443", "[::]:80"] {
            let e = check_listen(bad.parse().unwrap(), None).unwrap_err();
            assert!(
                e.to_string()
                    .contains("plain HTTP is served on loopback only"),
                "{e}"
            );
        }
    }

    #[test]
    fn pem_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not a certificate\n").unwrap();
        std::fs::write(&key, "not a key\n").unwrap();
        let e = Tls::from_pem_files(&cert, &key).unwrap_err().to_string();
        assert!(
            e.contains("cert.pem") && e.contains("no `BEGIN CERTIFICATE`"),
            "{e}"
        );
        let e = Tls::from_pem_files(&dir.path().join("missing.pem"), &key)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing.pem") && e.contains("cannot read"),
            "{e}"
        );
        assert!(matches!(
            Tls::from_args(Some(&cert), None),
            Err(TlsError::Half)
        ));
        assert!(Tls::from_args(None, None).unwrap().is_none());
    }
}
