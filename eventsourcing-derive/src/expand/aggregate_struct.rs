//! `#[aggregate]` on a struct: adds the hidden metadata field and implements
//! `__private::AggregateStruct` (metadata access, and snapshot state through serde when the
//! struct derives `Serialize` and `Deserialize`).

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{parse_quote, Attribute, Fields, ItemStruct, Path, Token};

use super::{fallback_struct, runtime_path, serde_path_string, stand_in_aggregate_struct};
use crate::attr::StructArgs;
use crate::check::META_FIELD;
use crate::Errors;

pub(crate) fn aggregate_struct(args: TokenStream, mut item: ItemStruct) -> TokenStream {
    let mut errors = Errors::new();
    let args = StructArgs::parse(args, &mut errors);
    let krate = runtime_path(args.krate.as_ref());

    // Errors in the options leave the struct valid: it is expanded all the same. Errors in its
    // shape fall back to the struct as written.
    let option_errors = errors.len();
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &item.generics,
            "an #[aggregate] can't be generic: its events are stored and decoded with fixed \
             types; replace the type parameters with concrete types",
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
    let Some(named) = named.filter(|_| errors.len() == option_errors) else {
        return fallback_struct(&krate, errors.to_compile_errors(), &item);
    };

    let derives_serialize = derives(&item.attrs, "Serialize");
    let derives_deserialize = derives(&item.attrs, "Deserialize");
    let uses_serde = derives_serialize || derives_deserialize;
    if uses_serde {
        check_snapshot_keys(named, &mut errors);
        transcode_fields(&krate, named);
    }
    // `Debug` shows the user's fields and a short line for the metadata, so the derive is
    // replaced by an impl that does that.
    let debug = remove_derive(&mut item.attrs, "Debug").then(|| debug_impl(&item.ident, named));

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

    let name = ident.to_string();
    let snapshot_state = if derives_serialize {
        quote!(#krate::__private::snapshot_state(self))
    } else {
        quote!(::core::result::Result::Err(#krate::__private::snapshots_not_supported(#name)))
    };
    let deserialize_state = if derives_deserialize {
        quote!(<Self as #krate::__private::serde::Deserialize>::deserialize(deserializer))
    } else {
        quote! {{
            let _ = deserializer;
            ::core::result::Result::Err(#krate::__private::cannot_deserialize_state(#name))
        }}
    };
    let derive_order_check =
        (!item.attrs.iter().any(is_derive)).then(|| derive_order_check(&krate, ident));

    let errors = errors.to_compile_errors();
    quote! {
        #errors

        #item

        #debug

        const _: () = {
            impl #krate::__private::AggregateStruct for #ident {
                fn __meta(&self) -> &#krate::domain::AggregateMeta<Self> {
                    &self.#meta_field
                }

                fn __meta_mut(
                    &mut self,
                    _sealed: &#krate::domain::Sealed,
                ) -> &mut #krate::domain::AggregateMeta<Self> {
                    &mut self.#meta_field
                }

                fn __snapshot_state(
                    &self,
                ) -> ::core::result::Result<#krate::__private::StateMap, #krate::domain::DomainError> {
                    #snapshot_state
                }

                fn __deserialize_state<'de, D: #krate::__private::serde::Deserializer<'de>>(
                    deserializer: D,
                ) -> ::core::result::Result<Self, D::Error> {
                    #deserialize_state
                }
            }
        };

        #derive_order_check
    }
}

/// A `#[derive(...)]` written above `#[aggregate]` runs first, on the struct without its
/// metadata field, and `#[aggregate]` never sees it. rustc then reports `missing field
/// `__aggregate`` in the derived `Clone` or `Deserialize`; this check adds the cause and the fix.
/// It only runs when `#[aggregate]` saw no derive at all, and fires when the struct nevertheless
/// implements `Clone` or `Deserialize` (which a hand-written impl for an aggregate struct, having to
/// build the hidden field, hardly ever does).
fn derive_order_check(krate: &TokenStream, ident: &syn::Ident) -> TokenStream {
    let message = format!(
        "#[derive(...)] must come below #[aggregate], not above it: a derive written above runs \
         first, on `{ident}` without the metadata field #[aggregate] adds (hence \"missing field \
         `{META_FIELD}`\"); move #[aggregate] to the top"
    );
    quote! {
        const _: () = {
            #[allow(unused_imports)]
            use #krate::__private::DeriveProbeFallback as _;
            if #krate::__private::DeriveProbe::<#ident>::CLONE
                || #krate::__private::DeriveProbe::<#ident>::DESERIALIZE
            {
                ::core::panic!(#message);
            }
        };
    }
}

/// `#[aggregate]` on anything but a struct or an impl block: the error, the item, and for an
/// enum or a union a stand-in `AggregateStruct` impl, so that its impl block adds no error.
pub(crate) fn aggregate_other(args: TokenStream, item: syn::Item) -> TokenStream {
    let mut errors = Errors::new();
    let args = StructArgs::parse(args, &mut errors);
    let krate = runtime_path(args.krate.as_ref());
    let (keyword, stand_in) = match &item {
        syn::Item::Enum(e) => (
            e.enum_token.to_token_stream(),
            e.generics
                .params
                .is_empty()
                .then(|| stand_in_aggregate_struct(&krate, &e.ident)),
        ),
        syn::Item::Union(u) => (
            u.union_token.to_token_stream(),
            u.generics
                .params
                .is_empty()
                .then(|| stand_in_aggregate_struct(&krate, &u.ident)),
        ),
        syn::Item::Fn(f) => (f.sig.fn_token.to_token_stream(), None),
        syn::Item::Trait(t) => (t.trait_token.to_token_stream(), None),
        other => (other.to_token_stream(), None),
    };
    let message = if matches!(item, syn::Item::Enum(_)) {
        "#[aggregate] goes on a struct with named fields, not an enum: make the enum a field of \
         the aggregate, such as struct Dog { stage: Stage }"
    } else {
        "#[aggregate] goes on a struct with named fields (struct Dog { name: String }) and on \
         that struct's impl block"
    };
    let kind_error = syn::Error::new_spanned(keyword, message).to_compile_error();
    let errors = errors.to_compile_errors();
    quote!(#kind_error #errors #item #stand_in)
}

/// Whether a `#[derive(...)]` on the struct names `name` (`Serialize`, `serde::Serialize`, ...).
fn derives(attrs: &[Attribute], name: &str) -> bool {
    attrs
        .iter()
        .filter(|attr| is_derive(attr))
        .filter_map(|attr| {
            attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
                .ok()
        })
        .flatten()
        .any(|path| path.segments.last().is_some_and(|s| s.ident == name))
}

/// Whether an attribute is `#[derive(...)]` (or `#[core::prelude::v1::derive(...)]`).
fn is_derive(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "derive")
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

/// Refuses fields whose serialised name is one of the snapshot metadata keys: the snapshot
/// state holds the fields and those keys side by side, so such a snapshot could not be
/// restored.
fn check_snapshot_keys(named: &syn::FieldsNamed, errors: &mut Errors) {
    for field in &named.named {
        let Some(ident) = &field.ident else { continue };
        let (name, span) = match serde_rename(&field.attrs) {
            Some(rename) => (rename.value(), rename.span()),
            None => (syn::ext::IdentExt::unraw(ident).to_string(), ident.span()),
        };
        if SNAPSHOT_KEYS.contains(&name.as_str()) {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`{name}` is a key of the aggregate's snapshots, which hold its fields beside \
                     `_created_on`, `_modified_on` and `class_version`: rename this field, or \
                     keep its name and store it under another with #[serde(rename = \"...\")]"
                ),
            ));
        }
    }
}

