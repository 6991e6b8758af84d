//! Where a bundle is read from: a directory on disk or a web server (`http://`, `https://`).
//!
//! A bundle path is relative (`checkpoint`, `tile/0/000`, `v1/results.json`). A file that does
//! not exist is `Ok(None)`, so the verifier can tell "the bundle lacks a file the checkpoint
//! needs" (a discrepancy) from "the source could not be read" ([`SourceError`]: the
//! verification could not run).
//!
//! `https://` is fetched with rustls (ring; no OpenSSL). The server's certificate is checked
//! against Mozilla's root certificates, built into the binary (`webpki-roots`, the CAs
//! browsers trust), so it works the same on any system, with or without a certificate store;
//! or, with [`TlsRoots::from_pem`] (`--ca-cert FILE`), against the CA certificates of a PEM
//! file only, e.g. a commission's own CA. With pinned keys ([`open_pinned`], `--pin
//! sha256/…`, the pins of `urna_pin`) the server's key must be one of them: alone, they
//! accept a self-signed certificate; beside `--ca-cert`, both checks must pass. A certificate
//! that fails the check stops the
//! verification (it could not run): the error says which check failed. TLS only keeps the
//! transfer private and the server honest about its name; the verdict rests on the keys the
//! verifier is given, never on the transport.

use std::io::{ErrorKind, Read as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::tls::{Certificate, PemItem};
use urna_pin::SpkiPin;

/// Opens a file for reading. On Unix with `O_NONBLOCK`, so that a FIFO put where a file was
/// (after the stat that checked it) does not block the open until a writer comes; regular files
/// read the same either way.
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // OFlags' bits are the platform's own `O_*` values (c_uint); they fit in the c_int
        // `custom_flags` takes.
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits().cast_signed());
    }
    options.open(path)
}

/// Largest file read from a source: an entry bundle is at most 256 × (2 + 65,535) bytes; the
/// results and unit files of a million stations stay well below this.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Bytes read at a time when a file is compared with the bytes it should hold.
const COMPARE_CHUNK: usize = 1 << 20;

/// Largest file read at `path`: an entry bundle (`tile/entries/…`) holds at most 256 entries
/// of at most 65,535 bytes each with their 2-byte lengths, a hash tile (`tile/<L>/…`) 256
/// hashes; the checkpoint 64 KiB and `v1/keys.json` 1 MiB; anything else [`MAX_FILE_BYTES`]
/// (a derived file is compared as it arrives, never held). Fetches run several at once, so a mirror that
/// answers a tile with a gigabyte must not make each of them hold one.
pub fn max_bytes(path: &str) -> u64 {
    match path.strip_prefix("tile/") {
        Some(rest) if rest.starts_with("entries/") => 256 * (2 + 65_535),
        Some(_) => 256 * 32,
        None => match path {
            // A checkpoint with every witness's cosignature and the keys file are a few
            // kilobytes.
            "checkpoint" => 64 * 1024,
            "v1/keys.json" => 1 << 20,
            _ => MAX_FILE_BYTES,
        },
    }
}

/// The most one request may take, its body included: a server that answers too slowly, or
/// drips its answer a byte at a time, stops the verification after it.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(300);

/// Why reading a response body failed, in words: a timeout is named with its limit.
fn body_error(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        Some(ureq::Error::Timeout(t)) => timeout_reason(*t),
        _ => e.to_string(),
    }
}

fn timeout_reason(t: ureq::Timeout) -> String {
    match t {
        ureq::Timeout::Connect | ureq::Timeout::Resolve => {
            format!(
                "no connection within {} s (timeout: {t})",
                CONNECT_TIMEOUT.as_secs()
            )
        }
        _ => format!(
            "no complete answer within {} s (timeout: {t}): a server that answers too slowly, or drips its answer, is not waited for; run again, or verify from another mirror",
            HTTP_TIMEOUT.as_secs()
        ),
    }
}

/// The most setting up one connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Fetches run at once against a web server: enough to hide the latency of a distant mirror,
/// few enough to be polite to it.
pub const HTTP_CONCURRENCY: usize = 8;

