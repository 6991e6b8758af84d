//! Trust in a TLS server, for urna's HTTPS clients: a CA file (else Mozilla's roots), pinned
//! SubjectPublicKeyInfo hashes, or both; and plain `http://` to loopback only. Used by
//! `urna submit`, the desk's and the station's delivery, the audit client, the log's witness
//! client (all through `urna-server`) and `urna verify` (`urna-verify`), which must not depend
//! on the commission's server code: hence a crate of its own.
//!
//! A pin is `sha256/<base64>`: the standard base64 (with padding) of the SHA-256 of the
//! server certificate's DER `SubjectPublicKeyInfo`. The digest is the one HPKP's
//! `pin-sha256` (RFC 7469 §2.4) and curl's `--pinnedpubkey sha256//…` use, written the way
//! OkHttp's `CertificatePinner` writes it (one slash). It pins the key, not the certificate,
//! so a certificate renewed with the same key keeps its pin. `openssl` computes the same:
//!
//! ```text
//! openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der \
//!   | openssl dgst -sha256 -binary | base64
//! ```
//!
//! [`ServerTrust`] decides:
//! - no pin: the certificate chain is checked against the CA file given, or Mozilla's roots
//!   (names, dates, usage), as before;
//! - pins only: the leaf's key must be one of the pins. The chain, names and dates are not
//!   checked: the key is what is trusted, as with an SSH host key, so a self-signed
//!   certificate serves. The handshake's signatures are still checked, so only the holder of
//!   the pinned private key can pass;
//! - pins and a CA file: both checks must pass.
//!
//! ureq 3 has no setting for a custom rustls certificate verifier, so a pinned client is
//! built from ureq's transport parts (`ureq::unversioned::transport`: its TCP connector
//! followed by `PinnedTlsConnector`, a rustls connection made with our own
//! `ClientConfig`). Those parts are outside ureq's semver promise; the lock file keeps the
//! version the tests ran against.
//!
//! Out of scope: pinning intermediate or root keys (only the leaf is pinned), trust on first
//! use, TLS servers (`urna-server`'s `tls` module), and what the bytes fetched mean: the
//! verdicts of urna rest on the keys of the log and the witnesses, never on the transport.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use sha2::{Digest as _, Sha256};
use ureq::tls::{Certificate, PemItem};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, TcpConnector,
    Transport, TransportAdapter,
};

/// The SHA-256 of a server's DER `SubjectPublicKeyInfo`, written `sha256/<base64>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpkiPin([u8; 32]);

/// Why a pin or a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// Not `sha256/<base64 of 32 bytes>`.
    #[error("pin {given:?}: {rule}")]
    Syntax {
        /// The text given.
        given: String,
        /// The rule it breaks.
        rule: String,
    },
    /// A certificate that is not DER X.509.
    #[error("certificate: {0}")]
    Certificate(String),
}

impl SpkiPin {
    /// The textual prefix of a pin.
    pub const PREFIX: &'static str = "sha256/";

    /// Parses `sha256/<base64>` (standard alphabet, padded, 32 bytes).
    ///
    /// # Errors
    /// [`PinError::Syntax`] naming the rule broken.
    pub fn parse(text: &str) -> Result<Self, PinError> {
        let bad = |rule: &str| PinError::Syntax {
            given: text.to_owned(),
            rule: rule.to_owned(),
        };
        let b64 = text.strip_prefix(Self::PREFIX).ok_or_else(|| {
            bad("must start with sha256/ (the SHA-256 of the server's SubjectPublicKeyInfo)")
        })?;
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| bad("not standard base64 after sha256/"))?;
        let digest: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("the digest must be 32 bytes (44 base64 characters)"))?;
        Ok(Self(digest))
    }

    /// The pin of a DER certificate: the SHA-256 of its `SubjectPublicKeyInfo`.
    ///
    /// # Errors
    /// [`PinError::Certificate`] if the bytes are not a DER X.509 certificate.
    pub fn of_certificate(der: &[u8]) -> Result<Self, PinError> {
        let der = CertificateDer::from(der);
        let cert = webpki::EndEntityCert::try_from(&der)
            .map_err(|e| PinError::Certificate(format!("not a DER X.509 certificate: {e}")))?;
        Ok(Self(
            Sha256::digest(cert.subject_public_key_info().as_ref()).into(),
        ))
    }

    /// The pin of every certificate in a PEM text, in order (the leaf first in a chain file).
    ///
    /// # Errors
    /// [`PinError::Certificate`] for bad PEM, a bad certificate, or no certificate at all.
    pub fn of_pem(pem: &[u8]) -> Result<Vec<Self>, PinError> {
        let mut pins = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            let item = item.map_err(|e| PinError::Certificate(format!("not valid PEM: {e}")))?;
            if let PemItem::Certificate(c) = item {
                pins.push(Self::of_certificate(c.der())?);
            }
        }
        if pins.is_empty() {
            return Err(PinError::Certificate(
                "no -----BEGIN CERTIFICATE----- block".into(),
            ));
        }
        Ok(pins)
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, STANDARD.encode(self.0))
    }
}

