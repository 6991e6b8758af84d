//! The witness state machine as one ordered story: a log grows, a witness cosigns, and every
//! attempt to roll back, fork or slip in a bad proof gets the status tlog-witness prescribes.

use urna_model::note::NoteSigner;
use urna_tlog::cosignature::{CosignatureSigner, FixedClock};
use urna_tlog::proof::consistency_proof;
use urna_tlog::storage::root_at;
use urna_tlog::witness::{AddCheckpointRequest, WitnessError, WitnessState};
use urna_tlog::{Checkpoint, Hash, MemoryStore, TreeSize, Witness, leaf_hash};

use crate::build;

const ORIGIN: &str = "urna.example/al-2025";

struct Log {
    store: MemoryStore,
    key: NoteSigner,
}

impl Log {
    fn request(&self, old: u64, new: u64) -> Vec<u8> {
        let root = root_at(&self.store, TreeSize(new)).unwrap();
        // No proof exists from 0 or backwards; the request then carries none.
        let proof =
            consistency_proof(&self.store, TreeSize(old), TreeSize(new)).unwrap_or_default();
        request(&self.key, old, new, root, proof)
    }
}

fn request(key: &NoteSigner, old: u64, new: u64, root: Hash, proof: Vec<Hash>) -> Vec<u8> {
    let cp = Checkpoint::new(ORIGIN, TreeSize(new), root);
    AddCheckpointRequest {
        old_size: TreeSize(old),
        proof,
        note: cp.sign(key).unwrap(),
        checkpoint: cp,
    }
    .to_bytes()
}

fn status(r: &Result<urna_tlog::witness::Cosigned, WitnessError>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.status(),
    }
}

