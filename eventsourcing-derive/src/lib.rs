//! Procedural macros of the [`eventsourcing`](https://docs.rs/eventsourcing) crate.
//!
//! Use them through `eventsourcing` (`use eventsourcing::prelude::*;`), which documents the
//! syntax. This crate only parses and generates code: all behaviour lives in `eventsourcing`,
//! which the generated code reaches through absolute paths into a hidden module.
//!
//! The phases are one module each: [`attr`] parses attribute options, [`ast`] models the input,
//! [`check`] validates it (accumulating every error with its span), and [`expand`] generates
//! code. On invalid input the macros still emit the item, minus their own attributes, so that
//! one mistake does not cascade into many errors.

mod ast;
mod attr;
mod case;
mod check;
mod expand;

use proc_macro::TokenStream;
use quote::ToTokens;

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
/// See the `eventsourcing` crate for the syntax and the generated items.
#[proc_macro_attribute]
pub fn aggregate(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    match syn::parse::<syn::Item>(input) {
        Ok(syn::Item::Struct(item)) => expand::aggregate_struct(args, item).into(),
        Ok(syn::Item::Impl(item)) => expand::aggregate_impl(args, item).into(),
        Ok(other) => {
            let error = syn::Error::new_spanned(
                item_keyword(&other),
                "#[aggregate] goes on a struct with named fields and on that struct's impl block",
            );
            let mut out = error.to_compile_error();
            other.to_tokens(&mut out);
            out.into()
        }
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

/// The tokens that best point at an item, for an error about its kind.
fn item_keyword(item: &syn::Item) -> proc_macro2::TokenStream {
    match item {
        syn::Item::Enum(e) => e.enum_token.to_token_stream(),
        syn::Item::Union(u) => u.union_token.to_token_stream(),
        syn::Item::Fn(f) => f.sig.fn_token.to_token_stream(),
        syn::Item::Trait(t) => t.trait_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}
