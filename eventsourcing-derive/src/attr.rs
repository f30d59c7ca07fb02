//! Parsing of the macros' attribute arguments.
//!
//! Every attribute takes `key = value` options; `#[created]` and `#[event]` may start with the
//! event's name as a string. Values are integers, strings, paths or `[...]` lists of these.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{bracketed, Expr, Ident, Lit, LitInt, LitStr, Path, Token};

use crate::Errors;

/// One `key = value` option as written.
struct RawOption {
    key: Ident,
    value: RawValue,
}

enum RawValue {
    Lit(Lit),
    Path(Path),
    List(Vec<Expr>),
}

impl Parse for RawOption {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `crate` is a keyword, so it needs its own case.
        let key = if input.peek(Token![crate]) {
            let token: Token![crate] = input.parse()?;
            Ident::new("crate", token.span)
        } else {
            input.parse()?
        };
        input.parse::<Token![=]>()?;
        let value = if input.peek(syn::token::Bracket) {
            let content;
            bracketed!(content in input);
            let items = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
            RawValue::List(items.into_iter().collect())
        } else if input.peek(Lit) {
            RawValue::Lit(input.parse()?)
        } else {
            RawValue::Path(input.parse()?)
        };
        Ok(RawOption { key, value })
    }
}

impl RawValue {
    fn span(&self) -> Span {
        match self {
            RawValue::Lit(lit) => lit.span(),
            RawValue::Path(path) => path.span(),
            RawValue::List(items) => items.first().map_or_else(Span::call_site, Spanned::span),
        }
    }

    fn int(self, key: &Ident) -> syn::Result<LitInt> {
        match self {
            RawValue::Lit(Lit::Int(int)) => Ok(int),
            other => Err(syn::Error::new(
                other.span(),
                format!("`{key}` takes an integer, such as `{key} = 2`"),
            )),
        }
    }

    fn bool(self, key: &Ident) -> syn::Result<syn::LitBool> {
        match self {
            RawValue::Lit(Lit::Bool(value)) => Ok(value),
            other => Err(syn::Error::new(
                other.span(),
                format!("`{key}` takes `true` or `false`, such as `{key} = true`"),
            )),
        }
    }

    fn string(self, key: &Ident) -> syn::Result<LitStr> {
        match self {
            RawValue::Lit(Lit::Str(s)) => Ok(s),
            other => Err(syn::Error::new(
                other.span(),
                format!("`{key}` takes a string, such as `{key} = \"...\"`"),
            )),
        }
    }

    fn paths(self, key: &Ident) -> syn::Result<Vec<Path>> {
        let usage =
            || format!("`{key}` takes a list of functions, such as `{key} = [Self::upcast_v1_v2]`");
        match self {
            RawValue::List(items) => items
                .into_iter()
                .map(|item| match item {
                    Expr::Path(p) if p.qself.is_none() => Ok(p.path),
                    other => Err(syn::Error::new(other.span(), usage())),
                })
                .collect(),
            other => Err(syn::Error::new(other.span(), usage())),
        }
    }

    fn strings(self, key: &Ident) -> syn::Result<Vec<LitStr>> {
        let usage = || {
            format!("`{key}` takes a list of strings, such as `{key} = [\"old_module:Dog.Registered\"]`")
        };
        match self {
            RawValue::List(items) => items
                .into_iter()
                .map(|item| match item {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Str(s), ..
                    }) => Ok(s),
                    other => Err(syn::Error::new(other.span(), usage())),
                })
                .collect(),
            other => Err(syn::Error::new(other.span(), usage())),
        }
    }

    fn crate_path(self, key: &Ident) -> syn::Result<Path> {
        match self {
            RawValue::Lit(Lit::Str(s)) => s.parse(),
            RawValue::Path(path) => Ok(path),
            other => Err(syn::Error::new(
                other.span(),
                format!("`{key}` takes a path, such as `{key} = \"my_crate::eventsourcing\"`"),
            )),
        }
    }
}

