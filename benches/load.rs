//! Load test (being written).
fn main() {}