/// Fields of UUIDs, datetimes and decimals (and `Option`s and `Vec`s of them) serialise
/// through the runtime's `transcoding` module, as the reference's snapshots hold them; a field
/// with serde's `with`, `serialize_with` or `deserialize_with` is left as its author wrote it.
fn transcode_fields(krate: &TokenStream, named: &mut syn::FieldsNamed) {
    let with = format!("{krate}::transcoding").replace(' ', "");
    for field in &mut named.named {
        if !super::transcoded::is_transcoded(&field.ty) || has_serde_with(&field.attrs) {
            continue;
        }
        let with = syn::LitStr::new(&with, field.ty.span());
        field.attrs.push(parse_quote!(#[serde(with = #with)]));
        // Serde's own derive lets an `Option` field be missing; with `with`, only `default`
        // does.
        if super::transcoded::is_option(&field.ty) {
            field.attrs.push(parse_quote!(#[serde(default)]));
        }
    }
}

/// Whether serde attributes on a field say how it serialises.
fn has_serde_with(attrs: &[Attribute]) -> bool {
    let mut found = false;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if ["with", "serialize_with", "deserialize_with"]
                .iter()
                .any(|name| meta.path.is_ident(name))
            {
                found = true;
            }
            skip_value(&meta)
        });
    }
    found
}

/// Reads past the value of a serde option (`= value` or `(...)`), so that the next one is
/// seen: a value is one expression, not the rest of the attribute.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| {
            if inner.input.peek(Token![=]) {
                let _: syn::Expr = inner.value()?.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// The keys of a snapshot's state besides the aggregate's fields (`domain::snapshot`).
const SNAPSHOT_KEYS: &[&str] = &["_created_on", "_modified_on", "class_version"];

/// The name given with `#[serde(rename = "...")]` (or `rename(serialize = "...")`), if any.
fn serde_rename(attrs: &[Attribute]) -> Option<syn::LitStr> {
    let mut found = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                if meta.input.peek(Token![=]) {
                    found = Some(meta.value()?.parse::<syn::LitStr>()?);
                } else {
                    meta.parse_nested_meta(|inner| {
                        let value: syn::LitStr = inner.value()?.parse()?;
                        if inner.path.is_ident("serialize") {
                            found = Some(value);
                        }
                        Ok(())
                    })?;
                }
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        });
    }
    found
}