impl fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpkiPin({self})")
    }
}

impl std::str::FromStr for SpkiPin {
    type Err = PinError;
    fn from_str(s: &str) -> Result<Self, PinError> {
        Self::parse(s)
    }
}

/// What an HTTPS client trusts: a CA file (else Mozilla's roots) and any pinned keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTrust<'a> {
    /// PEM file of the CA certificates the server's chain must lead to.
    pub ca_cert: Option<&'a Path>,
    /// Keys the server's leaf certificate may have; empty: no pinning.
    pub pins: &'a [SpkiPin],
}

/// A client setting that cannot be used: the setting and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct TrustError {
    /// The setting: `ca_cert`, `pin` or `url`.
    pub field: &'static str,
    /// The rule it breaks.
    pub rule: String,
}

/// Whether the authority part of a URL (`host[:port][/path]`, after `scheme://`) names a
/// loopback host: `localhost`, `127.0.0.0/8` or `[::1]`. Plain HTTP goes nowhere else.
pub fn is_loopback_authority(rest: &str) -> bool {
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The CA certificates of a PEM file (other blocks, such as keys, are skipped).
///
/// # Errors
/// [`TrustError`] naming `ca_cert` and the file when it cannot be read, is not PEM or holds
/// no certificate.
pub fn ca_certificates(path: &Path) -> Result<Vec<Certificate<'static>>, TrustError> {
    let bad = |rule: String| TrustError {
        field: "ca_cert",
        rule: format!("{}: {rule}", path.display()),
    };
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| bad(format!("not valid PEM: {e}")))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(bad("no -----BEGIN CERTIFICATE----- block in it".to_owned()));
    }
    Ok(certs)
}

/// A blocking HTTP client agent from `config` (timeouts, redirects, proxy), checking
/// `https://` servers as `trust` says.
///
/// # Errors
/// [`TrustError`] naming `ca_cert` when its file cannot be read or holds no usable
/// certificate.
pub fn agent(
    config: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
    trust: &ServerTrust<'_>,
) -> Result<ureq::Agent, TrustError> {
    let roots = match trust.ca_cert {
        Some(path) => Some((path.display().to_string(), ca_certificates(path)?)),
        None => None,
    };
    agent_with_roots(
        config,
        roots
            .as_ref()
            .map(|(name, certs)| (name.as_str(), certs.as_slice())),
        trust.pins,
    )
}

