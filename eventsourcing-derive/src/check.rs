//! Validation: turns the input model into the model the expansion needs, or reports every
//! problem at once, each at its span, naming the problem and the fix.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{
    ExprStruct, FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, LitInt, LitStr,
    Member, Pat, Path, PathArguments, ReturnType, Type,
};

use crate::ast::{AggregateImpl, EventMethod, Kind};
use crate::case::event_name_from_method;
use crate::Errors;

/// The name of the field `#[aggregate]` adds to the struct. Constructor bodies never write it:
/// the impl macro adds it to their struct expressions.
pub(crate) const META_FIELD: &str = "__aggregate";

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

fn check_method(
    input: &EventMethod,
    struct_ident: &Ident,
    slot: usize,
    errors: &mut Errors,
) -> Option<Event> {
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
            format!("{what} methods can't be const fn: remove `const`"),
        ));
    }
    if let Some(token) = &sig.unsafety {
        errors.push(syn::Error::new(
            token.span(),
            format!("{what} methods can't be unsafe: remove `unsafe`, and use an unsafe block in the body if needed"),
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new(
            abi.span(),
            format!("{what} methods can't have an extern ABI: remove it"),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new(
            variadic.span(),
            format!("{what} methods can't be variadic"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!(
                "{what} methods can't be generic: each argument is stored as a field of the \
                 event, so it needs one concrete type; replace the type parameters with \
                 concrete types"
            ),
        ));
    }

    // Receiver.
    let receiver = sig.receiver();
    match (input.kind, receiver) {
        (Kind::Created, Some(receiver)) => errors.push(syn::Error::new_spanned(
            receiver,
            "a #[created] constructor builds a new aggregate, so it takes no `self`: remove the \
             receiver and return `Self`",
        )),
        (Kind::Event, None) => errors.push(syn::Error::new_spanned(
            &sig.ident,
            format!(
                "#[event] method `{}` must take `&mut self`: it changes the aggregate it is called \
                 on (a function that builds a new aggregate is the #[created] constructor)",
                sig.ident
            ),
        )),
        (Kind::Event, Some(receiver)) if !is_mut_self_ref(&receiver.ty) => {
            errors.push(syn::Error::new_spanned(
                receiver,
                format!(
                    "#[event] methods take `&mut self`, not `{}`: the event changes the aggregate in \
                     place, and its body runs again on replay",
                    receiver.to_token_stream().to_string().replace("& ", "&")
                ),
            ))
        }
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
                errors.push(syn::Error::new_spanned(
                    other,
                    format!(
                        "{what} arguments must be plain names (such as `name: String`): each one \
                         is stored as a field of the event, under its name"
                    ),
                ));
                continue;
            }
        };
        check_stored_type(&typed.ty, errors);
        let key = syn::ext::IdentExt::unraw(&ident).to_string();
        if input.kind == Kind::Created && key == "id" {
            id_param = Some(Field {
                ident,
                ty: (*typed.ty).clone(),
            });
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
            ty: self_to_struct((*typed.ty).clone(), struct_ident),
        });
    }

    check_return(input.kind, &sig.output, struct_ident, &sig.ident, errors);

    // The event's name.
    let variant = match (&input.args.name, input.kind) {
        (Some(name), _) => parse_event_name(name, errors),
        (None, Kind::Created) => Some(Ident::new("Created", input.attr.path().span())),
        (None, Kind::Event) => {
            let method_name = syn::ext::IdentExt::unraw(&sig.ident).to_string();
            let inferred = event_name_from_method(&method_name);
            match syn::parse_str::<Ident>(&inferred) {
                Ok(ident) if !inferred.is_empty() => {
                    Some(Ident::new(&ident.to_string(), sig.ident.span()))
                }
                _ => {
                    errors.push(syn::Error::new_spanned(
                        &input.attr,
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
        input.attr.path().span(),
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
            let suggestion = suggest_event_name(&value).unwrap_or_else(|| "NameUpdated".into());
            errors.push(syn::Error::new(
                name.span(),
                format!(
                    "{value:?} is not a valid event name: the name becomes a variant of the event \
                     enum, so it must be an identifier, such as \"{suggestion}\""
                ),
            ));
            None
        }
    }
}

/// A field type with `Self` replaced by the struct's name: the field is declared in the event
/// enum, where `Self` would mean the enum.
fn self_to_struct(mut ty: Type, struct_ident: &Ident) -> Type {
    struct Replace<'a>(&'a Ident);
    impl VisitMut for Replace<'_> {
        fn visit_type_path_mut(&mut self, path: &mut syn::TypePath) {
            if path.qself.is_none() {
                if let Some(first) = path.path.segments.first_mut() {
                    if first.ident == "Self" {
                        first.ident = Ident::new(&self.0.to_string(), first.ident.span());
                    }
                }
            }
            syn::visit_mut::visit_type_path_mut(self, path);
        }
    }
    Replace(struct_ident).visit_type_mut(&mut ty);
    ty
}

/// `"Name Updated"` → `NameUpdated`: the words of a name that is not an identifier, capitalised
/// and joined, if that makes one.
fn suggest_event_name(value: &str) -> Option<String> {
    let words = value
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty());
    let joined: String = words
        .map(|word| {
            let mut chars = word.chars();
            let first = chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>())
                .unwrap_or_default();
            first + chars.as_str()
        })
        .collect();
    match syn::parse_str::<Ident>(&joined) {
        Ok(_) if !joined.is_empty() && joined != value => Some(joined),
        _ => None,
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
/// (or the struct's name) or `Result<Self, E>`. Any path ending in `Result` counts as a result
/// (`io::Result<()>`, `anyhow::Result<Self>`), and its first type argument is checked here.
/// Other paths may be aliases (`type DogResult = Result<Dog, Error>`): they are left to the type
/// system, which checks every return type in the expansion; only types that can't be results
/// are rejected here.
fn check_return(
    kind: Kind,
    output: &ReturnType,
    struct_ident: &Ident,
    method: &Ident,
    errors: &mut Errors,
) {
    let is_unit = |ty: &Type| matches!(ty, Type::Tuple(t) if t.elems.is_empty());
    let is_self = |ty: &Type| {
        matches!(ty, Type::Path(p) if p.qself.is_none()
            && (p.path.is_ident("Self") || p.path.is_ident(struct_ident)))
    };
    let wrong = match (kind, output) {
        (Kind::Event, ReturnType::Default) => false,
        (Kind::Event, ReturnType::Type(_, ty)) => match result_ok_type(ty) {
            Some(Some(ok)) => !is_unit(ok),
            Some(None) => false,
            None => !is_unit(ty) && (is_self(ty) || cannot_be_result(ty)),
        },
        (Kind::Created, ReturnType::Default) => true,
        (Kind::Created, ReturnType::Type(_, ty)) => match result_ok_type(ty) {
            Some(Some(ok)) => !is_self(ok),
            Some(None) => false,
            None => !is_self(ty) && cannot_be_result(ty),
        },
    };
    if let (false, ReturnType::Type(_, ty)) = (wrong, output) {
        check_error_type(ty, errors);
    }
    if !wrong {
        return;
    }
    let message = match kind {
        Kind::Event => "an #[event] method returns `()` or `Result<(), E>`: the event records \
                        that something happened, and its body runs again on every replay, where \
                        a returned value would be lost; return Err(...) to refuse the change"
            .to_string(),
        Kind::Created => format!(
            "a #[created] constructor returns `Self` or `Result<Self, E>`: it builds the new \
             `{struct_ident}`"
        ),
    };
    errors.push(match output {
        ReturnType::Type(_, ty) => syn::Error::new_spanned(ty, message),
        ReturnType::Default => syn::Error::new_spanned(method, message),
    });
}

/// The error type of a returned `Result<_, E>` must convert into `Box<dyn Error + Send + Sync>`;
/// the type system checks that, but with a message about `std::error::Error` from deep inside its
/// reasoning. Types that never convert are reported here instead.
fn check_error_type(ty: &Type, errors: &mut Errors) {
    const NEVER_ERRORS: &[&str] = &[
        "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
        "i128", "isize", "f32", "f64",
    ];
    let Type::Path(p) = ty else { return };
    let Some(last) = p.path.segments.last().filter(|s| s.ident == "Result") else {
        return;
    };
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return;
    };
    let Some(error) = args
        .args
        .iter()
        .filter_map(|arg| match arg {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .nth(1)
    else {
        return;
    };
    let never = match error {
        Type::Tuple(t) => t.elems.is_empty(),
        Type::Path(p) => p.qself.is_none() && NEVER_ERRORS.iter().any(|name| p.path.is_ident(name)),
        _ => false,
    };
    if never {
        errors.push(syn::Error::new_spanned(
            error,
            format!(
                "`{}` can't be the error of an event: the error is kept as a \
                 Box<dyn std::error::Error + Send + Sync> when the event is replayed; return a type \
                 that implements std::error::Error, or a String",
                error.to_token_stream()
            ),
        ));
    }
}

/// Whether a return type is certainly not a `Result` (nor an alias of one): anything but a path,
/// and paths naming primitive or standard types.
fn cannot_be_result(ty: &Type) -> bool {
    const NOT_RESULTS: &[&str] = &[
        "bool", "char", "str", "String", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16",
        "i32", "i64", "i128", "isize", "f32", "f64", "Option", "Vec", "Box", "Rc", "Arc", "Cow",
        "HashMap", "BTreeMap", "HashSet", "BTreeSet", "VecDeque",
    ];
    match ty {
        Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .is_some_and(|last| NOT_RESULTS.iter().any(|name| last.ident == name)),
        Type::Paren(p) => cannot_be_result(&p.elem),
        Type::Group(g) => cannot_be_result(&g.elem),
        Type::Macro(_) | Type::Verbatim(_) => false,
        _ => true,
    }
}

/// For a path type ending in `Result`: `Some(Some(T))` for `Result<T, ..>`, `Some(None)` for a
/// `Result` alias without type arguments; `None` for any other type.
fn result_ok_type(ty: &Type) -> Option<Option<&Type>> {
    let Type::Path(p) = ty else { return None };
    let last = p
        .path
        .segments
        .last()
        .filter(|s| p.qself.is_none() && s.ident == "Result")?;
    Some(match &last.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    })
}

/// Event fields are stored and replayed, so they must own their data.
fn check_stored_type(ty: &Type, errors: &mut Errors) {
    match ty {
        Type::Reference(r) => errors.push(syn::Error::new_spanned(
            r,
            "event arguments are stored in the event, so they must own their data: take an owned type (such as String instead of &str, Vec<T> instead of &[T])",
        )),
        Type::ImplTrait(t) => errors.push(syn::Error::new_spanned(
            t,
            format!(
                "event arguments can't be `impl Trait`: each argument is stored as a field of the \
                 event, so it needs one concrete type; take {}",
                conversion_target(t)
                    .map(|target| format!("`{target}`, and let callers convert"))
                    .unwrap_or_else(|| "a concrete type".into())
            ),
        )),
        Type::TraitObject(t) => errors.push(syn::Error::new_spanned(
            t,
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

/// `impl Into<String>` → `String`: what an `impl Trait` argument converts into, if that is what
/// it is for (`Into`, `AsRef`, `Borrow`, `ToString`).
fn conversion_target(t: &syn::TypeImplTrait) -> Option<String> {
    t.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(trait_bound) = bound else {
            return None;
        };
        let last = trait_bound.path.segments.last()?;
        if last.ident == "ToString" {
            return Some("String".into());
        }
        if !["Into", "AsRef", "Borrow"]
            .iter()
            .any(|name| last.ident == name)
        {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        match args.args.first()? {
            GenericArgument::Type(Type::Path(p)) if p.path.is_ident("str") => Some("String".into()),
            GenericArgument::Type(ty) => Some(ty.to_token_stream().to_string().replace(' ', "")),
            _ => None,
        }
    })
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
    let output_span = match &function.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => function.sig.ident.span(),
    };
    Some(CreateId { args, output_span })
}

#[cfg(test)]
mod tests {
    use super::{cannot_be_result, conversion_target, result_ok_type, suggest_event_name};
    use syn::Type;

    fn ty(s: &str) -> Type {
        syn::parse_str(s).unwrap()
    }

    #[test]
    fn suggests_an_identifier_for_a_name_with_spaces() {
        assert_eq!(
            suggest_event_name("Name Updated").as_deref(),
            Some("NameUpdated")
        );
        assert_eq!(
            suggest_event_name("trick-added").as_deref(),
            Some("TrickAdded")
        );
        assert_eq!(suggest_event_name("1st"), None);
        assert_eq!(suggest_event_name("!"), None);
    }

    #[test]
    fn tells_results_from_other_types() {
        assert!(matches!(
            result_ok_type(&ty("Result<(), E>")),
            Some(Some(_))
        ));
        assert!(matches!(
            result_ok_type(&ty("io::Result<()>")),
            Some(Some(_))
        ));
        assert!(matches!(result_ok_type(&ty("Result")), Some(None)));
        assert!(result_ok_type(&ty("DogResult<()>")).is_none());
        assert!(cannot_be_result(&ty("usize")));
        assert!(cannot_be_result(&ty("Option<Self>")));
        assert!(cannot_be_result(&ty("(u32, u32)")));
        assert!(!cannot_be_result(&ty("DogResult")));
    }

    #[test]
    fn finds_what_an_impl_trait_argument_converts_into() {
        let target = |s: &str| match ty(s) {
            Type::ImplTrait(t) => conversion_target(&t),
            _ => unreachable!(),
        };
        assert_eq!(target("impl Into<String>").as_deref(), Some("String"));
        assert_eq!(target("impl AsRef<str>").as_deref(), Some("String"));
        assert_eq!(target("impl Into<Vec<u8>>").as_deref(), Some("Vec<u8>"));
        assert_eq!(target("impl Iterator<Item = u8>"), None);
    }
}
