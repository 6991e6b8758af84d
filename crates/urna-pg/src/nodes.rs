//! The intake nodes' heartbeats (table `nodes`) and the cluster's state as `urna status
//! --store` and `GET /v1/status` show it: the nodes, which one sequences, each one's intake
//! rate. Monitoring only: intake and the sequencer never read these rows.

use postgres::Client;

use crate::{PgError, from_sql};

/// One node's heartbeat.
#[derive(Debug, Clone)]
pub struct Heartbeat<'a> {
    /// The node's name (`urna serve --node`), unique among the nodes of one database.
    pub name: &'a str,
    /// Its API address.
    pub listen: &'a str,
    /// When this run of the node started, Unix milliseconds.
    pub started_ms: u64,
    /// Notes stored through it in this run.
    pub intake: u64,
    /// Notes stored per second since the last heartbeat.
    pub rate: f64,
    /// Whether it holds the sequencer's lease.
    pub sequencing: bool,
}

/// Writes (upserts) a node's heartbeat, stamped with the database's clock.
///
/// # Errors
/// [`PgError::Db`].
pub fn beat(client: &mut Client, h: &Heartbeat<'_>) -> Result<(), PgError> {
    let intake = i64::try_from(h.intake).unwrap_or(i64::MAX);
    let started = h.started_ms as f64 / 1000.0;
    client.execute(
        "INSERT INTO nodes (name, listen, started, last_seen, intake, rate, sequencing) \
         VALUES ($1, $2, to_timestamp($3), clock_timestamp(), $4, $5, $6) \
         ON CONFLICT (name) DO UPDATE SET listen = EXCLUDED.listen, started = EXCLUDED.started, \
         last_seen = EXCLUDED.last_seen, intake = EXCLUDED.intake, rate = EXCLUDED.rate, \
         sequencing = EXCLUDED.sequencing",
        &[
            &h.name,
            &h.listen,
            &started,
            &intake,
            &h.rate,
            &h.sequencing,
        ],
    )?;
    Ok(())
}

/// A node as the database last heard of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// Its API address.
    pub listen: String,
    /// Seconds since its last heartbeat (on the database's clock).
    pub seen_ago_s: f64,
    /// Seconds since this run of it started.
    pub up_s: f64,
    /// Notes stored through it in this run.
    pub intake: u64,
    /// Notes stored per second at its last heartbeat.
    pub rate: f64,
    /// Whether it said it sequenced at its last heartbeat.
    pub sequencing: bool,
}

/// The cluster as the database shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// The election's id (`meta`).
    pub election: String,
    /// Entries stored (the next log index).
    pub entries: u64,
    /// Size of the last signed checkpoint.
    pub signed: u64,
    /// The sequencer's lease holder (empty before the first).
    pub holder: String,
    /// The lease's fencing token.
    pub epoch: i64,
    /// Seconds the lease has left (negative: expired, a node will take it over).
    pub lease_left_s: f64,
    /// The nodes, by name.
    pub nodes: Vec<Node>,
    /// Size of the published checkpoint (cosigned by the witnesses' quorum; 0 before the
    /// first) when a witness policy is set; `None` without one (the signed checkpoint is the
    /// published one).
    pub published: Option<u64>,
}

/// Reads the cluster's state.
///
/// # Errors
/// [`PgError::Db`]; [`PgError::Setup`] if the database holds no urna store.
pub fn cluster(client: &mut Client) -> Result<Cluster, PgError> {
    let election: Option<String> = client
        .query_opt(
            "SELECT value FROM meta WHERE key = 'election' AND EXISTS \
             (SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_name = 'nodes')",
            &[],
        )
        .map_err(|_| PgError::Setup("the database holds no urna store (no table `meta`)".into()))?
        .map(|r| r.get(0));
    let Some(election) = election else {
        return Err(PgError::Setup(
            "the database holds no urna store of schema 2 or later (no table `nodes`); start an `urna serve --store` node on it first"
                .into(),
        ));
    };
    let entries = crate::next_index(client)?;
    let s = client.query_one(
        "SELECT size, holder, epoch, \
         CASE WHEN isfinite(expires) \
         THEN EXTRACT(EPOCH FROM (expires - clock_timestamp()))::float8 END FROM sequencer",
        &[],
    )?;
    let nodes = client
        .query(
            "SELECT name, listen, \
             EXTRACT(EPOCH FROM (clock_timestamp() - last_seen))::float8, \
             EXTRACT(EPOCH FROM (clock_timestamp() - started))::float8, \
             intake, rate, sequencing FROM nodes ORDER BY name",
            &[],
        )?
        .into_iter()
        .map(|r| Node {
            name: r.get(0),
            listen: r.get(1),
            seen_ago_s: r.get(2),
            up_s: r.get(3),
            intake: from_sql(r.get(4)),
            rate: r.get(5),
            sequencing: r.get(6),
        })
        .collect();
    // A store of schema 2 (not yet opened by a node of this version) has no witness tables.
    let witness_tables: bool = client
        .query_one("SELECT to_regclass('published') IS NOT NULL", &[])?
        .get(0);
    let published = if witness_tables {
        client
            .query_opt(
                "SELECT size FROM published WHERE EXISTS (SELECT 1 FROM witness_policy)",
                &[],
            )?
            .map(|r| from_sql(r.get(0)))
    } else {
        None
    };
    Ok(Cluster {
        election,
        entries,
        signed: from_sql(s.get(0)),
        holder: s.get(1),
        epoch: s.get(2),
        // An `-infinity` expiry (no sequencer yet) reads as -inf.
        lease_left_s: s.get::<_, Option<f64>>(3).unwrap_or(f64::NEG_INFINITY),
        nodes,
        published,
    })
}
