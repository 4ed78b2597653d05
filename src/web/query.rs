//! Query strings of the HTTP API read into typed values: serde takes the parameter names
//! (unknown ones are refused), `FromStr` the values, and every error is one line that names
//! the parameter. The history's filter (`/api/v1/runs`, `/api/v1/changes`) is read here.

use std::fmt::Display;
use std::str::FromStr;
use std::time::UNIX_EPOCH;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::results::{DEFAULT_LIMIT, MAX_LIMIT, RunFilter};

/// Reads `query` into `Q`, whose fields are the allowed parameters as `Option<String>`. The
/// error is one line: a parameter's name with a newline in it comes back escaped.
pub fn parse<Q: DeserializeOwned>(query: &str) -> Result<Q, String> {
    serde_urlencoded::from_str(query)
        .map_err(|e| format!("bad query: {}", e.to_string().escape_debug()))
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

/// The query parameters of `/api/v1/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    backend: Option<String>,
    sync: Option<String>,
    workers: Option<String>,
    since: Option<String>,
    limit: Option<String>,
    probe: Option<String>,
}

/// The filter of `/api/v1/runs` and `/api/v1/changes`:
/// `?backend=&sync=&workers=&since=&limit=&probe=`; `since` is Unix seconds or RFC 3339,
/// `probe` true (only `/probe` runs) or false (only scheduled ones). The error is one line
/// naming the bad parameter.
pub fn run_filter(query: &str) -> Result<RunFilter, String> {
    let q: RunsQuery = parse(query)?;
    let since = match q.since {
        None => None,
        Some(s) => Some(parse_time(&s).ok_or_else(|| {
            format!("bad since={s:?}: expected Unix seconds or an RFC 3339 time, from 1970 on")
        })?),
    };
    let limit = value("limit", q.limit.as_deref())?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(format!("limit={limit} is out of bounds 1..={MAX_LIMIT}"));
    }
    Ok(RunFilter {
        backend: value("backend", q.backend.as_deref())?,
        sync: value("sync", q.sync.as_deref())?,
        workers: value("workers", q.workers.as_deref())?,
        since,
        limit,
        probe: value("probe", q.probe.as_deref())?,
        ..RunFilter::default()
    })
}

/// Unix seconds of `s`, Unix seconds or an RFC 3339 time, from 1970 on (the history holds
/// nothing older; the same bound for both forms).
fn parse_time(s: &str) -> Option<f64> {
    if let Ok(seconds) = s.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then_some(seconds);
    }
    let time = humantime::parse_rfc3339_weak(s).ok()?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Backend;

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

    #[test]
    fn queries_name_their_bad_parameter_in_one_line() {
        let filter = run_filter("backend=thread&workers=2&since=100&limit=5").expect("valid");
        assert_eq!(
            (filter.backend, filter.workers, filter.since, filter.limit),
            (Some(Backend::Thread), Some(2), Some(100.0), 5)
        );
        let rfc = run_filter("since=1970-01-01T00:01:40Z").expect("rfc 3339");
        assert_eq!(rfc.since, Some(100.0));
        assert_eq!(run_filter("").expect("empty").limit, DEFAULT_LIMIT);
        for (query, needle) in [
            ("backend=fork", "bad backend=\"fork\""),
            ("sync=maybe", "bad sync=\"maybe\""),
            ("workers=two", "bad workers=\"two\""),
            ("since=yesterday", "bad since=\"yesterday\""),
            // Before 1970 in either form, alike.
            ("since=-1e300", "from 1970 on"),
            ("since=1969-01-01T00:00:00Z", "from 1970 on"),
            ("limit=0", "out of bounds"),
            ("limit=10001", "out of bounds"),
            ("colour=red", "unknown field `colour`"),
        ] {
            let err = run_filter(query).expect_err(query);
            assert!(
                err.contains(needle) && !err.contains('\n'),
                "{query}: {err}"
            );
        }
    }
}
