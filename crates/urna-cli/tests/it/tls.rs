//! HTTPS on urna's servers: `urna serve`, `urna witness serve` and `urna desk` serve TLS from
//! a PEM certificate and key, and refuse plain HTTP outside loopback; `urna submit` and
//! `urna verify` trust the commission's CA with `--ca-cert`, or a self-signed server by its
//! pinned key with `--pin`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use urna_verify::source::{Source, TlsRoots, open_with};

use crate::verify::TestCa;
use crate::{init, p, run, urna};

/// A server started by the test, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `urna ARGS` and returns it with the URL its first stdout line `PREFIX<url>` names.
fn start(args: &[&str], prefix: &str) -> (Server, String) {
    let mut child = urna()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the server printed no address")
            .unwrap();
        if let Some(url) = line.strip_prefix(prefix) {
            break url.trim().to_owned();
        }
    };
    // Keep reading stdout so that the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (server, url)
}

/// A CA of the test's own, `ca.pem`, and a server certificate for 127.0.0.1 it issued.
fn certificates(dir: &Path) -> (TestCa, String, String) {
    let ca = TestCa::new("Election commission test CA");
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
    let (cert, key) = ca.issue(dir, "server", &["127.0.0.1"]);
    (ca, p(&cert).to_owned(), p(&key).to_owned())
}

#[test]
fn urna_serve_over_https_is_verified_with_the_commissions_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("sim"), dir.path().join("data"));
    run(&["sim", "--out", p(&src), "--stations", "40"], 0);
    init(&src, &data);
    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let (_ca, cert, key) = certificates(dir.path());
    let (_server, url) = start(
        &[
            "serve",
            "--data",
            p(&data),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
        "urna serve: listening on ",
    );
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = p(&dir.path().join("ca.pem")).to_owned();
    // The stations submit over HTTPS, trusting the commission's CA; receipts check out.
    let protocols = p(&src.join("protocols.notes")).to_owned();
    let out = run(
        &[
            "submit",
            "--to",
            &url,
            "--ca-cert",
            &ca,
            "--log-key",
            &log_key,
            &protocols,
        ],
        0,
    );
    assert!(out.contains("40 stored"), "{out}");
    // Without it, the server's certificate is not trusted and nothing is sent.
    let out = run(
        &[
            "submit",
            "--to",
            &url,
            "--log-key",
            &log_key,
            "--attempts",
            "1",
            &protocols,
        ],
        1,
    );
    assert!(out.to_lowercase().contains("certificate"), "{out}");
    // The server publishes its first bundle generation within a second or two.
    let t = Instant::now();
    let out = loop {
        let o = urna()
            .args(["verify", &url, "--log-key", &log_key, "--ca-cert", &ca])
            .output()
            .unwrap();
        if o.status.success() || t.elapsed() > Duration::from_secs(60) {
            break o;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("VERIFIED"), "{text}");
    // Without the commission's CA the certificate is not trusted: could not run.
    let o = urna()
        .args(["verify", &url, "--log-key", &log_key])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn plain_http_is_refused_outside_loopback_and_tls_needs_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("sim"), dir.path().join("data"));
    run(&["sim", "--out", p(&src), "--stations", "10"], 0);
    init(&src, &data);
    let out = run(&["serve", "--data", p(&data), "--listen", "0.0.0.0:0"], 2);
    assert!(
        out.contains("--listen 0.0.0.0:0: plain HTTP is served on loopback only"),
        "{out}"
    );
    let out = run(
        &[
            "serve",
            "--data",
            p(&data),
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "0.0.0.0:0",
        ],
        2,
    );
    assert!(out.contains("--listen 0.0.0.0:0"), "{out}");
    let (_ca, cert, _key) = certificates(dir.path());
    let out = run(&["serve", "--data", p(&data), "--tls-cert", &cert], 2);
    assert!(
        out.contains("--tls-cert and --tls-key go together"),
        "{out}"
    );
    // A key that is not the certificate's: named, before anything listens.
    let (_, other_key) = TestCa::new("another CA").issue(dir.path(), "other", &["127.0.0.1"]);
    let out = run(
        &[
            "serve",
            "--data",
            p(&data),
            "--tls-cert",
            &cert,
            "--tls-key",
            p(&other_key),
        ],
        2,
    );
    assert!(
        out.contains("server.pem with") && out.contains("other.key"),
        "{out}"
    );
    let key = dir.path().join("witness.key");
    run(&["witness", "keygen", "--name", "w", "--out", p(&key)], 0);
    let log_key = run(
        &[
            "keys",
            "generate",
            "log",
            "--out",
            p(&dir.path().join("log.key")),
        ],
        0,
    );
    let log = format!("log={}", log_key.trim());
    let out = run(
        &[
            "witness",
            "serve",
            "--key",
            p(&key),
            "--state",
            p(&dir.path().join("w.state")),
            "--init-state",
            "--log",
            &log,
            "--listen",
            "[::]:0",
        ],
        2,
    );
    assert!(
        out.contains("plain HTTP is served on loopback only"),
        "{out}"
    );
    let demo = dir.path().join("demo");
    let out = run(&["demo", "--data", p(&demo), "--listen", "0.0.0.0:0"], 2);
    assert!(
        out.contains("the demo serves plain HTTP, so on loopback only"),
        "{out}"
    );
    assert!(!demo.exists(), "the demo ran before refusing");
}

