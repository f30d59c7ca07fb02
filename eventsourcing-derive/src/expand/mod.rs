//! Code generation.
//!
//! Generated code names everything by absolute path: runtime items through
//! `::eventsourcing::__private` (or the path given with `crate = "..."`), standard items through
//! `::core`, so that nothing in the user's scope can shadow them.

mod aggregate_impl;
mod aggregate_struct;
mod event_enum;

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemImpl, ItemStruct, Path};

pub(crate) use aggregate_impl::aggregate_impl;
pub(crate) use aggregate_struct::aggregate_struct;

/// The path of the runtime crate: `::eventsourcing`, unless `crate = "..."` says otherwise.
fn runtime_path(krate: Option<&Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path),
        None => quote!(::eventsourcing),
    }
}

/// The serde path as a string, for `#[serde(crate = "...")]`.
fn serde_path_string(krate: &TokenStream) -> String {
    quote!(#krate::__private::serde)
        .to_string()
        .replace(' ', "")
}

/// Keeps the compiler's attention on the real error: the input item, unchanged but for our
/// attributes, after the errors.
fn fallback_struct(errors: TokenStream, item: &ItemStruct) -> TokenStream {
    quote!(#errors #item)
}

fn fallback_impl(errors: TokenStream, item: &ItemImpl) -> TokenStream {
    quote!(#errors #item)
}
