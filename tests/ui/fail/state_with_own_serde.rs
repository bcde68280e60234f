use ferrex::prelude::*;

#[state]
#[derive(Default, Serialize)]
struct Counter {
    count: i64,
}

fn main() {
    let _ = Counter::default().count;
}
