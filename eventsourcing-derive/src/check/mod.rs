//! Validation: turns the input model into the model the expansion needs, or reports every
//! problem at once, each at its span, naming the problem and the fix.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    ExprStruct, Ident, ImplItem, ImplItemFn, ItemImpl, LitInt, LitStr, Member, Path, PathArguments,
    Type,
};

use crate::ast::{AggregateImpl, Kind};
use crate::Errors;

mod create_id;
mod method;

use create_id::check_create_id;
use method::check_method;

/// The name of the field `#[aggregate]` adds to the struct. Constructor bodies never write it:
/// the impl macro adds it to their struct expressions.
pub(crate) const META_FIELD: &str = "__aggregate";

/// Argument names that would collide with the event's metadata in its stored state.
pub(super) const RESERVED: &[&str] = &[
    "timestamp",
    "originator_id",
    "originator_version",
    "originator_topic",
    "class_version",
];

/// One stored field of an event: a method argument.
pub(crate) struct Field {
    /// The argument's binding (`trick`, or `r#type`).
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
}

/// A validated `#[created]` or `#[event]` method.
pub(crate) struct Event {
    pub(crate) kind: Kind,
    /// The event's name, which is also its variant in the event enum.
    pub(crate) variant: Ident,
    pub(crate) method: ImplItemFn,
    /// The stored fields: every argument except a created event's `id`.
    pub(crate) fields: Vec<Field>,
    /// A `#[created]` constructor's `id` argument, which becomes the aggregate's id.
    pub(crate) id_param: Option<Field>,
    pub(crate) version: u32,
    pub(crate) upcast: Vec<Path>,
    pub(crate) topic: Option<LitStr>,
    pub(crate) aliases: Vec<LitStr>,
    /// Position of the method in the impl block.
    pub(crate) slot: usize,
}

/// The aggregate's `create_id` function: how to call it with the constructor's arguments.
pub(crate) struct CreateId {
    /// Each parameter: the constructor argument it takes, and whether it takes it by reference.
    pub(crate) args: Vec<(Ident, bool)>,
    /// Its return type, or its name if it has none, for errors about the id's type.
    pub(crate) output_span: Span,
}

/// A validated `#[aggregate]` impl block.
pub(crate) struct Model {
    pub(crate) struct_ident: Ident,
    pub(crate) created: Event,
    pub(crate) events: Vec<Event>,
    pub(crate) create_id: Option<CreateId>,
    pub(crate) initial_version: Option<LitInt>,
    pub(crate) version: u32,
    pub(crate) upcast: Vec<Path>,
    pub(crate) module: Option<LitStr>,
    /// `discardable = true`: the `Discarded` event discards the aggregate.
    pub(crate) discardable: bool,
}

/// The struct an impl block is for, if it is an inherent impl of a plain (non-generic) type.
pub(crate) fn struct_ident(input: &AggregateImpl, errors: &mut Errors) -> Option<Ident> {
    let item = &input.item;
    if let Some((_, path, _)) = &item.trait_ {
        errors.push(syn::Error::new_spanned(
            path,
            "#[aggregate] goes on the struct's own impl block (impl Dog { ... }), not on a trait impl",
        ));
        return None;
    }
    let generic = "an #[aggregate] can't be generic: its events are stored and decoded with \
                   fixed types; replace the type parameters with concrete types";
    let mut generic_reported = false;
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(&item.generics, generic));
        generic_reported = true;
    }
    match &*item.self_ty {
        Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            let segment = &p.path.segments[0];
            if !matches!(segment.arguments, PathArguments::None) && !generic_reported {
                errors.push(syn::Error::new_spanned(&segment.arguments, generic));
            }
            Some(segment.ident.clone())
        }
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                "#[aggregate] impl blocks must be for a struct named directly: impl Dog { ... }",
            ));
            None
        }
    }
}

/// The struct an impl block is for when it names one plainly (`impl Dog`, `impl Trait for Dog`),
/// even if the block is otherwise invalid: the fallback expansion's stand-in impls are for it.
pub(crate) fn fallback_struct_ident(item: &ItemImpl) -> Option<Ident> {
    match &*item.self_ty {
        Type::Path(p)
            if p.qself.is_none()
                && p.path.segments.len() == 1
                && p.path.segments[0].arguments.is_none() =>
        {
            Some(p.path.segments[0].ident.clone())
        }
        _ => None,
    }
}

