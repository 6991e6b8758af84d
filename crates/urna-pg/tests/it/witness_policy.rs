//! Changing the witness policy of a live store ([`witnesses::change_policy`]): the checkpoint
//! published at the change is kept with the policy that cosigned it until a round under the
//! new policy replaces it; a change waits for a round in flight; a round that read the policy
//! before a change publishes nothing.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use urna_pg::witnesses::{self, PublishedUnder, Round, StoredPolicy};
use urna_pg::{PgSequencer, PgStore};
use urna_testkit::pg::PgServer;

use crate::{LEASE, fixture, pg_ingest, sqlite};

fn policy(quorum: &str) -> StoredPolicy {
    StoredPolicy {
        toml: format!("quorum = {quorum}"),
        ca_cert: None,
    }
}

/// The note `note` with a cosignature by a witness key made from `seed`: a distinct note for
/// each seed, as each re-cosigning of a checkpoint is.
fn cosigned(note: &[u8], seed: u8) -> Vec<u8> {
    let mut n = urna_model::note::Note::parse(note).unwrap();
    n.add_signature(
        urna_tlog::cosignature::CosignatureSigner::from_seed("w", &[seed; 32])
            .unwrap()
            .cosign_at(n.text(), 1_700_000_000)
            .unwrap(),
    );
    n.to_bytes()
}

#[test]
fn a_policy_change_keeps_the_published_checkpoint_under_the_policy_that_cosigned_it_until_the_next_round()
 {
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(30);
    let (_, signer) = sqlite(&f);
    let url = server.database("policy_change");
    let (a, b, c) = (policy("1"), policy("2"), policy("3"));
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    let mut client = urna_pg::connect(&url).unwrap();

    // No policy: nothing to change (the store publishes the sequencer's checkpoints).
    let err = witnesses::change_policy(&mut client, &b)
        .unwrap_err()
        .to_string();
    assert!(err.contains("table `witness_policy` is empty"), "{err}");
    assert_eq!(witnesses::policy(&mut client).unwrap(), None);

    pg.set_witness_policy(&a).unwrap();
    pg_ingest(&mut pg, &f.protocols[..10], 4);
    let mut seq = PgSequencer::acquire(&url, signer.clone(), "a", LEASE)
        .unwrap()
        .unwrap();
    let first = seq.step().unwrap().unwrap();
    let (origin, verifier) = (signer.name().to_owned(), signer.verifier());
    let mut round = |under: Option<&StoredPolicy>, cosign: Box<witnesses::Cosign<'_>>| {
        witnesses::publish_round_under(&mut client, &origin, &verifier, under, &|_| true, cosign)
    };
    let under_a = cosigned(&first, 1);
    let published = round(Some(&a), Box::new(|_, _, _| Some(under_a.clone()))).unwrap();
    assert_eq!(
        published,
        Round::Asked {
            size: 11,
            published: true
        }
    );
    let mut admin = urna_pg::connect(&url).unwrap();
    let under = || witnesses::published_under(&mut urna_pg::connect(&url).unwrap()).unwrap();
    assert_eq!(
        under(),
        Some(PublishedUnder {
            checkpoint: under_a.clone(),
            policy: a.clone(),
            current: true
        })
    );

    // Changed to b: the published note stays, checked against a, which cosigned it.
    assert_eq!(witnesses::change_policy(&mut admin, &b).unwrap(), a);
    assert_eq!(witnesses::policy(&mut admin).unwrap(), Some(b.clone()));
    let kept = Some(PublishedUnder {
        checkpoint: under_a.clone(),
        policy: a.clone(),
        current: false,
    });
    assert_eq!(under(), kept);
    // Changed again before any round: the note is still a's, so a is what it is checked against.
    assert_eq!(witnesses::change_policy(&mut admin, &c).unwrap(), b);
    assert_eq!(under(), kept);

    // A round that read b before the change to c asks nobody and writes nothing.
    pg_ingest(&mut pg, &f.protocols[10..20], 4);
    let second = seq.step().unwrap().unwrap();
    assert_eq!(
        round(Some(&b), Box::new(|_, _, _| unreachable!())).unwrap(),
        Round::PolicyChanged
    );
    assert_eq!(under(), kept);
    assert!(witnesses::sizes(&mut admin).unwrap().is_empty());

    // The round under c publishes its note; the record of a is gone, so the note a cosigned,
    // written back into `published`, is checked against c (and a reader refuses it if c's
    // quorum did not cosign it).
    let under_c = cosigned(&second, 3);
    assert_eq!(
        round(
            Some(&c),
            Box::new(|_, last, _| {
                last.insert("w".into(), 21);
                Some(under_c.clone())
            })
        )
        .unwrap(),
        Round::Asked {
            size: 21,
            published: true
        }
    );
    assert_eq!(
        under(),
        Some(PublishedUnder {
            checkpoint: under_c.clone(),
            policy: c.clone(),
            current: true
        })
    );
    let previous: Option<Vec<u8>> = admin
        .query_one("SELECT previous_checkpoint FROM witness_policy", &[])
        .unwrap()
        .get(0);
    assert_eq!(previous, None);
    admin
        .execute(
            "UPDATE published SET size = 11, checkpoint = $1",
            &[&under_a],
        )
        .unwrap();
    assert_eq!(
        under(),
        Some(PublishedUnder {
            checkpoint: under_a,
            policy: c,
            current: true
        })
    );
    drop(seq);
}

#[test]
fn a_policy_change_waits_for_the_round_in_flight_and_keeps_the_note_it_published() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let f = fixture(12);
    let (_, signer) = sqlite(&f);
    let url = server.database("policy_race");
    let (a, b) = (policy("1"), policy("2"));
    let mut pg = PgStore::init(&url, &f.definition, signer.clone()).unwrap();
    pg.set_witness_policy(&a).unwrap();
    pg_ingest(&mut pg, &f.protocols[..6], 3);
    let mut seq = PgSequencer::acquire(&url, signer.clone(), "a", LEASE)
        .unwrap()
        .unwrap();
    let latest = seq.step().unwrap().unwrap();
    let note = cosigned(&latest, 1);

    // The round asks its witnesses (held at the barrier) while the change is made.
    let asking = Arc::new(Barrier::new(2));
    let answer = Arc::new(Barrier::new(2));
    let in_round = {
        let (url, signer, a, note) = (url.clone(), signer, a.clone(), note.clone());
        let (asking, answer) = (Arc::clone(&asking), Arc::clone(&answer));
        std::thread::spawn(move || {
            let mut client = urna_pg::connect(&url).unwrap();
            let verifier = signer.verifier();
            witnesses::publish_round_under(
                &mut client,
                signer.name(),
                &verifier,
                Some(&a),
                &|_| true,
                Box::new(move |_, _, _| {
                    asking.wait();
                    answer.wait();
                    Some(note)
                }),
            )
            .unwrap()
        })
    };
    asking.wait();
    let change = {
        let url = url.clone();
        std::thread::spawn(move || {
            witnesses::change_policy(&mut urna_pg::connect(&url).unwrap(), &b).unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !change.is_finished(),
        "the policy changed while a round under the old one was asking its witnesses"
    );
    answer.wait();
    assert_eq!(
        in_round.join().unwrap(),
        Round::Asked {
            size: 7,
            published: true
        }
    );
    assert_eq!(change.join().unwrap(), a);
    // The note the round published is the one kept under a.
    assert_eq!(
        witnesses::published_under(&mut urna_pg::connect(&url).unwrap()).unwrap(),
        Some(PublishedUnder {
            checkpoint: note,
            policy: a,
            current: false
        })
    );
    drop(seq);
}
