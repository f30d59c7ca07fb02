//! Validation of an aggregate's `create_id` function.

use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, Pat, ReturnType, Type};

use super::{CreateId, Event};
use crate::ast::AggregateImpl;
use crate::Errors;

/// Finds `fn create_id(...)` in the impl block: the reference's way for an aggregate to derive
/// its id from its creation arguments.
pub(super) fn check_create_id(
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