/// Whether a struct expression builds the aggregate from its fields (`Self { .. }` or
/// `Dog { .. }`, with no `..base` and without the metadata field): the expressions the impl
/// macro completes with the metadata field.
pub(crate) fn builds_aggregate(expr: &ExprStruct, struct_ident: &Ident) -> bool {
    expr.qself.is_none()
        && (expr.path.is_ident("Self") || expr.path.is_ident(struct_ident))
        && expr.rest.is_none()
        && !expr
            .fields
            .iter()
            .any(|field| matches!(&field.member, Member::Named(name) if name == META_FIELD))
}

/// The struct expressions of a function body that build the aggregate.
fn aggregate_exprs(method: &ImplItemFn, struct_ident: &Ident) -> Vec<syn::Path> {
    struct Finder<'a> {
        struct_ident: &'a Ident,
        found: Vec<syn::Path>,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_expr_struct(&mut self, expr: &'ast ExprStruct) {
            syn::visit::visit_expr_struct(self, expr);
            if builds_aggregate(expr, self.struct_ident) {
                self.found.push(expr.path.clone());
            }
        }
    }
    let mut finder = Finder {
        struct_ident,
        found: Vec::new(),
    };
    finder.visit_block(&method.block);
    finder.found
}

pub(crate) fn check(input: &AggregateImpl, errors: &mut Errors) -> Option<Model> {
    let errors_before = errors.len();
    let struct_ident = struct_ident(input, errors)?;

    let mut created: Option<Event> = None;
    let mut events: Vec<Event> = Vec::new();
    for (event_method, &slot) in input.methods.iter().zip(&input.slots) {
        let Some(event) = check_method(event_method, &struct_ident, slot, errors) else {
            continue;
        };
        let all = created.iter().chain(&events);
        if let Some(other) = all.clone().find(|e| e.variant == event.variant) {
            // Point at the name where it is written, or at the method it is inferred from.
            let message = format!(
                "the event name `{}` is already used by `{}`: each event of an aggregate needs its \
                 own name, which is stored with the event; name this one differently, such as \
                 #[event(\"...\")]",
                event.variant, other.method.sig.ident
            );
            errors.push(match &event_method.args.name {
                Some(name) => syn::Error::new_spanned(name, message),
                None if event.kind == Kind::Created => {
                    syn::Error::new_spanned(&event_method.attr, message)
                }
                None => syn::Error::new_spanned(&event_method.method.sig.ident, message),
            });
            continue;
        }
        match event.kind {
            Kind::Created => {
                if let Some(first) = &created {
                    errors.push(syn::Error::new_spanned(
                        &event_method.attr,
                        format!(
                            "an #[aggregate] has one #[created] constructor, and `{}` is already it: \
                             remove #[created] here, or make this a plain function that calls `{}`",
                            first.method.sig.ident, first.method.sig.ident
                        ),
                    ));
                } else {
                    created = Some(event);
                }
            }
            Kind::Event => events.push(event),
        }
    }

    // Outside the #[created] constructor, a struct expression would build an aggregate without
    // metadata (no id, version 0, no events): an error, naming the constructor to call instead.
    // Every method marked #[created] may build one, even one rejected above.
    let created_slots: Vec<usize> = input
        .methods
        .iter()
        .zip(&input.slots)
        .filter(|(m, _)| m.kind == Kind::Created)
        .map(|(_, &slot)| slot)
        .collect();
    let mut builders = Vec::new();
    for (slot, item) in input.item.items.iter().enumerate() {
        let ImplItem::Fn(method) = item else { continue };
        if created_slots.contains(&slot) {
            continue;
        }
        if let Some(path) = aggregate_exprs(method, &struct_ident).into_iter().next() {
            builders.push((slot, method, path));
        }
    }

    match &created {
        Some(created) => {
            for (_, method, path) in &builders {
                let constructor = &created.method.sig.ident;
                errors.push(syn::Error::new_spanned(
                    path,
                    format!(
                        "only the #[created] constructor builds a `{struct_ident}` from its fields: \
                         here, in `{}`, it would have no id, version or events; call \
                         `Self::{constructor}(...)` instead, or change fields one by one \
                         (self.name = ...)",
                        method.sig.ident
                    ),
                ));
            }
        }
        None if errors.len() == errors_before => {
            let in_one_block = "(an aggregate's #[created] and #[event] methods all go in one \
                                #[aggregate] impl block)";
            // Suggest a function that builds one (no `self`, not an #[event]).
            let candidate = builders.iter().find(|(slot, method, _)| {
                method.sig.receiver().is_none() && !input.slots.contains(slot)
            });
            errors.push(match candidate {
                Some((_, method, _)) => syn::Error::new(
                    method.sig.ident.span(),
                    format!(
                        "this #[aggregate] impl has no #[created] constructor: mark `{}`, which \
                         builds a new `{struct_ident}`, with #[created] {in_one_block}",
                        method.sig.ident
                    ),
                ),
                None => syn::Error::new(
                    input.item.self_ty.span(),
                    format!(
                        "this #[aggregate] impl has no #[created] constructor: mark the function \
                         that builds a new `{struct_ident}` with #[created], such as \
                         #[created] pub fn create(...) -> Self {in_one_block}"
                    ),
                ),
            });
        }
        None => {}
    }

    let create_id = created
        .as_ref()
        .and_then(|created| check_create_id(input, created, errors));

    let (version, upcast) = check_versions(
        input.args.version.as_ref(),
        input.args.upcast.as_ref(),
        input.item.self_ty.span(),
        "the aggregate",
        errors,
    );
    if let Some(initial) = &input.args.initial_version {
        if let Err(e) = initial.base10_parse::<u64>() {
            errors.push(e);
        }
    }

    if errors.len() > errors_before {
        return None;
    }
    Some(Model {
        struct_ident,
        created: created?,
        events,
        create_id,
        initial_version: input.args.initial_version.clone(),
        version,
        upcast,
        module: input.args.module.clone(),
        discardable: input.args.discardable.as_ref().is_some_and(|d| d.value),
    })
}

