//! `#[aggregate]` on an impl block: each `#[created]`/`#[event]` method becomes a public method
//! that builds its event and records it through `Aggregate::construct`/`apply` (what
//! `Aggregate::create_aggregate` and `trigger_event` do, with the body's own error type), and a
//! hidden `__{method}_body` that `construct`/`apply` run; then the event enum and the
//! `Aggregate` impl.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    parse_quote, Block, ExprStruct, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, Path,
    ReturnType,
};

use super::event_enum::{self, Topics};
use super::{fallback_impl, respan, runtime_path};
use crate::ast::{AggregateImpl, Kind};
use crate::attr::ImplArgs;
use crate::check::{self, Event, Model, META_FIELD};
use crate::Errors;

pub(crate) fn aggregate_impl(args: TokenStream, item: ItemImpl) -> TokenStream {
    let mut errors = Errors::new();
    let args = ImplArgs::parse(args, &mut errors);
    let krate = runtime_path(args.krate.as_ref());
    let input = AggregateImpl::from_item(item, args, &mut errors);
    let model = check::check(&input, &mut errors);
    match model {
        Some(model) if errors.is_empty() => expand(&krate, &input, &model),
        _ => fallback(&krate, &input, &mut errors),
    }
}

/// The impl block without our attributes after the errors, and a stand-in `Aggregate` impl for
/// its struct, so that the struct's expansion and the user's calls still compile. Struct
/// expressions of the aggregate get their metadata field wherever they are (outside the
/// `#[created]` constructor they are an error already reported), so that no "missing field"
/// error follows.
fn fallback(krate: &TokenStream, input: &AggregateImpl, errors: &mut Errors) -> TokenStream {
    let mut item = input.item.clone();
    let struct_ident = check::fallback_struct_ident(&input.item);
    if let Some(struct_ident) = &struct_ident {
        for impl_item in &mut item.items {
            if let ImplItem::Fn(f) = impl_item {
                complete_struct_exprs(krate, struct_ident, &mut f.block);
            }
        }
    }
    fallback_impl(
        krate,
        errors.to_compile_errors(),
        &item,
        struct_ident.as_ref(),
    )
}

fn expand(krate: &TokenStream, input: &AggregateImpl, model: &Model) -> TokenStream {
    let struct_ident = &model.struct_ident;
    let enum_ident = format_ident!("{}Event", struct_ident);
    let topics = Topics::new(model);

    // The impl block, with each event method split in two.
    let mut item = input.item.clone();
    let mut replacements: Vec<(usize, Vec<ImplItem>)> = Vec::new();
    for event in std::iter::once(&model.created).chain(&model.events) {
        let methods = match event.kind {
            Kind::Created => created_methods(krate, model, event, &enum_ident),
            Kind::Event => event_methods(krate, event, &enum_ident),
        };
        replacements.push((event.slot, methods));
    }
    replacements.sort_by_key(|(slot, _)| std::cmp::Reverse(*slot));
    for (slot, methods) in replacements {
        item.items.splice(slot..=slot, methods);
    }

    let event_enum = event_enum::expand(krate, model, &enum_ident, &topics);
    let aggregate_impl = aggregate_trait_impl(krate, model, &enum_ident, &topics);

    // The `Aggregate` impl comes first: if the struct is not #[aggregate], that is the first
    // error, before the ones it causes in the constructor.
    quote! {
        const _: () = {
            #aggregate_impl
        };

        #item

        #event_enum
    }
}

/// Where errors about a method's return type point: the type, or the name if it has none.
fn return_span(method: &ImplItemFn) -> Span {
    match &method.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => method.sig.ident.span(),
    }
}

/// The hidden method that holds a `#[created]`/`#[event]` method's original body.
fn body_ident(event: &Event) -> Ident {
    format_ident!("__{}_body", event.method.sig.ident)
}