/// A witness over HTTPS: it answers with its certificate, and the log asks it to cosign over
/// HTTPS, trusting the CA named by `ca_cert` in `witnesses.toml` (relative to the data
/// directory); without that CA the witness is not trusted and nothing is published.
#[test]
fn a_witness_serves_https_and_the_log_reaches_it_with_the_shared_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, cert, key_pem) = certificates(dir.path());
    let (src, data) = (dir.path().join("sim"), dir.path().join("data"));
    run(&["sim", "--out", p(&src), "--stations", "10"], 0);
    init(&src, &data);
    let log_vkey = run(&["log", "key", "--data", p(&data)], 0);
    let key = dir.path().join("witness.key");
    let vkey = run(&["witness", "keygen", "--name", "w", "--out", p(&key)], 0);
    let log_arg = format!("urna/sim-2025-assembly={}", log_vkey.trim());
    let (_w, url) = start(
        &[
            "witness",
            "serve",
            "--key",
            p(&key),
            "--state",
            p(&dir.path().join("w.state")),
            "--init-state",
            "--log",
            &log_arg,
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key_pem,
        ],
        "listening on ",
    );
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let roots = TlsRoots::from_pem_file(&dir.path().join("ca.pem")).unwrap();
    let source: Box<dyn Source> = open_with(&url, &roots).unwrap();
    assert_eq!(
        source.fetch("healthz").unwrap().as_deref(),
        Some(&b"ok\n"[..])
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = urna_verify::source::open(&url.replacen("https://", "http://", 1)).unwrap();
    assert!(!matches!(plain.fetch("healthz"), Ok(Some(b)) if b == b"ok\n"));

    let policy = format!(
        "quorum = 1\n\n[[witness]]\nname = \"w\"\nurl = \"{url}\"\nkey = \"{}\"\n",
        vkey.trim()
    );
    // Mozilla's roots do not know the test CA: the witness is not reached, nothing published.
    std::fs::write(data.join("witnesses.toml"), &policy).unwrap();
    urna()
        .args([
            "ingest",
            "--data",
            p(&data),
            p(&src.join("protocols.notes")),
        ])
        .output()
        .unwrap();
    let out = run(&["log", "publish", "--data", p(&data)], 1);
    assert!(out.to_lowercase().contains("certificate"), "{out}");
    // With the partner institutions' CA: cosigned over HTTPS and published.
    std::fs::copy(dir.path().join("ca.pem"), data.join("partners-ca.pem")).unwrap();
    std::fs::write(
        data.join("witnesses.toml"),
        format!("ca_cert = \"partners-ca.pem\"\n{policy}"),
    )
    .unwrap();
    let out = run(&["log", "publish", "--data", p(&data)], 0);
    assert!(out.contains("w"), "{out}");
    // A CA file that holds no certificate stops the command and names the field.
    std::fs::write(data.join("partners-ca.pem"), "nothing\n").unwrap();
    let out = run(&["log", "publish", "--data", p(&data)], 2);
    assert!(
        out.contains("ca_cert") && out.contains("partners-ca.pem"),
        "{out}"
    );
}

