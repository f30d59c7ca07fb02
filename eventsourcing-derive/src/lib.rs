//! Procedural macros of the [`eventsourcing`](https://docs.rs/eventsourcing) crate.
//!
//! Use them through `eventsourcing` (`use eventsourcing::prelude::*;`), which documents the
//! syntax. This crate only parses and generates code: all behaviour lives in `eventsourcing`,
//! which the generated code reaches through absolute paths into a hidden module.
//!
//! The phases are one module each: `attr` parses attribute options, `ast` models the input,
//! `check` validates it (accumulating every error with its span), and `expand` generates
//! code. On invalid input the macros still emit the item, minus their own attributes, with
//! stand-in impls of the traits the other half of the aggregate expects (`Aggregate` for a
//! rejected impl block, `AggregateStruct` for a rejected struct), so that one mistake does not
//! cascade into many errors. The compile-fail tests in `trybuild-tests/` show every message.

mod ast;
mod attr;
mod case;
mod check;
mod expand;

use proc_macro::TokenStream;

/// Errors accumulated while reading a macro's input, reported together.
pub(crate) struct Errors(Vec<syn::Error>);

impl Errors {
    fn new() -> Self {
        Errors(Vec::new())
    }

    pub(crate) fn push(&mut self, error: syn::Error) {
        self.0.push(error);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors as `compile_error!` invocations.
    pub(crate) fn to_compile_errors(&self) -> proc_macro2::TokenStream {
        self.0.iter().map(syn::Error::to_compile_error).collect()
    }
}

/// Marks an aggregate: put it on the struct and on its impl block.
///
/// On the struct, write it above `#[derive(...)]`: a derive written above it runs first, on the
/// struct without the metadata field `#[aggregate]` adds (its derived `Clone` or `Deserialize`
/// then fails, with an error that says so).
///
/// See the `eventsourcing` crate for the syntax and the generated items.
#[proc_macro_attribute]
pub fn aggregate(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    match syn::parse::<syn::Item>(input) {
        Ok(syn::Item::Struct(item)) => expand::aggregate_struct(args, item).into(),
        Ok(syn::Item::Impl(item)) => expand::aggregate_impl(args, item).into(),
        Ok(other) => expand::aggregate_other(args, other).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Marks the constructor of an `#[aggregate]`: its arguments become the created event's fields.
///
/// Only meaningful inside an `#[aggregate]` impl block, which removes it; anywhere else it is
/// an error.
#[proc_macro_attribute]
pub fn created(_args: TokenStream, input: TokenStream) -> TokenStream {
    outside_aggregate("created", input)
}

/// Marks a method of an `#[aggregate]` that records an event: its arguments become the event's
/// fields, and its body applies the event.
///
/// Only meaningful inside an `#[aggregate]` impl block, which removes it; anywhere else it is
/// an error.
#[proc_macro_attribute]
pub fn event(_args: TokenStream, input: TokenStream) -> TokenStream {
    outside_aggregate("event", input)
}

fn outside_aggregate(name: &str, input: TokenStream) -> TokenStream {
    let input = proc_macro2::TokenStream::from(input);
    let span = syn::parse2::<syn::ImplItemFn>(input.clone())
        .map(|f| f.sig.ident.span())
        .or_else(|_| syn::parse2::<syn::ItemFn>(input.clone()).map(|f| f.sig.ident.span()))
        .unwrap_or_else(|_| proc_macro2::Span::call_site());
    let error = syn::Error::new(
        span,
        format!(
            "#[{name}] only works on a method inside an #[aggregate] impl block: add #[aggregate] \
             to the impl block (and to its struct)"
        ),
    );
    let mut out = error.to_compile_error();
    out.extend(input);
    out.into()
}
