//! `changes --prometheus`: the series of a range query (`/api/v1/query_range`) of any
//! Prometheus-compatible API (Prometheus, Thanos, Mimir, VictoriaMetrics), one per label set,
//! bounded in points per series, series, points in all and bytes, so that a fleet's history,
//! which lives there and not on the nodes, can be searched for change points at once.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// Why a range query gave no series.
#[derive(Debug, thiserror::Error)]
pub enum RangeQueryError {
    /// The time range or step is not one to ask for.
    #[error("{0}")]
    Range(String),
    /// The API could not be reached or did not answer in time.
    #[error("{url}: {reason}")]
    Request {
        /// The endpoint asked.
        url: String,
        /// What went wrong.
        reason: Box<ureq::Error>,
    },
    /// The API answered with an error of its own (a bad query, a limit of its own).
    #[error("{url}: HTTP {status}: {message}")]
    Refused {
        /// The endpoint asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The API's `errorType: error`, or the start of the body.
        message: String,
    },
    /// The answer is not a range query's.
    #[error("{url}: not a range query answer: {reason}")]
    Answer {
        /// The endpoint asked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The answer holds more than the limits allow.
    #[error("{0}; narrow the query with label matchers or a shorter range, or raise the limit")]
    TooLarge(String),
}

/// A point in time as `--since` and `--until` take it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum When {
    /// Unix seconds.
    At(f64),
    /// This long before now.
    Ago(Duration),
}

impl When {
    /// Parses RFC 3339 in UTC (`2026-12-05T15:00:00Z`), Unix seconds (`1796482800`) or a
    /// duration before now (`3d`, `90m`).
    pub fn parse(text: &str) -> Result<When, String> {
        if let Ok(seconds) = text.parse::<f64>() {
            return match seconds.is_finite() && seconds >= 0.0 {
                true => Ok(When::At(seconds)),
                false => Err(format!("{text}: not a time")),
            };
        }
        if let Ok(ago) = humantime::parse_duration(text) {
            return Ok(When::Ago(ago));
        }
        humantime::parse_rfc3339_weak(text)
            .map(|t| When::At(unix(t)))
            .map_err(|_| {
                format!(
                    "{text}: neither RFC 3339 in UTC (2026-12-05T15:00:00Z), Unix seconds nor a \
                     duration before now (3d)"
                )
            })
    }

    /// Unix seconds, `Ago` counted back from `now`.
    fn seconds(self, now: f64) -> f64 {
        match self {
            When::At(seconds) => seconds,
            When::Ago(ago) => now - ago.as_secs_f64(),
        }
    }
}

/// Seconds since the Unix epoch.
fn unix(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// How much a range query may bring back.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The most series.
    pub series: usize,
    /// The most points, all series together.
    pub points: usize,
}

impl Limits {
    /// The most bytes of an answer within these limits: a point in the API's JSON takes about
    /// 30 bytes, a series' labels rarely 1 KiB.
    fn bytes(self) -> u64 {
        64 * self.points as u64 + 4096 * self.series as u64
    }
}

/// The most points of one series: Prometheus' own limit on a range query.
pub const MAX_POINTS_PER_SERIES: f64 = 11_000.0;

/// How long one query may take, connecting and reading included.
const TIMEOUT: Duration = Duration::from_secs(120);

/// A range query: `query` evaluated from `start` to `end` every `step` at `url`.
#[derive(Clone, Debug)]
pub struct RangeQuery {
    /// The API's base URL, e.g. `http://prometheus:9090` (the path before `/api/v1`).
    pub url: String,
    /// PromQL.
    pub query: String,
    /// Unix seconds.
    pub start: f64,
    /// Unix seconds.
    pub end: f64,
    /// Seconds between points.
    pub step: f64,
}

/// One series of the answer: its labels and its finite points in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct LabeledSeries {
    /// The label set, `__name__` included when the query keeps it.
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub times: Vec<f64>,
    /// The values; NaN and infinite points are left out with their times.
    pub values: Vec<f64>,
}

