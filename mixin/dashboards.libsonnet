// Grafana dashboards, by file name.
{
  grafanaDashboards+:: {
    'copybench-overview.json': (import 'dashboards/overview.libsonnet')($._config),
  },
}
