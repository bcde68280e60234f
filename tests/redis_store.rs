//! The Redis session store against a real Redis: one holder per session, stale writes
//! refused, renewal, idle expiry, one-time values, the commands an event costs, and a lease
//! kept between a session's events given to another process when it asks or when the
//! holder goes idle.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use ferrex::prelude::*;
use ferrex::store::RedisSessions;
use ferrex::store::redis::{
    AfterCommit, Commit, Loaded, RedisStore, RedisStoreConfig, RedisStoreError, SessionWrite,
};
use ferrex::{App, SessionId};
use reqwest::StatusCode;
use serde_json::json;
use support::TestServer;
use support::http::{arrive, number_in, page, post_event};
use support::services::RedisServer;
use support::wait_until;

async fn connect(server: &RedisServer, config: RedisStoreConfig) -> RedisStore {
    RedisStore::connect(&server.url(), config)
        .await
        .expect("connect to the test Redis")
}

fn with_lease(lease: Duration) -> RedisStoreConfig {
    RedisStoreConfig {
        lease,
        ..RedisStoreConfig::default()
    }
}

/// Commands that fail after 1 s, for tests that take Redis away.
fn with_short_timeout() -> RedisStoreConfig {
    RedisStoreConfig {
        response_timeout: Duration::from_secs(1),
        ..RedisStoreConfig::default()
    }
}

/// The `calls=` of one command in `INFO commandstats` (0 if it never ran).
fn calls(server: &RedisServer, command: &str) -> u64 {
    let stats = server.command(&["INFO", "commandstats"]);
    stats
        .lines()
        .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map(|n| n.parse().expect("a call count"))
        .unwrap_or(0)
}

fn field(loaded: &Loaded, name: &str) -> Option<Vec<u8>> {
    match loaded {
        Loaded::Record(record) => record.fields.get(name).cloned(),
        Loaded::Unchanged { .. } => panic!("expected the record, got {loaded:?}"),
    }
}

#[tokio::test]
async fn of_processes_racing_for_a_session_exactly_one_gets_the_lease() {
    let server = RedisServer::start().await;
    let sid = SessionId::random();
    let mut processes = Vec::new();
    for _ in 0..8 {
        processes.push(connect(&server, RedisStoreConfig::default()).await);
    }
    let created = processes[0].create(&sid).await.expect("created");
    assert_eq!(created.fence(), 1);
    processes[0].release(&created).await.expect("released");

    let tries = processes.iter().map(|store| store.try_acquire(&sid));
    let winners: Vec<_> = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .filter_map(|result| result.expect("Redis answers"))
        .collect();
    assert_eq!(winners.len(), 1, "one holder at a time");
    let first = &winners[0];
    assert_eq!(first.fence(), 2);

    assert!(
        processes[0]
            .try_acquire(&sid)
            .await
            .expect("answers")
            .is_none(),
        "still held"
    );
    assert!(processes[1].release(first).await.expect("released"));
    let next = processes[2]
        .try_acquire(&sid)
        .await
        .expect("answers")
        .expect("free after release");
    assert_eq!(next.fence(), 3, "every acquire gets a larger fence");
    assert_ne!(next.token(), first.token());
}