/// Why a source could not be read: the verification could not run (exit code 2), which says
/// nothing about the bundle's honesty.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The location is not a bundle directory.
    #[error("{path}: not a bundle (no `checkpoint` in it, and no `current` generation to follow)")]
    NotABundle {
        /// The directory given.
        path: PathBuf,
    },
    /// A file could not be read (other than not existing).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The web server could not be reached or answered with an error.
    #[error("{url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// A scheme this build cannot fetch.
    #[error("{0}")]
    Unsupported(String),
    /// A bundle path that would leave the bundle.
    #[error("{0:?} is not a relative path inside the bundle")]
    BadPath(String),
    /// A CA certificate file that cannot be used.
    #[error("{path}: {reason}")]
    CaCert {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The CA certificates an `https://` server's certificate is checked against.
#[derive(Debug, Clone, Default)]
pub enum TlsRoots {
    /// Mozilla's root certificates, built in (`webpki-roots`).
    #[default]
    Builtin,
    /// Only the CA certificates of one PEM file.
    Pem {
        /// The file, for messages.
        path: String,
        /// Its certificates (DER), each checked to parse as an X.509 trust anchor.
        certs: Vec<Certificate<'static>>,
    },
}

impl TlsRoots {
    /// Reads a PEM file of CA certificates (`-----BEGIN CERTIFICATE-----` blocks; anything
    /// else in the file, such as text or a key, is skipped).
    ///
    /// # Errors
    /// [`SourceError::Io`] if it cannot be read; [`SourceError::CaCert`] as
    /// [`TlsRoots::from_pem`].
    pub fn from_pem_file(path: &Path) -> Result<Self, SourceError> {
        let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem(&path.display().to_string(), &bytes)
    }

    /// Parses PEM text of CA certificates; `path` names it in errors.
    ///
    /// # Errors
    /// [`SourceError::CaCert`] if the PEM is malformed, holds no certificate, or holds one
    /// that is not a usable X.509 CA certificate.
    pub fn from_pem(path: &str, pem: &[u8]) -> Result<Self, SourceError> {
        let bad = |reason: String| SourceError::CaCert {
            path: path.to_owned(),
            reason,
        };
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            // A private key or another block is not a CA certificate, and not needed.
            if let PemItem::Certificate(c) = item.map_err(|e| bad(format!("not valid PEM: {e}")))? {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(bad(
                "no certificate in it (a PEM file of -----BEGIN CERTIFICATE----- blocks is expected)"
                    .into(),
            ));
        }
        let mut store = rustls::RootCertStore::empty();
        for (i, c) in certs.iter().enumerate() {
            store
                .add(rustls::pki_types::CertificateDer::from(c.der()))
                .map_err(|e| {
                    bad(format!(
                        "certificate {}: not a usable CA certificate: {e}",
                        i + 1
                    ))
                })?;
        }
        Ok(Self::Pem {
            path: path.to_owned(),
            certs,
        })
    }

    /// What a server's certificate is checked against, for messages.
    fn describe(&self) -> String {
        match self {
            Self::Builtin => "the built-in Mozilla root certificates".to_owned(),
            Self::Pem { path, .. } => format!("the CA certificates of {path}"),
        }
    }
}

/// Somewhere the files of a bundle can be read from.
pub trait Source: Sync {
    /// The directory or URL, for messages.
    fn describe(&self) -> String;

    /// The bytes of the file at `path` (relative to the bundle root); `None` if there is none.
    ///
    /// # Errors
    /// [`SourceError`] if the source cannot be read.
    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError>;

    /// Whether the file at `path` holds exactly `expected`; `None` if there is no such file.
    /// A source that can read a file piece by piece overrides it, so that comparing a large
    /// derived file never holds a second copy of it.
    ///
    /// # Errors
    /// [`SourceError`] if the source cannot be read.
    fn equals(&self, path: &str, expected: &[u8]) -> Result<Option<bool>, SourceError> {
        Ok(self.fetch(path)?.map(|bytes| bytes == expected))
    }

    /// The file at `path` as a browser is sent it (asked for with `Accept-Encoding: gzip`),
    /// decoded, to be read piece by piece: a web server with precompressed copies (nginx's
    /// `gzip_static`, `urna serve`) sends a browser the copy `<path>.gz`, never the file
    /// [`Source::equals`] compared. `None` for a source that serves no encodings (a directory,
    /// whose `.gz` copies are checked as files) or has no such file. A body that cannot be
    /// decoded fails as it is read.
    ///
    /// # Errors
    /// [`SourceError`] if the source cannot be read.
    fn encoded_reader(
        &self,
        _path: &str,
    ) -> Result<Option<Box<dyn std::io::Read + '_>>, SourceError> {
        Ok(None)
    }

    /// The file at `path` to be read piece by piece; `None` if there is no such file. A
    /// source that can read a file piece by piece overrides it, so that a large file is never
    /// held whole; by default it is the fetched bytes.
    ///
    /// # Errors
    /// [`SourceError`] if the source cannot be read.
    fn reader(&self, path: &str) -> Result<Option<Box<dyn std::io::Read + '_>>, SourceError> {
        Ok(self
            .fetch(path)?
            .map(|bytes| Box::new(std::io::Cursor::new(bytes)) as Box<dyn std::io::Read>))
    }

    /// How many fetches to run at once.
    fn concurrency(&self) -> usize;

    /// The file names in directory `dir` of the bundle, if the source can list directories
    /// (a web server cannot); `None` otherwise.
    ///
    /// # Errors
    /// [`SourceError`] if the directory exists but cannot be listed.
    fn list(&self, _dir: &str) -> Result<Option<Vec<String>>, SourceError> {
        Ok(None)
    }

    /// Every file in the bundle, as bundle paths, sorted, if the source can list directories
    /// (a web server cannot: `None`). Symbolic links to directories are followed (the
    /// bundle's own `tile` and `blob` are such links), each directory once; anything that is
    /// not a directory (a regular file, a FIFO, a device, a dangling link) is listed, so that
    /// whatever a web server could serve is accounted for.
    ///
    /// # Errors
    /// [`SourceError`] if a directory cannot be read.
    fn walk(&self) -> Result<Option<Vec<String>>, SourceError> {
        Ok(None)
    }

    /// Whether what the source answers for its root itself (a web server's `/`, the page a
    /// visitor sees) is exactly `expected`; `None` for a source whose root is not something
    /// other than a file of the bundle (a directory), or a root with nothing to answer. Read
    /// as it arrives, at most one byte more than `expected`, as [`Source::equals`] reads.
    ///
    /// # Errors
    /// As [`Source::fetch`].
    fn root_equals(&self, _expected: &[u8]) -> Result<Option<bool>, SourceError> {
        Ok(None)
    }
}

/// Opens a bundle location: an `http://` or `https://` URL (a server's certificate checked
/// against the built-in roots), or a directory (the bundle root, i.e. `BUNDLE/current`, or
/// `BUNDLE` itself, whose `current` generation is then followed).
///
/// # Errors
/// As [`open_with`].
pub fn open(location: &str) -> Result<Box<dyn Source>, SourceError> {
    open_with(location, &TlsRoots::Builtin)
}

/// [`open`], with the CA certificates an `https://` server's certificate is checked against.
///
/// # Errors
/// [`SourceError::Unsupported`] for other schemes, and for CA certificates given with a
/// location that is not `https://`; [`SourceError::NotABundle`] for a directory without a
/// checkpoint.
pub fn open_with(location: &str, roots: &TlsRoots) -> Result<Box<dyn Source>, SourceError> {
    open_pinned(location, roots, &[])
}

/// [`open_with`], with the keys an `https://` server's certificate may have (`pins`; empty:
/// no pinning). Pins alone accept a self-signed certificate; with CA certificates both checks
/// must pass.
///
/// # Errors
/// As [`open_with`]; [`SourceError::Unsupported`] also for pins given with a location that
/// is not `https://`.
pub fn open_pinned(
    location: &str,
    roots: &TlsRoots,
    pins: &[SpkiPin],
) -> Result<Box<dyn Source>, SourceError> {
    let https = location.starts_with("https://");
    if let (TlsRoots::Pem { path, .. }, false) = (roots, https) {
        return Err(SourceError::Unsupported(format!(
            "{location}: not an https:// URL, so the CA certificates of {path} would not be used"
        )));
    }
    if !pins.is_empty() && !https {
        return Err(SourceError::Unsupported(format!(
            "{location}: not an https:// URL, so the pinned keys would not be checked"
        )));
    }
    if location.starts_with("http://") || https {
        return Ok(Box::new(HttpSource::with_trust(location, roots, pins)?));
    }
    if let Some((scheme, _)) = location.split_once("://") {
        return Err(SourceError::Unsupported(format!(
            "{location}: unsupported scheme {scheme:?}; give an http:// or https:// URL or a directory"
        )));
    }
    Ok(Box::new(DirSource::open(Path::new(location))?))
}

/// A bundle in a directory.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// Opens a bundle directory. If `dir` has no `checkpoint` but a `current` link (the root
    /// `urna publish --out` and `urna serve` write), the generation it points to now is used
    /// for the whole verification, so a generation published meanwhile does not mix in.
    ///
    /// # Errors
    /// [`SourceError::NotABundle`], or [`SourceError::Io`] if `current` cannot be resolved.
    pub fn open(dir: &Path) -> Result<Self, SourceError> {
        if dir.join("checkpoint").is_file() {
            return Ok(Self {
                root: dir.to_owned(),
            });
        }
        let current = dir.join("current");
        if current.join("checkpoint").is_file() {
            let root = std::fs::canonicalize(&current).map_err(|source| SourceError::Io {
                path: current.clone(),
                source,
            })?;
            return Ok(Self { root });
        }
        Err(SourceError::NotABundle {
            path: dir.to_owned(),
        })
    }

    /// The directory files are read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the bundle's files may lie, resolved: the root, and the `tile` and `blob`
    /// directories every generation shares (links from the root to them).
    fn allowed(&self) -> Vec<PathBuf> {
        [
            self.root.clone(),
            self.root.join("tile"),
            self.root.join("blob"),
        ]
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect()
    }

    /// Opens the regular file at bundle path `path` (symlinks followed), without blocking;
    /// `None` if there is none, an error for a FIFO, a device or a directory.
    fn open_regular(&self, path: &str) -> Result<Option<(std::fs::File, PathBuf)>, SourceError> {
        let full = self.root.join(checked_path(path)?);
        let io = |source| SourceError::Io {
            path: full.clone(),
            source,
        };
        let not_regular = || {
            io(std::io::Error::new(
                ErrorKind::InvalidData,
                "not a regular file (a bundle holds only files and directories; FIFOs and devices are not read)",
            ))
        };
        // Stat before opening: opening a FIFO for reading blocks until a writer comes.
        match std::fs::metadata(&full) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(not_regular()),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Ok(None);
            }
            Err(source) => return Err(io(source)),
        }
        // Links are followed only where the bundle's own lead (as `walk` follows them): a
        // link to a file of the reader's (`README.txt -> /proc/self/environ`) would be read
        // and its first difference quoted in the report. What is opened is the resolved
        // path, so a link swapped in after this check is not followed.
        let resolved = std::fs::canonicalize(&full).map_err(io)?;
        if !self.allowed().iter().any(|a| resolved.starts_with(a)) {
            return Err(io(std::io::Error::new(
                ErrorKind::InvalidData,
                "a link out of the bundle: not read (a bundle's files lie inside it; links may lead only to its shared tile and blob directories)",
            )));
        }
        let file = open_nonblocking(&resolved).map_err(io)?;
        // What was opened, in case the path changed since the stat: a FIFO swapped in between is
        // opened without blocking (O_NONBLOCK) and refused here.
        if !file.metadata().map_err(io)?.is_file() {
            return Err(not_regular());
        }
        Ok(Some((file, full)))
    }
}

