//! nginx serving `BUNDLE/current` of a running `urna serve` answers exactly as `urna serve`
//! does: for every file of the bundle (the `tile` and `blob` symlinks followed) the same
//! status and byte-identical bodies, equal to the file; for paths that are not in the bundle
//! the same status. So any static web server or CDN can carry the public side. A client that
//! accepts gzip gets the bundle's precompressed copy of a file that has one from both (nginx
//! with `gzip_static on`), with `Content-Encoding: gzip` and `Vary: Accept-Encoding`.
//!
//! Needs nginx (Debian package `nginx`). Without it the test fails when `CI` is set, and
//! otherwise says loudly that it was skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use urna_model::pack::PackReader;

use crate::server::{Server, get, post_note, raw};
use crate::{init, p, run};

/// Entry 0 of every log is the genesis `urna init` writes.
const GENESIS: u64 = 1;

#[test]
fn nginx_serves_the_bundle_exactly_as_urna_serve() {
    let Some(bin) = find_nginx() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is not installed: .ci/run must install it (apt-get install -y nginx) for this test"
        );
        eprintln!(
            "\n*** SKIPPED nginx_serves_the_bundle_exactly_as_urna_serve: nginx is not installed \
             (apt-get install nginx); CI runs it ***\n"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sim");
    let data = dir.path().join("data");

    // 1. A small election: its protocols ingested in bulk before the server starts, then the
    //    amendments for quarantined stations posted over HTTP, so the bundle is a second
    //    generation of a running server.
    run(&["sim", "--out", p(&src), "--stations", "300"], 0);
    init(&src, &data);
    let acks = run(
        &[
            "ingest",
            "--data",
            p(&data),
            "--print-acks",
            p(&src.join("protocols.notes")),
        ],
        0,
    );
    let mut stored = acks.lines().filter(|l| l.starts_with("ack ")).count() as u64;
    assert_eq!(stored, 300, "{acks}");
    let server = Server::start(&data, &["--publish-ms", "100"]);
    let amendments: Vec<Vec<u8>> =
        PackReader::new(std::fs::File::open(src.join("amendments.notes")).unwrap())
            .map(Result::unwrap)
            .collect();
    assert!(!amendments.is_empty(), "the sim wrote no amendments");
    for note in &amendments {
        let r = post_note(&server.addr, note);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        stored += 1;
    }
    server.wait_bundle(GENESIS + stored);

    // 2. nginx on the same directory.
    let current = server.bundle.join("current");
    let nginx = Nginx::start(&bin, &dir.path().join("nginx"), &current);

    // 3. Every file of the bundle: 200 from both, the file's bytes from both.
    let mut files = Vec::new();
    walk(&current, "", 0, &mut files);
    files.sort();
    for must in [
        "checkpoint",
        "index.html",
        "web/app.js",
        "web/verify.js",
        "web/i18n.js",
        "web/style.css",
        "v1/keys.json",
        "v1/stations/00.json",
        "v1/stations/ff.json",
        "README.txt",
        "v1/election.json",
        "v1/results.json",
        "v1/quarantine.json",
        "csv/stations.csv.gz",
        "csv/units.csv",
        "tile/0/000",
        "tile/entries/000",
    ] {
        assert!(
            files.iter().any(|f| f == must),
            "the bundle has no {must}: {files:?}"
        );
    }
    assert!(
        files.iter().any(|f| f.starts_with("v1/units/")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.starts_with("blob/sha256/")),
        "{files:?}"
    );
    for rel in &files {
        let url = url_path(rel);
        let disk = std::fs::read(current.join(rel)).unwrap();
        let ours = get(&server.addr, &url);
        let theirs = get(&nginx.addr, &url);
        assert_eq!(
            (ours.status, theirs.status),
            (200, 200),
            "GET {url}: urna serve {}, nginx {}",
            ours.status,
            theirs.status
        );
        assert!(
            ours.body == disk,
            "GET {url}: urna serve sent {} bytes, the file has {}",
            ours.body.len(),
            disk.len()
        );
        assert!(
            theirs.body == disk,
            "GET {url}: nginx sent {} bytes, the file has {}",
            theirs.body.len(),
            disk.len()
        );
    }

    // The results page at `/`, and its files with the same media types from both.
    let index = std::fs::read(current.join("index.html")).unwrap();
    for (url, ty) in [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/web/app.js", "text/javascript; charset=utf-8"),
        ("/web/style.css", "text/css; charset=utf-8"),
    ] {
        let ours = get(&server.addr, url);
        let theirs = get(&nginx.addr, url);
        assert_eq!((ours.status, theirs.status), (200, 200), "GET {url}");
        assert_eq!(ours.body, theirs.body, "GET {url}");
        assert_eq!(
            (ours.header("content-type"), theirs.header("content-type")),
            (Some(ty), Some(ty)),
            "GET {url}"
        );
    }
    assert_eq!(get(&server.addr, "/").body, index);
    // A file published only as its gzip is sent as it is, as gzip, by both.
    let unit = files
        .iter()
        .find(|f| f.starts_with("v1/units/") && f.ends_with(".json.gz"))
        .unwrap();
    for addr in [&server.addr, &nginx.addr] {
        let r = get(addr, &url_path(unit));
        assert_eq!(
            (
                r.status,
                r.header("content-type"),
                r.header("content-encoding")
            ),
            (200, Some("application/gzip"), None),
            "GET {unit} from {addr}"
        );
    }

    // 4. With `Accept-Encoding: gzip`: a file with a precompressed copy comes as the copy from
    //    both, marked as such; any other file as it is. HEAD gives the same head.
    let mut copies = 0;
    for rel in files.iter().filter(|f| !f.ends_with(".gz")) {
        let url = url_path(rel);
        let copy = std::fs::read(current.join(format!("{rel}.gz"))).ok();
        let want = copy
            .clone()
            .unwrap_or_else(|| std::fs::read(current.join(rel)).unwrap());
        for (who, addr) in [("urna serve", &server.addr), ("nginx", &nginx.addr)] {
            let r = get_gzip(addr, &url, "GET");
            assert_eq!(r.status, 200, "GET {url} from {who}");
            assert!(
                r.body == want,
                "GET {url} from {who}: {} bytes",
                r.body.len()
            );
            let encoding = r.header("content-encoding");
            let head = get_gzip(addr, &url, "HEAD");
            assert_eq!(
                head.header("content-length"),
                Some(want.len().to_string().as_str()),
                "HEAD {url} from {who}"
            );
            if copy.is_some() {
                assert_eq!(encoding, Some("gzip"), "GET {url} from {who}");
                assert_eq!(head.header("content-encoding"), Some("gzip"));
                assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{who}");
            } else {
                assert_eq!(encoding, None, "GET {url} from {who}");
            }
        }
        if copy.is_some() {
            copies += 1;
        }
    }
    for must in [
        "v1/results.json",
        "v1/election.json",
        "index.html",
        "web/app.js",
    ] {
        assert!(
            current.join(format!("{must}.gz")).is_file(),
            "{must} has no precompressed copy"
        );
    }
    assert!(copies > 10, "{copies} precompressed copies");
    // Without it, identity from both (urna serve still says the answer varies with it).
    let ours = get(&server.addr, "/v1/results.json");
    let theirs = get(&nginx.addr, "/v1/results.json");
    assert_eq!(
        ours.body,
        std::fs::read(current.join("v1/results.json")).unwrap()
    );
    assert_eq!(ours.body, theirs.body);
    assert_eq!(
        (
            ours.header("content-encoding"),
            theirs.header("content-encoding")
        ),
        (None, None)
    );
    assert_eq!(ours.header("vary"), Some("Accept-Encoding"));

    // 5. Paths that are not in the bundle: the same status from both.
    let missing_blob = format!("/blob/sha256/{}", "0".repeat(64));
    for url in [
        "/nope",
        "/checkpoint.bak",
        "/v1/units/NOPE.json",
        "/v1/results.json/x",
        "/csv/nothing.csv",
        "/tile/0/x999/999",
        "/tile/entries/x999/999",
        "/tile/0/000.p/1",
        missing_blob.as_str(),
        "/.hidden",
    ] {
        let ours = get(&server.addr, url);
        let theirs = get(&nginx.addr, url);
        assert_eq!(
            ours.status,
            theirs.status,
            "GET {url}: urna serve {} ({}), nginx {}",
            ours.status,
            String::from_utf8_lossy(&ours.body),
            theirs.status
        );
        assert_eq!(ours.status, 404, "GET {url}");
    }

    drop(nginx);
    assert!(server.stop().success());
}

