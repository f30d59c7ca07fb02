//! Event names inferred from method names, as the reference library infers them.

/// `name_updated` → `NameUpdated`: each underscore-separated part capitalised (first letter
/// upper case, the rest lower case), then joined; `_pickup` → `Pickup`. This is Python's
/// `"".join(s.capitalize() for s in name.split("_"))`.
pub(crate) fn event_name_from_method(method: &str) -> String {
    method
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::event_name_from_method;

    #[test]
    fn capitalises_each_part() {
        assert_eq!(event_name_from_method("name_updated"), "NameUpdated");
        assert_eq!(event_name_from_method("_pickup"), "Pickup");
        assert_eq!(event_name_from_method("add_HTTP_header"), "AddHttpHeader");
        assert_eq!(event_name_from_method("confirmed"), "Confirmed");
        assert_eq!(event_name_from_method("__"), "");
    }
}