impl Source for DirSource {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    /// Reads regular files only (symlinks followed), at most [`MAX_FILE_BYTES`]: a FIFO would
    /// block the verification forever and a device such as `/dev/zero` never ends.
    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let Some((file, full)) = self.open_regular(path)? else {
            return Ok(None);
        };
        let io = |source| SourceError::Io {
            path: full.clone(),
            source,
        };
        let mut bytes = Vec::new();
        let max = max_bytes(path);
        file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > max {
            return Err(io(std::io::Error::new(
                ErrorKind::InvalidData,
                format!("larger than {max} bytes, the most a file at this path can hold"),
            )));
        }
        Ok(Some(bytes))
    }

    /// Reads the file a megabyte at a time and stops at the first difference, never holding
    /// the file (the largest derived files of a million stations are hundreds of megabytes).
    fn equals(&self, path: &str, expected: &[u8]) -> Result<Option<bool>, SourceError> {
        let Some((mut file, full)) = self.open_regular(path)? else {
            return Ok(None);
        };
        same_bytes(&mut file, expected)
            .map(Some)
            .map_err(|source| SourceError::Io { path: full, source })
    }

    /// The regular file, read up to one byte past the most a file at its path may hold
    /// ([`max_bytes`]), so that a device that never ends is not read forever.
    fn reader(&self, path: &str) -> Result<Option<Box<dyn std::io::Read + '_>>, SourceError> {
        let max = max_bytes(path);
        Ok(self
            .open_regular(path)?
            .map(|(file, _)| Box::new(file.take(max + 1)) as Box<dyn std::io::Read>))
    }

    fn concurrency(&self) -> usize {
        std::thread::available_parallelism().map_or(2, usize::from)
    }

    fn list(&self, dir: &str) -> Result<Option<Vec<String>>, SourceError> {
        let full = self.root.join(checked_path(dir)?);
        let entries = match std::fs::read_dir(&full) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Some(Vec::new())),
            Err(source) => return Err(SourceError::Io { path: full, source }),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| SourceError::Io {
                path: full.clone(),
                source,
            })?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(Some(names))
    }

    fn walk(&self) -> Result<Option<Vec<String>>, SourceError> {
        let mut files = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        // Links are followed only where the bundle's own are: within the root, and to the
        // `tile` and `blob` directories every generation shares. A link out of the bundle
        // (`x -> /`) is listed as a file, so it is reported, not walked.
        let canonical = |p: &Path| std::fs::canonicalize(p).ok();
        let allowed = self.allowed();
        // (directory on disk, its bundle path prefix)
        let mut todo = vec![(self.root.clone(), String::new())];
        while let Some((dir, prefix)) = todo.pop() {
            let io = |source| SourceError::Io {
                path: dir.clone(),
                source,
            };
            let meta = std::fs::metadata(&dir).map_err(io)?;
            // A link loop (or a second link to the same directory) is walked once.
            if !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            for entry in std::fs::read_dir(&dir).map_err(io)? {
                let entry = entry.map_err(io)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = format!("{prefix}{name}");
                // `metadata` follows links: a link to a directory is walked, a dangling one
                // is listed as a file.
                match std::fs::metadata(entry.path()) {
                    Ok(m)
                        if m.is_dir()
                            && canonical(&entry.path())
                                .is_some_and(|c| allowed.iter().any(|a| c.starts_with(a))) =>
                    {
                        todo.push((entry.path(), format!("{path}/")));
                    }
                    _ => files.push(path),
                }
            }
        }
        files.sort();
        Ok(Some(files))
    }
}

/// A bundle on a web server (`urna serve`, nginx, a mirror or CDN), over HTTP or HTTPS.
#[derive(Debug)]
pub struct HttpSource {
    base: String,
    agent: ureq::Agent,
    roots: TlsRoots,
}

impl HttpSource {
    /// A source for the bundle at `base` (`http://` or `https://host[:port][/prefix]`), an
    /// HTTPS server's certificate checked against the built-in roots.
    ///
    /// # Errors
    /// [`SourceError::Unsupported`] for another scheme.
    pub fn new(base: &str) -> Result<Self, SourceError> {
        Self::with_roots(base, &TlsRoots::Builtin)
    }

    /// [`HttpSource::new`], an HTTPS server's certificate checked against `roots`.
    ///
    /// # Errors
    /// [`SourceError::Unsupported`] for another scheme.
    pub fn with_roots(base: &str, roots: &TlsRoots) -> Result<Self, SourceError> {
        Self::with_trust(base, roots, &[])
    }

