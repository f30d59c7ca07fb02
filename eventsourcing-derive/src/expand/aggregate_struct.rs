//! `#[aggregate]` on a struct: adds the hidden metadata field and implements
//! `__private::AggregateStruct` (metadata access, and snapshot state through serde when the
//! struct derives `Serialize` and `Deserialize`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{parse_quote, Attribute, Fields, ItemStruct, Path, Token};

use super::{fallback_struct, runtime_path, serde_path_string};
use crate::attr::StructArgs;
use crate::Errors;

/// The hidden field's name. Constructor bodies never write it: the impl macro adds it to their
/// struct expressions.
pub(crate) const META_FIELD: &str = "__aggregate";

pub(crate) fn aggregate_struct(args: TokenStream, mut item: ItemStruct) -> TokenStream {
    let mut errors = Errors::new();
    let args = StructArgs::parse(args, &mut errors);
    let krate = runtime_path(args.krate.as_ref());

    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.push(syn::Error::new(
            item.generics.span(),
            "an #[aggregate] can't be generic: its events are stored with fixed types",
        ));
    }
    let named = match &mut item.fields {
        Fields::Named(named) => Some(named),
        Fields::Unnamed(fields) => {
            errors.push(syn::Error::new(
                fields.span(),
                "an #[aggregate] struct needs named fields: struct Dog { name: String }",
            ));
            None
        }
        Fields::Unit => {
            errors.push(syn::Error::new(
                item.ident.span(),
                "an #[aggregate] struct needs braces and named fields, even if it has none: struct Dog {}",
            ));
            None
        }
    };
    if let Some(clash) = named.as_ref().and_then(|n| {
        n.named
            .iter()
            .find(|f| f.ident.as_ref().is_some_and(|i| i == META_FIELD))
    }) {
        errors.push(syn::Error::new(
            clash.span(),
            format!("`{META_FIELD}` is the name of the field #[aggregate] adds: rename this field"),
        ));
    }
    let Some(named) = named.filter(|_| errors.is_empty()) else {
        return fallback_struct(errors.to_compile_errors(), &item);
    };

    let derives_serialize = derives(&item.attrs, "Serialize");
    let derives_deserialize = derives(&item.attrs, "Deserialize");
    let uses_serde = derives_serialize || derives_deserialize;

    let ident = &item.ident;
    let meta_field = syn::Ident::new(META_FIELD, ident.span());
    let skip = uses_serde.then(|| quote!(#[serde(skip)]));
    named.named.push(parse_quote! {
        #[doc(hidden)]
        #skip
        #meta_field: #krate::domain::AggregateMeta<#ident>
    });
    if uses_serde && !has_serde_crate(&item.attrs) {
        let serde_path = serde_path_string(&krate);
        item.attrs.push(parse_quote!(#[serde(crate = #serde_path)]));
    }

    let snapshot_state = if derives_serialize {
        quote!(#krate::__private::snapshot_state(self))
    } else {
        quote!(::core::result::Result::Err(#krate::__private::snapshots_not_supported::<Self>()))
    };
    let restore_state = if derives_deserialize {
        quote!(#krate::__private::restore_state(state))
    } else {
        quote! {{
            let _ = state;
            ::core::result::Result::Err(#krate::__private::snapshots_not_supported::<Self>())
        }}
    };

    quote! {
        #item

        const _: () = {
            impl #krate::__private::AggregateStruct for #ident {
                fn __meta(&self) -> &#krate::domain::AggregateMeta<Self> {
                    &self.#meta_field
                }

                fn __meta_mut(&mut self) -> &mut #krate::domain::AggregateMeta<Self> {
                    &mut self.#meta_field
                }

                fn __snapshot_state(
                    &self,
                ) -> ::core::result::Result<#krate::__private::StateMap, #krate::domain::DomainError> {
                    #snapshot_state
                }

                fn __restore_state(
                    state: #krate::__private::StateMap,
                ) -> ::core::result::Result<Self, #krate::domain::DomainError> {
                    #restore_state
                }
            }
        };
    }
}

/// Whether a `#[derive(...)]` on the struct names `name` (`Serialize`, `serde::Serialize`, ...).
fn derives(attrs: &[Attribute], name: &str) -> bool {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("derive"))
        .filter_map(|attr| {
            attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
                .ok()
        })
        .flatten()
        .any(|path| path.segments.last().is_some_and(|s| s.ident == name))
}

/// Whether the struct already says which serde crate its derives use.
fn has_serde_crate(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("serde"))
        .any(|attr| {
            let mut found = false;
            let _ = attr.parse_nested_meta(|meta| {
                found |= meta.path.is_ident("crate");
                if meta.input.peek(Token![=]) {
                    let _: syn::LitStr = meta.value()?.parse()?;
                }
                Ok(())
            });
            found
        })
}