/// [`agent`] with CA certificates already read: `ca` is `(name for messages, certificates)`,
/// or `None` for Mozilla's roots; `pins` as [`ServerTrust::pins`].
///
/// # Errors
/// [`TrustError`] naming `ca_cert` when a certificate is not one rustls can use as a trust
/// anchor.
pub fn agent_with_roots(
    config: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
    ca: Option<(&str, &[Certificate<'static>])>,
    pins: &[SpkiPin],
) -> Result<ureq::Agent, TrustError> {
    use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
    if pins.is_empty() {
        let roots = match ca {
            Some((_, certs)) => RootCerts::Specific(Arc::new(certs.to_vec())),
            None => RootCerts::WebPki,
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(roots)
            .build();
        return Ok(config.tls_config(tls).build().into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = match ca {
        None => None,
        Some((name, certs)) => {
            let mut roots = RootCertStore::empty();
            for c in certs {
                roots
                    .add(CertificateDer::from(c.der()).into_owned())
                    .map_err(|e| TrustError {
                        field: "ca_cert",
                        rule: format!("{name}: a certificate rustls cannot use: {e}"),
                    })?;
            }
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| TrustError {
                        field: "ca_cert",
                        rule: format!("{name}: {e}"),
                    })?;
            Some(verifier)
        }
    };
    let verifier = PinVerifier {
        pins: pins.to_vec(),
        chain,
        algorithms: provider.signature_verification_algorithms,
    };
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TrustError {
            field: "pin",
            rule: format!("rustls: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let connector = ().chain(TcpConnector::default()).chain(PinnedTlsConnector {
        config: Arc::new(tls),
    });
    Ok(ureq::Agent::with_parts(
        config.build(),
        connector,
        DefaultResolver::default(),
    ))
}

/// Checks the server's leaf key against the pins, and its chain against the CA when one is
/// given; the handshake signatures always.
#[derive(Debug)]
struct PinVerifier {
    pins: Vec<SpkiPin>,
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The server's key is not a pinned one.
struct PinMismatch {
    expected: Vec<SpkiPin>,
    seen: SpkiPin,
}

impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expected: Vec<String> = self.expected.iter().map(ToString::to_string).collect();
        write!(
            f,
            "the server's public key is not pinned: seen {}, expected {}",
            self.seen,
            expected.join(" or ")
        )
    }
}

impl std::error::Error for PinMismatch {}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(chain) = &self.chain {
            chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        let seen = SpkiPin::of_certificate(end_entity.as_ref()).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if self.pins.contains(&seen) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch {
                    expected: self.pins.clone(),
                    seen,
                }))),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// ureq connector: wraps the TCP transport in a rustls client connection made with our own
/// `ClientConfig` (the pin verifier). Follows ureq's own `RustlsConnector`.
#[derive(Debug)]
struct PinnedTlsConnector {
    config: Arc<ClientConfig>,
}

impl<In: Transport> Connector<In> for PinnedTlsConnector {
    type Out = Either<In, PinnedTlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::ConnectionFailed);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("the URL names no host"))?;
        // An IPv6 literal comes bracketed in the URI; rustls wants the bare address.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host)
            .map_err(|_| ureq::Error::Tls("the host is not a valid TLS server name"))?
            .to_owned();
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock).map_err(handshake_error)?;
        Ok(Some(Either::B(PinnedTlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A failed handshake as ureq reports it; a pin mismatch says so plainly, with both pins.
fn handshake_error(e: std::io::Error) -> ureq::Error {
    let mismatch = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
                other.0.downcast_ref::<PinMismatch>()
            }
            _ => None,
        });
    match mismatch {
        Some(m) => ureq::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            m.to_string(),
        )),
        None => e.into(),
    }
}

/// A TLS connection made by [`PinnedTlsConnector`].
struct PinnedTlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for PinnedTlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedTlsTransport").finish_non_exhaustive()
    }
}