    /// [`HttpSource::with_roots`], the HTTPS server's key also checked against `pins` (empty:
    /// no pinning; pins alone accept a self-signed certificate).
    ///
    /// # Errors
    /// [`SourceError::Unsupported`] for another scheme, or a TLS setting rustls refuses.
    pub fn with_trust(base: &str, roots: &TlsRoots, pins: &[SpkiPin]) -> Result<Self, SourceError> {
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(SourceError::Unsupported(format!(
                "{base}: not an http:// or https:// URL"
            )));
        }
        let config = ureq::Agent::config_builder()
            // A bundle asked for over https:// is not fetched over plain http:// after a
            // redirect.
            .https_only(base.starts_with("https://"))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(HTTP_TIMEOUT))
            .http_status_as_error(false)
            // Redirects are followed by `HttpSource::call`, only on the bundle's own host.
            .max_redirects(0)
            // The files are compared byte for byte with what the verifier computes: ask for
            // them as they are, never a server's compressed copy.
            .accept_encoding("identity")
            // A proxy from the environment would be one more party between the reader and
            // the bundle; the check does not depend on it, but tests on loopback must not
            // be routed through one.
            .proxy(None);
        let ca = match roots {
            TlsRoots::Builtin => None,
            TlsRoots::Pem { path, certs } => Some((path.as_str(), certs.as_slice())),
        };
        // The CA certificates were checked as trust anchors when read (`TlsRoots::from_pem`).
        let agent = urna_pin::agent_with_roots(config, ca, pins)
            .map_err(|e| SourceError::Unsupported(format!("TLS: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
            roots: roots.clone(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, encode_path(path))
    }

    /// Why a request failed, in words; for a refused TLS certificate, which check failed and
    /// what to do about it.
    fn reason(&self, e: &ureq::Error) -> String {
        if let ureq::Error::Timeout(t) = e {
            return timeout_reason(*t);
        }
        let tls = match e {
            ureq::Error::Rustls(r) => Some(r),
            ureq::Error::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
            _ => None,
        };
        let Some(tls) = tls else {
            return e.to_string();
        };
        let host = host_of(&self.base);
        let roots = self.roots.describe();
        let cert = "TLS: the server's certificate";
        use rustls::CertificateError as C;
        match tls {
            rustls::Error::InvalidCertificate(c) => match c {
                C::UnknownIssuer => match &self.roots {
                    TlsRoots::Builtin => format!(
                        "{cert} is not issued by a CA in {roots} (unknown issuer): if the bundle is served with the commission's own CA, pass its certificate with --ca-cert FILE (PEM)"
                    ),
                    TlsRoots::Pem { .. } => format!(
                        "{cert} is not issued by a CA in {roots} (unknown issuer): that file does not hold the CA that issued it"
                    ),
                },
                C::NotValidForName => {
                    format!("{cert} is not valid for {host}: it was issued for another name")
                }
                C::NotValidForNameContext { presented, .. } => format!(
                    "{cert} is not valid for {host}: it is for {}; this is not the server the URL names, or it is misconfigured",
                    if presented.is_empty() {
                        "no name".to_owned()
                    } else {
                        presented
                            .iter()
                            .map(|n| bare_name(n))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                C::Expired | C::ExpiredContext { .. } => format!("{cert} has expired ({tls})"),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    format!("{cert} is not valid yet ({tls}); is this computer's clock right?")
                }
                C::Revoked => format!("{cert} is revoked"),
                _ => format!("{cert} is refused: {tls}"),
            },
            _ => format!("TLS: {tls}"),
        }
    }
}

/// The host of an `http(s)://host[:port][/path]` URL (without the port), for messages.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// `location` (a `Location` field's value) resolved against `url`, the request it answers
/// (RFC 9110 §10.2.2: a URI reference): an absolute URL as it is; `//host/…` with `url`'s
/// scheme; `/path` on `url`'s scheme and authority; anything else beside `url`'s last path
/// segment. Dot segments are left to the server, which is on the same host by then.
fn resolve_location(url: &str, location: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let has_scheme = location.split_once("://").is_some_and(|(s, _)| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    });
    if has_scheme {
        return location.to_owned();
    }
    if let Some(net) = location.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = rest[authority.len()..]
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
    format!("{scheme}://{authority}{dir}{location}")
}

/// Whether `next` is on `base`'s host: the same scheme, host and port, or `https://` on the
/// same host name (an upgrade from `http://`, on its default port).
fn same_host(base: &str, next: &str) -> bool {
    let parts = |url: &str| -> Option<(String, String, Option<String>)> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        if authority.contains('@') {
            return None;
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']')?;
                // Nothing but `:port` may follow the bracket (`[h]x:6379` is read by the
                // client as port 6379).
                match after {
                    "" => (h, None),
                    _ => (h, Some(after.strip_prefix(':')?)),
                }
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        if host.is_empty() || port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        let scheme = scheme.to_ascii_lowercase();
        let default = if scheme == "https" { "443" } else { "80" };
        let port = port.filter(|p| !p.is_empty() && *p != default);
        Some((scheme, host.to_ascii_lowercase(), port.map(str::to_owned)))
    };
    let (Some(b), Some(n)) = (parts(base), parts(next)) else {
        return false;
    };
    b.1 == n.1 && (b.0 == n.0 && b.2 == n.2 || b.0 == "http" && n.0 == "https" && n.2.is_none())
}

/// A URL a server sent, for an error message: at most 200 characters.
fn quote_url(url: &str) -> String {
    match url.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &url[..cut]),
        None => url.to_owned(),
    }
}

/// A name as rustls presents it (`DnsName("results.example")`), without the wrapping.
fn bare_name(presented: &str) -> &str {
    presented
        .split_once("(\"")
        .and_then(|(_, rest)| rest.strip_suffix("\")"))
        .unwrap_or(presented)
}

/// The most redirects followed for one file.
const MAX_REDIRECTS: usize = 10;

impl HttpSource {
    /// GETs `url` (with `Accept-Encoding: gzip` if `gzip`): the answer and the URL that gave
    /// it. A redirect is followed only on the bundle's own host (`http://` to `https://`
    /// there too), up to [`MAX_REDIRECTS`]: a mirror that sends the verifier to another host
    /// (a machine on the observer's network, a cloud's metadata address) would have it read
    /// and quote in its report what only the observer can reach, so the file is not read
    /// and the error names where the mirror pointed.
    fn call(
        &self,
        url: &str,
        gzip: bool,
    ) -> Result<(ureq::http::Response<ureq::Body>, String), SourceError> {
        let mut url = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.agent.get(&url);
            if gzip {
                request = request.header("Accept-Encoding", "gzip");
            }
            let resp = request.call().map_err(|e| SourceError::Http {
                url: url.clone(),
                reason: self.reason(&e),
            })?;
            let status = resp.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok((resp, url));
            }
            let http = |reason: String| SourceError::Http {
                url: url.clone(),
                reason,
            };
            let Some(location) = resp.headers().get("location").and_then(|v| v.to_str().ok())
            else {
                return Err(http(format!(
                    "HTTP {status} without a Location (as text) to follow"
                )));
            };
            let next = resolve_location(&url, location.trim());
            if !same_host(&self.base, &next) {
                return Err(http(format!(
                    "HTTP {status} to {}, another host than {}: not followed (a verifier reads the bundle only from the host it is given; to verify what that host serves, name it yourself)",
                    quote_url(&next),
                    host_of(&self.base)
                )));
            }
            url = next;
        }
        Err(SourceError::Http {
            url,
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// GETs `url`, with `Accept-Encoding: gzip` if `gzip` (else as it is), and reads the body
    /// decoded: `None` for 404 or 410 as it is, an error for another status than 200. Asked
    /// for as a browser asks, 404 or 410 is a body that cannot be read: it is asked for only
    /// once the file is found as it is, and a browser shows what such an answer holds.
    fn get_decoded(
        &self,
        url: &str,
        gzip: bool,
    ) -> Result<Option<Box<dyn std::io::Read + '_>>, SourceError> {
        let http = |reason: String| SourceError::Http {
            url: url.to_owned(),
            reason,
        };
        let (resp, _) = self.call(url, gzip)?;
        match resp.status().as_u16() {
            200 => {}
            404 | 410 if !gzip => return Ok(None),
            status @ (404 | 410) => {
                return Ok(Some(Box::new(Unreadable(format!(
                    "HTTP {status} to a request that accepts gzip"
                )))));
            }
            status => return Err(http(format!("HTTP {status}"))),
        }
        // Every Content-Encoding field: several are one comma-separated list (RFC 9110
        // §5.3), which a browser decodes in turn, so a second field is not left unread.
        let fields: Vec<String> = resp
            .headers()
            .get_all("content-encoding")
            .iter()
            .map(|v| {
                v.to_str()
                    .unwrap_or("(not text)")
                    .trim()
                    .to_ascii_lowercase()
            })
            .collect();
        let encoding = (!fields.is_empty()).then(|| fields.join(", "));
        let body = resp.into_body().into_reader();
        Ok(Some(match encoding.as_deref() {
            None | Some("identity") => Box::new(body),
            Some("gzip" | "x-gzip") if gzip => Box::new(OneMember(
                flate2::bufread::GzDecoder::new(std::io::BufReader::new(body)),
            )),
            // An encoding that was not asked for: no client that asked so reads it.
            Some(other) => {
                let other = other.to_owned();
                Box::new(Unreadable(format!(
                    "Content-Encoding {other}, which was not asked for"
                )))
            }
        }))
    }

    /// GETs a bundle path: the response and its URL when the server answers 200, `None` for
    /// 404 or 410 (no such file), an error for anything else.
    fn get(
        &self,
        path: &str,
    ) -> Result<Option<(ureq::http::Response<ureq::Body>, String)>, SourceError> {
        checked_path(path)?;
        let (resp, url) = self.call(&self.url(path), false)?;
        match resp.status().as_u16() {
            200 => Ok(Some((resp, url))),
            404 | 410 => Ok(None),
            status => Err(SourceError::Http {
                url,
                reason: format!("HTTP {status}"),
            }),
        }
    }
}