/// The method's arguments as the public signature declares them: `mut` bindings are only
/// needed by the body, which keeps them.
fn public_signature(method: &ImplItemFn) -> syn::Signature {
    let mut sig = method.sig.clone();
    for arg in &mut sig.inputs {
        if let FnArg::Typed(typed) = arg {
            if let Pat::Ident(p) = &mut *typed.pat {
                p.mutability = None;
            }
        }
    }
    sig
}

/// The argument names, in order, as the body method takes them.
fn argument_idents(method: &ImplItemFn) -> Vec<Ident> {
    method
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(p) => Some(p.ident.clone()),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// The event payload built from the method's arguments, which it takes: the body gets them
/// back from the event, through `apply`.
fn payload(event: &Event, enum_ident: &Ident) -> TokenStream {
    let variant = &event.variant;
    let fields = event.fields.iter().map(|field| &field.ident);
    quote!(#enum_ident::#variant { #(#fields),* })
}

/// Whether an event method's body can fail (it returns something, which can only be a
/// `Result`), so that `apply` must restore the aggregate when it does.
fn can_fail(method: &ImplItemFn) -> bool {
    match &method.sig.output {
        ReturnType::Default => false,
        ReturnType::Type(_, ty) => !matches!(&**ty, syn::Type::Tuple(t) if t.elems.is_empty()),
    }
}

/// The hidden body method: the user's method under another name, unchanged.
fn body_method(event: &Event, block: Block) -> ImplItem {
    let mut method = event.method.clone();
    method.sig.ident = body_ident(event);
    method.vis = syn::Visibility::Inherited;
    let mut attrs: Vec<syn::Attribute> = vec![parse_quote!(#[doc(hidden)])];
    attrs.extend(
        method
            .attrs
            .iter()
            .filter(|a| !a.path().is_ident("doc"))
            .cloned(),
    );
    if !attrs.iter().any(|a| a.path().is_ident("inline")) {
        attrs.push(parse_quote!(#[inline]));
    }
    method.attrs = attrs;
    method.block = block;
    ImplItem::Fn(method)
}

fn created_methods(
    krate: &TokenStream,
    model: &Model,
    event: &Event,
    enum_ident: &Ident,
) -> Vec<ImplItem> {
    let method = &event.method;
    let attrs = &method.attrs;
    let vis = &method.vis;
    let sig = public_signature(method);
    let payload = payload(event, enum_ident);

    // The id goes through `AggregateId`, whose message says it must be a Uuid, at the type
    // that is wrong.
    let id = if let Some(id) = &event.id_param {
        let ident = &id.ident;
        let krate = respan(krate, id.ty.span());
        quote_spanned!(id.ty.span()=> #krate::__private::AggregateId::into_uuid(#ident))
    } else if let Some(create_id) = &model.create_id {
        let args = create_id.args.iter().map(|(ident, by_ref)| {
            if *by_ref {
                quote!(&#ident)
            } else {
                quote!(::core::clone::Clone::clone(&#ident))
            }
        });
        let krate = respan(krate, create_id.output_span);
        quote_spanned! {create_id.output_span=>
            #krate::__private::AggregateId::into_uuid(Self::create_id(#(#args),*))
        }
    } else {
        quote!(#krate::__private::new_id())
    };

    // A wrong return type is reported at the return type.
    let span = return_span(method);
    let krate_at = respan(krate, span);
    let create = quote_spanned! {span=>
        #krate_at::__private::create::<Self, _>(__originator_id, #payload)
    };
    let public: ImplItemFn = parse_quote! {
        #(#attrs)*
        #vis #sig {
            let __originator_id = #id;
            #create
        }
    };
    let mut block = method.block.clone();
    complete_struct_exprs(krate, &model.struct_ident, &mut block);
    let mut body = body_method(event, block);
    if let (Some(id), ImplItem::Fn(body)) = (&event.id_param, &mut body) {
        allow_unused_id(body, &id.ident);
    }
    vec![ImplItem::Fn(public), body]
}

/// The `id` argument of a constructor is always used, as the aggregate's id, even when the body
/// ignores it (the aggregate has `id()`): don't let the body's copy warn as unused.
fn allow_unused_id(body: &mut ImplItemFn, id: &Ident) {
    for arg in &mut body.sig.inputs {
        if let FnArg::Typed(typed) = arg {
            if matches!(&*typed.pat, Pat::Ident(p) if p.ident == *id) {
                typed.attrs.push(parse_quote!(#[allow(unused_variables)]));
            }
        }
    }
}

fn event_methods(krate: &TokenStream, event: &Event, enum_ident: &Ident) -> Vec<ImplItem> {
    let method = &event.method;
    let attrs = &method.attrs;
    let vis = &method.vis;
    let sig = public_signature(method);
    let payload = payload(event, enum_ident);

    let span = return_span(method);
    let krate = respan(krate, span);
    let trigger = quote_spanned! {span=>
        #krate::__private::trigger(self, #payload)
    };
    let public: ImplItemFn = parse_quote! {
        #(#attrs)*
        #vis #sig {
            #trigger
        }
    };
    vec![
        ImplItem::Fn(public),
        body_method(event, method.block.clone()),
    ]
}

/// Adds the hidden metadata field to every `Self { .. }` / `Dog { .. }` expression of a
/// constructor body, so that users build their state with an ordinary struct expression.
fn complete_struct_exprs(krate: &TokenStream, struct_ident: &Ident, block: &mut Block) {
    struct Completer<'a> {
        krate: &'a TokenStream,
        struct_ident: &'a Ident,
    }
    impl VisitMut for Completer<'_> {
        fn visit_expr_struct_mut(&mut self, expr: &mut ExprStruct) {
            syn::visit_mut::visit_expr_struct_mut(self, expr);
            if check::builds_aggregate(expr, self.struct_ident) {
                let field = Ident::new(META_FIELD, expr.path.span());
                let krate = self.krate;
                if !expr.fields.empty_or_trailing() {
                    expr.fields.push_punct(Default::default());
                }
                expr.fields.push(parse_quote!(
                    #field: #krate::__private::constructing_meta::<Self>()
                ));
            }
        }

        // Closures and nested items may build other values; struct expressions inside them
        // that name the aggregate still need the field, so keep visiting.
    }
    Completer {
        krate,
        struct_ident,
    }
    .visit_block_mut(block);
}

/// Upcast paths written as `Self::f` refer to the aggregate, also where `Self` is the enum.
pub(super) fn upcaster_paths(model: &Model, paths: &[Path]) -> Vec<Path> {
    paths
        .iter()
        .map(|path| {
            let mut path = path.clone();
            if let Some(first) = path.segments.first_mut() {
                if first.ident == "Self" {
                    // Keep the span of `Self`, so that errors point at the path as written.
                    first.ident = Ident::new(&model.struct_ident.to_string(), first.ident.span());
                }
            }
            path
        })
        .collect()
}

fn aggregate_trait_impl(
    krate: &TokenStream,
    model: &Model,
    enum_ident: &Ident,
    topics: &Topics,
) -> TokenStream {
    let struct_ident = &model.struct_ident;
    let name = struct_ident.to_string();
    let topic = &topics.aggregate;

    let initial_version = model
        .initial_version
        .as_ref()
        .map(|v| quote!(const INITIAL_VERSION: u64 = #v;));
    let class_version = (model.version > 1).then(|| {
        let version = model.version;
        let upcasters = upcaster_paths(model, &model.upcast);
        quote! {
            const CLASS_VERSION: u32 = #version;
            const UPCASTERS: &'static [#krate::domain::Upcaster] = &[#(#upcasters),*];
        }
    });

    // Building from the created event runs the constructor body.
    let created = &model.created;
    let created_variant = &created.variant;
    let created_name = created_variant.to_string();
    let created_fields = created.fields.iter().map(|f| &f.ident);
    let created_body = body_ident(created);
    let created_args =
        argument_idents(&created.method)
            .into_iter()
            .map(|arg| match &created.id_param {
                Some(id) if id.ident == arg => {
                    let krate = respan(krate, id.ty.span());
                    quote_spanned! {id.ty.span()=>
                        #krate::__private::AggregateId::from_uuid(__originator_id)
                    }
                }
                _ => quote!(#arg),
            });
    let span = return_span(&created.method);
    let (krate_at, body_at) = (
        respan(krate, span),
        respan(&created_body.to_token_stream(), span),
    );
    let constructed = quote_spanned! {span=>
        #krate_at::__private::constructed::<Self, _>(
            __sealed,
            #created_name,
            Self::#body_at(#(#created_args),*),
        )
    };

    // Applying a subsequent event runs its method's body; a body that can fail runs on an
    // aggregate that is restored if it does.
    let apply_arms = model.events.iter().map(|event| {
        let variant = &event.variant;
        let name = variant.to_string();
        let fields = event.fields.iter().map(|f| &f.ident);
        let body = body_ident(event);
        let args = argument_idents(&event.method);
        let span = return_span(&event.method);
        let (krate, body) = (respan(krate, span), respan(&body.to_token_stream(), span));
        let applied = if can_fail(&event.method) {
            quote_spanned! {span=>
                #krate::__private::applied_restoring(
                    self,
                    __sealed,
                    #name,
                    move |__aggregate: &mut Self| __aggregate.#body(#(#args),*),
                )
            }
        } else {
            quote_spanned! {span=>
                #krate::__private::applied::<Self, _>(__sealed, #name, self.#body(#(#args),*))
            }
        };
        quote! {
            #enum_ident::#variant { #(#fields),* } => #applied,
        }
    });

    quote! {
        impl #krate::domain::Aggregate for #struct_ident {
            type Event = #enum_ident;

            const NAME: &'static str = #name;
            const TOPIC: &'static str = #topic;
            #initial_version
            #class_version

            fn meta(&self) -> &#krate::domain::AggregateMeta<Self> {
                #krate::__private::AggregateStruct::__meta(self)
            }

            fn meta_mut(
                &mut self,
                sealed: &#krate::domain::Sealed,
            ) -> &mut #krate::domain::AggregateMeta<Self> {
                #krate::__private::AggregateStruct::__meta_mut(self, sealed)
            }

            #[allow(unreachable_patterns, unused_variables)]
            fn construct(
                __originator_id: #krate::__private::uuid::Uuid,
                event: #enum_ident,
                __sealed: &mut #krate::domain::Sealed,
            ) -> ::core::result::Result<Self, #krate::domain::ApplyError> {
                match event {
                    #enum_ident::#created_variant { #(#created_fields),* } => #constructed,
                    other => ::core::result::Result::Err(
                        #krate::domain::ApplyError::not_created::<Self>(&other),
                    ),
                }
            }

            fn apply(
                &mut self,
                event: #enum_ident,
                __sealed: &mut #krate::domain::Sealed,
            ) -> ::core::result::Result<(), #krate::domain::ApplyError> {
                match event {
                    __created @ #enum_ident::#created_variant { .. } => ::core::result::Result::Err(
                        #krate::domain::ApplyError::created_on_existing::<Self>(&__created),
                    ),
                    #(#apply_arms)*
                }
            }

            fn snapshot_state(
                &self,
            ) -> ::core::result::Result<#krate::__private::StateMap, #krate::domain::DomainError> {
                #krate::__private::AggregateStruct::__snapshot_state(self)
            }

            fn deserialize_state<'de, D: #krate::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                <Self as #krate::__private::AggregateStruct>::__deserialize_state(deserializer)
            }
        }
    }
}