#[tokio::test]
async fn a_write_after_the_lease_passed_to_another_process_is_refused_and_the_newer_state_stands() {
    let server = RedisServer::start().await;
    let slow = connect(&server, with_lease(Duration::from_millis(200))).await;
    let other = connect(&server, RedisStoreConfig::default()).await;
    let sid = SessionId::random();

    let slow_lease = slow.create(&sid).await.expect("created");
    // The slow process stalls (paused, swapping, cut off) until its lease runs out.
    let lease_key = slow.session_key(&sid, "lease");
    wait_until("the slow lease to expire", || {
        server.command(&["PTTL", &lease_key]) == ":-2"
    })
    .await;

    let (lease, loaded) = other.acquire_and_load(&sid, None).await.expect("acquired");
    assert!(lease.fence() > slow_lease.fence());
    assert_eq!(field(&loaded, "Counter"), None);
    let newer = SessionWrite::new().set("Counter", b"from the other process".to_vec());
    assert!(matches!(
        other
            .commit(&lease, &newer, AfterCommit::Release)
            .await
            .expect("commit"),
        Commit::Applied { rev: 1, .. }
    ));

    let late = SessionWrite::new().set("Counter", b"from the slow process".to_vec());
    let outcome = slow
        .commit(&slow_lease, &late, AfterCommit::Release)
        .await
        .expect("commit answered");
    assert_eq!(outcome, Commit::Stale);

    let record = other.load(&sid).await.expect("load");
    assert_eq!(
        record.fields.get("Counter").map(Vec::as_slice),
        Some(&b"from the other process"[..])
    );
    assert_eq!(record.rev, 1, "the refused write changed nothing");
    assert_eq!(record.fence, lease.fence());
}

#[tokio::test]
async fn a_holder_whose_lease_ran_out_with_nobody_else_taking_it_may_still_write() {
    let server = RedisServer::start().await;
    let store = connect(&server, with_lease(Duration::from_millis(100))).await;
    let sid = SessionId::random();
    let lease = store.create(&sid).await.expect("created");
    let lease_key = store.session_key(&sid, "lease");
    wait_until("the lease to expire", || {
        server.command(&["PTTL", &lease_key]) == ":-2"
    })
    .await;

    let write = SessionWrite::new().set("Counter", b"1".to_vec());
    assert_eq!(
        store
            .commit(&lease, &write, AfterCommit::Keep)
            .await
            .expect("commit"),
        Commit::Applied {
            rev: 1,
            lease_held: false,
            asked: false,
        },
        "nothing newer exists, so the write is safe; the caller learns the lease is gone"
    );
}

#[tokio::test]
async fn a_kept_alive_lease_outlasts_its_length_and_keeps_other_processes_out() {
    let server = RedisServer::start().await;
    let lease_length = Duration::from_millis(300);
    let holder = connect(&server, with_lease(lease_length)).await;
    let other = connect(&server, RedisStoreConfig::default()).await;
    let sid = SessionId::random();

    let lease = holder.create(&sid).await.expect("created");
    let keeper = holder.keep_alive(&lease);
    // A handler that runs for several lease lengths.
    let started = Instant::now();
    while started.elapsed() < lease_length * 4 {
        assert!(
            other.try_acquire(&sid).await.expect("answers").is_none(),
            "the session stays with its holder while it is renewed"
        );
        tokio::time::sleep(lease_length / 4).await;
    }
    assert!(!keeper.lost());
    let write = SessionWrite::new().set("Counter", b"done".to_vec());
    assert!(matches!(
        holder
            .commit(&lease, &write, AfterCommit::Release)
            .await
            .expect("commit"),
        Commit::Applied { .. }
    ));
    drop(keeper);
    assert!(other.try_acquire(&sid).await.expect("answers").is_some());
}

#[tokio::test]
async fn a_busy_session_is_waited_for_within_the_bound_then_refused_with_a_sentence() {
    let server = RedisServer::start().await;
    let holder = connect(&server, RedisStoreConfig::default()).await;
    let impatient = connect(
        &server,
        RedisStoreConfig {
            acquire_wait: Duration::from_millis(100),
            ..RedisStoreConfig::default()
        },
    )
    .await;
    let patient = connect(&server, RedisStoreConfig::default()).await;
    let sid = SessionId::random();

    let lease = holder.create(&sid).await.expect("created");
    let error = impatient.acquire(&sid).await.expect_err("busy");
    assert!(matches!(error, RedisStoreError::Busy(_)));
    assert!(error.to_string().contains("in use by another process"));

    let waiting = tokio::spawn({
        let sid = sid.clone();
        async move { patient.acquire(&sid).await }
    });
    holder.release(&lease).await.expect("released");
    let next = waiting
        .await
        .expect("the waiter ran")
        .expect("acquired once released");
    assert!(next.fence() > lease.fence());
}

