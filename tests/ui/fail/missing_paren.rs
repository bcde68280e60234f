// `text("a",` lacks its `)`. rustc's lexer pairs the next `)` with `text(` and reports
// `vstack(` as unclosed, before `ui!` runs (no macro sees an unbalanced input), so this
// pins rustc's own message: it changes only when rustc's delimiter recovery does.
use ferrex::prelude::*;

fn main() {
    let _ = ui! {
        vstack(
            heading("Counter"),
            text("a",
            button("+1"),
        )
    };
}