impl RangeQuery {
    /// The query from `since` to `until` every `step`, both read against the clock now.
    pub fn new(
        url: &str,
        query: &str,
        since: When,
        until: When,
        step: Duration,
    ) -> Result<RangeQuery, RangeQueryError> {
        let now = unix(SystemTime::now());
        let (start, end, step) = (since.seconds(now), until.seconds(now), step.as_secs_f64());
        if step < 0.001 {
            return Err(RangeQueryError::Range(format!(
                "--step {step}s must be at least 1ms"
            )));
        }
        if start >= end {
            return Err(RangeQueryError::Range(format!(
                "--since ({start:.0}) must be before --until ({end:.0})"
            )));
        }
        let per_series = ((end - start) / step).floor() + 1.0;
        if per_series > MAX_POINTS_PER_SERIES {
            return Err(RangeQueryError::Range(format!(
                "{per_series:.0} points per series from --since to --until every --step; at \
                 most {MAX_POINTS_PER_SERIES:.0} (Prometheus' own limit): make --step larger"
            )));
        }
        Ok(RangeQuery {
            url: format!("{}/api/v1/query_range", url.trim_end_matches('/')),
            query: query.to_owned(),
            start,
            end,
            step,
        })
    }

    /// Asks the API and returns its series, refusing an answer beyond `limits`.
    pub fn fetch(&self, limits: Limits) -> Result<Vec<LabeledSeries>, RangeQueryError> {
        let request_error = |e: ureq::Error| RangeQueryError::Request {
            url: self.url.clone(),
            reason: Box::new(e),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(&self.url)
            .send_form([
                ("query", self.query.as_str()),
                ("start", &self.start.to_string()),
                ("end", &self.end.to_string()),
                ("step", &self.step.to_string()),
            ])
            .map_err(request_error)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(limits.bytes())
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(n) => RangeQueryError::TooLarge(format!(
                    "the answer is larger than {n} bytes (--max-series {}, --max-points {})",
                    limits.series, limits.points
                )),
                e => request_error(e),
            })?;
        parse(&self.url, status, &body, limits)
    }
}

/// The API's answer (`status`, `data` or `errorType` and `error`).
#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

/// `data` of a range query's answer.
#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Matrix>,
}

