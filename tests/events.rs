//! `#[event]` handlers dispatched through the public `State` trait, without HTTP: arguments
//! decoded from JSON, async handlers, what handlers return, and every way an event can be
//! refused with the state left as it was.

use ferrex::prelude::*;
use ferrex::{EventError, HandlerError};
use serde_json::{Value, json};

#[derive(Default, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Counter {
    count: i64,
    label: String,
}

#[event]
impl Counter {
    fn add(&mut self, by: i64) {
        self.count += by;
    }

    fn reset(&mut self) {
        self.count = 0;
    }

    fn rename(&mut self, label: String, times: u8) {
        self.label = label.repeat(usize::from(times));
    }

    async fn add_later(&mut self, by: i64) {
        tokio::task::yield_now().await;
        self.count += by;
    }

    fn export(&mut self) -> Download {
        Download::data(self.count.to_string()).filename("count.txt")
    }

    fn checked_add(&mut self, by: i64) -> Result<(), String> {
        if by < 0 {
            return Err(format!("cannot add {by}: counts only go up"));
        }
        self.count += by;
        Ok(())
    }

    fn go_home(&mut self) -> ClientAction {
        redirect("/")
    }

    /// Not `&mut self`: not a handler.
    #[allow(dead_code)]
    fn doubled(&self) -> i64 {
        self.count * 2
    }
}

async fn run(state: &mut Counter, method: &str, args: Value) -> Result<Vec<Action>, HandlerError> {
    let future = state
        .dispatch(method, args.into())
        .unwrap_or_else(|e| panic!("`{method}` should dispatch: {e}"));
    future.await
}

#[test]
fn the_state_knows_its_name_and_handlers() {
    assert_eq!(Counter::NAME, "Counter");
    assert_eq!(
        Counter::HANDLERS,
        [
            "add",
            "reset",
            "rename",
            "add_later",
            "export",
            "checked_add",
            "go_home"
        ]
    );
}

#[tokio::test]
async fn a_handler_changes_the_state() {
    let mut state = Counter::default();
    let actions = run(&mut state, "add", json!([2])).await.expect("ok");
    assert!(actions.is_empty());
    assert_eq!(state.count, 2);
    run(&mut state, "add", json!([-5])).await.expect("ok");
    assert_eq!(state.count, -3);
}

#[tokio::test]
async fn several_arguments_are_decoded_in_order() {
    let mut state = Counter::default();
    run(&mut state, "rename", json!(["ab", 3]))
        .await
        .expect("ok");
    assert_eq!(state.label, "ababab");
}

#[tokio::test]
async fn a_zero_argument_handler_takes_null_or_an_empty_array() {
    let mut state = Counter {
        count: 9,
        ..Counter::default()
    };
    run(&mut state, "reset", Value::Null).await.expect("ok");
    assert_eq!(state.count, 0);
    state.count = 4;
    run(&mut state, "reset", json!([])).await.expect("ok");
    assert_eq!(state.count, 0);
}

#[tokio::test]
async fn an_async_handler_runs_to_completion_when_awaited() {
    let mut state = Counter::default();
    let future = state
        .dispatch("add_later", json!([5]).into())
        .expect("dispatches");
    future.await.expect("ok");
    assert_eq!(state.count, 5);
}

#[tokio::test]
async fn a_handler_returning_a_download_yields_a_download_action() {
    let mut state = Counter {
        count: 12,
        ..Counter::default()
    };
    let actions = run(&mut state, "export", Value::Null).await.expect("ok");
    let [Action::Download(download)] = actions.as_slice() else {
        panic!("expected one download, got {actions:?}");
    };
    assert_eq!(download.suggested_filename(), "count.txt");
    assert_eq!(download.content_type(), "text/plain");
}

#[tokio::test]
async fn a_handler_returning_a_client_action_yields_it() {
    let mut state = Counter::default();
    let actions = run(&mut state, "go_home", Value::Null).await.expect("ok");
    let [Action::Client(action)] = actions.as_slice() else {
        panic!("expected one client action, got {actions:?}");
    };
    assert_eq!(*action, ClientAction::Redirect { to: "/".into() });
}

#[tokio::test]
async fn a_handler_err_becomes_the_message_the_page_shows() {
    let mut state = Counter::default();
    let err = run(&mut state, "checked_add", json!([-1]))
        .await
        .expect_err("the handler returned Err");
    assert_eq!(err, HandlerError("cannot add -1: counts only go up".into()));
    assert_eq!(err.to_string(), "cannot add -1: counts only go up");
    // The state stays usable.
    run(&mut state, "checked_add", json!([1]))
        .await
        .expect("ok");
    assert_eq!(state.count, 1);
}