/// A self-signed certificate for 127.0.0.1: `<stem>.pem` and `<stem>.key`.
fn self_signed(dir: &Path, stem: &str) -> (String, String) {
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (p(&cert_path).to_owned(), p(&key_path).to_owned())
}

/// Servers with self-signed certificates, trusted by their pinned keys: `urna keys pin`
/// prints the pin (as openssl computes it); `urna submit --pin` stores with the right pin and
/// refuses a wrong one naming both pins; the log reaches a witness pinned in
/// `witnesses.toml` and refuses one whose pin is wrong; plain http:// to a host that is not
/// loopback is refused by the client before anything is sent.
#[test]
fn pinned_keys_trust_self_signed_servers_and_a_wrong_pin_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("sim"), dir.path().join("data"));
    run(&["sim", "--out", p(&src), "--stations", "10"], 0);
    init(&src, &data);
    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let (cert, key) = self_signed(dir.path(), "server");
    let pin = run(&["keys", "pin", "--cert", &cert], 0).trim().to_owned();
    assert!(pin.starts_with("sha256/") && pin.len() == 51, "{pin}");
    if let Ok(o) = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in {cert} -pubkey -noout | openssl pkey -pubin -outform der \
             | openssl dgst -sha256 -binary | base64"
        ))
        .output()
        && o.status.success()
    {
        assert_eq!(
            format!("sha256/{}", String::from_utf8_lossy(&o.stdout).trim()),
            pin
        );
    }
    let (other_cert, _) = self_signed(dir.path(), "other");
    let wrong = run(&["keys", "pin", "--cert", &other_cert], 0)
        .trim()
        .to_owned();
    let out = run(&["keys", "pin", "--cert", &key], 2);
    assert!(
        out.contains("no -----BEGIN CERTIFICATE----- block"),
        "{out}"
    );

    let (_server, url) = start(
        &[
            "serve",
            "--data",
            p(&data),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
        "urna serve: listening on ",
    );
    let protocols = p(&src.join("protocols.notes")).to_owned();
    let submit = |pin: &str, code: i32| {
        run(
            &[
                "submit",
                "--to",
                &url,
                "--pin",
                pin,
                "--log-key",
                &log_key,
                "--attempts",
                "1",
                &protocols,
            ],
            code,
        )
    };
    let out = submit(&wrong, 1);
    assert!(
        out.contains(&format!(
            "the server's public key is not pinned: seen {pin}, expected {wrong}"
        )),
        "{out}"
    );
    let out = submit(&pin, 0);
    assert!(out.contains("10 stored"), "{out}");
    let out = run(
        &[
            "submit",
            "--to",
            &url,
            "--pin",
            "sha256/nope",
            "--log-key",
            &log_key,
            &protocols,
        ],
        2,
    );
    assert!(out.contains("--pin") && out.contains("32 bytes"), "{out}");

    // Plain HTTP to a host that is not loopback: refused before anything is sent.
    let out = run(
        &[
            "submit",
            "--to",
            "http://192.0.2.1:8080",
            "--log-key",
            &log_key,
            &protocols,
        ],
        2,
    );
    assert!(out.contains("--to") && out.contains("loopback"), "{out}");

    // A witness with a self-signed certificate of its own, pinned in witnesses.toml.
    let (w_cert, w_key) = self_signed(dir.path(), "witness");
    let w_pin = run(&["keys", "pin", "--cert", &w_cert], 0)
        .trim()
        .to_owned();
    let wkey = dir.path().join("witness-cosign.key");
    let vkey = run(&["witness", "keygen", "--name", "w", "--out", p(&wkey)], 0);
    let log_arg = format!("urna/sim-2025-assembly={log_key}");
    let (_w, w_url) = start(
        &[
            "witness",
            "serve",
            "--key",
            p(&wkey),
            "--state",
            p(&dir.path().join("w.state")),
            "--init-state",
            "--log",
            &log_arg,
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &w_cert,
            "--tls-key",
            &w_key,
        ],
        "listening on ",
    );
    drop(_server);
    let policy = |pin: &str| {
        format!(
            "quorum = 1\n\n[[witness]]\nname = \"w\"\nurl = \"{w_url}\"\nkey = \"{}\"\npins = [\"{pin}\"]\n",
            vkey.trim()
        )
    };
    std::fs::write(data.join("witnesses.toml"), policy(&wrong)).unwrap();
    let out = run(&["log", "publish", "--data", p(&data)], 1);
    assert!(
        out.contains(&format!("seen {w_pin}, expected {wrong}")),
        "{out}"
    );
    std::fs::write(data.join("witnesses.toml"), policy(&w_pin)).unwrap();
    run(&["log", "publish", "--data", p(&data)], 0);
}

