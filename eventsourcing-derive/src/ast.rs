//! A typed model of the macros' input: which methods of an `#[aggregate]` impl are event
//! methods, with their options, before validation.

use proc_macro2::TokenStream;
use syn::{Attribute, ImplItem, ImplItemFn, ItemImpl, Meta};

use crate::attr::{EventArgs, ImplArgs};
use crate::Errors;

/// Whether a method creates the aggregate or changes it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[created]`: a constructor whose event starts the aggregate's sequence.
    Created,
    /// `#[event]`: a method whose event changes an existing aggregate.
    Event,
}

impl Kind {
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            Kind::Created => "#[created]",
            Kind::Event => "#[event]",
        }
    }
}

/// A method marked `#[created]` or `#[event]`, with that attribute removed.
pub(crate) struct EventMethod {
    pub(crate) kind: Kind,
    /// The attribute as written, for errors about the attribute itself (spanning all of it).
    pub(crate) attr: Attribute,
    pub(crate) args: EventArgs,
    pub(crate) method: ImplItemFn,
}

/// An `#[aggregate]` impl block.
pub(crate) struct AggregateImpl {
    /// The impl block, with `#[created]`/`#[event]` attributes removed from its methods.
    pub(crate) item: ItemImpl,
    pub(crate) args: ImplArgs,
    /// The marked methods, in the order written; their positions in `item.items` are `slots`.
    pub(crate) methods: Vec<EventMethod>,
    pub(crate) slots: Vec<usize>,
}

/// Which of our attributes this is, if any (`event`, `created`, or a path ending in them).
fn marker_kind(attr: &Attribute) -> Option<Kind> {
    let last = attr.path().segments.last()?;
    match last.ident.to_string().as_str() {
        "created" => Some(Kind::Created),
        "event" => Some(Kind::Event),
        _ => None,
    }
}

fn attr_tokens(attr: &Attribute) -> syn::Result<TokenStream> {
    match &attr.meta {
        Meta::Path(_) => Ok(TokenStream::new()),
        Meta::List(list) => Ok(list.tokens.clone()),
        Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            "write #[event(\"Name\")] or #[event], not #[event = ...]",
        )),
    }
}

impl AggregateImpl {
    pub(crate) fn from_item(mut item: ItemImpl, args: ImplArgs, errors: &mut Errors) -> Self {
        if args.discardable.as_ref().is_some_and(|d| d.value) {
            // An event method like any other, so that it is checked and expanded as one.
            let span = args
                .discardable
                .as_ref()
                .map_or_else(proc_macro2::Span::call_site, |d| d.span);
            item.items.push(syn::parse_quote_spanned! {span=>
                /// Discards the aggregate: records its `Discarded` event. Afterwards the
                /// repository's `get` refuses it (`ApplicationError::AggregateDiscarded`), and
                /// saving events recorded after this one is refused; its events stay stored, and
                /// `get_at` or `get_as_of` still read it as it was before.
                #[event("Discarded")]
                pub fn discard(&mut self) {}
            });
        }
        let mut methods = Vec::new();
        let mut slots = Vec::new();
        for (slot, impl_item) in item.items.iter_mut().enumerate() {
            let ImplItem::Fn(method) = impl_item else {
                continue;
            };
            let mut found: Option<EventMethod> = None;
            let mut kept = Vec::with_capacity(method.attrs.len());
            for attr in std::mem::take(&mut method.attrs) {
                let Some(kind) = marker_kind(&attr) else {
                    kept.push(attr);
                    continue;
                };
                if let Some(first) = &found {
                    errors.push(syn::Error::new_spanned(
                        &attr,
                        format!(
                            "`{}` is already marked {}: a method records one event",
                            method.sig.ident,
                            first.kind.attr_name()
                        ),
                    ));
                    continue;
                }
                let args = match attr_tokens(&attr) {
                    Ok(tokens) => EventArgs::parse(tokens, errors),
                    Err(e) => {
                        errors.push(e);
                        EventArgs::default()
                    }
                };
                found = Some(EventMethod {
                    kind,
                    attr: attr.clone(),
                    args,
                    method: method.clone(),
                });
            }
            method.attrs = kept;
            if let Some(mut event_method) = found {
                event_method.method.attrs = method.attrs.clone();
                methods.push(event_method);
                slots.push(slot);
            }
        }
        AggregateImpl {
            item,
            args,
            methods,
            slots,
        }
    }
}
