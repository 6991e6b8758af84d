//! The witness state survives a restart: a service reopened from the same file refuses a
//! rollback and a fork of what the previous one cosigned.

use urna_server::{StateFile, StateFileError, WitnessService};
use urna_tlog::{FixedClock, Witness, WitnessError};

use crate::{Log, NOW, ORIGIN, log_key, request_with, witness_key, witness_service};

fn status(r: Result<String, urna_server::AddCheckpointError>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.status().as_u16(),
    }
}

#[tokio::test]
async fn a_reopened_witness_refuses_rollbacks_and_forks() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new(0);
    log.grow_to(7);
    {
        // 1. The first incarnation cosigns size 7. When the call returns, the state is on
        //    disk: read the file itself, as a restarted process would after kill -9.
        let first = witness_service(dir.path(), 1);
        assert_eq!(status(first.add_checkpoint(&log.request(0)).await), 200);
        let on_disk = StateFile::new(dir.path().join("w1.json"))
            .load(false)
            .unwrap();
        assert_eq!(on_disk.get(ORIGIN).unwrap().size, 7);
        // Dropped without any shutdown step.
    }

    // 2. A new incarnation from the same file, without permission to create one.
    let mut w = Witness::new(witness_key(1).signer().clone());
    w.add_log(ORIGIN, log_key().verifier());
    let second = WitnessService::open(
        w,
        StateFile::new(dir.path().join("w1.json")),
        false,
        FixedClock(NOW),
    )
    .unwrap();
    assert_eq!(second.state().await.get(ORIGIN).unwrap().size, 7);

    // 3. It still knows the size: a client that forgot gets 409 with 7.
    match second.add_checkpoint(&log.request(0)).await {
        Err(urna_server::AddCheckpointError::Refused(e)) => {
            assert_eq!(e.conflict_body().as_deref(), Some("7\n"));
        }
        other => panic!("expected 409, got {other:?}"),
    }

    // 4. A rollback to size 4 is refused.
    let mut short = Log::new(0);
    short.grow_to(4);
    assert_eq!(
        status(
            second
                .add_checkpoint(&request_with(7, &[], &short.checkpoint()))
                .await
        ),
        400
    );

    // 5. A fork of the same size (the same entries but one changed) is refused.
    let mut fork = Log::new(1);
    fork.grow_to(7);
    let r = second.add_checkpoint(&fork.request(7)).await;
    assert!(
        matches!(
            r,
            Err(urna_server::AddCheckpointError::Refused(
                WitnessError::RootMismatch { .. }
            ))
        ),
        "{r:?}"
    );

    // 6. A fork that grew further is refused: its proof starts from another root.
    fork.grow_to(10);
    assert_eq!(status(second.add_checkpoint(&fork.request(7)).await), 422);

    // 7. The honest log grows on, and that is cosigned and persisted.
    log.grow_to(10);
    assert_eq!(status(second.add_checkpoint(&log.request(7)).await), 200);
    let on_disk = StateFile::new(dir.path().join("w1.json"))
        .load(false)
        .unwrap();
    assert_eq!(on_disk.get(ORIGIN).unwrap().size, 10);
}

#[test]
fn a_witness_without_its_state_file_does_not_start_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let w = Witness::new(witness_key(1).signer().clone());
    let r = WitnessService::open(
        w,
        StateFile::new(dir.path().join("missing.json")),
        false,
        FixedClock(NOW),
    );
    assert!(matches!(r, Err(StateFileError::Missing(_))));
}

#[tokio::test]
async fn concurrent_requests_cannot_both_pass_the_same_check() {
    // Five logs of different sizes all claim the witness is fresh (old 0). Requests run
    // concurrently and yield while the state is written; exactly one may win, and the state
    // must be the winner's (the rollback race of tlog-witness §add-checkpoint).
    let dir = tempfile::tempdir().unwrap();
    let service = witness_service(dir.path(), 1);
    let mut tasks = Vec::new();
    for size in [3u64, 5, 7, 9, 11] {
        let mut log = Log::new(0);
        log.grow_to(size);
        let body = log.request(0);
        let s = service.clone();
        tasks.push(tokio::spawn(async move {
            (size, status(s.add_checkpoint(&body).await))
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (size, code) = t.await.unwrap();
        match code {
            200 => winners.push(size),
            409 => {}
            other => panic!("size {size}: status {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let state = StateFile::new(dir.path().join("w1.json"))
        .load(false)
        .unwrap();
    assert_eq!(state.get(ORIGIN).unwrap().size, winners[0]);
    assert_eq!(service.state().await.get(ORIGIN).unwrap().size, winners[0]);
}
