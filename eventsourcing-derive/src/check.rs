//! Validation: turns the input model into the model the expansion needs, or reports every
//! problem at once, each at its span, naming the problem and the fix.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, LitInt, LitStr, Pat, Path, PathArguments,
    ReturnType, Type,
};

use crate::ast::{AggregateImpl, EventMethod, Kind};
use crate::case::event_name_from_method;
use crate::Errors;

/// Argument names that would collide with the event's metadata in its stored state.
const RESERVED: &[&str] = &[
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
    pub(crate) id_param: Option<Ident>,
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
}

/// The struct an impl block is for, if it is an inherent impl of a plain (non-generic) type.
pub(crate) fn struct_ident(input: &AggregateImpl, errors: &mut Errors) -> Option<Ident> {
    let item = &input.item;
    if let Some((_, path, _)) = &item.trait_ {
        errors.push(syn::Error::new(
            path.span(),
            "#[aggregate] goes on the struct's own impl block (impl Dog { ... }), not on a trait impl",
        ));
        return None;
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.push(syn::Error::new(
            item.generics.span(),
            "an #[aggregate] can't be generic: its events are stored with fixed types",
        ));
    }
    match &*item.self_ty {
        Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            let segment = &p.path.segments[0];
            if !matches!(segment.arguments, PathArguments::None) {
                errors.push(syn::Error::new(
                    segment.arguments.span(),
                    "an #[aggregate] can't be generic: its events are stored with fixed types",
                ));
            }
            Some(segment.ident.clone())
        }
        other => {
            errors.push(syn::Error::new(
                other.span(),
                "#[aggregate] impl blocks must be for a struct named directly: impl Dog { ... }",
            ));
            None
        }
    }
}

