use ferrex::prelude::*;

#[state]
#[derive(Default)]
struct Counter {
    count: i64,
}

#[event]
impl Counter {
    fn reset(&mut self) {
        self.count = 0;
    }
}

fn index(s: &Counter) -> Node {
    ui! {
        vstack(
            heading("Counter"),
            text(s.count),
            hstack(
                button("Reset", on_clik = Counter::reset),
            ),
        )
    }
}

fn main() {
    let _ = index(&Counter::default());
}
