//! Compile-time errors are part of ferrex's interface: each `tests/ui/fail/*.rs` makes one
//! mistake and its `.stderr` pins the message; each `tests/ui/pass/*.rs` must build and run.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test ui`, then read
//! every changed `.stderr`: the caret must point at the user's token.

#[test]
fn ui_mistakes_fail_to_compile_with_a_message_at_the_token() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
