//! The value types props take: text, numbers, a button's variant, and how a component
//! accepts positional arguments. Each trait's error message names what the prop expects.

use std::borrow::Cow;

/// A prop that takes text: `&str`, `String`, `&String`, `Cow<str>`, or a `char`.
///
/// ```
/// use ferrex_core::props::IntoText;
/// assert_eq!("a".into_text(), "a");
/// assert_eq!(String::from("b").into_text(), "b");
/// ```
#[diagnostic::on_unimplemented(
    message = "this prop takes text, not `{Self}`",
    label = "expected text",
    note = "pass a `&str` or `String`; for a number use `.to_string()` or `format!`"
)]
pub trait IntoText {
    /// Converts to the text.
    fn into_text(self) -> Cow<'static, str>;
}

impl IntoText for &str {
    fn into_text(self) -> Cow<'static, str> {
        Cow::Owned(self.to_owned())
    }
}
impl IntoText for String {
    fn into_text(self) -> Cow<'static, str> {
        Cow::Owned(self)
    }
}
impl IntoText for &String {
    fn into_text(self) -> Cow<'static, str> {
        Cow::Owned(self.clone())
    }
}
impl IntoText for Cow<'static, str> {
    fn into_text(self) -> Cow<'static, str> {
        self
    }
}
impl IntoText for char {
    fn into_text(self) -> Cow<'static, str> {
        Cow::Owned(self.to_string())
    }
}

/// A prop that takes a number (any integer or float type).
///
/// ```
/// use ferrex_core::props::IntoNumber;
/// assert_eq!(3u8.into_number(), 3.0);
/// assert_eq!(0.5f32.into_number(), 0.5);
/// ```
#[diagnostic::on_unimplemented(
    message = "this prop takes a number, not `{Self}`",
    label = "expected a number"
)]
pub trait IntoNumber {
    /// Converts to `f64`.
    fn into_number(self) -> f64;
}

macro_rules! into_number {
    ($($ty:ty),*) => {$(
        impl IntoNumber for $ty {
            #[allow(clippy::cast_lossless, clippy::cast_precision_loss)]
            fn into_number(self) -> f64 { self as f64 }
        }
    )*};
}
into_number!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);

/// A byte count prop (`max_size`, `min_size`): any unsigned or positive integer.
///
/// ```
/// use ferrex_core::props::IntoBytes;
/// assert_eq!(1024u32.into_bytes(), 1024);
/// ```
#[diagnostic::on_unimplemented(
    message = "this prop takes a number of bytes, not `{Self}`",
    label = "expected a byte count such as `5 * 1024 * 1024`"
)]
pub trait IntoBytes {
    /// The count, negative values clamped to 0.
    fn into_bytes(self) -> u64;
}

macro_rules! into_bytes {
    ($($ty:ty),*) => {$(
        impl IntoBytes for $ty {
            #[allow(clippy::cast_sign_loss, clippy::cast_lossless)]
            fn into_bytes(self) -> u64 { self.max(0) as u64 }
        }
    )*};
}
into_bytes!(i32, i64, isize, u8, u16, u32, u64, usize);

/// How a button looks.
///
/// ```
/// use ferrex_core::prelude::*;
/// let html = Node::from(button().child("x").variant(Variant::Outline)).to_html();
/// assert!(html.contains("fx-button-outline"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variant {
    /// Filled with the accent colour.
    #[default]
    Solid,
    /// A light tint of the accent colour.
    Soft,
    /// A border, no fill.
    Outline,
    /// Text only.
    Ghost,
    /// Red, for destructive actions.
    Danger,
}

impl Variant {
    pub(crate) fn class(self) -> &'static str {
        match self {
            Variant::Solid => "fx-button fx-button-solid",
            Variant::Soft => "fx-button fx-button-soft",
            Variant::Outline => "fx-button fx-button-outline",
            Variant::Ghost => "fx-button fx-button-ghost",
            Variant::Danger => "fx-button fx-button-danger",
        }
    }
}

/// How a component takes a positional argument in `ui!` (`button("Go")`, `icon("upload")`).
/// Containers take any node as a child; some components take a specific value; others
/// take none.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not take `{C}` as a positional argument",
    label = "not accepted here",
    note = "this component takes no children: pass its content through its props"
)]
pub trait Positional<C> {
    /// Adds the argument.
    fn positional(self, arg: C) -> Self;
}
