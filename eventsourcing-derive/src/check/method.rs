//! Validation of one `#[created]` or `#[event]` method: its name, receiver, arguments (the
//! event's stored fields) and return type.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{FnArg, GenericArgument, Ident, LitStr, Pat, PathArguments, ReturnType, Type};

use super::{check_versions, Event, Field, RESERVED};
use crate::ast::{EventMethod, Kind};
use crate::case::event_name_from_method;
use crate::Errors;

pub(super) fn check_method(
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