fn unknown(key: &Ident, known: &[&str]) -> syn::Error {
    let key_name = key.to_string();
    let quoted: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    let expected = match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    let close = known
        .iter()
        .filter(|k| edit_distance(k, &key_name) <= 2)
        .min_by_key(|k| edit_distance(k, &key_name));
    let message = match close {
        Some(k) => format!("unknown option `{key}`: did you mean `{k}`? (expected {expected})"),
        None => format!("unknown option `{key}`: expected {expected}"),
    };
    syn::Error::new(key.span(), message)
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

fn duplicate(key: &Ident) -> syn::Error {
    syn::Error::new(key.span(), format!("`{key}` is given twice"))
}

/// Sets an option that may be given once.
fn set_once<T>(slot: &mut Option<T>, key: &Ident, value: syn::Result<T>, errors: &mut Errors) {
    match value {
        Err(e) => errors.push(e),
        Ok(_) if slot.is_some() => errors.push(duplicate(key)),
        Ok(v) => *slot = Some(v),
    }
}

/// Parses `key = value, ...`, after an optional leading string when `leading_name` is set.
fn parse_options(
    tokens: TokenStream,
    leading_name: bool,
    errors: &mut Errors,
) -> (Option<LitStr>, Vec<RawOption>) {
    let parser = |input: ParseStream<'_>| {
        let mut name = None;
        if leading_name && input.peek(LitStr) {
            name = Some(input.parse::<LitStr>()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let options = Punctuated::<RawOption, Token![,]>::parse_terminated(input)?;
        Ok((name, options.into_iter().collect::<Vec<_>>()))
    };
    match parser.parse2(tokens) {
        Ok(parsed) => parsed,
        Err(e) => {
            errors.push(e);
            (None, Vec::new())
        }
    }
}

/// Options of `#[aggregate]` on a struct.
#[derive(Default)]
pub(crate) struct StructArgs {
    /// `crate = "path"`: where the `eventsourcing` crate is, for re-exporting crates.
    pub(crate) krate: Option<Path>,
}

impl StructArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = StructArgs::default();
        for RawOption { key, value } in parse_options(tokens, false, errors).1 {
            match key.to_string().as_str() {
                "crate" => set_once(&mut args.krate, &key, value.crate_path(&key), errors),
                "module" | "version" | "initial_version" | "upcast" => {
                    errors.push(syn::Error::new(
                        key.span(),
                        format!(
                        "`{key}` belongs on the #[aggregate] impl block, not the struct: move it \
                         to #[aggregate({key} = ...)] above `impl`"
                    ),
                    ))
                }
                _ => errors.push(unknown(&key, &["crate"])),
            }
        }
        args
    }
}

/// Options of `#[aggregate]` on an impl block.
#[derive(Default)]
pub(crate) struct ImplArgs {
    /// `crate = "path"`.
    pub(crate) krate: Option<Path>,
    /// `module = "dogs"`: the module part of the topics, instead of `module_path!()`.
    pub(crate) module: Option<LitStr>,
    /// `initial_version = 0`: the version of a new aggregate.
    pub(crate) initial_version: Option<LitInt>,
    /// `version = 4`: the version of the aggregate's state layout (snapshots).
    pub(crate) version: Option<LitInt>,
    /// `upcast = [...]`: snapshot state upcast functions, v1→v2 first.
    pub(crate) upcast: Option<Vec<Path>>,
    /// `discardable = true`: a generated `discard()` method records a `Discarded` event.
    pub(crate) discardable: Option<syn::LitBool>,
}

impl ImplArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = ImplArgs::default();
        for RawOption { key, value } in parse_options(tokens, false, errors).1 {
            match key.to_string().as_str() {
                "crate" => set_once(&mut args.krate, &key, value.crate_path(&key), errors),
                "module" => set_once(&mut args.module, &key, value.string(&key), errors),
                "initial_version" => {
                    set_once(&mut args.initial_version, &key, value.int(&key), errors)
                }
                "version" => set_once(&mut args.version, &key, value.int(&key), errors),
                "upcast" => set_once(&mut args.upcast, &key, value.paths(&key), errors),
                "discardable" => set_once(&mut args.discardable, &key, value.bool(&key), errors),
                _ => errors.push(unknown(
                    &key,
                    &[
                        "module",
                        "initial_version",
                        "version",
                        "upcast",
                        "discardable",
                        "crate",
                    ],
                )),
            }
        }
        args
    }
}

/// Options of `#[created]` and `#[event]`.
#[derive(Default)]
pub(crate) struct EventArgs {
    /// The event's name, when given.
    pub(crate) name: Option<LitStr>,
    /// `version = 3`: the event's class version.
    pub(crate) version: Option<LitInt>,
    /// `upcast = [...]`: upcast functions of the event's stored state, v1→v2 first.
    pub(crate) upcast: Option<Vec<Path>>,
    /// `topic = "..."`: the topic to store, instead of the default.
    pub(crate) topic: Option<LitStr>,
    /// `aliases = [...]`: older topics that still decode to this event.
    pub(crate) aliases: Vec<LitStr>,
}

impl EventArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let (name, options) = parse_options(tokens, true, errors);
        let mut args = EventArgs {
            name,
            ..EventArgs::default()
        };
        let mut aliases = None;
        for RawOption { key, value } in options {
            match key.to_string().as_str() {
                "version" => set_once(&mut args.version, &key, value.int(&key), errors),
                "upcast" => set_once(&mut args.upcast, &key, value.paths(&key), errors),
                "topic" => set_once(&mut args.topic, &key, value.string(&key), errors),
                "aliases" => set_once(&mut aliases, &key, value.strings(&key), errors),
                "name" => errors.push(syn::Error::new(
                    key.span(),
                    "give the event's name first, as a string: #[event(\"NameUpdated\")]",
                )),
                _ => errors.push(unknown(&key, &["version", "upcast", "topic", "aliases"])),
            }
        }
        args.aliases = aliases.unwrap_or_default();
        args
    }
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("version", "version"), 0);
        assert_eq!(edit_distance("versoin", "version"), 2);
        assert_eq!(edit_distance("modul", "module"), 1);
        assert_eq!(edit_distance("", "crate"), 5);
        assert_eq!(edit_distance("snapshot", "crate"), 7);
    }
}
