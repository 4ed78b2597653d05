// Settings of the copybench mixin. Override any of them with
//   (import 'copybench-mixin/mixin.libsonnet') + { _config+:: { key: value } }
// The defaults render config/prometheus/copybench.rules.yml,
// dashboards/copybench-overview.json and
// deploy/kubernetes/operator/prometheusrule.yaml as the repository ships them.
{
  _config+:: {
    // Label matchers added to every raw copybench_* selector (and to
    // process_start_time_seconds) of the rules and alerts, beside the matchers
    // already there, e.g. 'job="copybench"' or 'job="copybench", cluster="eu1"'.
    // '' adds none.
    copybenchSelector: '',

    // The selector of CopybenchExporterDown's `up` series. By default the scrape
    // job's name must contain "copybench"; with a copybenchSelector, that one.
    exporterDownSelector:
      if self.copybenchSelector == '' then 'job=~".*copybench.*"' else self.copybenchSelector,

    // runbook_url of every alert: %s is the alert's name in lower case, the
    // anchor of its section in docs/runbook.md. Relative to the repository by
    // default; point it at a rendered copy, e.g.
    // 'https://git.example.net/copybench_exporter/blob/main/docs/runbook.md#%s'.
    runbookURLPattern: 'docs/runbook.md#%s',

    // The `for` durations assume the default schedule of one sweep every 5m
    // (each gauge then holds the result of one run for about 5 minutes); scale
    // them with a different [schedule] interval.

    // copybench:fleet_duration_seconds:scale: the spread of a fleet is at least
    // this share of its median (about the sweep-to-sweep noise of a median on a
    // shared cloud machine), and fleets need this many instances.
    fleetScaleFloor: 0.05,
    fleetMinInstances: 3,

    // CopybenchPerformanceRegression: the exporter's detectors decide
    // ([analysis] max_pvalue, min_magnitude); `for` of one sweep interval.
    performanceRegressionFor: '5m',

    // The node's watch alerts: the exporter's detectors decide ([analysis]
    // alert_false_alarm_sweeps, alert_sweeps, alert_after and their host_
    // twins; contention_share, contention_window, max_contention,
    // max_full_width_contention); `for`
    // only rides out a missed scrape.
    workloadRegressionFor: '2m',
    scalingWorseFor: '2m',
    hostSlowerFor: '2m',
    hostContendedFor: '2m',

    // CopybenchDurationAboveBaseline: a run takes more than 1.5 times its
    // 3-day median.
    durationAboveBaselineThreshold: 1.5,
    durationAboveBaselineFor: '15m',

    // CopybenchScalingCollapse: parallel efficiency at the highest configured
    // worker count below this.
    scalingCollapseThreshold: 0.25,
    scalingCollapseFor: '15m',

    // CopybenchOrderingFault: any disorder, duplicate, missing line or torn
    // record of sync="lock" or "ordered".
    orderingFaultFor: '2m',

    // CopybenchRunsFailing: more than this share of a combination's runs
    // failed over the last hour.
    runsFailingThreshold: 0.2,
    runsFailingFor: '15m',

    // CopybenchResultsStale: no successful run for this many sweep intervals
    // (the interval in force), and at least this many seconds, which is also
    // how long the exporter must have been up.
    resultsStaleIntervals: 3,
    resultsStaleMinSeconds: 900,
    resultsStaleFor: '5m',

    exporterDownFor: '5m',

    // CopybenchStateSaveFailing: any failed write of the run history in 30m.
    stateSaveFailingFor: '10m',

    // CopybenchNodeOutlier: a node's median robust z-score above this
    // (Iglewicz and Hoaglin's cut-off).
    nodeOutlierThreshold: 3.5,
    nodeOutlierFor: '15m',

    configReloadFailedFor: '10m',

    // The Grafana dashboard.
    dashboardTitle: 'copybench / Overview',
    dashboardUid: 'copybench-overview',

    // The PrometheusRule for the Prometheus Operator. Its Prometheus selects
    // rules by label (spec.ruleSelector): these match kube-prometheus; for
    // kube-prometheus-stack add `release: <helm release name>`.
    prometheusRuleName: 'copybench-exporter',
    prometheusRuleNamespace: 'copybench',
    prometheusRuleLabels: {
      'app.kubernetes.io/name': 'copybench-exporter',
      'app.kubernetes.io/component': 'exporter',
      prometheus: 'k8s',
      role: 'alert-rules',
    },
  },
}
