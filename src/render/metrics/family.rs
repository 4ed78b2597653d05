//! Building metric families from current state, as node_exporter's collectors do with
//! `MustNewConstMetric`: a [`Family`] per name, samples added with their labels, and the text
//! exposition of a set of families.

use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

use crate::results::SeriesState;
use crate::workload::Spec;

/// One metric family under construction.
pub struct Family(pub(super) MetricFamily);

impl Family {
    /// An empty family.
    pub fn new(name: &str, help: &str, kind: MetricType) -> Family {
        let mut family = MetricFamily::default();
        family.set_name(name.to_owned());
        family.set_help(help.to_owned());
        family.set_field_type(kind);
        Family(family)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// Leaves out the samples whose label `name` has `value`.
    pub fn drop_samples(&mut self, name: &str, value: &str) {
        self.0.mut_metric().retain(|m| {
            !m.get_label()
                .iter()
                .any(|pair| pair.name() == name && pair.value() == value)
        });
    }

    /// An empty gauge family.
    pub fn gauge(name: &str, help: &str) -> Family {
        Family::new(name, help, MetricType::GAUGE)
    }

    /// An empty counter family.
    pub fn counter(name: &str, help: &str) -> Family {
        Family::new(name, help, MetricType::COUNTER)
    }

    /// Adds a sample; label pairs are sorted by name, as the registry would.
    pub fn add(&mut self, labels: &[(&str, &str)], set: impl FnOnce(&mut proto::Metric)) {
        let mut pairs: Vec<proto::LabelPair> = labels
            .iter()
            .map(|(name, value)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name((*name).to_owned());
                pair.set_value((*value).to_owned());
                pair
            })
            .collect();
        pairs.sort_by(|a, b| a.name().cmp(b.name()));
        let mut metric = proto::Metric::default();
        metric.set_label(pairs);
        set(&mut metric);
        self.0.mut_metric().push(metric);
    }

    /// Adds a gauge sample.
    pub fn set(&mut self, labels: &[(&str, &str)], value: f64) {
        self.add(labels, |m| {
            let mut gauge = proto::Gauge::default();
            gauge.set_value(value);
            m.set_gauge(gauge);
        });
    }

    /// Adds a counter sample.
    pub fn count(&mut self, labels: &[(&str, &str)], value: f64) {
        self.add(labels, |m| {
            let mut counter = proto::Counter::default();
            counter.set_value(value);
            m.set_counter(counter);
        });
    }

    /// The family with `value` as its one unlabelled gauge sample.
    pub fn single(name: &str, help: &str, value: f64) -> Family {
        let mut family = Family::gauge(name, help);
        family.set(&[], value);
        family
    }
}

/// A gauge of a table: name, HELP, and its value in a `T` (NaN without one).
pub type Gauge<T> = (&'static str, &'static str, fn(&T) -> Option<f64>);

/// One gauge family per entry of `table`, each with a sample per item of `items` (its
/// labels, and the value the entry reads from it, NaN for none).
pub fn table<'a, T: 'a, L: AsRef<[(&'a str, &'a str)]>>(
    table: &[Gauge<T>],
    items: impl IntoIterator<Item = (L, Option<&'a T>)>,
) -> Vec<Family> {
    let mut families: Vec<Family> = table
        .iter()
        .map(|(name, help, _)| Family::gauge(name, help))
        .collect();
    for (labels, item) in items {
        for (family, (_, _, value)) in families.iter_mut().zip(table) {
            family.set(labels.as_ref(), item.and_then(value).unwrap_or(f64::NAN));
        }
    }
    families
}

/// One gauge family per entry of `table`, with a sample per combination of `series`: the
/// value the entry reads from what `item` picks of the combination's state.
pub fn per_series<'a, T: 'a>(
    table: &[Gauge<T>],
    series: &'a [SeriesState],
    item: impl Fn(&'a SeriesState) -> Option<&'a T>,
) -> Vec<Family> {
    let labels: Vec<SeriesLabels> = series.iter().map(|s| SeriesLabels::of(&s.spec)).collect();
    self::table(
        table,
        series
            .iter()
            .zip(&labels)
            .map(|(s, l)| (l.with(&[]), item(s))),
    )
}

/// The label pairs that identify a combination's series: backend, sync, workers.
pub struct SeriesLabels {
    backend: &'static str,
    sync: &'static str,
    workers: String,
}

impl SeriesLabels {
    /// The labels of `spec`.
    pub fn of(spec: &Spec) -> Self {
        SeriesLabels {
            backend: spec.backend.as_str(),
            sync: spec.sync.as_str(),
            workers: spec.workers.to_string(),
        }
    }

    /// The labels, then `extra`.
    pub fn with<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut labels = vec![
            ("backend", self.backend),
            ("sync", self.sync),
            ("workers", self.workers.as_str()),
        ];
        labels.extend_from_slice(extra);
        labels
    }
}

/// The text format of `families`, sorted by name as a registry gathers them; families with
/// no samples are left out, as a registry leaves them out (the encoder refuses them).
pub fn encode(families: impl IntoIterator<Item = Family>) -> String {
    let mut families: Vec<MetricFamily> = families
        .into_iter()
        .map(|f| f.0)
        .filter(|f| !f.get_metric().is_empty())
        .collect();
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut buf = Vec::new();
    // Encoding well-formed families cannot fail; an empty answer would show if it did.
    let _ = TextEncoder::new().encode(&families, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}