/// One series of a matrix: values are strings, as the API writes them (`"NaN"`, `"+Inf"`).
#[derive(Deserialize)]
struct Matrix {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// The series of the answer `body` with HTTP `status` from `url`.
fn parse(
    url: &str,
    status: u16,
    body: &str,
    limits: Limits,
) -> Result<Vec<LabeledSeries>, RangeQueryError> {
    let answer: Result<Answer, _> = serde_json::from_str(body);
    let answer = match (status, answer) {
        (200, Ok(answer)) if answer.status == "success" => answer,
        (
            _,
            Ok(Answer {
                error_type, error, ..
            }),
        ) if error.is_some() => {
            return Err(RangeQueryError::Refused {
                url: url.to_owned(),
                status,
                message: format!(
                    "{}: {}",
                    error_type.unwrap_or_default(),
                    error.unwrap_or_default()
                ),
            });
        }
        (200, answer) => {
            return Err(RangeQueryError::Answer {
                url: url.to_owned(),
                reason: answer
                    .err()
                    .map_or("status is not success".into(), |e| e.to_string()),
            });
        }
        (_, _) => {
            return Err(RangeQueryError::Refused {
                url: url.to_owned(),
                status,
                message: body.chars().take(200).collect(),
            });
        }
    };
    let data = answer.data.ok_or_else(|| RangeQueryError::Answer {
        url: url.to_owned(),
        reason: "no data".into(),
    })?;
    if data.result_type != "matrix" {
        return Err(RangeQueryError::Answer {
            url: url.to_owned(),
            reason: format!("resultType is {}, not matrix", data.result_type),
        });
    }
    let (series, points) = (
        data.result.len(),
        data.result.iter().map(|m| m.values.len()).sum::<usize>(),
    );
    if series > limits.series {
        return Err(RangeQueryError::TooLarge(format!(
            "the query returned {series} series, more than --max-series {}",
            limits.series
        )));
    }
    if points > limits.points {
        return Err(RangeQueryError::TooLarge(format!(
            "the query returned {points} points, more than --max-points {}",
            limits.points
        )));
    }
    Ok(data.result.into_iter().map(LabeledSeries::from).collect())
}

impl From<Matrix> for LabeledSeries {
    fn from(matrix: Matrix) -> LabeledSeries {
        let (times, values) = matrix
            .values
            .into_iter()
            .filter_map(|(t, v)| {
                v.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(|v| (t, v))
            })
            .unzip();
        LabeledSeries {
            labels: matrix.metric,
            times,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        series: 2,
        points: 5,
    };

    fn parsed(status: u16, body: &str) -> Result<Vec<LabeledSeries>, RangeQueryError> {
        parse("http://p/api/v1/query_range", status, body, LIMITS)
    }

    #[test]
    fn a_matrix_gives_each_label_set_its_finite_points() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"instance":"a:1","job":"copybench"},
             "values":[[10,"0.5"],[15,"NaN"],[20,"0.75"]]},
            {"metric":{"instance":"b:1"},"values":[[10,"+Inf"],[20,"2"]]}]}}"#;
        let series = parsed(200, body).expect("parsed");
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].labels["instance"], "a:1");
        assert_eq!(series[0].times, [10.0, 20.0]);
        assert_eq!(series[0].values, [0.5, 0.75]);
        assert_eq!(
            (series[1].times.as_slice(), series[1].values.as_slice()),
            (&[20.0][..], &[2.0][..])
        );
    }

    #[test]
    fn the_apis_own_error_is_passed_on_with_its_status() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 6"}"#;
        let err = parsed(400, body).expect_err("refused").to_string();
        assert!(
            err.contains("HTTP 400") && err.contains("bad_data: parse error at char 6"),
            "{err}"
        );
        let err = parsed(502, "<html>bad gateway</html>")
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("HTTP 502") && err.contains("bad gateway"),
            "{err}"
        );
    }

    #[test]
    fn answers_that_are_not_a_matrix_are_refused() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(
            parsed(200, vector)
                .expect_err("vector")
                .to_string()
                .contains("vector, not matrix")
        );
        assert!(parsed(200, "not json").is_err());
    }

    #[test]
    fn more_series_or_points_than_the_limits_are_refused() {
        let series = |n: usize, points: usize| {
            let one = format!(
                r#"{{"metric":{{}},"values":[{}]}}"#,
                vec![r#"[1,"1"]"#; points].join(",")
            );
            format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{}]}}}}"#,
                vec![one; n].join(",")
            )
        };
        assert!(parsed(200, &series(2, 2)).is_ok());
        let err = parsed(200, &series(3, 1))
            .expect_err("3 series")
            .to_string();
        assert!(err.contains("3 series, more than --max-series 2"), "{err}");
        let err = parsed(200, &series(2, 3))
            .expect_err("6 points")
            .to_string();
        assert!(err.contains("6 points, more than --max-points 5"), "{err}");
    }

    #[test]
    fn times_are_rfc3339_unix_seconds_or_a_duration_before_now() {
        assert_eq!(When::parse("1796482800"), Ok(When::At(1_796_482_800.0)));
        assert_eq!(
            When::parse("2026-12-05T15:00:00Z"),
            Ok(When::At(1_796_482_800.0))
        );
        assert_eq!(
            When::parse("3d"),
            Ok(When::Ago(Duration::from_secs(3 * 86_400)))
        );
        assert!(When::parse("yesterday").is_err());
        assert!(When::parse("-5").is_err());
    }

    #[test]
    fn a_range_is_refused_before_asking_when_it_is_empty_or_too_fine() {
        let query = |since, until, step| {
            RangeQuery::new(
                "http://p:9090/",
                "up",
                since,
                until,
                Duration::from_secs(step),
            )
        };
        let day = Duration::from_secs(86_400);
        let ok = query(When::Ago(day), When::Ago(Duration::ZERO), 300).expect("a day at 5m");
        assert_eq!(ok.url, "http://p:9090/api/v1/query_range");
        assert!((ok.end - ok.start - 86_400.0).abs() < 1.0);
        let err = query(When::Ago(day), When::Ago(Duration::ZERO), 1).expect_err("86401 points");
        assert!(err.to_string().contains("at most 11000"), "{err}");
        assert!(query(When::At(20.0), When::At(10.0), 1).is_err());
        assert!(query(When::At(10.0), When::At(20.0), 0).is_err());
    }
}