impl Transport for PinnedTlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader};
    use std::net::TcpListener;
    use std::time::Duration;

    use rustls::ServerConfig;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject as _;

    use super::*;

    /// A certificate made once with rcgen, and its pin as openssl computes it (the command in
    /// the module doc): the fixed vector that pins are the SHA-256 of the DER SPKI.
    const FIXED_CERT: &str = include_str!("../tests/data/pin/server.pem");
    const FIXED_PIN: &str = include_str!("../tests/data/pin/server.pin");

    #[test]
    fn pin_of_a_fixed_certificate_matches_openssl() {
        let pins = SpkiPin::of_pem(FIXED_CERT.as_bytes()).unwrap();
        assert_eq!(pins.len(), 1);
        assert_eq!(pins[0].to_string(), FIXED_PIN.trim());
        assert_eq!(SpkiPin::parse(FIXED_PIN.trim()).unwrap(), pins[0]);
    }

    #[test]
    fn pin_syntax_errors_name_the_rule() {
        let ok = FIXED_PIN.trim();
        let cases = [
            ("", "must start with sha256/"),
            ("sha1/AAAA", "must start with sha256/"),
            (&ok.replace("sha256/", "sha256//"), "not standard base64"),
            (&ok.replace("sha256/", "SHA256/"), "must start with sha256/"),
            (&format!("sha256/{}", STANDARD.encode([7; 31])), "32 bytes"),
            (&format!("sha256/{}", STANDARD.encode([7; 33])), "32 bytes"),
            (&ok.replace('=', ""), "not standard base64"),
            ("sha256/!!!!", "not standard base64"),
        ];
        for (text, rule) in cases {
            let e = SpkiPin::parse(text).unwrap_err().to_string();
            assert!(e.contains(rule), "{text:?}: {e}");
        }
        for bad in [
            &b""[..],
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let e = SpkiPin::of_pem(bad).unwrap_err().to_string();
            assert!(e.contains("no -----BEGIN CERTIFICATE----- block"), "{e}");
        }
        assert!(SpkiPin::of_certificate(b"\x30\x03\x02\x01\x01").is_err());
    }

    /// A self-signed certificate for 127.0.0.1 (or one from `issuer`), valid from `from`.
    struct Cert {
        pem: String,
        key: String,
        pin: SpkiPin,
    }

    fn cert(not_after: Option<(i32, u8, u8)>) -> Cert {
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        if let Some((y, m, d)) = not_after {
            params.not_before = rcgen::date_time_ymd(y - 1, m, d);
            params.not_after = rcgen::date_time_ymd(y, m, d);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let c = params.self_signed(&key).unwrap();
        let pin = SpkiPin::of_certificate(c.der()).unwrap();
        Cert {
            pem: c.pem(),
            key: key.serialize_pem(),
            pin,
        }
    }

    /// Serves HTTPS with `cert` on 127.0.0.1 for one connection per call of the client,
    /// answering every request `200 ok`; returns the URL.
    fn serve(cert: &Cert) -> String {
        let chain = CertificateDer::pem_slice_iter(cert.pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(cert.key.as_bytes()).unwrap();
        let config = Arc::new(
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                let config = config.clone();
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = StreamOwned::new(conn, tcp);
                    let mut reader = BufReader::new(&mut tls);
                    let mut line = String::new();
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let _ = tls.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    );
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.conn.complete_io(&mut tls.sock);
                });
            }
        });
        url
    }

    fn get(url: &str, trust: &ServerTrust<'_>) -> Result<String, String> {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .proxy(None);
        let agent = agent(config, trust).map_err(|e| e.to_string())?;
        let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
        resp.body_mut().read_to_string().map_err(|e| e.to_string())
    }

    #[test]
    fn right_pin_accepts_a_self_signed_server_and_a_wrong_pin_is_refused_naming_both() {
        let server = cert(None);
        let url = serve(&server);
        let other = cert(None).pin;
        // The right pin, alone or beside a backup pin.
        for pins in [vec![server.pin], vec![other, server.pin]] {
            let trust = ServerTrust {
                ca_cert: None,
                pins: &pins,
            };
            assert_eq!(get(&url, &trust).unwrap(), "ok");
        }
        // A wrong pin: refused, the error naming what was seen and what was expected.
        let e = get(
            &url,
            &ServerTrust {
                ca_cert: None,
                pins: &[other],
            },
        )
        .unwrap_err();
        assert!(e.contains("not pinned"), "{e}");
        assert!(e.contains(&format!("seen {}", server.pin)), "{e}");
        assert!(e.contains(&format!("expected {other}")), "{e}");
        // Without a pin, a self-signed certificate fails the CA check (Mozilla's roots).
        let e = get(&url, &ServerTrust::default()).unwrap_err();
        assert!(e.contains("UnknownIssuer"), "{e}");
    }

    #[test]
    fn with_a_ca_file_and_a_pin_both_must_pass_and_an_expired_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // The self-signed certificate is its own CA.
        let server = cert(None);
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &server.pem).unwrap();
        let url = serve(&server);
        let ca_only = ServerTrust {
            ca_cert: Some(&ca),
            pins: &[],
        };
        assert_eq!(get(&url, &ca_only).unwrap(), "ok");
        let both = [server.pin];
        let ca_and_pin = ServerTrust {
            ca_cert: Some(&ca),
            pins: &both,
        };
        assert_eq!(get(&url, &ca_and_pin).unwrap(), "ok");
        let wrong = [cert(None).pin];
        let ca_and_wrong_pin = ServerTrust {
            ca_cert: Some(&ca),
            pins: &wrong,
        };
        let e = get(&url, &ca_and_wrong_pin).unwrap_err();
        assert!(e.contains("not pinned"), "{e}");

        // An expired certificate: refused under the CA, with and without a pin.
        let expired = cert(Some((2020, 1, 1)));
        let old_ca = dir.path().join("old-ca.pem");
        std::fs::write(&old_ca, &expired.pem).unwrap();
        let url = serve(&expired);
        let pins = [expired.pin];
        for pins in [&[][..], &pins[..]] {
            let trust = ServerTrust {
                ca_cert: Some(&old_ca),
                pins,
            };
            let e = get(&url, &trust).unwrap_err();
            assert!(e.contains("certificate expired"), "{e}");
        }
    }
}
