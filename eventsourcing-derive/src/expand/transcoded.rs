//! Fields whose types the reference library's JSON transcoder writes as
//! `{"_type_": ..., "_data_": ...}`: recognised by name, so that their values are stored as the
//! reference stores them (through the runtime's `transcoding` module).

use syn::{GenericArgument, PathArguments, Type};

/// Whether a field of type `ty` goes through the runtime's `transcoding` module: `Uuid`,
/// `DateTime<Utc>`, `Decimal` (with the `decimal` feature), or an `Option` or `Vec` of one.
/// By the last segment of the path, as a derive can only see names.
pub(super) fn is_transcoded(ty: &Type) -> bool {
    match ty {
        Type::Group(group) => is_transcoded(&group.elem),
        Type::Paren(paren) => is_transcoded(&paren.elem),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return false;
            };
            let only_type_argument = || match &last.arguments {
                PathArguments::AngleBracketed(args) if args.args.len() == 1 => {
                    match args.args.first() {
                        Some(GenericArgument::Type(inner)) => Some(inner),
                        _ => None,
                    }
                }
                _ => None,
            };
            match last.ident.to_string().as_str() {
                "Uuid" => last.arguments.is_none(),
                "Decimal" => cfg!(feature = "decimal") && last.arguments.is_none(),
                "DateTime" => only_type_argument().is_some_and(is_utc),
                "Option" | "Vec" => only_type_argument().is_some_and(is_transcoded),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether `ty` names chrono's `Utc`.
fn is_utc(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none()
        && path.path.segments.last().is_some_and(|s| s.ident == "Utc" && s.arguments.is_none()))
}

/// Whether `ty` is an `Option` (whose field may be missing from stored state).
pub(super) fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none()
        && path.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn recognises_the_reference_transcoded_types_by_name() {
        for ty in [
            parse_quote!(Uuid),
            parse_quote!(uuid::Uuid),
            parse_quote!(DateTime<Utc>),
            parse_quote!(chrono::DateTime<chrono::Utc>),
            parse_quote!(Option<Uuid>),
            parse_quote!(Vec<Option<DateTime<Utc>>>),
        ] {
            assert!(is_transcoded(&ty), "{}", quote::quote!(#ty));
        }
        for ty in [
            parse_quote!(String),
            parse_quote!(DateTime<FixedOffset>),
            parse_quote!(Option<String>),
            parse_quote!(HashMap<String, Uuid>),
            parse_quote!(Uuid<T>),
        ] {
            assert!(!is_transcoded(&ty), "{}", quote::quote!(#ty));
        }
    }
}