#[test]
fn witness_story() {
    let log_key = NoteSigner::from_seed(ORIGIN, &[7; 32]).unwrap();
    let signer = CosignatureSigner::from_seed("witness.example/w1", &[8; 32]).unwrap();
    let mut witness = Witness::new(signer.clone());
    witness.add_log(ORIGIN, log_key.verifier());
    let clock = FixedClock(1_750_000_000);
    let (_, store) = build(100);
    let log = Log {
        store,
        key: log_key.clone(),
    };
    let mut state = WitnessState::default();

    // 1. First contact: old size 0, empty proof → cosigned; state records size 10.
    let r = witness.add_checkpoint(&state, &log.request(0, 10), &clock);
    let c = r.unwrap();
    assert_eq!(c.previous, None);
    let body = c.response_body();
    assert!(body.starts_with("\u{2014} witness.example/w1 ") && body.ends_with('\n'));
    state.commit(&c).unwrap();
    assert_eq!(state.get(ORIGIN).unwrap().size, 10);

    // The cosignature verifies on the checkpoint.
    let mut note = AddCheckpointRequest::parse(&log.request(0, 10))
        .unwrap()
        .note;
    note.add_signature(c.signature.clone());
    assert_eq!(signer.verifier().verify(&note), Ok(1_750_000_000));

    // 2. Growth with a valid proof 10 → 50.
    let c = witness
        .add_checkpoint(&state, &log.request(10, 50), &clock)
        .unwrap();
    state.commit(&c).unwrap();

    // 3. A stale client (old 10) gets 409 with the current size in the body.
    let e = witness
        .add_checkpoint(&state, &log.request(10, 60), &clock)
        .unwrap_err();
    assert_eq!(e.status(), 409);
    assert_eq!(e.conflict_body().as_deref(), Some("50\n"));

    // 4. Rollback: a checkpoint smaller than the last cosigned one. With the true old size
    //    the old size exceeds the checkpoint size (400); lying about the old size gives 409.
    assert_eq!(
        status(&witness.add_checkpoint(&state, &log.request(50, 40), &clock)),
        400
    );
    assert_eq!(
        status(&witness.add_checkpoint(&state, &log.request(40, 40), &clock)),
        409
    );

    // 5. Same size again, same root: cosigned again (idempotent); state unchanged.
    let c = witness
        .add_checkpoint(&state, &log.request(50, 50), &clock)
        .unwrap();
    assert_eq!(c.previous, Some(c.new));

    // 6. Fork at the same size: the log signs another root for size 50 → 409.
    let (_, forked) = forked_store(100, 20);
    let fork_root = root_at(&forked, TreeSize(50)).unwrap();
    let e = witness
        .add_checkpoint(
            &state,
            &request(&log_key, 50, 50, fork_root, vec![]),
            &clock,
        )
        .unwrap_err();
    assert!(matches!(e, WitnessError::RootMismatch { .. }), "{e}");
    assert_eq!(e.status(), 409);

    // 7. Fork that grows: history rewritten below 50 (same entries minus one), proof from the
    //    forked tree → 422. Never cosigned, whatever proof is offered.
    let (_, minus_one) = forked_store(100, 20);
    let fork_root = root_at(&minus_one, TreeSize(80)).unwrap();
    let fork_proof = consistency_proof(&minus_one, TreeSize(50), TreeSize(80)).unwrap();
    let r = witness.add_checkpoint(
        &state,
        &request(&log_key, 50, 80, fork_root, fork_proof),
        &clock,
    );
    assert_eq!(status(&r), 422);
    let honest_proof = consistency_proof(&log.store, TreeSize(50), TreeSize(80)).unwrap();
    let r = witness.add_checkpoint(
        &state,
        &request(&log_key, 50, 80, fork_root, honest_proof),
        &clock,
    );
    assert_eq!(status(&r), 422);

    // 8. Bad signatures and unknown logs.
    let impostor = NoteSigner::from_seed(ORIGIN, &[9; 32]).unwrap();
    let root = root_at(&log.store, TreeSize(60)).unwrap();
    let proof = consistency_proof(&log.store, TreeSize(50), TreeSize(60)).unwrap();
    let r = witness.add_checkpoint(
        &state,
        &request(&impostor, 50, 60, root, proof.clone()),
        &clock,
    );
    assert_eq!(status(&r), 403);
    let other = Checkpoint::new("urna.example/other", TreeSize(60), root);
    let body = AddCheckpointRequest {
        old_size: TreeSize(50),
        proof: proof.clone(),
        note: other.sign(&log_key).unwrap(),
        checkpoint: other,
    }
    .to_bytes();
    assert_eq!(status(&witness.add_checkpoint(&state, &body, &clock)), 404);

    // 9. Malformed bodies → 400.
    let good = log.request(50, 60);
    for bad in malformed_variants(&good) {
        let r = witness.add_checkpoint(&state, &bad, &clock);
        assert_eq!(status(&r), 400, "{:?}", String::from_utf8_lossy(&bad));
    }
    // A wrong-but-well-formed proof → 422.
    let mut wrong = proof;
    wrong[0].0[0] ^= 1;
    let r = witness.add_checkpoint(&state, &request(&log_key, 50, 60, root, wrong), &clock);
    assert_eq!(status(&r), 422);

    // 10. The race the spec warns about: two requests checked against the same state; only
    //     the first commit wins, the second is refused and leaves the state alone.
    let a = witness
        .add_checkpoint(&state, &log.request(50, 60), &clock)
        .unwrap();
    let b = witness
        .add_checkpoint(&state, &log.request(50, 90), &clock)
        .unwrap();
    state.commit(&b).unwrap();
    assert!(state.commit(&a).is_err());
    assert_eq!(state.get(ORIGIN).unwrap().size, 90);

    // 11. The state survives a serialisation round trip, and a fresh witness process with
    //     the restored state still refuses the fork and the rollback.
    let json = serde_json::to_string(&state).unwrap();
    let restored: WitnessState = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, state);
    let fork_root = root_at(&minus_one, TreeSize(95)).unwrap();
    let fork_proof = consistency_proof(&minus_one, TreeSize(90), TreeSize(95)).unwrap();
    let r = witness.add_checkpoint(
        &restored,
        &request(&log_key, 90, 95, fork_root, fork_proof),
        &clock,
    );
    assert_eq!(status(&r), 422);
    assert_eq!(
        status(&witness.add_checkpoint(&restored, &log.request(90, 60), &clock)),
        400
    );
    let c = witness
        .add_checkpoint(&restored, &log.request(90, 100), &clock)
        .unwrap();
    assert_eq!(c.new.size, 100);
    assert!(
        serde_json::from_str::<WitnessState>(
            r#"{"logs":{"o":{"size":1,"root":"ZG9uJ3QgY2FyZSAy"}}}"#
        )
        .is_err()
    );
}

/// The test log's entries with entry `skip` left out.
fn forked_store(n: u64, skip: u64) -> ((), MemoryStore) {
    let mut tree = urna_tlog::Tree::new();
    let mut store = MemoryStore::new();
    let mut out = Vec::new();
    for i in (0..=n).filter(|&i| i != skip) {
        out.clear();
        tree.append(leaf_hash(&crate::entry(i)), &mut out).unwrap();
        store.extend(&out).unwrap();
    }
    ((), store)
}

