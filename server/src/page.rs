//! Page functions (`fn index(s: &Counter) -> Node`) and the registry of state types they
//! and the events name, filled at start-up: no runtime reflection.

use std::collections::HashMap;

use ferrex_core::state::AnyState;
use ferrex_core::{Node, State};

use crate::session::Session;

/// Makes a state with its `Default`.
pub(crate) type StateFactory = fn() -> Box<dyn AnyState>;

/// The state types an app knows, by name.
#[derive(Default)]
pub struct Registry {
    states: HashMap<&'static str, StateFactory>,
}

impl Registry {
    /// Registers `S` so events can name it.
    pub fn register<S: State>(&mut self) {
        fn create<S: State>() -> Box<dyn AnyState> {
            Box::new(S::default())
        }
        self.states.insert(S::NAME, create::<S>);
    }

    /// The constructor of the state named `name`, with the name as a `'static` key.
    pub(crate) fn find(&self, name: &str) -> Option<(&'static str, StateFactory)> {
        self.states.get_key_value(name).map(|(k, f)| (*k, *f))
    }
}

/// A function that renders a page from the session's states: `Fn() -> Node`,
/// `Fn(&A) -> Node`, `Fn(&A, &B) -> Node`, … up to four states.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a page function",
    label = "expected `fn(&State, …) -> Node`",
    note = "a page takes its states by reference (up to four, each with `#[event]`) and returns a `Node`, e.g. `fn index(s: &Counter) -> Node`"
)]
pub trait PageFn<Args>: Send + Sync + 'static {
    /// Registers the states the page reads.
    fn register(registry: &mut Registry);
    /// Renders the page for a session.
    fn render(&self, session: &mut Session) -> Node;
}

impl<F> PageFn<()> for F
where
    F: Fn() -> Node + Send + Sync + 'static,
{
    fn register(_: &mut Registry) {}
    fn render(&self, _: &mut Session) -> Node {
        self()
    }
}

macro_rules! page_fn {
    ($($s:ident),+) => {
        impl<F, $($s: State),+> PageFn<($($s,)+)> for F
        where
            F: Fn($(&$s),+) -> Node + Send + Sync + 'static,
        {
            fn register(registry: &mut Registry) {
                $(registry.register::<$s>();)+
            }
            fn render(&self, session: &mut Session) -> Node {
                $(session.ensure::<$s>();)+
                self($(session.get::<$s>()),+)
            }
        }
    };
}
page_fn!(A);
page_fn!(A, B);
page_fn!(A, B, C);
page_fn!(A, B, C, D);

/// A page function with its type erased.
pub(crate) type ErasedPage = Box<dyn Fn(&mut Session) -> Node + Send + Sync>;

pub(crate) fn erase<Args: 'static, P: PageFn<Args>>(page: P) -> ErasedPage {
    Box::new(move |session| page.render(session))
}
