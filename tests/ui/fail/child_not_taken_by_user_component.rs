use ferrex::prelude::*;

#[derive(Default)]
struct Tab;

impl From<Tab> for Node {
    fn from(_: Tab) -> Node {
        Node::Empty
    }
}

#[derive(Default)]
struct Tabs;

impl Positional<Tab> for Tabs {
    fn positional(self, _: Tab) -> Self {
        self
    }
}

impl From<Tabs> for Node {
    fn from(_: Tabs) -> Node {
        Node::Empty
    }
}

fn tab() -> Tab {
    Tab
}

fn tabs() -> Tabs {
    Tabs
}

fn main() {
    let _ = ui! { tabs(tab(), text("not a tab")) };
}
