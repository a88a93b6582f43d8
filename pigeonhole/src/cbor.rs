//! What is wrong with CBOR that does not decode, in words for people: every crate above that
//! decodes CBOR from outside (the courier protocol, chat messages, stored records) says it the
//! same way. ciborium's own `Display` is its `Debug` form, with its enum's variant names.

/// A decoding error of `ciborium::from_reader`, for people.
pub fn describe_error<T>(e: &ciborium::de::Error<T>) -> String {
    use ciborium::de::Error;
    let at = |offset: &Option<usize>| offset.map_or(String::new(), |o| format!(" at byte {o}"));
    match e {
        Error::Io(_) => "the bytes end in the middle of a value".into(),
        Error::Syntax(offset) => format!("not valid CBOR at byte {offset}"),
        Error::Semantic(offset, message) => format!("{message}{}", at(offset)),
        Error::RecursionLimitExceeded => "values nested too deeply".into(),
    }
}

/// A conversion error of a decoded `ciborium::Value` into a type, for people.
pub fn describe_value_error(e: &ciborium::value::Error) -> String {
    match e {
        ciborium::value::Error::Custom(message) => message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(bytes: &[u8]) -> String {
        let e = ciborium::from_reader::<(u8, String), _>(bytes).unwrap_err();
        describe_error(&e)
    }

    #[test]
    fn errors_read_as_words_not_as_enum_variants() {
        assert_eq!(
            error_of(&[0x82, 0x01]),
            "the bytes end in the middle of a value"
        );
        assert_eq!(error_of(&[0x1c]), "not valid CBOR at byte 0");
        assert!(error_of(&[0x82, 0x01, 0x01]).starts_with("invalid type"));
        for bytes in [&[0x82, 0x01][..], &[0x1c], &[0x82, 0x01, 0x01]] {
            let said = error_of(bytes);
            for debug in ["Semantic(", "Syntax(", "Io(", "Some(", "None"] {
                assert!(!said.contains(debug), "{said}");
            }
        }
        let value = ciborium::Value::Integer(3.into());
        let e = value.deserialized::<String>().unwrap_err();
        assert!(!describe_value_error(&e).contains("Custom("));
    }
}
