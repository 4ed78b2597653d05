//! A record's values as SQLite's and back, for the columns of the run table
//! ([`super::columns`]).

/// Reading a column's value; the caller names the column in errors.
pub(super) mod get {
    use rusqlite::types::ValueRef;

    pub(in crate::results::store) fn opt_i64(v: ValueRef<'_>) -> Result<Option<i64>, String> {
        match v {
            ValueRef::Integer(n) => Ok(Some(n)),
            ValueRef::Null => Ok(None),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }

    pub(in crate::results::store) fn opt_int(v: ValueRef<'_>) -> Result<Option<u64>, String> {
        opt_i64(v)?
            .map(|n| u64::try_from(n).map_err(|e| e.to_string()))
            .transpose()
    }

    pub(in crate::results::store) fn int(v: ValueRef<'_>) -> Result<u64, String> {
        opt_int(v)?.ok_or_else(|| "is empty".to_owned())
    }

    pub(in crate::results::store) fn flag(v: ValueRef<'_>) -> Result<bool, String> {
        Ok(int(v)? != 0)
    }

    pub(in crate::results::store) fn opt_real(v: ValueRef<'_>) -> Result<Option<f64>, String> {
        match v {
            ValueRef::Real(x) => Ok(Some(x)),
            ValueRef::Integer(n) => Ok(Some(n as f64)),
            ValueRef::Null => Ok(None),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }

    pub(in crate::results::store) fn real(v: ValueRef<'_>) -> Result<f64, String> {
        opt_real(v)?.ok_or_else(|| "is empty".to_owned())
    }

    pub(in crate::results::store) fn opt_text(v: ValueRef<'_>) -> Result<Option<&str>, String> {
        match v {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|e| e.to_string()),
            ValueRef::Null => Ok(None),
            other => Err(format!("expected text, found {other:?}")),
        }
    }

    pub(in crate::results::store) fn text(v: ValueRef<'_>) -> Result<&str, String> {
        opt_text(v)?.ok_or_else(|| "is empty".to_owned())
    }
}

/// A record's value as its column's.
pub(super) mod put {
    use rusqlite::types::Value;

    use super::saturating_i64;

    pub(in crate::results::store) fn int(n: impl Into<u64>) -> Value {
        Value::Integer(saturating_i64(n.into()))
    }

    pub(in crate::results::store) fn opt_int<N: Into<i128>>(n: Option<N>) -> Value {
        n.map_or(Value::Null, |n| {
            Value::Integer(i64::try_from(n.into()).unwrap_or(i64::MAX))
        })
    }

    pub(in crate::results::store) fn opt_real(x: Option<f64>) -> Value {
        x.map_or(Value::Null, Value::Real)
    }

    pub(in crate::results::store) fn flag(b: bool) -> Value {
        Value::Integer(b.into())
    }

    pub(in crate::results::store) fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}

/// `n` as SQLite's integer, saturating.
pub(super) fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