impl Source for HttpSource {
    fn describe(&self) -> String {
        self.base.clone()
    }

    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let Some((mut resp, url)) = self.get(path)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        let max = max_bytes(path);
        let http = |reason: String| SourceError::Http {
            url: url.clone(),
            reason,
        };
        resp.body_mut()
            .as_reader()
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| http(body_error(&e)))?;
        if bytes.len() as u64 > max {
            return Err(http(format!(
                "larger than {max} bytes, the most a file at this path can hold"
            )));
        }
        Ok(Some(bytes))
    }

    /// Compares as the body arrives, reading at most one byte more than `expected`: a
    /// mirror that answers with an endless body costs a chunk of memory, not a gigabyte per
    /// fetch.
    fn equals(&self, path: &str, expected: &[u8]) -> Result<Option<bool>, SourceError> {
        let Some((mut resp, url)) = self.get(path)? else {
            return Ok(None);
        };
        let mut body = resp.body_mut().as_reader().take(expected.len() as u64 + 1);
        same_bytes(&mut body, expected)
            .map(Some)
            .map_err(|e| SourceError::Http {
                url,
                reason: body_error(&e),
            })
    }

    /// The body as it arrives, up to one byte past the most a file at `path` may hold
    /// ([`max_bytes`]): never held whole, so a caller that reads a bounded part of it (a file
    /// that differs, read to name where) holds only that part.
    fn reader(&self, path: &str) -> Result<Option<Box<dyn std::io::Read + '_>>, SourceError> {
        let Some((resp, _)) = self.get(path)? else {
            return Ok(None);
        };
        let body = resp.into_body().into_reader();
        Ok(Some(Box::new(body.take(max_bytes(path) + 1))))
    }

    /// Asks for the file with `Accept-Encoding: gzip`, as every browser does; decodes the
    /// body if the server says `Content-Encoding: gzip`.
    fn encoded_reader(
        &self,
        path: &str,
    ) -> Result<Option<Box<dyn std::io::Read + '_>>, SourceError> {
        checked_path(path)?;
        self.get_decoded(&self.url(path), true)
    }

    /// Compares the root's answer as it arrives, like [`Source::equals`], both as it is and
    /// as a browser is sent it (`Accept-Encoding: gzip`, decoded): a mirror that answers `/`
    /// with an endless body costs a chunk of memory, not a gigabyte.
    fn root_equals(&self, expected: &[u8]) -> Result<Option<bool>, SourceError> {
        let url = format!("{}/", self.base);
        for gzip in [false, true] {
            // No page at the root: nothing there to mislead a visitor.
            let Some(body) = self.get_decoded(&url, gzip)? else {
                return Ok(None);
            };
            let mut body = std::io::Read::take(body, expected.len() as u64 + 1);
            // A body that cannot be decoded is not the page.
            if !same_bytes(&mut body, expected).unwrap_or(false) {
                return Ok(Some(false));
            }
        }
        Ok(Some(true))
    }

    fn concurrency(&self) -> usize {
        HTTP_CONCURRENCY
    }
}

/// A gzip body read as one RFC 1952 member with nothing after it, as a directory's `.gz` copy
/// is checked: clients disagree on what follows a member (Chromium ignores it, Firefox, curl
/// and Python read a second member on), so bytes after it fail the read instead of being
/// left unread.
struct OneMember<R: std::io::BufRead>(flate2::bufread::GzDecoder<R>);

impl<R: std::io::BufRead> std::io::Read for OneMember<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.0.get_mut().fill_buf()?.is_empty() {
            return Err(std::io::Error::other("bytes follow its gzip stream"));
        }
        Ok(n)
    }
}

/// A body no reader can decode: every read fails with why.
struct Unreadable(String);

impl std::io::Read for Unreadable {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other(self.0.clone()))
    }
}

/// Whether `reader` yields exactly `expected`, read a chunk at a time.
pub(crate) fn same_bytes(
    reader: &mut impl std::io::Read,
    expected: &[u8],
) -> std::io::Result<bool> {
    let mut buf = vec![0u8; COMPARE_CHUNK];
    let mut at = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(at == expected.len());
        }
        if expected.get(at..at + n) != Some(&buf[..n]) {
            return Ok(false);
        }
        at += n;
    }
}

/// Checks that a bundle path stays inside the bundle: relative, no `.` or `..` elements, no
/// empty elements, no backslashes or NUL.
fn checked_path(path: &str) -> Result<&str, SourceError> {
    let ok = !path.is_empty()
        && !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if ok {
        Ok(path)
    } else {
        Err(SourceError::BadPath(path.to_owned()))
    }
}