/// `METHOD path` with `Accept-Encoding: gzip`; a `HEAD` answer has no body to read.
fn get_gzip(addr: &str, path: &str, method: &str) -> crate::server::Response {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    );
    if method != "HEAD" {
        return raw(addr, request.as_bytes());
    }
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(body.is_empty(), "HEAD {path} on {addr} sent a body");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    crate::server::Response {
        status,
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect(),
        body: Vec::new(),
    }
}

/// Every file under `dir` (following symlinks, as a web server does), as paths relative to
/// the bundle's `current`.
fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<String>) {
    assert!(depth < 16, "{} is nested too deep", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let rel = format!("{prefix}{name}");
        let meta = std::fs::metadata(entry.path()).unwrap();
        if meta.is_dir() {
            walk(&entry.path(), &format!("{rel}/"), depth + 1, out);
        } else {
            out.push(rel);
        }
    }
}

/// `/rel` with every byte but unreserved ones and `/` percent-encoded (a unit's file name may
/// hold a literal `%`).
fn url_path(rel: &str) -> String {
    let mut s = String::from("/");
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'~') {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// `nginx` on PATH, or where Debian installs it.
pub(crate) fn find_nginx() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("nginx"))
                .find(|c| c.is_file())
        })
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|c| c.is_file()))
}