#[tokio::test]
async fn commits_refresh_the_idle_expiry_and_keys_of_a_session_share_its_hash_tag() {
    let server = RedisServer::start().await;
    let idle = Duration::from_secs(600);
    let store = connect(
        &server,
        RedisStoreConfig {
            idle,
            ..RedisStoreConfig::default()
        },
    )
    .await;
    let sid = SessionId::random();
    let lease = store.create(&sid).await.expect("created");
    let write = SessionWrite::new()
        .set("Counter", b"1".to_vec())
        .set("Form", b"{}".to_vec());
    let outcome = store
        .commit(&lease, &write, AfterCommit::Keep)
        .await
        .expect("commit");
    assert_eq!(
        outcome,
        Commit::Applied {
            rev: 1,
            lease_held: true,
            asked: false,
        }
    );

    let tag = format!("{{{}}}", sid.as_str());
    let mut keys: Vec<String> = server
        .command(&["KEYS", "ferrex:*"])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("ferrex:{tag}:lease"),
            format!("ferrex:{tag}:meta"),
            format!("ferrex:{tag}:state"),
        ]
    );
    for part in ["meta", "state"] {
        let ttl: i64 = server
            .command(&["PTTL", &store.session_key(&sid, part)])
            .trim_start_matches(':')
            .parse()
            .expect("a PTTL");
        assert!(
            ttl > 0 && ttl <= 600_000,
            "{part} expires when idle: {ttl} ms"
        );
    }

    let removal = SessionWrite::new().remove("Form");
    store
        .commit(&lease, &removal, AfterCommit::Release)
        .await
        .expect("commit");
    let record = store.load(&sid).await.expect("load");
    assert_eq!(record.rev, 2);
    assert_eq!(
        record.fields.keys().collect::<Vec<_>>(),
        ["Counter"],
        "a removed field is gone, the others stay"
    );
    assert_eq!(
        server.command(&["EXISTS", &store.session_key(&sid, "lease")]),
        ":0",
        "released with the write"
    );
}

#[tokio::test]
async fn an_acquire_with_a_current_cache_does_not_ship_the_state_again() {
    let server = RedisServer::start().await;
    let a = connect(&server, RedisStoreConfig::default()).await;
    let b = connect(&server, RedisStoreConfig::default()).await;
    let sid = SessionId::random();

    let lease = a.create(&sid).await.expect("created");
    let write = SessionWrite::new().set("Counter", vec![7u8; 2048]);
    let Commit::Applied { rev, .. } = a
        .commit(&lease, &write, AfterCommit::Release)
        .await
        .expect("commit")
    else {
        panic!("the holder's write applies");
    };

    let (lease, loaded) = a.acquire_and_load(&sid, Some(rev)).await.expect("acquired");
    assert_eq!(loaded, Loaded::Unchanged { rev });
    a.release(&lease).await.expect("released");

    let (lease, _) = b.acquire_and_load(&sid, Some(rev)).await.expect("acquired");
    let write = SessionWrite::new().set("Counter", vec![8u8; 16]);
    b.commit(&lease, &write, AfterCommit::Release)
        .await
        .expect("commit");

    let (_, loaded) = a.acquire_and_load(&sid, Some(rev)).await.expect("acquired");
    assert_eq!(
        field(&loaded, "Counter"),
        Some(vec![8u8; 16]),
        "a cache older than the store is replaced"
    );
}

#[tokio::test]
async fn a_one_time_value_is_taken_by_exactly_one_of_many_processes() {
    let server = RedisServer::start().await;
    let mut processes = Vec::new();
    for _ in 0..6 {
        processes.push(connect(&server, RedisStoreConfig::default()).await);
    }
    let key = "download:3f9a";
    assert!(
        processes[0]
            .put_once(key, b"payload", Duration::from_secs(60))
            .await
            .expect("stored")
    );
    assert!(
        !processes[1]
            .put_once(key, b"other", Duration::from_secs(60))
            .await
            .expect("answered"),
        "a key in use is not overwritten"
    );
    let takes = processes.iter().map(|store| store.take_once(key));
    let taken: Vec<Vec<u8>> = futures_util::future::join_all(takes)
        .await
        .into_iter()
        .filter_map(|result| result.expect("Redis answers"))
        .collect();
    assert_eq!(taken, [b"payload".to_vec()]);
    assert_eq!(calls(&server, "getdel"), 6);
}

