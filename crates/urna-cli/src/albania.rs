//! Import of Albania's 2021 parliamentary election from the per-station CSV published from the
//! Central Election Commission's results (one row per polling station).
//!
//! Historical results were never signed at their source. The import generates one Ed25519 key
//! per station, signs each station's published numbers with it, says so in the definition's
//! `provenance`, and sends the notes through the same intake as any other submission, so the
//! published arithmetic errors are quarantined exactly as a live intake would.

use std::fmt::Write as _;
use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use urna_model::definition::STATIONS_HEADER;
use urna_model::note::NoteSigner;
use urna_model::pack::write_note;
use urna_model::protocol::{BodyKind, Counted, ProtocolBody};
use urna_store::Store;

use crate::albania_rows::{self, LISTS, Rows, ascii_id};

/// Key name of the central commission's authority key the import generates.
const CEC_KEY_NAME: &str = "KQZ";

/// Where the import keeps that key, inside the data directory.
pub(crate) const CEC_KEY_FILE: &str = "secrets/central-commission.key";

/// The definition's unit shapes file, when the import is given the district shapefile.
const SHAPES_FILE: &str = "districts.geojson";

/// Imports the CSV at `csv` into a new data directory `data`; with `shapes`, the district
/// shapefile becomes the definition's unit shapes (`districts.geojson`).
///
/// Every row is checked before anything is written (a refusal names the line, the column and
/// the rule), and the data directory is assembled beside `data` and renamed into place only
/// once the import succeeded: a refused import leaves nothing behind.
pub(crate) fn import(csv: &Path, data: &Path, shapes: Option<&Path>) -> Result<ExitCode> {
    if data.join(urna_store::DB_FILE).exists() {
        bail!("{} already holds a store", data.display());
    }
    if std::fs::read_dir(data).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} exists and is not empty; the import creates a new data directory",
            data.display()
        );
    }
    let name = data
        .file_name()
        .with_context(|| format!("{}: the data directory must have a name", data.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = match data.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let prefix = format!(".{name}.importing-");
    clear_stale_staging(&parent, &prefix);
    let staging = parent.join(format!("{prefix}{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("removing {}", staging.display()))?;
    }
    let done = import_into(csv, &staging, data, shapes);
    match done {
        Ok(code) => {
            if data.exists() {
                std::fs::remove_dir(data)
                    .with_context(|| format!("replacing {}", data.display()))?;
            }
            std::fs::rename(&staging, data)
                .with_context(|| format!("creating {}", data.display()))?;
            Ok(code)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// Removes the staging directories (`<prefix><pid>` in `parent`) of imports killed before they
/// finished: those whose process is gone. Where processes cannot be looked up (no `/proc`),
/// none is removed, so a running import's is never taken.
fn clear_stale_staging(parent: &Path, prefix: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !proc.join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// [`import`] into `data`, a new directory that becomes `shown` (named in what is printed).
fn import_into(csv: &Path, data: &Path, shown: &Path, shapes: Option<&Path>) -> Result<ExitCode> {
    let file = std::fs::File::open(csv).with_context(|| format!("opening {}", csv.display()))?;
    let Rows {
        rows,
        districts,
        municipalities,
    } = albania_rows::read(&csv.display().to_string(), file).map_err(anyhow::Error::msg)?;

    std::fs::create_dir_all(data.join("import"))
        .with_context(|| format!("creating {}", data.display()))?;
    let mut toml = String::new();
    let _ = write!(
        toml,
        "# Albania, parliamentary election of 25 April 2021, imported by `urna import --format albania-2021`.\n\n\
         [election]\nid = \"al-2021-assembly\"\nname = \"Albania parliamentary election 2021\"\ndate = \"2021-04-25\"\n\
         provenance = {}\n\n\
         [stations]\nfile = \"stations.csv\"\n\n[[contests]]\nid = \"assembly\"\nname = \"Assembly of Albania\"\nlists = [{}]\n\n",
        toml_string(&format!(
            "historical results imported from per-station CSV ({}); never signed at source: \
             station keys were generated at import and the import signed each station's \
             published numbers",
            csv.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        )),
        LISTS
            .iter()
            .map(|(l, _)| format!("\"{l}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (id, name) in LISTS {
        // The CSV's "Other" column holds votes for independent candidates, not a list.
        let kind = if id == "Other" { "other" } else { "party" };
        let _ = write!(
            toml,
            "[[lists]]\nid = \"{id}\"\nname = \"{name}\"\nkind = \"{kind}\"\n\n"
        );
    }
    if let Some(shp) = shapes {
        let geojson = crate::albania_shapes::districts_geojson(shp, &districts, |name| {
            format!("AL-{}", ascii_id(name))
        })?;
        std::fs::write(data.join(SHAPES_FILE), &geojson)?;
        let _ = write!(
            toml,
            "# District shapes converted from {} (see `urna import --help`).\n[shapes]\nfile = \"{SHAPES_FILE}\"\nsha256 = \"{}\"\n\n",
            toml_string(
                &shp.file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            urna_model::protocol::hex(&urna_model::intake::sha256(geojson.as_bytes()))
        );
    }
    // The commission's authority key, generated like the station keys: it signs what the
    // commission adds to the log after the import (amendments, an audit's notes).
    let mut cec_seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut cec_seed);
    let cec = NoteSigner::from_seed(CEC_KEY_NAME, &cec_seed)?;
    let _ = write!(
        toml,
        "[[authorities]]\nname = \"Central Election Commission (KQZ), key generated at import\"\nscope = \"AL\"\nkey = \"{}\"\n\n",
        cec.verifier().to_vkey()
    );
    let _ = write!(toml, "[[units]]\nid = \"AL\"\nname = \"Albania\"\n\n");
    for (id, name) in &districts {
        let _ = write!(
            toml,
            "[[units]]\nid = \"{id}\"\nname = {}\nparent = \"AL\"\n\n",
            toml_string(name)
        );
    }
    for (id, (name, parent)) in &municipalities {
        let _ = write!(
            toml,
            "[[units]]\nid = \"{id}\"\nname = {}\nparent = \"{parent}\"\n\n",
            toml_string(name)
        );
    }
    let mut stations = format!("{STATIONS_HEADER}\n");
    let pack_path = data.join("import").join("protocols.notes");
    let mut pack = BufWriter::new(std::fs::File::create(&pack_path)?);
    let mut seeds = vec![0u8; 32 * rows.len()];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seeds);
    for (r, seed) in rows.iter().zip(seeds.chunks_exact(32)) {
        let seed: [u8; 32] = seed.try_into()?;
        let signer = NoteSigner::from_seed(&r.station, &seed)
            .with_context(|| format!("station id {:?} is not a valid key name", r.station))?;
        let _ = writeln!(
            stations,
            "{},{},{},{}",
            r.station,
            r.unit,
            r.numbers[0],
            signer.verifier().to_vkey()
        );
        let c = |name: &str, value| Counted {
            name: name.to_owned(),
            value,
            line: 0,
        };
        let body = ProtocolBody {
            kind: BodyKind::Protocol,
            election: "al-2021-assembly".into(),
            contest: "assembly".into(),
            station: r.station.clone(),
            revision: 1,
            counts: vec![
                c("registered", r.numbers[0]),
                c("ballots-cast", r.numbers[1]),
                c("invalid", r.numbers[2]),
                c("valid", r.numbers[3]),
            ],
            votes: LISTS
                .iter()
                .zip(&r.votes)
                .map(|((l, _), &v)| c(l, v))
                .collect(),
            preferences: Vec::new(),
            scan: None,
        };
        write_note(&mut pack, &signer.sign_text(&body.to_text()).to_bytes())?;
    }
    pack.into_inner()?.sync_all()?;
    std::fs::write(data.join("election.toml"), toml)?;
    std::fs::write(data.join("stations.csv"), stations)?;
    let mut store = Store::init(data, &data.join("election.toml"))?;
    let cec_path = data.join(CEC_KEY_FILE);
    urna_store::write_secret(&cec_path, &cec.to_skey())?;
    out!(
        "imported {} stations in {} districts and {} municipalities; signed with generated station keys (see provenance)",
        rows.len(),
        districts.len(),
        municipalities.len()
    );
    out!(
        "the central commission's authority key (generated, scope AL): {}",
        shown.join(CEC_KEY_FILE).display()
    );
    let report = crate::ingest_paths(&mut store, &[pack_path], false, true)?;
    out!("{}\n", crate::report::ingest_line(&report));
    let r = store.tally(urna_model::definition::ContestIdx(0))?;
    crate::report::write_summary(&mut std::io::stdout().lock(), store.election(), &r)?;
    Ok(ExitCode::SUCCESS)
}

/// `s` as a TOML string, quotes, backslashes and line breaks escaped: the place names and
/// file names written into the definition come from the imported files, and one written
/// between plain quotes could end its string and add keys or tables of its own (move a
/// municipality's stations into another district, add an authority).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
