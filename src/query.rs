//! Query strings of the HTTP API read into typed values: serde takes the parameter names
//! (unknown ones are refused), `FromStr` the values, and every error is one line that names
//! the parameter.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::DeserializeOwned;

/// Reads `query` into `Q`, whose fields are the allowed parameters as `Option<String>`.
pub fn parse<Q: DeserializeOwned>(query: &str) -> Result<Q, String> {
    serde_urlencoded::from_str(query).map_err(|e| format!("bad query: {e}"))
}

/// The value of parameter `name`, if given, parsed as a `T`.
pub fn value<T>(name: &str, value: Option<&str>) -> Result<Option<T>, String>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .map(|v| v.parse().map_err(|e| format!("bad {name}={v:?}: {e}")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Q {
        n: Option<String>,
    }

    #[test]
    fn names_are_checked_and_values_parsed_with_their_name_in_errors() {
        let q: Q = parse("n=5").expect("query");
        assert_eq!(value::<u32>("n", q.n.as_deref()), Ok(Some(5)));
        let q: Q = parse("").expect("empty");
        assert_eq!(value::<u32>("n", q.n.as_deref()), Ok(None));
        let q: Q = parse("n=x").expect("query");
        let err = value::<u32>("n", q.n.as_deref()).expect_err("not a number");
        assert_eq!(err, r#"bad n="x": invalid digit found in string"#);
        let err = parse::<Q>("m=1").err().expect("unknown name");
        assert!(err.contains("unknown field `m`"), "{err}");
    }
}
