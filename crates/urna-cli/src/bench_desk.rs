//! `urna bench desk`: simulated typists keying every protocol of a counting centre twice over
//! HTTP against a real desk, timing each saved line and each whole entry, then checking that
//! every protocol was signed exactly once and none was lost.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use urna_desk::Desk;
use urna_desk::db::{self, Role};
use urna_model::protocol::ProtocolBody;
use urna_sim::{CONTEST_ID, SimConfig, Simulation};

/// `urna bench desk` arguments.
#[derive(clap::Args)]
pub(crate) struct BenchDeskArgs {
    /// Simulated typists keying at once.
    #[arg(long, default_value_t = 200)]
    typists: usize,
    /// Polling stations of the centre (each protocol is keyed twice).
    #[arg(long, default_value_t = 5000)]
    stations: u32,
    /// Candidates per list (open lists: preference lines on every protocol); 0 for closed.
    #[arg(long, default_value_t = 10)]
    candidates: u32,
    /// Pause of each typist between two lines, in milliseconds (0: key as fast as the desk
    /// answers, a saturation test; a trained typist keys a line in about a second).
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
    /// Work directory (default: a temporary directory).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// One typist's saved lines, finish requests and whole entries, and the protocols it saw signed.
type Timings = (Vec<Duration>, Vec<Duration>, Vec<Duration>, usize);

const PASSWORD: &str = "bench-password-1";
const NEW_PASSWORD: &str = "bench-password-2";

/// One keep-alive HTTP/1.1 connection with a session cookie and its CSRF token.
struct Conn {
    stream: BufReader<TcpStream>,
    cookie: String,
    csrf: String,
}

impl Conn {
    fn open(addr: SocketAddr) -> Result<Self> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut c = Self {
            stream: BufReader::new(s),
            cookie: String::new(),
            csrf: String::new(),
        };
        let v = c.call("GET", "/api/session", None)?;
        c.csrf = v["csrf"].as_str().unwrap_or_default().to_owned();
        Ok(c)
    }

    /// A new connection for the same session (cookie and token): the desk closes a
    /// keep-alive connection left idle past its header timeout, as the logins of many
    /// typists leave the first ones.
    fn reconnect(&mut self) -> Result<()> {
        let addr = self.stream.get_ref().peer_addr()?;
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        self.stream = BufReader::new(s);
        Ok(())
    }

    fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let body = body
            .map(|mut b| {
                b["csrf"] = json!(self.csrf);
                b.to_string()
            })
            .unwrap_or_default();
        let cookie = if self.cookie.is_empty() {
            String::new()
        } else {
            format!("Cookie: urna_desk={}\r\n", self.cookie)
        };
        write!(
            self.stream.get_mut(),
            "{method} {path} HTTP/1.1\r\nHost: desk\r\n{cookie}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut status = 0u16;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                bail!("{path}: the desk closed the connection");
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(rest) = line.strip_prefix("HTTP/1.1 ") {
                status = rest.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
            } else if let Some((k, v)) = line.split_once(": ") {
                let k = k.to_ascii_lowercase();
                if k == "content-length" {
                    length = v.parse()?;
                } else if k == "set-cookie"
                    && let Some(c) = v.strip_prefix("urna_desk=")
                {
                    self.cookie = c.split(';').next().unwrap_or_default().to_owned();
                }
            }
        }
        let mut buf = vec![0; length];
        self.stream.read_exact(&mut buf)?;
        let v: Value = serde_json::from_slice(&buf).unwrap_or(Value::Null);
        if status != 200 {
            bail!("{method} {path}: {status} {v}");
        }
        Ok(v)
    }
}