fn malformed_variants(good: &[u8]) -> Vec<Vec<u8>> {
    let s = String::from_utf8(good.to_vec()).unwrap();
    let (head, note) = s.split_once("\n\n").unwrap();
    let mut lines: Vec<&str> = head.lines().collect();
    let proof_lines: Vec<&str> = lines.split_off(1);
    let join = |first: &str, proof: &[&str], note: &str| {
        let mut out = format!("{first}\n");
        for p in proof {
            out.push_str(p);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(note);
        out.into_bytes()
    };
    let short = "ZG9uJ3QgY2FyZSAy";
    let too_many: Vec<&str> = std::iter::repeat_n(proof_lines[0], 64).collect();
    vec![
        Vec::new(),
        b"old 50\n".to_vec(),
        join("old 050", &proof_lines, note),
        join("old  50", &proof_lines, note),
        join("old -1", &proof_lines, note),
        join("Old 50", &proof_lines, note),
        join("old 50 ", &proof_lines, note),
        join("old 50", &[short], note),
        join("old 50", &[&proof_lines[0][1..]], note),
        join("old 50", &too_many, note),
        join("old 50", &proof_lines, &note[..note.len() - 1]),
        join("old 50", &proof_lines, &note.replace('\u{2014}', "-")),
        join("old 50", &proof_lines, ""),
        join("old 61", &proof_lines, note),
        s.replace('\n', "\r\n").into_bytes(),
    ]
}

/// One witness follows two logs (the results log and the incident log, each with its own
/// origin and key): each log's state is its own, so a request for one is judged against that
/// log's last cosigned size, and one log's key cannot sign for the other.
#[test]
fn a_witness_keeps_one_state_per_log_origin() {
    const INCIDENTS: &str = "urna.example/incidents";
    let results_key = NoteSigner::from_seed(ORIGIN, &[7; 32]).unwrap();
    let incidents_key = NoteSigner::from_seed(INCIDENTS, &[9; 32]).unwrap();
    let mut witness =
        Witness::new(CosignatureSigner::from_seed("witness.example/w1", &[8; 32]).unwrap());
    witness.add_log(ORIGIN, results_key.verifier());
    witness.add_log(INCIDENTS, incidents_key.verifier());
    let clock = FixedClock(1_750_000_000);
    let (_, store) = build(60);
    let signed = |origin: &str, key: &NoteSigner, old: u64, new: u64| {
        let root = root_at(&store, TreeSize(new)).unwrap();
        let proof = consistency_proof(&store, TreeSize(old), TreeSize(new)).unwrap_or_default();
        let cp = Checkpoint::new(origin, TreeSize(new), root);
        AddCheckpointRequest {
            old_size: TreeSize(old),
            proof,
            note: cp.sign(key).unwrap(),
            checkpoint: cp,
        }
        .to_bytes()
    };
    let mut state = WitnessState::default();
    let c = witness
        .add_checkpoint(&state, &signed(ORIGIN, &results_key, 0, 50), &clock)
        .unwrap();
    state.commit(&c).unwrap();
    let c = witness
        .add_checkpoint(&state, &signed(INCIDENTS, &incidents_key, 0, 3), &clock)
        .unwrap();
    state.commit(&c).unwrap();
    assert_eq!(state.get(ORIGIN).unwrap().size, 50);
    assert_eq!(state.get(INCIDENTS).unwrap().size, 3);

    // The incident log grows from its own size; the results log's 50 does not matter to it.
    let c = witness
        .add_checkpoint(&state, &signed(INCIDENTS, &incidents_key, 3, 5), &clock)
        .unwrap();
    state.commit(&c).unwrap();
    let e = witness
        .add_checkpoint(&state, &signed(INCIDENTS, &incidents_key, 50, 55), &clock)
        .unwrap_err();
    assert_eq!(e.conflict_body().as_deref(), Some("5\n"));
    // The results log's key does not sign for the incident log.
    let e = witness
        .add_checkpoint(&state, &signed(INCIDENTS, &results_key, 5, 6), &clock)
        .unwrap_err();
    assert_eq!(e.status(), 403);
}

/// A log rotating its key: the witness follows both keys of the origin (`urna witness serve
/// --log ORIGIN=OLD --log ORIGIN=NEW`), cosigns checkpoints signed by either, and still holds
/// the new key to what it cosigned under the old one. A third key is refused.
#[test]
fn a_witness_following_both_keys_of_a_rotating_log_stays_consistent() {
    let old = NoteSigner::from_seed(ORIGIN, &[7; 32]).unwrap();
    let new = NoteSigner::from_seed(ORIGIN, &[9; 32]).unwrap();
    let mut witness =
        Witness::new(CosignatureSigner::from_seed("witness.example/w1", &[8; 32]).unwrap());
    witness.add_log(ORIGIN, old.verifier());
    witness.add_log(ORIGIN, new.verifier());
    let clock = FixedClock(1_750_000_000);
    let (_, store) = build(100);
    let by = |key: &NoteSigner| Log {
        store: store.clone(),
        key: key.clone(),
    };
    let mut state = WitnessState::default();
    let c = witness
        .add_checkpoint(&state, &by(&old).request(0, 30), &clock)
        .unwrap();
    state.commit(&c).unwrap();
    // The new key's checkpoint, consistent with the old key's: cosigned.
    let c = witness
        .add_checkpoint(&state, &by(&new).request(30, 60), &clock)
        .unwrap();
    state.commit(&c).unwrap();
    assert_eq!(state.get(ORIGIN).unwrap().size, 60);
    // The new key cannot fork what the old key had cosigned.
    let (_, forked) = forked_store(100, 20);
    let root = root_at(&forked, TreeSize(80)).unwrap();
    let proof = consistency_proof(&forked, TreeSize(60), TreeSize(80)).unwrap();
    let r = witness.add_checkpoint(&state, &request(&new, 60, 80, root, proof), &clock);
    assert_eq!(status(&r), 422);
    // A key the witness was not given is refused (403).
    let third = NoteSigner::from_seed(ORIGIN, &[10; 32]).unwrap();
    assert_eq!(
        status(&witness.add_checkpoint(&state, &by(&third).request(60, 80), &clock)),
        403
    );
}