#[tokio::test]
async fn an_event_costs_one_script_call_to_acquire_and_load_and_one_to_write_and_release() {
    let server = RedisServer::start().await;
    let store = connect(&server, RedisStoreConfig::default()).await;
    let sid = SessionId::random();
    let write = SessionWrite::new().set("Counter", b"{\"count\":1}".to_vec());
    // The first use loads the scripts into Redis; count the steady state after it.
    let lease = store.create(&sid).await.expect("created");
    store
        .commit(&lease, &write, AfterCommit::Release)
        .await
        .expect("commit");
    server.command(&["CONFIG", "RESETSTAT"]);

    let (lease, _) = store.acquire_and_load(&sid, None).await.expect("acquired");
    store
        .commit(&lease, &write, AfterCommit::Release)
        .await
        .expect("commit");
    assert_eq!(calls(&server, "evalsha"), 2, "one event");
    assert_eq!(calls(&server, "eval"), 0, "the scripts were not sent again");

    // A burst of three events on the process that holds the lease: the lease is kept
    // between them, so each costs only its write.
    server.command(&["CONFIG", "RESETSTAT"]);
    let (lease, _) = store.acquire_and_load(&sid, None).await.expect("acquired");
    for then in [AfterCommit::Keep, AfterCommit::Keep, AfterCommit::Release] {
        let outcome = store.commit(&lease, &write, then).await.expect("commit");
        assert!(matches!(outcome, Commit::Applied { .. }));
    }
    assert_eq!(calls(&server, "evalsha"), 4, "three events in a burst");

    // Inside a commit on a kept lease (the steady state: no expiry due), Redis runs two
    // commands: the owner check and one `HSET` of the fields with the revision.
    server.command(&["CONFIG", "RESETSTAT"]);
    let (lease, _) = store.acquire_and_load(&sid, None).await.expect("acquired");
    let before = server.command(&["HGET", &store.session_key(&sid, "state"), "#rev"]);
    let steady = write.clone().leave_idle_expiry();
    for then in [AfterCommit::KeepUnrenewed, AfterCommit::KeepUnrenewed] {
        store.commit(&lease, &steady, then).await.expect("commit");
    }
    let inner: Vec<(&str, u64)> = ["hmget", "hset", "hincrby", "pexpire", "hdel", "get"]
        .into_iter()
        .map(|command| (command, calls(&server, command)))
        .collect();
    // The acquire's `HSET` of the owner is one; each commit's is one more.
    assert_eq!(
        inner,
        [
            ("hmget", 2),
            ("hset", 3),
            ("hincrby", 1),
            ("pexpire", 2),
            ("hdel", 1),
            ("get", 0)
        ],
        "the acquire's fence (HINCRBY), owner (HSET), wanted (HDEL) and expiry (PEXPIRE ×2), then two commits"
    );
    let after = server.command(&["HGET", &store.session_key(&sid, "state"), "#rev"]);
    let number = |reply: &str| -> u64 {
        reply
            .trim_start_matches('$')
            .lines()
            .last()
            .unwrap_or("")
            .parse()
            .expect("a revision")
    };
    assert_eq!(number(&after), number(&before) + 2);
}