/// nginx (master and workers) serving a directory on a free loopback port; stopped with
/// SIGTERM when dropped, so the master takes its workers with it. The results page's browser
/// tests (`web.rs`) serve their bundles with it too, and `urna verify`'s HTTPS test
/// (`verify.rs`) over TLS.
pub(crate) struct Nginx {
    child: Child,
    /// Its `127.0.0.1:port` (plain HTTP).
    pub(crate) addr: String,
    /// The `127.0.0.1:port` of each HTTPS server, in the order of the sites given.
    pub(crate) tls_addrs: Vec<String>,
}

/// An HTTPS server of the same directory: its certificate chain and private key (PEM files).
pub(crate) struct TlsSite<'a> {
    pub(crate) cert: &'a Path,
    pub(crate) key: &'a Path,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Nginx {
    /// Starts nginx with its files under `prefix`, serving `root`.
    pub(crate) fn start(bin: &Path, prefix: &Path, root: &Path) -> Self {
        Self::start_with_tls(bin, prefix, root, &[])
    }

    /// As [`Nginx::start`], with one more server over HTTPS (nginx's own TLS, OpenSSL) for
    /// each site, each on a port of its own.
    pub(crate) fn start_with_tls(
        bin: &Path,
        prefix: &Path,
        root: &Path,
        sites: &[TlsSite<'_>],
    ) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::create_dir_all(prefix).unwrap();
        let port = free_port();
        let q = |path: &Path| format!("\"{}\"", path.display());
        let mut tls_addrs = Vec::new();
        let mut tls_servers = String::new();
        for site in sites {
            let port = free_port();
            tls_addrs.push(format!("127.0.0.1:{port}"));
            tls_servers.push_str(&format!(
                "  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {}; \
                 ssl_certificate_key {}; root {}; index index.html; }}\n",
                q(site.cert),
                q(site.key),
                q(root)
            ));
        }
        // As root, nginx would run its workers as `nobody`, who cannot read a private
        // temporary directory.
        let user = if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
            "user root root;\n"
        } else {
            ""
        };
        let conf = format!(
            "daemon off;\nmaster_process on;\nworker_processes auto;\n{user}pid {pid};\n\
             error_log {log} warn;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  keepalive_requests 100000;\n\
             \x20 gzip_static on;\n  gzip_vary on;\n\
             \x20 types {{ application/json json; text/csv csv; text/html html; \
             text/javascript js; text/css css; image/svg+xml svg; image/png png; \
             application/gzip gz; }}\n\
             \x20 default_type text/plain;\n  charset utf-8;\n\
             \x20 charset_types text/html text/css text/javascript text/csv text/plain;\n\
             \x20 client_body_temp_path {cb};\n  proxy_temp_path {pt};\n  fastcgi_temp_path {ft};\n\
             \x20 uwsgi_temp_path {ut};\n  scgi_temp_path {st};\n\
             \x20 server {{ listen 127.0.0.1:{port}; root {root}; index index.html; }}\n{tls_servers}}}\n",
            pid = q(&prefix.join("nginx.pid")),
            log = q(&prefix.join("error.log")),
            cb = q(&prefix.join("client_body_temp")),
            pt = q(&prefix.join("proxy_temp")),
            ft = q(&prefix.join("fastcgi_temp")),
            ut = q(&prefix.join("uwsgi_temp")),
            st = q(&prefix.join("scgi_temp")),
            root = q(root),
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        let t = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "nginx exited ({status}) before listening:\n{}",
                    std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default()
                );
            }
            // The master binds every listening socket before it answers on any.
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Self {
                    child,
                    addr,
                    tls_addrs,
                };
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "nginx did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
