//! `urna demo --desk ADDR`: a counting-centre desk for one municipality of the demo election,
//! beside the demo's server, delivering what it signs to it. The municipality's protocols are
//! left out of the demo's intake: its paper protocols are to be keyed at the desk. The desk's
//! accounts get a random first password, printed once, which each must change at the first
//! login.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rand::RngCore as _;
use urna_desk::Desk;
use urna_desk::db::{self, Role};
use urna_model::note::{Note, NoteSigner, NoteVerifier};
use urna_model::pack::{PackReader, write_note};
use urna_model::protocol::hex;
use urna_server::submit::{SubmitClient, SubmitOptions};

/// The demo's accounts: a name and a role each.
pub(crate) const ACCOUNTS: [(&str, Role); 4] = [
    ("admin", Role::Administrator),
    ("coordinator", Role::Coordinator),
    ("typist1", Role::Typist),
    ("typist2", Role::Typist),
];

/// A desk ready to serve: bound, its accounts made.
pub(crate) struct DemoDesk {
    desk: Arc<Desk>,
    listener: TcpListener,
    centre: String,
    password: String,
}

/// Binds the desk's address before the demo's long run (loopback only: plain HTTP).
///
/// # Errors
/// The address is not loopback or is taken.
pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener> {
    if !addr.ip().is_loopback() {
        bail!(
            "--desk {addr}: the demo's desk serves plain HTTP, so on loopback only; run `urna desk` with --tls-cert and --tls-key for another address"
        );
    }
    TcpListener::bind(addr).map_err(|e| {
        anyhow::anyhow!("cannot serve the desk on {addr} (--desk): {e}; choose another address")
    })
}

/// The municipality whose protocols the desk keys: the one of the last station, unless the
/// demo's attacks name one of its stations (the first two, the first amended one), or it is
/// the whole of its district (whose seats could then go to nobody until the desk is done).
pub(crate) fn choose_centre(sim: &urna_sim::Simulation) -> Option<String> {
    let n = sim.config().stations;
    let last = n.checked_sub(1)?;
    let centre = sim.station_unit(last);
    let mut attacked = vec![0, 1.min(last)];
    if let Some(s) = sim.first_amended() {
        attacked.extend((0..n).find(|&i| sim.station(i).id == s.id));
    }
    let district = sim.station_district(last);
    let rest_of_district =
        (0..n).any(|i| sim.station_district(i) == district && sim.station_unit(i) != centre);
    (rest_of_district && !attacked.iter().any(|&i| sim.station_unit(i) == centre)).then_some(centre)
}

/// Writes the simulation's protocol and amendment packs without the notes of `centre`'s
/// stations into `source/outside-<centre>/`; returns their paths and how many notes were left
/// out.
///
/// # Errors
/// Reading or writing the packs.
pub(crate) fn packs_without(
    source: &Path,
    e: &urna_model::definition::Election,
    centre: &str,
) -> Result<(Vec<PathBuf>, usize)> {
    let dir = source.join(format!("outside-{centre}"));
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::new();
    let mut left_out = 0;
    for name in ["protocols.notes", "amendments.notes"] {
        let from = source.join(name);
        let to = dir.join(name);
        let mut w = std::io::BufWriter::new(std::fs::File::create(&to)?);
        for note in PackReader::new(std::fs::File::open(&from)?) {
            let note = note.with_context(|| format!("reading {}", from.display()))?;
            let inside = Note::parse(&note)
                .ok()
                .and_then(|n| urna_model::protocol::ProtocolBody::parse(n.text()).ok())
                .and_then(|b| e.station(&b.station))
                .is_some_and(|s| e.units[e.stations[s.0 as usize].unit.0 as usize].id == centre);
            if inside {
                left_out += 1;
            } else {
                write_note(&mut w, &note)?;
            }
        }
        std::io::Write::flush(&mut w)?;
        out.push(to);
    }
    Ok((out, left_out))
}

/// Opens the desk for `centre`, signing with the central commission's key the simulation
/// wrote, and makes its accounts.
///
/// # Errors
/// The key, the definition or the desk's database.
pub(crate) fn prepare(
    store: &Path,
    source: &Path,
    centre: &str,
    listener: TcpListener,
) -> Result<DemoDesk> {
    let key = source.join("secrets").join("central-commission.key");
    let skey =
        std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
    let signer = NoteSigner::from_skey(skey.trim()).context("the demo's authority key")?;
    let centre = centre.to_owned();
    let desk = Arc::new(Desk::open(store, &centre, signer)?);
    let mut raw = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let password = format!("demo-{}", hex(&raw));
    let conn = db::open(store)?;
    for (name, role) in ACCOUNTS {
        db::add_user(&conn, name, role, &password, "urna demo")?;
    }
    Ok(DemoDesk {
        desk,
        listener,
        centre,
        password,
    })
}

impl DemoDesk {
    /// Serves the desk on its own thread until SIGINT or SIGTERM, delivering to the server at
    /// `api` whose log key is `log_vkey`; prints its address and accounts once it listens.
    ///
    /// # Errors
    /// The log key or the client cannot be set up.
    pub(crate) fn start(self, api: SocketAddr, log_vkey: &str) -> Result<JoinHandle<()>> {
        let log = NoteVerifier::from_vkey(log_vkey).context("the log key")?;
        let client = SubmitClient::new(&format!("http://{api}"), log, SubmitOptions::default())
            .context("the desk's client")?;
        let Self {
            desk,
            listener,
            centre,
            password,
        } = self;
        std::thread::Builder::new()
            .name("urna-demo-desk".into())
            .spawn(move || {
                let shutdown = async {
                    match urna_server::shutdown_signal() {
                        Ok(signal) => signal.await,
                        Err(_) => std::future::pending::<()>().await,
                    }
                };
                let served = urna_desk::run(
                    desk,
                    listener,
                    Some(client),
                    Duration::from_millis(200),
                    None,
                    shutdown,
                    |addr| {
                        let names: Vec<&str> = ACCOUNTS.iter().map(|(n, _)| *n).collect();
                        println!("  Counting-centre desk for {centre}: http://{addr}/");
                        println!(
                            "  Accounts {} (first password {password}, to be changed at the first login)",
                            names.join(", ")
                        );
                    },
                );
                if let Err(e) = served {
                    eprintln!("urna demo: the desk stopped: {e}");
                }
            })
            .context("starting the desk")
    }
}