#[tokio::test]
async fn a_write_naming_a_reserved_field_is_refused_and_a_lease_whose_commit_went_unanswered_is_in_doubt()
 {
    let mut server = RedisServer::start().await;
    let store = connect(&server, with_short_timeout()).await;
    let sid = SessionId::random();
    let lease = store.create(&sid).await.expect("created");
    for write in [
        SessionWrite::new().set("#rev", b"99".to_vec()),
        SessionWrite::new().remove("#rev"),
    ] {
        let refused = store.commit(&lease, &write, AfterCommit::Keep).await;
        assert!(
            matches!(&refused, Err(RedisStoreError::ReservedField(name)) if name == "#rev"),
            "{refused:?}"
        );
    }
    let write = SessionWrite::new().set("Counter", b"1".to_vec());
    let applied = store.commit(&lease, &write, AfterCommit::Keep).await;
    assert!(
        matches!(applied, Ok(Commit::Applied { rev: 1, .. })),
        "{applied:?}"
    );

    // One commit at a time per lease: a second through a copy of it, while the first is on
    // its way, is refused rather than store the same revision; the first goes on.
    let first = {
        let (store, lease, write) = (store.clone(), lease.clone(), write.clone());
        tokio::spawn(async move { store.commit(&lease, &write, AfterCommit::Keep).await })
    };
    tokio::task::yield_now().await;
    let second = store.commit(&lease, &write, AfterCommit::Keep).await;
    assert!(
        matches!(second, Err(RedisStoreError::InDoubt)),
        "{second:?}"
    );
    let first = first.await.expect("the task ran");
    assert!(
        matches!(first, Ok(Commit::Applied { rev: 2, .. })),
        "{first:?}"
    );
    let third = store.commit(&lease, &write, AfterCommit::Keep).await;
    assert!(
        matches!(third, Ok(Commit::Applied { rev: 3, .. })),
        "{third:?}"
    );

    // Redis gone mid-commit: the commit fails, and this lease can no longer know the
    // revision, so it refuses to write again rather than store a wrong one.
    server.stop();
    let failed = store.commit(&lease, &write, AfterCommit::Keep).await;
    assert!(
        matches!(failed, Err(RedisStoreError::Redis(_))),
        "{failed:?}"
    );
    server.start_again().await;
    let in_doubt = store.commit(&lease, &write, AfterCommit::Keep).await;
    assert!(
        matches!(in_doubt, Err(RedisStoreError::InDoubt)),
        "{in_doubt:?}"
    );
    assert!(
        in_doubt
            .expect_err("in doubt")
            .to_string()
            .contains("acquire the session again")
    );

    // A commit whose caller stops waiting (its future dropped once sent) leaves its lease
    // in doubt the same way. (The restarted Redis forgot the session: made again.)
    let lease = store.create(&sid).await.expect("made again");
    let mut commit = std::boxed::Box::pin(store.commit(&lease, &write, AfterCommit::Keep));
    let first_poll = std::future::poll_fn(|cx| Poll::Ready(commit.as_mut().poll(cx))).await;
    assert!(
        first_poll.is_pending(),
        "the commit answered within its first poll: {first_poll:?}"
    );
    drop(commit);
    let in_doubt = store.commit(&lease, &write, AfterCommit::Release).await;
    assert!(
        matches!(in_doubt, Err(RedisStoreError::InDoubt)),
        "{in_doubt:?}"
    );
}

#[tokio::test]
async fn a_kept_lease_is_given_back_by_the_holders_next_commit_once_another_process_asks() {
    let server = RedisServer::start().await;
    let holder = connect(&server, RedisStoreConfig::default()).await;
    let asker = connect(&server, RedisStoreConfig::default()).await;
    let sid = SessionId::random();
    let write = SessionWrite::new().set("Counter", b"1".to_vec());
    let lease = holder.create(&sid).await.expect("created");
    let kept = holder
        .commit(&lease, &write, AfterCommit::Keep)
        .await
        .expect("commit");
    assert!(matches!(
        kept,
        Commit::Applied {
            lease_held: true,
            asked: false,
            ..
        }
    ));
    assert!(
        asker.try_acquire(&sid).await.expect("answers").is_none(),
        "a try without waiting takes nothing and asks for nothing"
    );

    let waiting = tokio::spawn({
        let sid = sid.clone();
        async move { asker.acquire_and_load(&sid, None).await }
    });
    let meta = holder.session_key(&sid, "meta");
    wait_until("the asker to mark the session wanted", || {
        server.command(&["HEXISTS", &meta, "wanted"]) == ":1"
    })
    .await;
    // The holder asks to keep the lease, as it does while the session's events come to
    // it; the asking process gets it all the same.
    let outcome = holder
        .commit(&lease, &write, AfterCommit::Keep)
        .await
        .expect("commit");
    assert_eq!(
        outcome,
        Commit::Applied {
            rev: 2,
            lease_held: false,
            asked: true,
        }
    );
    let (next, loaded) = waiting
        .await
        .expect("the asker ran")
        .expect("the asker gets the session");
    assert!(next.fence() > lease.fence());
    assert_eq!(field(&loaded, "Counter"), Some(b"1".to_vec()));
    assert_eq!(
        server.command(&["HEXISTS", &meta, "wanted"]),
        ":0",
        "the new holder starts with no one asking"
    );
}