/// `urna verify --pin`: a bundle served by `urna serve` with a self-signed certificate is
/// verified when the server's key is pinned, alone or beside the certificate as its own CA;
/// a wrong pin stops the verification (exit 2) naming the seen and the expected pin, with or
/// without the CA; a pin is refused for a location that is not https://.
#[test]
fn urna_verify_trusts_a_self_signed_server_by_its_pinned_key() {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("sim"), dir.path().join("data"));
    run(&["sim", "--out", p(&src), "--stations", "10"], 0);
    init(&src, &data);
    run(
        &[
            "ingest",
            "--data",
            p(&data),
            p(&src.join("protocols.notes")),
        ],
        0,
    );
    let log_key = run(&["log", "key", "--data", p(&data)], 0)
        .trim()
        .to_owned();
    let (cert, key) = self_signed(dir.path(), "server");
    let pin = run(&["keys", "pin", "--cert", &cert], 0).trim().to_owned();
    let (other_cert, _) = self_signed(dir.path(), "other");
    let wrong = run(&["keys", "pin", "--cert", &other_cert], 0)
        .trim()
        .to_owned();
    let (_server, url) = start(
        &[
            "serve",
            "--data",
            p(&data),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
        "urna serve: listening on ",
    );
    let verify = |extra: &[&str]| {
        let o = urna()
            .args(["verify", &url, "--log-key", &log_key])
            .args(extra)
            .output()
            .unwrap();
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.code(), text)
    };
    // The server publishes its first bundle generation within a second or two.
    let t = Instant::now();
    let (code, text) = loop {
        let (code, text) = verify(&["--pin", &pin]);
        if code == Some(0) || t.elapsed() > Duration::from_secs(60) {
            break (code, text);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("VERIFIED"), "{text}");
    // A backup pin beside the right one: still verified.
    let (code, text) = verify(&["--pin", &wrong, "--pin", &pin]);
    assert_eq!(code, Some(0), "{text}");
    // A wrong pin: could not run, both pins named.
    let (code, text) = verify(&["--pin", &wrong]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "the server's public key is not pinned: seen {pin}, expected {wrong}"
        )),
        "{text}"
    );
    // Without a pin the self-signed certificate has no CA behind it.
    let (code, text) = verify(&[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("unknown issuer"), "{text}");
    // The certificate as its own CA and the pin: both checks pass; with a wrong pin the CA
    // alone does not carry it.
    let (code, text) = verify(&["--ca-cert", &cert, "--pin", &pin]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = verify(&["--ca-cert", &cert, "--pin", &wrong]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(&format!("seen {pin}, expected {wrong}")),
        "{text}"
    );
    // A malformed pin is a usage error naming the rule; a pin needs https://.
    let (code, text) = verify(&["--pin", "sha256/nope"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("32 bytes"), "{text}");
    let o = urna()
        .args([
            "verify",
            "http://127.0.0.1:1",
            "--log-key",
            &log_key,
            "--pin",
            &pin,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("pinned keys would not be checked"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
