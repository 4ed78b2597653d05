// Alerts: group copybench.alerts. Every alert and threshold is documented in
// config/prometheus/README.md and has a section in docs/runbook.md; the
// thresholds and `for` durations are _config keys (config.libsonnet).
local utils = import 'lib/utils.libsonnet';
local fold = utils.fold;

{
  local c = $._config,
  local v = utils.formatArgs(c) {
    sel: utils.selector([c.copybenchSelector]),
    lockOrOrdered: utils.selector([c.copybenchSelector, 'sync=~"lock|ordered"']),
  },

  // The end of the description of the regression and node-watch alerts: what
  // changed on the node around the change's start, quoted from
  // copybench_alert_cause_info ("On the node around its start: cpuset 0-3 -> 0."),
  // or nothing when the exporter named no cause. The query names the alert's
  // own job and instance.
  local cause(signal, combination=true) =
    local labels = 'job="%s",instance="%s",signal="' + signal + '"'
                   + (if combination then ',backend="%s",sync="%s",workers="%s"' else '');
    local args = '$labels.job $labels.instance'
                 + (if combination then ' $labels.backend $labels.sync $labels.workers' else '');
    '{{ with printf `copybench_alert_cause_info{' + labels + '}` ' + args + ' | query }}'
    + ' On the node around its start: {{ . | first | label "cause" }}.{{ end }}',

  local withRunbook(rule) = rule {
    annotations+: { runbook_url: c.runbookURLPattern % std.asciiLower(rule.alert) },
  },

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'copybench.alerts',
        rules: std.map(withRunbook, [
          // The exporter's change-point detectors (E-divisive means with a t-test,
          // and a test of the last 3-10 sweeps) found that the combination's
          // per-sweep median got slower by more than [analysis] min_magnitude
          // (5 %), the last two sweeps agree, and no later change undid it. The
          // value is mean after / mean before. Silent while the combination is
          // flagged noisy or its runs were throttled by a CPU quota: then the
          // slowdown is the host's or the quota's, and the throttling panel says so.
          // THRESHOLD: the detectors' own ([analysis] max_pvalue, min_magnitude);
          // `for` of one sweep interval (performanceRegressionFor).
          {
            alert: 'CopybenchPerformanceRegression',
            expr: |||
              copybench_regression_ratio%(sel)s
              and on (job, instance, backend, sync, workers)
              copybench_regression_detected%(sel)s == 1
              unless on (job, instance, backend, sync, workers)
              copybench_point_noisy%(sel)s == 1
              unless on (job, instance, backend, sync, workers)
              copybench_run_throttled%(sel)s == 1
            ||| % v,
            'for': c.performanceRegressionFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'A copy benchmark combination got slower, by its change-point detector.',
              description: fold(|||
                The {{ $labels.backend }}/{{ $labels.sync }} benchmark at
                workers={{ $labels.workers }} on {{ $labels.instance }} (job {{ $labels.job }})
                runs {{ $value | printf "%.2f" }} times as long as before its latest change
                point, confirmed by the last sweeps. Look for a kernel update, a tighter CPU
                limit or a noisy neighbour on that node; /api/v1/changes on the exporter
                lists the change points.
              |||) + cause('regression'),
            },
          },

          // The node's watch (one CUSUM detector per signal, thresholds for the
          // noise's measured memory, contended sweeps skipped) raises these four; its
          // own persistence comes first (2 sweeps; the host's 3 sweeps and 10
          // minutes), so `for` only rides out a missed scrape.
          // THRESHOLD: the detectors' (1 false alarm in 40,000 sweeps per workload
          // or scaling series, 10,000 for the host); see `cargo bench --bench alerts`.
          // The exporter's [analysis] keys set them: alert_false_alarm_sweeps,
          // alert_sweeps, alert_after and their host_ twins.
          {
            alert: 'CopybenchWorkloadRegression',
            expr: |||
              copybench_workload_alert%(sel)s == 1
            ||| % v,
            'for': c.workloadRegressionFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'One copy benchmark combination got slower than the node it runs on.',
              description: fold(|||
                The {{ $labels.backend }}/{{ $labels.sync }} benchmark at
                workers={{ $labels.workers }} on {{ $labels.instance }} (job {{ $labels.job }})
                got slower against the same sweeps' single-worker runs, so the node's own
                speed does not explain it. Look at what that combination does differently:
                its sync mode's locking, its backend, a change in the kernel's handling of
                appends; `copybench_exporter changes --db FILE --replay` shows when it began.
              |||) + cause('workload'),
            },
          },

          {
            alert: 'CopybenchScalingWorse',
            expr: |||
              copybench_scaling_alert%(sel)s == 1
            ||| % v,
            'for': c.scalingWorseFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Parallel copy benchmark runs lost speed that a single worker did not.',
              description: fold(|||
                The {{ $labels.backend }}/{{ $labels.sync }} benchmark at
                workers={{ $labels.workers }} on {{ $labels.instance }} (job {{ $labels.job }})
                takes longer against its 1-worker runs of the same rounds than it used to:
                a tighter CPU limit, a smaller cpuset or more contention on the appends.
              |||) + cause('scaling'),
            },
          },

          {
            alert: 'CopybenchHostSlower',
            expr: |||
              copybench_host_alert%(sel)s == 1
            ||| % v,
            'for': c.hostSlowerFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: "A node became slower at the copy benchmark's basic file operations.",
              description: fold(|||
                The reference runs on {{ $labels.instance }} (job {{ $labels.job }}) have been
                slower than their baseline for at least 3 sweeps and 30 minutes (unless configured), in sweeps no
                other task contended: every combination is affected alike, so this is the node
                (a kernel or firmware update, a slower CPU or disk), not one combination.
              |||) + cause('host', combination=false),
            },
          },

          // THRESHOLD: 80 % of the sweeps of 30 minutes contended (CPU pressure and
          // steal above 5 % of the 1-worker runs' time or 35 % of the full-width
          // runs', or throttled runs): the exporter's [analysis] contention_share,
          // contention_window, max_contention, max_full_width_contention.
          {
            alert: 'CopybenchHostContended',
            expr: |||
              copybench_contention_alert%(sel)s == 1
            ||| % v,
            'for': c.hostContendedFor,
            labels: { severity: 'info' },
            annotations: {
              summary: 'Other tasks have been taking the CPUs a copy benchmark node needs.',
              description: fold(|||
                Most sweeps of the exporter's contention window (30 minutes unless
                configured) on {{ $labels.instance }}
                (job {{ $labels.job }}) ran beside other tasks wanting the CPUs, or under a
                CPU quota that throttled them; the regression detectors skip such sweeps
                meanwhile. A neighbour that stayed, or a quota: see copybench_run_throttled
                and the dashboard's Throttling and steal row.
              |||) + cause('contention', combination=false),
            },
          },

          // The fallback for setups without the exporter's history (a daemon
          // restarted without a state directory): a PromQL baseline, coarse next to
          // the detector above (it misses slowdowns under about 40 %).
          // THRESHOLD: durationAboveBaselineThreshold, 1.5 = a run takes more than
          // 50% longer than its 3-day median.
          {
            alert: 'CopybenchDurationAboveBaseline',
            expr: |||
              copybench:last_run_duration_seconds:baseline_ratio > %(durationAboveBaselineThreshold)s
            ||| % v,
            'for': c.durationAboveBaselineFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'A copy benchmark combination runs much slower than its own 3-day PromQL baseline.',
              description: fold(|||
                The {{ $labels.backend }}/{{ $labels.sync }} benchmark at
                workers={{ $labels.workers }} on {{ $labels.instance }} (job {{ $labels.job }})
                takes {{ $value | printf "%.2f" }} times its 3-day median duration, for at
                least 3 consecutive runs. Look for a kernel update, a tighter CPU limit or a
                noisy neighbour on that node.
              |||),
            },
          },

          // THRESHOLD: scalingCollapseThreshold, 0.25 = parallel efficiency
          // (speedup / workers) at the highest configured worker count of each
          // backend/sync pair and target (the copybench_pool_workers series equal
          // to their maximum without `workers`).
          // sync="lock" is serial by design and excluded.
          {
            alert: 'CopybenchScalingCollapse',
            expr: |||
              copybench:parallel_efficiency:ratio{sync!="lock"} < %(scalingCollapseThreshold)s
              and
              (
                copybench_pool_workers%(sel)s
                == ignoring (workers) group_left
                max without (workers) (copybench_pool_workers%(sel)s)
              )
            ||| % v,
            'for': c.scalingCollapseFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Adding workers no longer speeds up the copy benchmark.',
              description: fold(|||
                Parallel efficiency of the {{ $labels.backend }}/{{ $labels.sync }} benchmark at
                its highest worker count (workers={{ $labels.workers }}) on {{ $labels.instance }}
                (job {{ $labels.job }}) is {{ $value | humanizePercentage }}, below the
                threshold of %s%%. The node or pod gets fewer usable CPUs than before
                (CPU limit, cpuset, contention).
              |||) % utils.pct(c.scalingCollapseThreshold),
            },
          },

          {
            alert: 'CopybenchOrderingFault',
            expr: |||
              label_replace(copybench_disorder_lines%(lockOrOrdered)s > 0, "fault", "disorder", "", "")
              or
              label_replace(copybench_duplicate_lines%(lockOrOrdered)s > 0, "fault", "duplicate", "", "")
              or
              label_replace(copybench_missing_lines%(lockOrOrdered)s > 0, "fault", "missing", "", "")
              or
              label_replace(copybench_torn_records%(lockOrOrdered)s > 0, "fault", "torn", "", "")
            ||| % v,
            'for': c.orderingFaultFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'A synchronised copy benchmark produced corrupt or out-of-order output.',
              description: fold(|||
                The latest {{ $labels.backend }}/{{ $labels.sync }} run at
                workers={{ $labels.workers }} on {{ $labels.instance }} (job {{ $labels.job }})
                reported a {{ $labels.fault }} count of {{ $value }}. Sync mode {{ $labels.sync }}
                must keep every line exactly once and in order, so locking or append
                atomicity is broken on that node's file system.
              |||),
            },
          },

          // THRESHOLD: runsFailingThreshold, 0.2 = more than one run in five
          // failed over the last hour.
          {
            alert: 'CopybenchRunsFailing',
            expr: |||
              increase(copybench_run_failures_total%(sel)s[1h])
              /
              (increase(copybench_runs_total%(sel)s[1h]) > 0)
              > %(runsFailingThreshold)s
            ||| % v,
            'for': c.runsFailingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Copy benchmark runs keep failing.',
              description: fold(|||
                {{ $value | humanizePercentage }} of the {{ $labels.backend }}/{{ $labels.sync }}
                runs at workers={{ $labels.workers }} on {{ $labels.instance }}
                (job {{ $labels.job }}) failed during the last hour. See
                copybench_run_failure_reasons_total and the exporter's log.
              |||),
            },
          },

          // THRESHOLD: resultsStaleIntervals, 3 sweep intervals without a
          // successful run, the interval in force
          // (copybench_schedule_interval_seconds, which the CPU budget may
          // stretch) but at least resultsStaleMinSeconds, 900s (3 x the 5m
          // default); no alert in the exporter's first 900s either.
          {
            alert: 'CopybenchResultsStale',
            expr: |||
              (time() - copybench_last_success_timestamp_seconds%(sel)s)
              > on (job, instance) group_left
              clamp_min(%(resultsStaleIntervals)s * copybench_schedule_interval_seconds%(sel)s, %(resultsStaleMinSeconds)s)
              and on (job, instance)
              (time() - process_start_time_seconds%(sel)s > %(resultsStaleMinSeconds)s)
            ||| % v,
            'for': c.resultsStaleFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'A copy benchmark combination has produced no successful result for %s sweep intervals.'
                       % v.resultsStaleIntervals,
              description: fold(|||
                The {{ $labels.backend }}/{{ $labels.sync }} benchmark at
                workers={{ $labels.workers }} on {{ $labels.instance }} (job {{ $labels.job }})
                last succeeded {{ $value | humanizeDuration }} ago; dashboards show stale
                numbers. Check copybench_run_in_progress, the failure reasons and the log.
              |||),
            },
          },

          // Assumes the scrape job name contains "copybench" (the examples use
          // job="copybench_exporter"), unless _config.exporterDownSelector or
          // copybenchSelector says otherwise.
          {
            alert: 'CopybenchExporterDown',
            expr: |||
              up{%(exporterDownSelector)s} == 0
            ||| % v,
            'for': c.exporterDownFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Prometheus cannot scrape copybench_exporter.',
              description: fold(|||
                The target {{ $labels.instance }} of job {{ $labels.job }} has been down for
                more than 5 minutes; no benchmark results are collected from it.
              |||),
            },
          },

          // THRESHOLD: any failed write in 30 minutes; a full or read-only state
          // directory fails every one.
          {
            alert: 'CopybenchStateSaveFailing',
            expr: |||
              increase(copybench_state_save_failures_total%(sel)s[30m]) > 0
            ||| % v,
            'for': c.stateSaveFailingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'copybench_exporter cannot write its run history.',
              description: fold(|||
                {{ $value | printf "%.0f" }} writes to the run history of {{ $labels.instance }}
                (job {{ $labels.job }}) failed in the last 30 minutes. Results are still
                exported, but the history, change-point detection and restarts lose them.
                Check the state directory's free space and permissions and the exporter's log.
              |||),
            },
          },

          // THRESHOLD: nodeOutlierThreshold, 3.5, Iglewicz and Hoaglin's cut-off
          // for robust z-scores: the node's typical combination is 3.5 spreads
          // slower than the fleet's median, for 15 minutes (three sweeps at the
          // default interval). A fleet-wide slowdown moves the median, not the
          // z-scores: it shows in copybench:fleet_duration_seconds:median instead.
          {
            alert: 'CopybenchNodeOutlier',
            expr: |||
              instance:copybench_fleet_duration_robust_z:median > %(nodeOutlierThreshold)s
            ||| % v,
            'for': c.nodeOutlierFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'A node runs the copy benchmark much slower than its peers.',
              description: fold(|||
                {{ $labels.instance }} (job {{ $labels.job }}) is {{ $value | printf "%.1f" }}
                robust standard deviations slower than the fleet's median on its typical
                combination. Compare its CPU quota, throttling and steal with its peers'.
              |||),
            },
          },

          {
            alert: 'CopybenchConfigReloadFailed',
            expr: |||
              copybench_config_last_reload_successful%(sel)s == 0
            ||| % v,
            'for': c.configReloadFailedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'copybench_exporter failed to reload its configuration.',
              description: fold(|||
                The last configuration reload of {{ $labels.instance }} (job {{ $labels.job }})
                failed; the exporter keeps running with its previous configuration. Run
                `copybench_exporter check-config` on the file and reload again.
              |||),
            },
          },
        ]),
      },
    ],
  },
}