pub(crate) fn check(input: &AggregateImpl, errors: &mut Errors) -> Option<Model> {
    let errors_before = errors.len();
    let struct_ident = struct_ident(input, errors)?;

    let mut created: Option<Event> = None;
    let mut events: Vec<Event> = Vec::new();
    for (event_method, &slot) in input.methods.iter().zip(&input.slots) {
        let Some(event) = check_method(event_method, slot, errors) else {
            continue;
        };
        let all = created.iter().chain(&events);
        if let Some(other) = all.clone().find(|e| e.variant == event.variant) {
            errors.push(syn::Error::new(
                event_method.attr_span,
                format!(
                    "the event name `{}` is already used by `{}`: give this event another name, such as #[event(\"{}Again\")]",
                    event.variant, other.method.sig.ident, event.variant
                ),
            ));
            continue;
        }
        match event.kind {
            Kind::Created => {
                if let Some(first) = &created {
                    errors.push(syn::Error::new(
                        event_method.attr_span,
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

    if created.is_none() && errors.len() == errors_before {
        errors.push(syn::Error::new(
            input.item.self_ty.span(),
            format!(
                "this #[aggregate] impl has no #[created] constructor: mark the function that \
                 builds a new `{struct_ident}` with #[created], such as \
                 #[created] pub fn create(...) -> Self"
            ),
        ));
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
    })
}

/// The class version and upcast functions of an event or aggregate: `version = N` needs
/// exactly N - 1 upcast functions.
fn check_versions(
    version: Option<&LitInt>,
    upcast: Option<&Vec<Path>>,
    span: Span,
    what: &str,
    errors: &mut Errors,
) -> (u32, Vec<Path>) {
    let upcast = upcast.cloned().unwrap_or_default();
    let Some(lit) = version else {
        if let Some(first) = upcast.first() {
            errors.push(syn::Error::new(
                first.span(),
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
                "versions start at 1: `version = 2` is the first version after the original",
            ));
            return (1, upcast);
        }
        Ok(v) => v,
    };
    if upcast.len() != version as usize - 1 {
        let names: Vec<String> = (1..version).map(|v| format!("v{v}→v{}", v + 1)).collect();
        errors.push(syn::Error::new(
            if upcast.is_empty() { span.join(lit.span()).unwrap_or(lit.span()) } else { upcast[0].span() },
            format!(
                "{what} is at version {version}, so it needs {} upcast function{} ({}), but {} {} given: \
                 list them in order with upcast = [...]",
                version - 1,
                if version == 2 { "" } else { "s" },
                names.join(", "),
                upcast.len(),
                if upcast.len() == 1 { "is" } else { "are" },
            ),
        ));
    }
    (version, upcast)
}

fn check_method(input: &EventMethod, slot: usize, errors: &mut Errors) -> Option<Event> {
    let errors_before = errors.len();
    let method = &input.method;
    let sig = &method.sig;
    let what = input.kind.attr_name();

    if let Some(token) = &sig.asyncness {
        errors.push(syn::Error::new(
            token.span(),
            format!("{what} methods can't be async: an event is applied again, synchronously, every time the aggregate is rebuilt; do the async work before calling the method"),
        ));
    }
    if let Some(token) = &sig.constness {
        errors.push(syn::Error::new(
            token.span(),
            format!("{what} methods can't be const fn"),
        ));
    }
    if let Some(token) = &sig.unsafety {
        errors.push(syn::Error::new(
            token.span(),
            format!("{what} methods can't be unsafe"),
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new(
            abi.span(),
            format!("{what} methods can't have an extern ABI"),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new(
            variadic.span(),
            format!("{what} methods can't be variadic"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new(
            sig.generics.span(),
            format!("{what} methods can't be generic: each argument is a stored field of the event, so it needs one concrete type"),
        ));
    }

    // Receiver.
    let receiver = sig.receiver();
    match (input.kind, receiver) {
        (Kind::Created, Some(receiver)) => errors.push(syn::Error::new(
            receiver.span(),
            "a #[created] constructor builds a new aggregate, so it takes no `self`: remove the receiver and return `Self`",
        )),
        (Kind::Event, None) => errors.push(syn::Error::new(
            sig.ident.span(),
            format!("#[event] method `{}` must take `&mut self`: it changes the aggregate it is called on", sig.ident),
        )),
        (Kind::Event, Some(receiver)) if !is_mut_self_ref(&receiver.ty) => errors.push(syn::Error::new(
            receiver.span(),
            "#[event] methods must take `&mut self`: they change the aggregate in place",
        )),
        _ => {}
    }

    // Arguments become stored fields.
    let mut fields = Vec::new();
    let mut id_param = None;
    for arg in &sig.inputs {
        let FnArg::Typed(typed) = arg else { continue };
        let ident = match &*typed.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            other => {
                errors.push(syn::Error::new(
                    other.span(),
                    format!("{what} arguments must be plain names (such as `name: String`): each one is stored as a field of the event"),
                ));
                continue;
            }
        };
        check_stored_type(&typed.ty, errors);
        let key = syn::ext::IdentExt::unraw(&ident).to_string();
        if input.kind == Kind::Created && key == "id" {
            id_param = Some(ident);
            continue;
        }
        if RESERVED.contains(&key.as_str()) {
            errors.push(syn::Error::new(
                ident.span(),
                format!("the argument name `{key}` is reserved for the event's metadata: rename the argument"),
            ));
        }
        fields.push(Field {
            ident,
            ty: (*typed.ty).clone(),
        });
    }

    check_return(input.kind, &sig.output, sig.ident.span(), errors);

    // The event's name.
    let variant = match (&input.args.name, input.kind) {
        (Some(name), _) => parse_event_name(name, errors),
        (None, Kind::Created) => Some(Ident::new("Created", input.attr_span)),
        (None, Kind::Event) => {
            let method_name = syn::ext::IdentExt::unraw(&sig.ident).to_string();
            let inferred = event_name_from_method(&method_name);
            match syn::parse_str::<Ident>(&inferred) {
                Ok(ident) if !inferred.is_empty() => {
                    Some(Ident::new(&ident.to_string(), sig.ident.span()))
                }
                _ => {
                    errors.push(syn::Error::new(
                        input.attr_span,
                        format!("can't infer an event name from `{method_name}`: name the event, such as #[event(\"NameUpdated\")]"),
                    ));
                    None
                }
            }
        }
    };

    let (version, upcast) = check_versions(
        input.args.version.as_ref(),
        input.args.upcast.as_ref(),
        input.attr_span,
        "this event",
        errors,
    );

    if errors.len() > errors_before {
        return None;
    }
    Some(Event {
        kind: input.kind,
        variant: variant?,
        method: method.clone(),
        fields,
        id_param,
        version,
        upcast,
        topic: input.args.topic.clone(),
        aliases: input.args.aliases.clone(),
        slot,
    })
}

fn parse_event_name(name: &LitStr, errors: &mut Errors) -> Option<Ident> {
    let value = name.value();
    match syn::parse_str::<Ident>(&value) {
        Ok(ident) if !value.starts_with("r#") => Some(Ident::new(&ident.to_string(), name.span())),
        _ => {
            errors.push(syn::Error::new(
                name.span(),
                format!(
                    "{value:?} is not a valid event name: the name becomes a variant of the event enum, \
                     so it must be an identifier, such as \"NameUpdated\""
                ),
            ));
            None
        }
    }
}

fn is_mut_self_ref(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => {
            r.mutability.is_some()
                && matches!(&*r.elem, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
        }
        _ => false,
    }
}

/// `#[event]` methods return `()` or `Result<(), E>`; `#[created]` constructors return `Self`
/// (or the struct's name) or `Result<Self, E>`. Aliases of `Result` are accepted by name; the
/// exact shape is checked by the type system in the expansion.
fn check_return(kind: Kind, output: &ReturnType, fallback: Span, errors: &mut Errors) {
    let ok = match (kind, output) {
        (Kind::Event, ReturnType::Default) => true,
        (Kind::Event, ReturnType::Type(_, ty)) => {
            matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()) || is_result(ty)
        }
        (Kind::Created, ReturnType::Default) => false,
        (Kind::Created, ReturnType::Type(_, ty)) => {
            is_result(ty)
                || matches!(&**ty, Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 && p.path.segments[0].arguments.is_none())
        }
    };
    if ok {
        return;
    }
    let span = match output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => fallback,
    };
    let message = match kind {
        Kind::Event => "an #[event] method must return `()` or `Result<(), E>`: the event records that something happened, and its body runs again on every replay, where a returned value would be lost; return Err to refuse the change",
        Kind::Created => "a #[created] constructor must return `Self` or `Result<Self, E>`: it builds the new aggregate",
    };
    errors.push(syn::Error::new(span, message));
}

fn is_result(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Result"))
}

/// Event fields are stored and replayed, so they must own their data.
fn check_stored_type(ty: &Type, errors: &mut Errors) {
    match ty {
        Type::Reference(r) => errors.push(syn::Error::new(
            r.span(),
            "event arguments are stored in the event, so they must own their data: take an owned type (such as String instead of &str, Vec<T> instead of &[T])",
        )),
        Type::ImplTrait(t) => errors.push(syn::Error::new(
            t.span(),
            "event arguments can't be `impl Trait`: each argument is a stored field of the event, so it needs one concrete type",
        )),
        Type::TraitObject(t) => errors.push(syn::Error::new(
            t.span(),
            "event arguments can't be trait objects: each argument is a stored field of the event, so it needs one concrete type",
        )),
        Type::Ptr(p) => errors.push(syn::Error::new(p.span(), "raw pointers can't be stored in an event")),
        Type::Infer(i) => errors.push(syn::Error::new(i.span(), "event arguments need an explicit type")),
        Type::Paren(p) => check_stored_type(&p.elem, errors),
        Type::Group(g) => check_stored_type(&g.elem, errors),
        Type::Array(a) => check_stored_type(&a.elem, errors),
        Type::Slice(s) => check_stored_type(&s.elem, errors),
        Type::Tuple(t) => t.elems.iter().for_each(|e| check_stored_type(e, errors)),
        Type::Path(p) => {
            if let Some(q) = &p.qself {
                check_stored_type(&q.ty, errors);
            }
            for segment in &p.path.segments {
                let PathArguments::AngleBracketed(args) = &segment.arguments else {
                    continue;
                };
                for arg in &args.args {
                    match arg {
                        GenericArgument::Type(t) => check_stored_type(t, errors),
                        GenericArgument::Lifetime(l) if l.ident != "static" => {
                            errors.push(syn::Error::new(
                                l.span(),
                                "event arguments are stored in the event, so they must own their data: use 'static or an owned type",
                            ))
                        }
                        _ => {}
                    }
                }
            }
        }
        _ => {}
    }
}

/// Finds `fn create_id(...)` in the impl block: the reference's way for an aggregate to derive
/// its id from its creation arguments.
fn check_create_id(
    input: &AggregateImpl,
    created: &Event,
    errors: &mut Errors,
) -> Option<CreateId> {
    let function = input.item.items.iter().find_map(|item| match item {
        ImplItem::Fn(f) if f.sig.ident == "create_id" => Some(f),
        _ => None,
    })?;
    if created.id_param.is_some() {
        // An explicit `id` argument wins, as `id or create_id(...)` does in the reference.
        return None;
    }
    let mut args = Vec::new();
    for arg in &function.sig.inputs {
        match arg {
            FnArg::Receiver(r) => {
                errors.push(syn::Error::new(
                    r.span(),
                    "create_id derives a new aggregate's id from its creation arguments, so it takes no `self`",
                ));
            }
            FnArg::Typed(typed) => {
                let Pat::Ident(p) = &*typed.pat else {
                    errors.push(syn::Error::new(
                        typed.pat.span(),
                        "create_id arguments must be plain names",
                    ));
                    continue;
                };
                let name = syn::ext::IdentExt::unraw(&p.ident).to_string();
                let Some(field) = created
                    .fields
                    .iter()
                    .find(|f| syn::ext::IdentExt::unraw(&f.ident) == name)
                else {
                    errors.push(syn::Error::new(
                        p.ident.span(),
                        format!(
                            "create_id takes `{name}`, which is not an argument of the #[created] constructor `{}`: \
                             its arguments must be a subset of the constructor's, by name",
                            created.method.sig.ident
                        ),
                    ));
                    continue;
                };
                args.push((
                    field.ident.clone(),
                    matches!(&*typed.ty, Type::Reference(_)),
                ));
            }
        }
    }
    Some(CreateId { args })
}