/// The lines a typist keys for a protocol: every count and list, the non-empty preference
/// boxes (an empty box is skipped with Enter and saves nothing).
fn keyed_lines(b: &ProtocolBody) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = b
        .counts
        .iter()
        .map(|c| (format!("count:{}", c.name), c.value.to_string()))
        .chain(
            b.votes
                .iter()
                .map(|v| (format!("votes:{}", v.name), v.value.to_string())),
        )
        .collect();
    for lp in &b.preferences {
        for c in &lp.candidates {
            out.push((
                format!("pref:{}:{}", lp.list, c.number),
                c.votes.to_string(),
            ));
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Runs `urna bench desk`.
pub(crate) fn run(args: &BenchDeskArgs) -> Result<ExitCode> {
    if args.typists < 2 {
        bail!("--typists: at least 2 (every protocol is keyed by two different typists)");
    }
    let work = crate::bench::WorkDir::new(args.dir.as_deref())?;
    let dir = work.path();
    let sim = Simulation::new(SimConfig {
        stations: args.stations,
        error_rate_per_10k: 0,
        candidates: args.candidates,
        marks: if args.candidates > 0 { 5 } else { 0 },
        ..SimConfig::default()
    });
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("election.toml"), sim.definition_toml())?;
    let mut csv = format!("{}\n", urna_model::definition::STATIONS_HEADER);
    let mut papers = Vec::with_capacity(args.stations as usize);
    for i in 0..args.stations {
        let s = sim.station(i);
        csv.push_str(&sim.station_row(&s));
        csv.push('\n');
        papers.push((s.id.clone(), keyed_lines(&s.body)));
    }
    std::fs::write(data.join("stations.csv"), csv)?;
    let desk = Arc::new(Desk::open(&data, "SIM", sim.authority().clone())?);
    {
        let conn = db::open(&data)?;
        for t in 0..args.typists {
            db::add_user(&conn, &format!("t{t}"), Role::Typist, PASSWORD, "bench")?;
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = {
        let desk = Arc::clone(&desk);
        std::thread::spawn(move || {
            urna_desk::run(
                desk,
                listener,
                None,
                Duration::from_secs(1),
                None,
                async move {
                    let _ = stop_rx.await;
                },
                |_| {},
            )
        })
    };
    let lines_per_protocol =
        papers.iter().map(|p| p.1.len()).sum::<usize>() as f64 / papers.len().max(1) as f64;
    out!(
        "urna bench desk: {} typists, {} stations keyed twice ({:.1} lines each on average), {} candidates per list, over HTTP on {addr}",
        args.typists,
        args.stations,
        lines_per_protocol,
        args.candidates
    );
    // Log everyone in (Argon2id) before the clock starts.
    let mut conns = Vec::with_capacity(args.typists);
    for t in 0..args.typists {
        let mut c = Conn::open(addr)?;
        let v = c.call(
            "POST",
            "/api/login",
            Some(json!({"name": format!("t{t}"), "password": PASSWORD})),
        )?;
        c.csrf = v["csrf"].as_str().unwrap_or_default().to_owned();
        let v = c.call(
            "POST",
            "/api/password",
            Some(json!({"old": PASSWORD, "new": NEW_PASSWORD})),
        )?;
        // The session is renewed with the password: a new cookie and token.
        c.csrf = v["csrf"].as_str().unwrap_or_default().to_owned();
        conns.push(c);
    }
    // Typist t keys station k when k % n == t (usually the first entry) and when
    // (k + 1) % n == t (usually the second): two different typists per protocol.
    let n = args.typists;
    let pause = Duration::from_millis(args.pause_ms);
    let papers = Arc::new(papers);
    for c in &mut conns {
        c.reconnect()?;
    }
    let start = Instant::now();
    let workers: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(t, mut c)| {
            let papers = Arc::clone(&papers);
            std::thread::spawn(move || -> Result<Timings> {
                let mut line_times = Vec::new();
                let mut finish_times = Vec::new();
                let mut entry_times = Vec::new();
                let mut signed = 0;
                let mine: Vec<usize> = (0..papers.len())
                    .filter(|k| k % n == t || (k + 1) % n == t)
                    .collect();
                for k in mine {
                    let (station, lines) = &papers[k];
                    let e0 = Instant::now();
                    let e = c.call(
                        "POST",
                        "/api/claim",
                        Some(json!({"contest": CONTEST_ID, "station": station})),
                    )?;
                    let id = e["entry"].as_i64().context("claim answered no entry")?;
                    for (key, value) in lines {
                        if pause > Duration::ZERO {
                            std::thread::sleep(pause);
                        }
                        let l0 = Instant::now();
                        c.call(
                            "POST",
                            &format!("/api/entries/{id}/line"),
                            Some(json!({"key": key, "value": value})),
                        )?;
                        line_times.push(l0.elapsed());
                    }
                    let f0 = Instant::now();
                    let f = c.call(
                        "POST",
                        &format!("/api/entries/{id}/finish"),
                        Some(json!({})),
                    )?;
                    finish_times.push(f0.elapsed());
                    entry_times.push(e0.elapsed());
                    if f["protocol"] == json!("signed") {
                        signed += 1;
                    }
                }
                Ok((line_times, finish_times, entry_times, signed))
            })
        })
        .collect();
    let mut lines = Vec::new();
    let mut finishes = Vec::new();
    let mut entries = Vec::new();
    let mut signed_answers = 0;
    for w in workers {
        let (l, f, e, s) = w
            .join()
            .map_err(|_| anyhow::anyhow!("a typist thread panicked"))??;
        lines.extend(l);
        finishes.extend(f);
        entries.extend(e);
        signed_answers += s;
    }
    let elapsed = start.elapsed();
    let _ = stop_tx.send(());
    served
        .join()
        .map_err(|_| anyhow::anyhow!("the desk thread panicked"))??;
    lines.sort_unstable();
    finishes.sort_unstable();
    entries.sort_unstable();
    // Every protocol signed exactly once, none lost.
    let conn = db::open(&data)?;
    let notes: Vec<Vec<u8>> = {
        let mut q = conn.prepare("SELECT note FROM protocols WHERE state = 'signed'")?;
        q.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    let distinct: HashSet<&Vec<u8>> = notes.iter().collect();
    let entries_rows: i64 =
        conn.query_row("SELECT COUNT(*) FROM entries WHERE done = 1", [], |r| {
            r.get(0)
        })?;
    let by_state: BTreeMap<String, i64> = {
        let mut q = conn.prepare("SELECT state, COUNT(*) FROM protocols GROUP BY state")?;
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    out!(
        "keyed {} lines and {} entries in {:.1} s ({:.0} lines/s)",
        lines.len(),
        entries.len(),
        elapsed.as_secs_f64(),
        lines.len() as f64 / elapsed.as_secs_f64()
    );
    out!(
        "saved line:     p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&lines, 0.5),
        percentile(&lines, 0.99),
        percentile(&lines, 1.0)
    );
    out!(
        "finished entry: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (the finish request: compare, sign, commit)",
        percentile(&finishes, 0.5),
        percentile(&finishes, 0.99),
        percentile(&finishes, 1.0)
    );
    out!(
        "whole entry:    p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (claim, every line with its pause, finish)",
        percentile(&entries, 0.5),
        percentile(&entries, 0.99),
        percentile(&entries, 1.0)
    );
    let expected = args.stations as usize;
    let lost = expected.saturating_sub(distinct.len());
    let duplicated = notes.len() - distinct.len();
    out!(
        "protocols: {} signed ({} answered `signed` to a typist), {} entries finished, states {by_state:?}; lost {lost}, duplicated {duplicated}",
        notes.len(),
        signed_answers,
        entries_rows
    );
    if lost > 0
        || duplicated > 0
        || signed_answers != expected
        || entries_rows != 2 * expected as i64
    {
        bail!("lost or duplicated protocols: see above");
    }
    Ok(ExitCode::SUCCESS)
}
