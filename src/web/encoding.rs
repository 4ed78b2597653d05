//! Content negotiation: whether a request's `Accept-Encoding` takes gzip.

use hyper::header::HeaderValue;

/// Whether an `Accept-Encoding` of `accepted` takes gzip (RFC 9110: the coding with no `q` or
/// a nonzero one; `x-gzip` is the same). No header means no.
pub fn accepts_gzip(accepted: Option<&HeaderValue>) -> bool {
    let Some(Ok(accepted)) = accepted.map(|v| v.to_str()) else {
        return false;
    };
    accepted.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let q = parts
            .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        (name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip")) && q > 0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_with_no_or_a_nonzero_q() {
        for (accepted, gzip) in [
            ("gzip", true),
            ("identity, gzip", true),
            ("deflate;q=0.5, GZIP;q=0.9", true),
            ("x-gzip", true),
            ("gzip;q=0", false),
            ("gzip; q=0.0, identity", false),
            ("deflate, br", false),
            ("gzipped", false),
            ("", false),
        ] {
            let value = HeaderValue::from_static(accepted);
            assert_eq!(accepts_gzip(Some(&value)), gzip, "{accepted:?}");
        }
        assert!(!accepts_gzip(None));
    }
}