/// Percent-encodes a bundle path for a URL: every byte outside `A-Z a-z 0-9 - . _ ~ /`. A
/// unit file `AL%2F01.json` is requested as `AL%252F01.json`, as for any file name.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory compares a file piece by piece with what it should hold: equal only with
    /// the same bytes and length, across and within the chunks it reads; `None` if absent,
    /// an error for what is no regular file, like `fetch`.
    #[test]
    fn equals_reads_a_file_in_chunks_and_finds_any_difference() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("checkpoint"), b"x").unwrap();
        let big: Vec<u8> = (0..COMPARE_CHUNK * 2 + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(root.join("big.csv"), &big).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let s = DirSource::open(root).unwrap();
        assert_eq!(s.equals("big.csv", &big).unwrap(), Some(true));
        let cases: [(&[u8], &str); 5] = [
            (&big[..big.len() - 1], "one byte shorter"),
            (&big[..COMPARE_CHUNK], "cut at a chunk boundary"),
            (&[big.as_slice(), b"!"].concat(), "one byte longer"),
            (&[], "empty"),
            (
                &{
                    let mut b = big.clone();
                    b[COMPARE_CHUNK + 5] ^= 1;
                    b
                },
                "a bit flipped in the second chunk",
            ),
        ];
        for (expected, what) in cases {
            assert_eq!(
                s.equals("big.csv", expected).unwrap(),
                Some(false),
                "{what}"
            );
        }
        assert_eq!(s.equals("absent.json", b"").unwrap(), None);
        assert!(s.equals("sub", b"").is_err());
    }

    /// A tile larger than any tile can be is refused without reading it all, naming the
    /// bound; a tile of the largest size, and a large document, are read.
    #[test]
    fn a_tile_larger_than_a_tile_can_be_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("checkpoint"), b"x").unwrap();
        std::fs::create_dir_all(root.join("tile/entries")).unwrap();
        std::fs::create_dir_all(root.join("tile/0")).unwrap();
        std::fs::create_dir_all(root.join("v1")).unwrap();
        let most = max_bytes("tile/entries/000");
        assert_eq!(most, 256 * (2 + 65_535));
        std::fs::write(root.join("tile/entries/000"), vec![0u8; most as usize]).unwrap();
        std::fs::write(root.join("tile/entries/001"), vec![0u8; most as usize + 1]).unwrap();
        std::fs::write(root.join("tile/0/000"), vec![0u8; 256 * 32 + 1]).unwrap();
        std::fs::write(root.join("v1/results.json"), vec![b' '; 32 << 20]).unwrap();
        let source = open(root.to_str().unwrap()).unwrap();
        assert!(source.fetch("tile/entries/000").unwrap().is_some());
        for path in ["tile/entries/001", "tile/0/000"] {
            let e = source.fetch(path).unwrap_err().to_string();
            assert!(
                e.contains("the most a file at this path can hold"),
                "{path}: {e}"
            );
        }
        assert_eq!(
            source.fetch("v1/results.json").unwrap().unwrap().len(),
            32 << 20
        );
    }

    /// A server that answers too slowly (one byte a second, forever) is stopped by the
    /// request's time limit: the error says so in words, with the limit, whether the limit
    /// struck before the answer or while its body was read.
    #[test]
    fn a_timeout_is_named_with_its_limit() {
        let source = HttpSource::new("http://127.0.0.1:9").unwrap();
        let want = format!("no complete answer within {} s", HTTP_TIMEOUT.as_secs());
        let before = source.reason(&ureq::Error::Timeout(ureq::Timeout::Global));
        assert!(before.contains(&want), "{before}");
        let during = body_error(&ureq::Error::Timeout(ureq::Timeout::Global).into_io());
        assert!(during.contains(&want), "{during}");
        let other = body_error(&std::io::Error::other("connection reset"));
        assert_eq!(other, "connection reset");
    }

    #[test]
    fn bundle_paths_must_stay_inside_the_bundle() {
        let cases = [
            ("checkpoint", true, "plain file"),
            ("tile/entries/x001/002.p/7", true, "tile path"),
            ("v1/units/AL%2F01.json", true, "percent in a file name"),
            ("", false, "empty"),
            ("/etc/passwd", false, "absolute"),
            ("v1/../../secret", false, "parent element"),
            ("v1/./results.json", false, "dot element"),
            ("v1//results.json", false, "empty element"),
            ("v1\\results.json", false, "backslash"),
        ];
        for (path, ok, what) in cases {
            assert_eq!(checked_path(path).is_ok(), ok, "{what}: {path:?}");
        }
    }

    #[test]
    fn url_paths_are_percent_encoded() {
        assert_eq!(encode_path("tile/0/x001/002.p/7"), "tile/0/x001/002.p/7");
        assert_eq!(
            encode_path("v1/units/AL%2F01.json"),
            "v1/units/AL%252F01.json"
        );
        assert_eq!(encode_path("v1/units/a b.json"), "v1/units/a%20b.json");
    }

    #[test]
    fn a_directory_source_follows_current_and_tells_missing_from_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let generation = dir.path().join("gen/1");
        std::fs::create_dir_all(generation.join("v1")).unwrap();
        std::fs::write(generation.join("checkpoint"), b"cp").unwrap();
        std::fs::write(generation.join("v1/results.json"), b"{}").unwrap();
        std::os::unix::fs::symlink("gen/1", dir.path().join("current")).unwrap();

        let s = DirSource::open(dir.path()).unwrap();
        assert_eq!(s.root(), std::fs::canonicalize(&generation).unwrap());
        assert_eq!(s.fetch("checkpoint").unwrap().unwrap(), b"cp");
        assert!(s.fetch("v1/missing.json").unwrap().is_none());
        assert!(s.fetch("checkpoint/under-a-file").unwrap().is_none());
        assert!(matches!(s.fetch("../x"), Err(SourceError::BadPath(_))));
        assert_eq!(s.list("v1").unwrap().unwrap(), vec!["results.json"]);
        assert_eq!(s.list("v1/units").unwrap().unwrap(), Vec::<String>::new());

        let same = DirSource::open(&generation).unwrap();
        assert_eq!(same.root(), generation);
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            DirSource::open(empty.path()),
            Err(SourceError::NotABundle { .. })
        ));
    }

    #[test]
    fn a_directory_source_reads_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("checkpoint"), b"cp").unwrap();
        std::fs::write(dir.path().join("real"), b"{}").unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("linked")).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("device")).unwrap();
        std::fs::create_dir(dir.path().join("v1")).unwrap();
        let s = DirSource::open(dir.path()).unwrap();
        // A symlink to a regular file is read (the bundle's own `tile` and `blob` are links).
        assert_eq!(s.fetch("linked").unwrap().unwrap(), b"{}");
        for path in ["device", "v1"] {
            let err = s.fetch(path).unwrap_err();
            assert!(
                err.to_string().contains("not a regular file"),
                "{path}: {err}"
            );
        }
        // A FIFO is refused at once instead of blocking the verification.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|st| st.success()) {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(s.fetch("fifo").map(|_| ()).map_err(|e| e.to_string()));
            });
            let got = rx
                .recv_timeout(std::time::Duration::from_secs(20))
                .expect("fetching a FIFO blocked");
            assert!(got.unwrap_err().contains("not a regular file"));
            // Opened past the stat (a FIFO swapped in after it), the open itself does not block.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let file = open_nonblocking(&fifo).map(|f| f.metadata().unwrap().is_file());
                let _ = tx.send(file.map_err(|e| e.to_string()));
            });
            let got = rx
                .recv_timeout(std::time::Duration::from_secs(20))
                .expect("opening a FIFO blocked");
            assert_eq!(got, Ok(false));
        }
    }

    #[test]
    fn https_is_opened_and_other_schemes_are_refused() {
        // Opening makes no connection.
        let s = open("https://results.example/bundle/").unwrap();
        assert_eq!(s.describe(), "https://results.example/bundle");
        let err = open("ftp://results.example/bundle").err().unwrap();
        assert!(err.to_string().contains("unsupported scheme"), "{err}");
        assert_eq!(host_of("https://results.example:8443/b"), "results.example");
        assert_eq!(host_of("https://[::1]:8443/b"), "::1");
        assert_eq!(host_of("https://127.0.0.1"), "127.0.0.1");
        assert_eq!(bare_name("DnsName(\"results.example\")"), "results.example");
        assert_eq!(bare_name("192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn a_ca_certificate_file_must_hold_a_usable_certificate() {
        let cases: [(&[u8], &str); 4] = [
            (b"", "no certificate in it"),
            (b"just text\n", "no certificate in it"),
            (
                b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
                "not valid PEM",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "certificate 1: not a usable CA certificate",
            ),
        ];
        for (pem, want) in cases {
            let err = TlsRoots::from_pem("ca.pem", pem).err().unwrap().to_string();
            assert!(err.starts_with("ca.pem: ") && err.contains(want), "{err}");
        }
        let err = TlsRoots::from_pem_file(Path::new("/nonexistent/ca.pem"))
            .err()
            .unwrap();
        assert!(matches!(err, SourceError::Io { .. }), "{err}");
    }

    #[test]
    fn an_unreachable_server_is_an_error_not_a_missing_file() {
        // Port 1 on loopback: nothing listens there.
        let s = HttpSource::new("http://127.0.0.1:1/").unwrap();
        assert!(matches!(
            s.fetch("checkpoint"),
            Err(SourceError::Http { .. })
        ));
        assert_eq!(
            s.url("v1/units/a%b.json"),
            "http://127.0.0.1:1/v1/units/a%25b.json"
        );
    }

    /// Regression: a hostile mirror answering every file with a body that never ends made
    /// verify hold a gigabyte per fetch (eight at once) before it gave up. A derived file is
    /// compared as it arrives and the checkpoint is refused past 64 KiB.
    #[test]
    fn an_endless_body_is_never_held() {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                std::thread::spawn(move || {
                    let mut request = [0u8; 4096];
                    let _ = conn.read(&mut request);
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                    let chunk = [b'x'; 64 * 1024];
                    // Until the client hangs up.
                    while conn.write_all(&chunk).is_ok() {}
                });
            }
        });
        let s = HttpSource::new(&format!("http://127.0.0.1:{port}/")).unwrap();
        let err = s.fetch("checkpoint").unwrap_err().to_string();
        assert!(err.contains("larger than 65536 bytes"), "{err}");
        assert_eq!(s.equals("v1/results.json", b"xxxx").unwrap(), Some(false));
        assert_eq!(
            s.equals("v1/results.json", &[b'x'; 100_000]).unwrap(),
            Some(false)
        );
        // Regression: the page at `/` was read whole, up to a gigabyte, to be compared with
        // index.html. It is compared as it arrives, like any derived file.
        assert_eq!(s.root_equals(b"<!doctype html>").unwrap(), Some(false));
    }

    /// A server answering `/` with `status` and `body`, once per connection.
    fn root_server(status: &'static str, body: &'static [u8]) -> u16 {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request);
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(body);
            }
        });
        port
    }

    /// A server answering every request with `plain`, or, to a request that accepts gzip,
    /// with `encoding` and `encoded` (nginx's `gzip_static` sending `<path>.gz`).
    fn encoding_server(plain: &'static [u8], encoding: &'static str, encoded: Vec<u8>) -> u16 {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut request = [0u8; 4096];
                let n = conn.read(&mut request).unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]).to_ascii_lowercase();
                let (head, body) = if request.contains("accept-encoding: gzip") {
                    (
                        format!("Content-Encoding: {encoding}\r\n"),
                        encoded.as_slice(),
                    )
                } else {
                    (String::new(), plain)
                };
                let _ = conn.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                let _ = conn.write_all(body);
            }
        });
        port
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(bytes).unwrap();
        z.finish().unwrap()
    }

    /// Regression: over HTTP every file was asked for as it is (`Accept-Encoding: identity`),
    /// but a server with precompressed copies sends each browser the copy instead; a copy with
    /// other seats than the file was never looked at, and the bundle was VERIFIED.
    #[test]
    fn what_a_browser_is_sent_is_compared_too() {
        let file: &'static [u8] = br#"{"seats":{"AP":74}}"#;
        let source = |encoding, encoded| {
            HttpSource::new(&format!(
                "http://127.0.0.1:{}/",
                encoding_server(file, encoding, encoded)
            ))
            .unwrap()
        };
        // The copy decodes to the file: nothing to report.
        let honest = source("gzip", gzip(file));
        assert_eq!(honest.equals("v1/results.json", file).unwrap(), Some(true));
        assert_eq!(
            crate::compare_file(&honest, "v1/results.json", file).unwrap(),
            None
        );
        assert_eq!(honest.root_equals(file).unwrap(), Some(true));
        // Another copy, a copy that is no gzip, or an encoding not asked for: a gz-mismatch.
        for (encoding, encoded) in [
            ("gzip", gzip(br#"{"seats":{"AP":75}}"#)),
            ("gzip", gzip(&[file, b" "].concat())),
            ("gzip", file.to_vec()),
            ("br", file.to_vec()),
            // One member that is the file, then a second one a client that reads every
            // member (Firefox, curl, Python) shows after it, or bytes a client may choke on.
            (
                "gzip",
                [gzip(file), gzip(b"<script>alert(1)</script>")].concat(),
            ),
            ("gzip", [gzip(file), b"\0\0\0\0".to_vec()].concat()),
            // Two Content-Encoding fields are one list (RFC 9110 §5.3): a browser decodes
            // gzip after identity, the file itself is no gzip.
            ("identity\r\nContent-Encoding: gzip", file.to_vec()),
        ] {
            let s = source(encoding, encoded);
            assert_eq!(s.equals("v1/results.json", file).unwrap(), Some(true));
            let d = crate::compare_file(&s, "v1/results.json", file)
                .unwrap()
                .expect("what a browser is sent is not the file");
            assert_eq!(d.kind, crate::Kind::GzMismatch, "{encoding}");
            // And at the root, the page a visitor is sent.
            assert_eq!(s.root_equals(file).unwrap(), Some(false), "{encoding}");
            assert!(d.message.contains("Accept-Encoding: gzip"), "{}", d.message);
        }
        // A server that compresses nothing sends the file itself to a browser too.
        let plain = source("identity", file.to_vec());
        assert_eq!(
            crate::compare_file(&plain, "v1/results.json", file).unwrap(),
            None
        );
    }

    /// Regression: a unit file and `csv/stations.csv` are published only as `<file>.gz`, and
    /// that copy was compared only as the verifier asked for it; a server that sent browsers
    /// (`Accept-Encoding: gzip`) another `.gz`, which the results page inflates and shows,
    /// was VERIFIED.
    #[test]
    fn what_a_browser_is_sent_of_a_gzip_only_file_is_compared_too() {
        let file: &'static [u8] = br#"{"stations":[{"id":"S1","votes":{"AP":74}}]}"#;
        let other: &[u8] = br#"{"stations":[{"id":"S1","votes":{"AP":75}}]}"#;
        let path = "v1/units/D01.json";
        let gz: &'static [u8] = Box::leak(gzip(file).into_boxed_slice());
        let source = |encoding, encoded| {
            HttpSource::new(&format!(
                "http://127.0.0.1:{}/",
                encoding_server(gz, encoding, encoded)
            ))
            .unwrap()
        };
        // The same `.gz` as a file, or the server inflating it on the way (what the page
        // then reads as it is): nothing to report.
        for (encoding, encoded) in [("identity", gz.to_vec()), ("gzip", gz.to_vec())] {
            let s = source(encoding, encoded);
            assert_eq!(
                crate::compare_file(&s, path, file).unwrap(),
                None,
                "{encoding}"
            );
        }
        // Another `.gz`, the other file plain, or another `.gz` inside a transfer gzip.
        for (encoding, encoded) in [
            ("identity", gzip(other)),
            ("gzip", gzip(other)),
            ("gzip", gzip(&gzip(other))),
            ("identity", [gz.to_vec(), gzip(other)].concat()),
        ] {
            let s = source(encoding, encoded);
            let d = crate::compare_file(&s, path, file)
                .unwrap()
                .expect("what a browser is sent is not the file");
            assert_eq!(d.kind, crate::Kind::GzMismatch, "{encoding}");
            assert!(d.message.contains("Accept-Encoding: gzip"), "{}", d.message);
        }
    }

    /// Regression: a server that answered a request accepting gzip with 404 or 410 was taken
    /// to have no copy to send, and nothing was reported; but a browser is sent that answer,
    /// and shows its body (a page of the server's choosing at `/` or `index.html`).
    #[test]
    fn a_browser_answered_not_found_is_not_sent_the_file() {
        use std::io::Write as _;
        let file: &'static [u8] = b"<!doctype html><title>results</title>";
        for status in ["404 Not Found", "410 Gone"] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    let Ok(mut conn) = conn else { return };
                    let mut request = [0u8; 4096];
                    let n = conn.read(&mut request).unwrap_or(0);
                    let request = String::from_utf8_lossy(&request[..n]).to_ascii_lowercase();
                    let (status, body): (&str, &[u8]) = if request.contains("accept-encoding: gzip")
                    {
                        (status, b"<!doctype html><title>other results</title>")
                    } else {
                        ("200 OK", file)
                    };
                    let _ = conn.write_all(
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    );
                    let _ = conn.write_all(body);
                }
            });
            let s = HttpSource::new(&format!("http://127.0.0.1:{port}/")).unwrap();
            assert_eq!(s.equals("index.html", file).unwrap(), Some(true));
            let d = crate::compare_file(&s, "index.html", file)
                .unwrap()
                .expect("a browser is not sent the file");
            assert_eq!(d.kind, crate::Kind::GzMismatch, "{status}");
            assert_eq!(s.root_equals(file).unwrap(), Some(false), "{status}");
        }
    }

    #[test]
    fn the_root_page_is_compared_with_the_expected_bytes() {
        let page: &[u8] = b"<!doctype html><title>results</title>";
        let same = HttpSource::new(&format!(
            "http://127.0.0.1:{}/",
            root_server("200 OK", page)
        ))
        .unwrap();
        assert_eq!(same.root_equals(page).unwrap(), Some(true));
        // One byte more, one byte less, or another byte: not the page.
        assert_eq!(
            same.root_equals(&page[..page.len() - 1]).unwrap(),
            Some(false)
        );
        assert_eq!(
            same.root_equals(&[page, b"x"].concat()).unwrap(),
            Some(false)
        );
        let other = HttpSource::new(&format!(
            "http://127.0.0.1:{}/",
            root_server("200 OK", b"<!doctype html><title>resulTs</title>")
        ))
        .unwrap();
        assert_eq!(other.root_equals(page).unwrap(), Some(false));
        let none = HttpSource::new(&format!(
            "http://127.0.0.1:{}/",
            root_server("404 Not Found", b"")
        ))
        .unwrap();
        assert_eq!(none.root_equals(page).unwrap(), None);
        let broken = HttpSource::new(&format!(
            "http://127.0.0.1:{}/",
            root_server("500 Internal Server Error", b"")
        ))
        .unwrap();
        let err = broken.root_equals(page).unwrap_err().to_string();
        assert!(err.contains("HTTP 500"), "{err}");
        // A directory has no root page of its own.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("checkpoint"), b"").unwrap();
        std::fs::write(dir.path().join("index.html"), b"other").unwrap();
        assert_eq!(
            DirSource::open(dir.path())
                .unwrap()
                .root_equals(page)
                .unwrap(),
            None
        );
    }
}