fn refused(state: &mut Counter, method: &str, args: Value) -> EventError {
    match state.dispatch(method, args.into()) {
        Ok(_) => panic!("`{method}` should have been refused"),
        Err(e) => e,
    }
}

#[test]
fn an_unknown_handler_is_refused() {
    let mut state = Counter::default();
    let err = refused(&mut state, "resett", json!([]));
    assert_eq!(err, EventError::UnknownHandler("Counter.resett".into()));
    assert_eq!(
        err.to_string(),
        "there is no event handler named `Counter.resett`"
    );
}

#[test]
fn a_method_that_is_not_a_handler_cannot_be_called() {
    let mut state = Counter::default();
    assert!(matches!(
        refused(&mut state, "doubled", Value::Null),
        EventError::UnknownHandler(_)
    ));
}

#[test]
fn an_argument_of_the_wrong_type_is_refused_and_the_state_is_unchanged() {
    let mut state = Counter {
        count: 7,
        label: "x".into(),
    };
    let before = state.clone();
    let err = refused(&mut state, "add", json!(["two"]));
    let EventError::BadArguments { handler, reason } = &err else {
        panic!("expected bad arguments, got {err:?}");
    };
    assert_eq!(handler, "Counter.add");
    assert!(
        reason.starts_with("argument `by`: invalid type: string \"two\", expected i64"),
        "{reason}"
    );
    assert_eq!(state, before);
}

#[test]
fn a_second_argument_of_the_wrong_type_is_refused_before_anything_runs() {
    let mut state = Counter::default();
    let err = refused(&mut state, "rename", json!(["ab", "three"]));
    assert!(
        matches!(&err, EventError::BadArguments { reason, .. } if reason.starts_with("argument `times`")),
        "{err:?}"
    );
    assert_eq!(state, Counter::default());
}

#[test]
fn the_wrong_number_of_arguments_is_refused() {
    let mut state = Counter::default();
    assert_eq!(
        refused(&mut state, "add", json!([1, 2])),
        EventError::BadArguments {
            handler: "Counter.add".into(),
            reason: "expected 1 argument(s), got 2".into(),
        }
    );
    assert_eq!(
        refused(&mut state, "add", json!([])),
        EventError::BadArguments {
            handler: "Counter.add".into(),
            reason: "expected 1 argument(s), got 0".into(),
        }
    );
    assert_eq!(
        refused(&mut state, "add", Value::Null),
        EventError::BadArguments {
            handler: "Counter.add".into(),
            reason: "expected 1 argument(s), got 0".into(),
        }
    );
    assert_eq!(
        refused(&mut state, "reset", json!([1])),
        EventError::BadArguments {
            handler: "Counter.reset".into(),
            reason: "expected 0 argument(s), got 1".into(),
        }
    );
    assert_eq!(state, Counter::default());
}

#[test]
fn arguments_that_are_not_an_array_are_refused() {
    let mut state = Counter::default();
    for args in [json!(1), json!({"by": 1}), json!("1")] {
        let err = refused(&mut state, "add", args);
        assert_eq!(
            err,
            EventError::BadArguments {
                handler: "Counter.add".into(),
                reason: "arguments must be a JSON array".into(),
            }
        );
        assert_eq!(
            err.to_string(),
            "bad arguments for `Counter.add`: arguments must be a JSON array"
        );
    }
    assert_eq!(state, Counter::default());
}

/// The actions a rendered element runs on `attribute` (its JSON, unescaped).
fn actions_on(html: &str, attribute: &str) -> Value {
    let start = html
        .find(&format!("{attribute}=\""))
        .unwrap_or_else(|| panic!("no {attribute} in {html}"))
        + attribute.len()
        + 2;
    let end = start + html[start..].find('"').expect("the attribute's end");
    let raw = html[start..end]
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&raw).expect("the actions are JSON")
}

#[test]
fn a_tuple_of_handlers_and_client_actions_runs_them_in_order() {
    let node: Node = ui! {
        vstack(
            button("Both", on_click = (Counter::add(2), clear_selected_files("f"), Counter::reset)),
            input(on_change = (Counter::add(1), Counter::reset())),
        )
    };
    let html = node.to_html();
    assert_eq!(
        actions_on(&html, "data-fx-click"),
        json!([
            {"t": "event", "h": "Counter.add", "args": [2]},
            {"t": "clear_selected_files", "id": "f"},
            {"t": "event", "h": "Counter.reset", "args": []},
        ])
    );
    assert_eq!(
        actions_on(&html, "data-fx-change"),
        json!([
            {"t": "event", "h": "Counter.add", "args": [1]},
            {"t": "event", "h": "Counter.reset", "args": []},
        ])
    );
}
