// The copybench_exporter monitoring mixin: prometheusRules (recording rules),
// prometheusAlerts (alerts), grafanaDashboards and prometheusRule (the same
// groups as a Prometheus Operator PrometheusRule), set up by _config.
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards.libsonnet') +
{
  local c = $._config,
  prometheusRule:: {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: c.prometheusRuleName,
      namespace: c.prometheusRuleNamespace,
      labels: c.prometheusRuleLabels,
    },
    spec: {
      groups: $.prometheusRules.groups + $.prometheusAlerts.groups,
    },
  },
}