#[cfg(test)]
mod walk_tests {
    use super::*;

    /// The bundle's own links (`tile`, `blob` to the shared directories) are walked; a link out
    /// of the bundle is listed as a file, to be reported, and never walked.
    #[test]
    fn a_link_out_of_the_bundle_is_listed_not_walked() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let generation = out.join("gen/1");
        std::fs::create_dir_all(generation.join("v1")).unwrap();
        std::fs::create_dir_all(out.join("tile/0")).unwrap();
        std::fs::write(out.join("tile/0/000"), b"t").unwrap();
        std::fs::write(generation.join("checkpoint"), b"c").unwrap();
        std::fs::write(generation.join("v1/a.json"), b"{}").unwrap();
        std::os::unix::fs::symlink("../../tile", generation.join("tile")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path(), generation.join("x")).unwrap();
        let files = DirSource::open(&generation)
            .unwrap()
            .walk()
            .unwrap()
            .unwrap();
        assert_eq!(files, ["checkpoint", "tile/0/000", "v1/a.json", "x"]);
    }
}

#[cfg(test)]
mod redirect_tests {
    use super::*;

    #[test]
    fn a_location_resolves_against_the_request_it_answers() {
        let url = "https://m.example:8443/e/2025/v1/units/AL-01.json?x=1";
        for (location, want) in [
            ("https://cdn.example/a", "https://cdn.example/a"),
            ("//cdn.example/a", "https://cdn.example/a"),
            ("/b/c.json", "https://m.example:8443/b/c.json"),
            (
                "AL-02.json",
                "https://m.example:8443/e/2025/v1/units/AL-02.json",
            ),
            ("../x", "https://m.example:8443/e/2025/v1/units/../x"),
        ] {
            assert_eq!(resolve_location(url, location), want, "{location}");
        }
        assert_eq!(
            resolve_location("http://h:1", "index.html"),
            "http://h:1/index.html"
        );
    }

