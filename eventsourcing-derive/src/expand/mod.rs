//! Code generation.
//!
//! Generated code names everything by absolute path: runtime items through
//! `::eventsourcing::__private` (or the path given with `crate = "..."`), standard items through
//! `::core`, so that nothing in the user's scope can shadow them.

mod aggregate_impl;
mod aggregate_struct;
mod event_enum;
mod transcoded;

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::quote;
use syn::{Ident, ItemImpl, ItemStruct, Path};

pub(crate) use aggregate_impl::aggregate_impl;
pub(crate) use aggregate_struct::{aggregate_other, aggregate_struct};

/// The path of the runtime crate: `::eventsourcing`, unless `crate = "..."` says otherwise.
fn runtime_path(krate: Option<&Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path),
        None => quote!(::eventsourcing),
    }
}

/// `tokens` with every span set to `span`: for the runtime path inside `quote_spanned!`, so that
/// a call reported by rustc points at the user's tokens rather than at the attribute.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(&group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// The serde path as a string, for `#[serde(crate = "...")]`.
fn serde_path_string(krate: &TokenStream) -> String {
    quote!(#krate::__private::serde)
        .to_string()
        .replace(' ', "")
}

/// Keeps the compiler's attention on the real error: the input item, unchanged but for our
/// attributes, after the errors, and a stand-in `AggregateStruct` impl so that the struct's
/// `#[aggregate]` impl block does not report the struct as missing.
fn fallback_struct(krate: &TokenStream, errors: TokenStream, item: &ItemStruct) -> TokenStream {
    let stand_in = item
        .generics
        .params
        .is_empty()
        .then(|| stand_in_aggregate_struct(krate, &item.ident));
    quote!(#errors #item #stand_in)
}

/// An `AggregateStruct` impl with no behaviour, for a type whose `#[aggregate]` was rejected:
/// its `#[aggregate]` impl block still compiles against it, so only the real error shows. Never
/// runs (the crate does not compile).
pub(crate) fn stand_in_aggregate_struct(krate: &TokenStream, ident: &Ident) -> TokenStream {
    quote! {
        const _: () = {
            impl #krate::__private::AggregateStruct for #ident {
                fn __meta(&self) -> &#krate::domain::AggregateMeta<Self> {
                    ::core::unreachable!()
                }

                fn __meta_mut(
                    &mut self,
                    _sealed: &#krate::domain::Sealed,
                ) -> &mut #krate::domain::AggregateMeta<Self> {
                    ::core::unreachable!()
                }

                fn __snapshot_state(
                    &self,
                ) -> ::core::result::Result<#krate::__private::StateMap, #krate::domain::DomainError> {
                    ::core::unreachable!()
                }

                fn __deserialize_state<'de, D: #krate::__private::serde::Deserializer<'de>>(
                    _deserializer: D,
                ) -> ::core::result::Result<Self, D::Error> {
                    ::core::unreachable!()
                }
            }
        };
    }
}

/// An `Aggregate` impl with no behaviour and no events, for a struct whose `#[aggregate]` impl
/// block was rejected: the struct's expansion (its metadata field, its `AggregateStruct` impl)
/// and the user's calls of `version()`, `collect_events()`, ... still compile, so only the real
/// error shows. Never runs (the crate does not compile).
fn stand_in_aggregate(krate: &TokenStream, ident: &Ident) -> TokenStream {
    let name = ident.to_string();
    quote! {
        const _: () = {
            impl #krate::domain::Aggregate for #ident {
                type Event = #krate::__private::FallbackEvent;

                const NAME: &'static str = #name;
                const TOPIC: &'static str = #name;

                fn meta(&self) -> &#krate::domain::AggregateMeta<Self> {
                    ::core::unreachable!()
                }

                fn meta_mut(
                    &mut self,
                    _sealed: &#krate::domain::Sealed,
                ) -> &mut #krate::domain::AggregateMeta<Self> {
                    ::core::unreachable!()
                }

                fn construct(
                    _id: #krate::__private::uuid::Uuid,
                    event: #krate::__private::FallbackEvent,
                    _sealed: &mut #krate::domain::Sealed,
                ) -> ::core::result::Result<Self, #krate::domain::ApplyError> {
                    match event {}
                }

                fn apply(
                    &mut self,
                    event: #krate::__private::FallbackEvent,
                    _sealed: &mut #krate::domain::Sealed,
                ) -> ::core::result::Result<(), #krate::domain::ApplyError> {
                    match event {}
                }
            }
        };
    }
}

/// The impl block after the errors and, when the struct it is for is known, a stand-in
/// `Aggregate` impl for that struct.
fn fallback_impl(
    krate: &TokenStream,
    errors: TokenStream,
    item: &ItemImpl,
    struct_ident: Option<&Ident>,
) -> TokenStream {
    let stand_in = struct_ident.map(|ident| stand_in_aggregate(krate, ident));
    quote!(#errors #item #stand_in)
}