/// A counter for the app-level tests of the lease kept between events.
#[derive(Default, Serialize, Deserialize)]
struct Counter {
    count: i64,
}

#[event]
impl Counter {
    fn add(&mut self, by: i64) {
        self.count += by;
    }

    async fn slow_add(&mut self, by: i64, millis: u64) {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        self.count += by;
    }
}

fn counter_page(counter: &Counter) -> Node {
    ui! { text(counter.count, id = "count") }
}

/// An app keeping its sessions in `server`, holding a lease `hold` after each event, with
/// leases of `lease` (long, so a lease that is not given back keeps the session from other
/// processes for longer than they wait for it).
fn counter_app(server: &RedisServer, lease: Duration, hold: Duration) -> App {
    let config = RedisStoreConfig {
        lease,
        ..RedisStoreConfig::default()
    };
    let sessions = RedisSessions::with_config(&server.url(), config, 1000).lease_hold(hold);
    App::new().store(sessions).page("/", counter_page)
}

async fn add_one(app: &TestServer, cookie: &str) {
    let (status, body) = post_event(app, Some(cookie), None, "Counter.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The longest a lease may last in these tests: far past what a process waits for a busy
/// session (10 s), so only the lease being given back lets another process in.
const LONG_LEASE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_burst_of_events_on_one_process_costs_one_script_call_each_and_an_asking_process_gets_the_session()
 {
    let server = RedisServer::start().await;
    let a = TestServer::start(counter_app(&server, LONG_LEASE, LONG_LEASE / 4)).await;
    let b = TestServer::start(counter_app(&server, LONG_LEASE, LONG_LEASE / 4)).await;
    let cookie = arrive(&a).await;
    // The first event gives its lease back (one event says nothing of the next); the
    // second, coming soon after, keeps it.
    add_one(&a, &cookie).await;
    add_one(&a, &cookie).await;
    server.command(&["CONFIG", "RESETSTAT"]);
    for _ in 0..20 {
        add_one(&a, &cookie).await;
    }
    assert_eq!(
        calls(&server, "evalsha"),
        20,
        "each event of the burst is one script: its fenced commit"
    );
    assert_eq!(calls(&server, "eval"), 0);

    // B gets an event of the session while A keeps the lease, for far longer than B
    // waits: B asks, and A's next commit gives the lease back.
    let on_b = tokio::spawn({
        let cookie = cookie.clone();
        async move {
            let answer = post_event(&b, Some(&cookie), None, "Counter.add", json!([1])).await;
            (b, answer)
        }
    });
    let meta = session_key(&cookie, "meta");
    wait_until("B to ask for the session", || {
        server.command(&["HEXISTS", &meta, "wanted"]) == ":1"
    })
    .await;
    add_one(&a, &cookie).await;
    let (b, (status, body)) = on_b.await.expect("B's event ran");
    assert_eq!(status, StatusCode::OK, "B got the session: {body}");
    assert_eq!(number_in::<i64>(&page(&b, &cookie).await, "count"), 24);
    assert_eq!(number_in::<i64>(&page(&a, &cookie).await, "count"), 24);
    // The session moved: A's next event loads B's write and counts on from it.
    add_one(&a, &cookie).await;
    assert_eq!(number_in::<i64>(&page(&b, &cookie).await, "count"), 25);
}

#[tokio::test]
async fn a_lease_kept_by_a_process_that_goes_idle_passes_to_another_after_the_hold_time() {
    let server = RedisServer::start().await;
    let hold = Duration::from_millis(500);
    let a = TestServer::start(counter_app(&server, LONG_LEASE, hold)).await;
    let b = TestServer::start(counter_app(&server, LONG_LEASE, hold)).await;
    let cookie = arrive(&a).await;
    for _ in 0..3 {
        add_one(&a, &cookie).await;
    }
    let lease = session_key(&cookie, "lease");
    assert_eq!(
        server.command(&["EXISTS", &lease]),
        ":1",
        "A keeps the lease after its burst"
    );
    // A has no more events: it gives the lease back after the hold time, long before the
    // lease would run out, and B's event goes through.
    let (status, body) = post_event(&b, Some(&cookie), None, "Counter.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(number_in::<i64>(&page(&a, &cookie).await, "count"), 4);
    wait_until("B to give the lease back in turn", || {
        server.command(&["EXISTS", &lease]) == ":0"
    })
    .await;
}

#[tokio::test]
async fn a_session_idle_for_the_idle_time_is_gone_though_its_commits_skip_most_expiry_refreshes() {
    let server = RedisServer::start().await;
    let idle = Duration::from_millis(1600);
    let config = RedisStoreConfig {
        idle,
        ..RedisStoreConfig::default()
    };
    // A hold longer than the pause between events: the burst runs on a kept lease, whose
    // commits refresh the idle expiry only once a sixteenth of it has passed.
    let sessions = RedisSessions::with_config(&server.url(), config, 1000).lease_hold(idle / 4);
    let app = TestServer::start(App::new().store(sessions).page("/", counter_page)).await;
    let cookie = arrive(&app).await;
    let sid = cookie.split_once('=').map_or("", |(_, id)| id).to_owned();
    let keys = ["meta", "state"].map(|part| format!("ferrex:{{{sid}}}:{part}"));
    server.command(&["CONFIG", "RESETSTAT"]);
    let mut events = 0;
    let burst = Instant::now();
    while burst.elapsed() < idle / 4 {
        add_one(&app, &cookie).await;
        events += 1;
        // Whatever commit made or last refreshed them, both keys always expire.
        for key in &keys {
            let ttl: i64 = server
                .command(&["PTTL", key])
                .trim_start_matches(':')
                .parse()
                .expect("a PTTL");
            assert!(ttl > 0, "{key} exists and expires: PTTL {ttl}");
        }
    }
    let last_answer = Instant::now();
    assert!(
        calls(&server, "pexpire") < 2 * events,
        "{events} commits skipped some idle refreshes ({} PEXPIRE)",
        calls(&server, "pexpire")
    );
    assert_eq!(
        number_in::<i64>(&page(&app, &cookie).await, "count"),
        events as i64
    );
    // The page load above read the session without refreshing it: idle since the last
    // event's answer, it is gone once the idle time has passed (plus Redis's 1 ms
    // rounding).
    tokio::time::sleep_until((last_answer + idle + Duration::from_millis(5)).into()).await;
    for key in &keys {
        assert_eq!(
            server.command(&["EXISTS", key]),
            ":0",
            "{key} is gone after the idle time"
        );
    }
}

#[tokio::test]
async fn calls_fail_with_a_sentence_while_redis_is_down_and_work_again_when_it_is_back() {
    let mut server = RedisServer::start().await;
    let store = connect(&server, with_short_timeout()).await;
    let sid = SessionId::random();
    server.stop();
    let error = store.acquire(&sid).await.expect_err("Redis is down");
    assert!(matches!(error, RedisStoreError::Redis(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("the Redis session store is unavailable")
    );

    server.start_again().await;
    let deadline = Instant::now() + support::PATIENCE;
    let lease = loop {
        // The connection comes back by itself; the first calls may still see it down.
        // A Redis that restarts without persistence has forgotten every session.
        match store.create(&sid).await {
            Ok(lease) => break lease,
            Err(RedisStoreError::Redis(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("Redis did not come back: {error}"),
        }
    };
    let write = SessionWrite::new().set("Counter", b"1".to_vec());
    assert!(matches!(
        store
            .commit(&lease, &write, AfterCommit::Release)
            .await
            .expect("commit"),
        Commit::Applied { rev: 1, .. }
    ));
}

#[tokio::test]
async fn an_unknown_session_is_refused_and_costs_redis_no_key() {
    let server = RedisServer::start().await;
    let store = connect(&server, RedisStoreConfig::default()).await;
    let made_up = SessionId::random();
    assert!(matches!(
        store.acquire_and_load(&made_up, None).await,
        Err(RedisStoreError::NoSuchSession)
    ));
    assert!(matches!(
        store.try_acquire(&made_up).await,
        Err(RedisStoreError::NoSuchSession)
    ));
    assert_eq!(server.command(&["DBSIZE"]), ":0", "nothing was created");
}

#[tokio::test]
async fn a_handler_running_for_several_leases_keeps_its_session_and_the_other_process_waits() {
    let server = RedisServer::start().await;
    let lease = Duration::from_millis(300);
    let a = TestServer::start(counter_app(&server, lease, Duration::from_millis(5))).await;
    let b = TestServer::start(counter_app(&server, lease, Duration::from_millis(5))).await;
    let cookie = arrive(&a).await;
    let slow = tokio::spawn({
        let cookie = cookie.clone();
        async move {
            post_event(
                &a,
                Some(&cookie),
                None,
                "Counter.slow_add",
                json!([10, 1500]),
            )
            .await
        }
    });
    let lease_key = session_key(&cookie, "lease");
    wait_until("A to take the lease", || {
        server.command(&["EXISTS", &lease_key]) == ":1"
    })
    .await;
    // B's event waits for the session for as long as A's handler runs, five leases.
    let (status, body) = post_event(&b, Some(&cookie), None, "Counter.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = slow.await.expect("A's event ran");
    assert_eq!(
        status,
        StatusCode::OK,
        "renewed all along, A's write stands: {body}"
    );
    assert_eq!(number_in::<i64>(&page(&b, &cookie).await, "count"), 11);
}

#[tokio::test]
async fn a_process_whose_kept_lease_ran_out_meanwhile_counts_on_from_the_newer_state() {
    let server = RedisServer::start().await;
    // A keeps its lease far longer than the lease lasts, as a process stalled past its
    // lease would find on waking: the lease ran out in Redis while A still holds it here.
    let lease = Duration::from_millis(400);
    let a = TestServer::start(counter_app(&server, lease, Duration::from_secs(60))).await;
    let b = TestServer::start(counter_app(&server, lease, Duration::ZERO)).await;
    let cookie = arrive(&a).await;
    add_one(&a, &cookie).await;
    add_one(&a, &cookie).await;
    let lease_key = session_key(&cookie, "lease");
    assert_eq!(
        server.command(&["EXISTS", &lease_key]),
        ":1",
        "A keeps the lease"
    );
    wait_until("A's kept lease to run out in Redis", || {
        server.command(&["EXISTS", &lease_key]) == ":0"
    })
    .await;
    add_one(&b, &cookie).await;
    // A's next event does not trust the lease it thinks it keeps: it takes the session
    // again, with B's write.
    let (status, body) = post_event(&a, Some(&cookie), None, "Counter.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        number_in::<i64>(body["html"].as_str().unwrap_or(""), "count"),
        4
    );
    assert_eq!(number_in::<i64>(&page(&b, &cookie).await, "count"), 4);
}

/// The Redis key `part` (`lease`, `meta`, `state`) of the session a `name=id` cookie names.
fn session_key(cookie: &str, part: &str) -> String {
    let id = cookie.split_once('=').map_or("", |(_, id)| id);
    format!("ferrex:{{{id}}}:{part}")
}