/// The class version and upcast functions of an event or aggregate: `version = N` needs
/// exactly N - 1 upcast functions.
pub(super) fn check_versions(
    version: Option<&LitInt>,
    upcast: Option<&Vec<Path>>,
    span: Span,
    what: &str,
    errors: &mut Errors,
) -> (u32, Vec<Path>) {
    let upcast = upcast.cloned().unwrap_or_default();
    let Some(lit) = version else {
        if let Some(first) = upcast.first() {
            errors.push(syn::Error::new_spanned(
                first,
                format!(
                    "upcast functions need a version: add `version = {}` to {what}",
                    upcast.len() + 1
                ),
            ));
        }
        return (1, upcast);
    };
    let version = match lit.base10_parse::<u32>() {
        Ok(0) | Err(_) => {
            errors.push(syn::Error::new(
                lit.span(),
                "versions start at 1, the default: leave `version` out for the original \
                 version, and write `version = 2` for the first change",
            ));
            return (1, upcast);
        }
        Ok(v) => v,
    };
    if upcast.len() != version as usize - 1 {
        let names: Vec<String> = (1..version).map(|v| format!("v{v}→v{}", v + 1)).collect();
        let message = format!(
            "{what} is at version {version}, so it needs {} upcast function{} ({}), but {} {} \
             given: list them in order with upcast = [...], each a \
             fn(&mut serde_json::Map<String, serde_json::Value>) that changes old stored state \
             into the next version's",
            version - 1,
            if version == 2 { "" } else { "s" },
            names.join(", "),
            upcast.len(),
            if upcast.len() == 1 { "is" } else { "are" },
        );
        errors.push(match upcast.first() {
            Some(first) => syn::Error::new_spanned(first, message),
            None => syn::Error::new(span.join(lit.span()).unwrap_or(lit.span()), message),
        });
    }
    (version, upcast)
}
