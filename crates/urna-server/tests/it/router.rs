//! The witness router in-process (tower `oneshot`): every status the spec names, with its
//! body and content type.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt as _;
use urna_model::note::{Note, NoteSigner};
use urna_server::witness::CONTENT_TYPE_TLOG_SIZE;
use urna_server::{MAX_BODY_BYTES, StateFile, witness_router};

use crate::{Log, NOW, ORIGIN, request_with, witness_key, witness_service};

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

async fn send(router: &Router, method: Method, path: &str, body: Vec<u8>) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn post(router: &Router, body: Vec<u8>) -> Reply {
    send(router, Method::POST, "/add-checkpoint", body).await
}

/// A router for witness 1 that has cosigned the honest log at size 5.
async fn witness_at_5(dir: &std::path::Path) -> (Router, Log) {
    let router = witness_router(witness_service(dir, 1));
    let mut log = Log::new(0);
    log.grow_to(5);
    let r = post(&router, log.request(0)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (router, log)
}

#[tokio::test]
async fn status_200_carries_a_cosignature_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let service = witness_service(dir.path(), 1);
    let router = witness_router(service.clone());
    let mut log = Log::new(0);
    log.grow_to(5);
    let r = post(&router, log.request(0)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.starts_with("\u{2014} witness.test/w1 "),
        "{}",
        r.body
    );
    assert!(r.body.ends_with('\n'));
    assert_eq!(r.body.matches('\n').count(), 1);
    // The client's way: concatenate to the checkpoint text and verify with the witness key.
    let cp = Note::parse(&log.checkpoint()).unwrap();
    let joined = format!("{}\n{}", cp.text(), r.body);
    let note = Note::parse(joined.as_bytes()).unwrap();
    assert_eq!(witness_key(1).verifier().verify(&note), Ok(NOW));
    // Another witness's key does not verify it.
    assert!(witness_key(2).verifier().verify(&note).is_err());
    // The state moved to size 5, in memory and on disk.
    assert_eq!(service.state().await.get(ORIGIN).unwrap().size, 5);
    let on_disk = StateFile::new(dir.path().join("w1.json"))
        .load(false)
        .unwrap();
    assert_eq!(on_disk.get(ORIGIN).unwrap().size, 5);

    // Growing with a proof from the recorded size is cosigned too; resubmitting the same
    // checkpoint (old = size, same root) is cosigned again.
    log.grow_to(13);
    assert_eq!(post(&router, log.request(5)).await.status, StatusCode::OK);
    assert_eq!(post(&router, log.request(13)).await.status, StatusCode::OK);
    assert_eq!(service.state().await.get(ORIGIN).unwrap().size, 13);
}

