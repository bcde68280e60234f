use ferrex::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Greeter {
    greeting: String,
}

#[event]
impl Greeter {
    fn greet(&mut self, name: &str) {
        self.greeting = format!("Hello, {name}");
    }
}

fn main() {}
