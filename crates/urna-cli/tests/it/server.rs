//! A real `urna serve` process for end-to-end tests, and a minimal raw HTTP/1.1 client (raw
//! so that tests can send exactly the bytes an attacker would: slow bodies, bad UTF-8, odd
//! paths).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::Duration;

use crate::{p, urna};

/// A running `urna serve`; killed (SIGKILL) when dropped unless stopped first.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `host:port`.
    pub addr: String,
    /// The metrics address (`host:port`), when started with `--metrics-listen`.
    pub metrics: Option<String>,
    /// The bundle root (`DATA/public` unless `--bundle` was given).
    pub bundle: PathBuf,
    /// The open-file limit and connection bound it printed
    /// (`open-file limit … ; at most N connections at once`).
    pub limits: String,
    /// Everything the server printed on stderr, collected by a thread.
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `urna serve --data DATA --listen 127.0.0.1:0 EXTRA…` and waits until it listens.
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_with(urna(), data, extra)
    }

    /// Like [`Self::start`], with `urna` run by `command` (which must exec it, as `prlimit`
    /// does, so that signals reach the server).
    pub fn start_with(mut command: std::process::Command, data: &Path, extra: &[&str]) -> Self {
        let mut child = command
            .args(["serve", "--data", p(data), "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        {
            let sink = std::sync::Arc::clone(&stderr);
            let mut err = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                let mut buf = String::new();
                let _ = err.read_to_string(&mut buf);
                sink.lock().unwrap().push_str(&buf);
            });
        }
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut url, mut metrics, mut bundle, mut limits) = (None, None, None, None);
        while url.is_none() || bundle.is_none() || limits.is_none() {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                panic!(
                    "urna serve exited before listening:\n{}",
                    stderr.lock().unwrap()
                );
            }
            let line = line.trim();
            if let Some(u) = line.strip_prefix("urna serve: listening on ") {
                url = Some(u.to_owned());
            } else if let Some(m) = line.strip_prefix("urna serve: metrics on ") {
                metrics = Some(
                    m.trim_end_matches("/metrics")
                        .trim_start_matches("http://")
                        .to_owned(),
                );
            } else if let Some(b) = line.strip_prefix("urna serve: public bundle in ") {
                bundle = Some(PathBuf::from(b.trim_end_matches("/current")));
            } else if let Some(l) = line.strip_prefix("urna serve: ")
                && l.starts_with("open-file limit ")
            {
                limits = Some(l.to_owned());
            }
        }
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = out.read_to_string(&mut sink);
        });
        let url = url.unwrap();
        let addr = url.trim_start_matches("http://").to_owned();
        Self {
            child: Some(child),
            url,
            addr,
            metrics,
            bundle: bundle.unwrap(),
            limits: limits.unwrap(),
            stderr,
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait().unwrap()
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// What the server printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the live bundle covers at least `size` entries (polls `/healthz`).
    pub fn wait_bundle(&self, size: u64) {
        for _ in 0..600 {
            let r = get(&self.addr, "/healthz");
            if r.status == 200 {
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                if v["bundle_size"].as_u64().unwrap_or(0) >= size {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the bundle never reached {size} entries:\n{}",
            self.stderr()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends raw request bytes on a new connection (`Connection: close` expected in them) and
/// reads the whole response.
pub fn raw(addr: &str, request: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    read_response(&mut s)
}

/// Reads one response (with `Content-Length` or until close).
pub fn read_response(s: &mut TcpStream) -> Response {
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line: {status_line:?}"))
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').unwrap();
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse::<usize>().unwrap());
    let mut body = Vec::new();
    match len {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body).unwrap();
        }
        None => {
            r.read_to_end(&mut body).unwrap();
        }
    }
    Response {
        status,
        headers,
        body,
    }
}

/// `GET path`.
pub fn get(addr: &str, path: &str) -> Response {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// `POST /v1/protocols` with a note.
pub fn post_note(addr: &str, note: &[u8]) -> Response {
    let mut req = format!(
        "POST /v1/protocols HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        note.len()
    )
    .into_bytes();
    req.extend_from_slice(note);
    raw(addr, &req)
}