#[tokio::test]
async fn status_400_for_malformed_bodies_and_rollbacks() {
    let dir = tempfile::tempdir().unwrap();
    let (router, log) = witness_at_5(dir.path()).await;
    let good = log.request(5);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", b"hello\n".to_vec()),
        (
            "no old line",
            good[good.iter().position(|&b| b == b'\n').unwrap() + 1..].to_vec(),
        ),
        (
            "old with leading zero",
            [b"old 05\n".as_slice(), &good[6..]].concat(),
        ),
        (
            "bad proof line",
            [b"old 5\nnot-a-hash\n\n".as_slice(), &log.checkpoint()].concat(),
        ),
        (
            "checkpoint not a note",
            b"old 0\n\nurna.test/log\n5\nAAAA\n".to_vec(),
        ),
    ];
    for (what, body) in cases {
        let r = post(&router, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.body);
        assert!(r.content_type.starts_with("text/plain"), "{what}");
    }
    // A rollback: old size 5 (what the witness holds) with a checkpoint of size 3.
    let mut older = Log::new(0);
    older.grow_to(3);
    let r = post(&router, request_with(5, &[], &older.checkpoint())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body.contains("larger than the checkpoint size"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn status_403_for_a_checkpoint_not_signed_by_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let router = witness_router(witness_service(dir.path(), 1));
    // Same origin and key name, different key.
    let impostor = NoteSigner::from_seed(ORIGIN, &[99; 32]).unwrap();
    let mut log = Log::with(ORIGIN, impostor, 0);
    log.grow_to(5);
    let r = post(&router, log.request(0)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

#[tokio::test]
async fn status_404_for_an_unknown_log() {
    let dir = tempfile::tempdir().unwrap();
    let router = witness_router(witness_service(dir.path(), 1));
    let other = NoteSigner::from_seed("other.test/log", &[5; 32]).unwrap();
    let mut log = Log::with("other.test/log", other, 0);
    log.grow_to(5);
    let r = post(&router, log.request(0)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test]
async fn status_409_reports_the_size_as_text_x_tlog_size() {
    let dir = tempfile::tempdir().unwrap();
    let (router, mut log) = witness_at_5(dir.path()).await;
    log.grow_to(8);
    for old in [0, 3, 7] {
        let proof = if old == 0 {
            Vec::new()
        } else {
            log.proof(old, 8).unwrap()
        };
        let r = post(&router, request_with(old, &proof, &log.checkpoint())).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "old {old}: {}", r.body);
        assert_eq!(r.content_type, CONTENT_TYPE_TLOG_SIZE);
        assert_eq!(r.body, "5\n");
    }
}

#[tokio::test]
async fn status_409_for_a_fork_at_the_same_size() {
    let dir = tempfile::tempdir().unwrap();
    let (router, _log) = witness_at_5(dir.path()).await;
    let mut fork = Log::new(1);
    fork.grow_to(5);
    let r = post(&router, fork.request(5)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_ne!(r.content_type, CONTENT_TYPE_TLOG_SIZE);
    assert!(r.body.contains("cosigned root"), "{}", r.body);
}

#[tokio::test]
async fn status_422_for_a_proof_that_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (router, mut log) = witness_at_5(dir.path()).await;
    log.grow_to(8);
    let mut proof = log.proof(5, 8).unwrap();
    proof[0].0[0] ^= 1;
    let r = post(&router, request_with(5, &proof, &log.checkpoint())).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // A fork that grew past the witness's size: its own proof is from a different root.
    let mut fork = Log::new(1);
    fork.grow_to(8);
    let r = post(&router, fork.request(5)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // From size 0 the proof must be empty.
    let dir2 = tempfile::tempdir().unwrap();
    let fresh = witness_router(witness_service(dir2.path(), 2));
    let r = post(
        &fresh,
        request_with(0, &[log.proof(5, 8).unwrap()[0]], &log.checkpoint()),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

#[tokio::test]
async fn status_413_for_a_body_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let router = witness_router(witness_service(dir.path(), 1));
    let mut log = Log::new(0);
    log.grow_to(5);
    let mut body = log.request(0);
    body.resize(MAX_BODY_BYTES + 1, b'\n');
    let r = post(&router, body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly at the limit it is read (and refused as malformed, not as too large).
    let mut body = b"old 0\n".to_vec();
    body.resize(MAX_BODY_BYTES, b'x');
    assert_eq!(post(&router, body).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn status_500_when_the_state_cannot_be_persisted_and_nothing_is_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("state");
    std::fs::create_dir(&sub).unwrap();
    let service = witness_service(&sub, 1);
    let router = witness_router(service.clone());
    std::fs::remove_dir_all(&sub).unwrap();
    let mut log = Log::new(0);
    log.grow_to(5);
    let r = post(&router, log.request(0)).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    assert!(
        !r.body.contains('\u{2014}'),
        "no cosignature line: {}",
        r.body
    );
    assert_eq!(service.state().await.get(ORIGIN), None);
}

#[tokio::test]
async fn only_add_checkpoint_and_healthz_are_routed() {
    let dir = tempfile::tempdir().unwrap();
    let router = witness_router(witness_service(dir.path(), 1));
    let r = send(&router, Method::GET, "/healthz", Vec::new()).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "ok\n"));
    let r = send(&router, Method::GET, "/add-checkpoint", Vec::new()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    for path in ["/", "/checkpoint", "/add-checkpoint/x", "/state"] {
        let r = send(&router, Method::GET, path, Vec::new()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
}