/// Removes `name` from the struct's `#[derive(...)]` lists; whether it was there.
fn remove_derive(attrs: &mut Vec<Attribute>, name: &str) -> bool {
    let mut removed = false;
    attrs.retain_mut(|attr| {
        if !is_derive(attr) {
            return true;
        }
        let Ok(paths) = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
        else {
            return true;
        };
        let kept: Punctuated<Path, Token![,]> = paths
            .into_iter()
            .filter(|path| {
                let is_it = path.segments.last().is_some_and(|s| s.ident == name);
                removed |= is_it;
                !is_it
            })
            .collect();
        if kept.is_empty() {
            return false;
        }
        let path = attr.path().clone();
        *attr = parse_quote!(#[#path(#kept)]);
        true
    });
    removed
}

/// `Debug` as derived, but for the metadata field: the user's fields, then `aggregate` with the
/// metadata's one-line summary (id, version, number of pending events).
fn debug_impl(ident: &syn::Ident, named: &syn::FieldsNamed) -> TokenStream {
    let name = ident.to_string();
    let fields = named
        .named
        .iter()
        .filter(|field| field.ident.as_ref().is_some_and(|i| i != META_FIELD))
        .map(|field| {
            let cfgs = field.attrs.iter().filter(|a| a.path().is_ident("cfg"));
            let field_ident = &field.ident;
            let label = field_ident
                .as_ref()
                .map(|i| syn::ext::IdentExt::unraw(i).to_string());
            quote!(#(#cfgs)* debug.field(#label, &self.#field_ident);)
        });
    let meta_field = syn::Ident::new(META_FIELD, ident.span());
    quote! {
        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let mut debug = f.debug_struct(#name);
                #(#fields)*
                debug.field("aggregate", &self.#meta_field);
                debug.finish()
            }
        }
    }
}