    #[test]
    fn only_the_bundles_own_host_is_the_same_host() {
        let base = "http://results.example/2025";
        for same in [
            "http://results.example/2025/x",
            "http://RESULTS.example:80/y",
            "https://results.example/2025/x",
            "https://results.example:443/x",
        ] {
            assert!(same_host(base, same), "{same}");
        }
        for other in [
            "http://169.254.169.254/latest/meta-data/",
            "http://results.example:6379/",
            "https://results.example:8443/",
            "http://results.example.evil/",
            "http://results.example@127.0.0.1/",
            "file:///etc/passwd",
            "nonsense",
        ] {
            assert!(!same_host(base, other), "{other}");
        }
        for odd in [
            "http://[2001:db8::5]x:6379/",
            "http://[2001:db8::5]:80x/",
            "http://results.example:6379x/",
            "http://:80/",
        ] {
            assert!(!same_host("http://[2001:db8::5]", odd), "{odd}");
            assert!(!same_host(base, odd), "{odd}");
        }
        assert!(same_host(
            "http://[2001:db8::5]",
            "http://[2001:db8::5]:80/x"
        ));
        let https = "https://[::1]:8443";
        assert!(same_host(https, "https://[::1]:8443/v1/x"));
        assert!(!same_host(https, "http://[::1]:8443/v1/x"));
        assert!(!same_host(https, "https://[::2]:8443/v1/x"));
    }
}
