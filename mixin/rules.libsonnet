// Recording rules: groups copybench.rules and copybench.fleet.
// Every rule is documented in config/prometheus/README.md.
local utils = import 'lib/utils.libsonnet';

{
  local c = $._config,
  // %(sel)s: the copybenchSelector of a raw copybench_* selector; the
  // thresholds as written.
  local v = utils.formatArgs(c) { sel: utils.selector([c.copybenchSelector]) },

  prometheusRules+:: {
    groups+: [
      {
        name: 'copybench.rules',
        rules: [
          // Duration of the latest run, only where that run succeeded (failed or
          // not-yet-run combinations would distort ratios and baselines) and the
          // combination's latest sweep was not throttled by its CPU quota (a
          // throttled run measures the quota, not the node).
          {
            record: 'copybench:last_run_duration_seconds:successful',
            expr: |||
              copybench_last_run_duration_seconds%(sel)s > 0
              and
              copybench_last_run_success%(sel)s == 1
              unless
              copybench_run_throttled%(sel)s == 1
            ||| % v,
          },

          // Speedup against one worker of the same backend and sync mode:
          // duration(workers="1") / duration(workers=N).
          {
            record: 'copybench:speedup:ratio',
            expr: |||
              max without (workers) (copybench:last_run_duration_seconds:successful{workers="1"})
              / ignoring (workers) group_right
              copybench:last_run_duration_seconds:successful
            |||,
          },

          // Parallel efficiency: speedup / N (1 = perfect scaling). N is the value
          // of copybench_pool_workers, which carries the same labels as the result
          // gauges (target labels, backend, sync, workers), so the division
          // matches one to one.
          {
            record: 'copybench:parallel_efficiency:ratio',
            expr: |||
              copybench:speedup:ratio
              / copybench_pool_workers%(sel)s
            ||| % v,
          },

          // Robust baseline of each combination: the median of its successful run
          // durations over the previous 3 days, leaving out the latest hour so that
          // a fresh regression does not hide itself. Needs at least 12 sampled
          // points (one hour of history) before it exists.
          {
            record: 'copybench:last_run_duration_seconds:median3d',
            expr: |||
              quantile_over_time(0.5, copybench:last_run_duration_seconds:successful[3d:5m] offset 1h)
              and
              count_over_time(copybench:last_run_duration_seconds:successful[3d:5m] offset 1h) >= 12
            |||,
          },

          // Latest duration relative to the baseline (1 = as usual, 2 = twice as slow).
          {
            record: 'copybench:last_run_duration_seconds:baseline_ratio',
            expr: |||
              copybench:last_run_duration_seconds:successful
              / copybench:last_run_duration_seconds:median3d
            |||,
          },
        ],
      },

      // Fleet views: each combination's latest duration across the instances of
      // a job (Prometheus is the distributed engine), and how far each instance
      // is from its peers, robustly (median and MAD, not mean and standard
      // deviation, so that the slow node does not hide itself).
      {
        name: 'copybench.fleet',
        rules: [
          // The latest successful run's duration, throttled or not: a node that
          // its CPU quota holds back is slower than its peers, and the fleet view
          // says so (the throttling panels say why).
          {
            record: 'copybench:last_run_duration_seconds:succeeded',
            expr: |||
              copybench_last_run_duration_seconds%(sel)s > 0
              and
              copybench_last_run_success%(sel)s == 1
            ||| % v,
          },

          // The fleet median of each combination's latest duration.
          {
            record: 'copybench:fleet_duration_seconds:median',
            expr: |||
              quantile without (instance) (0.5, copybench:last_run_duration_seconds:succeeded)
            |||,
          },

          // The fleet's median absolute deviation from it.
          {
            record: 'copybench:fleet_duration_seconds:mad',
            expr: |||
              quantile without (instance) (0.5,
                abs(
                  copybench:last_run_duration_seconds:succeeded
                  - on (job, backend, sync, workers) group_left
                  copybench:fleet_duration_seconds:median
                )
              )
            |||,
          },

          // The spread a robust z-score divides by: 1.4826 x MAD (the standard
          // deviation for normal data), but at least 5 % of the median, about the
          // sweep-to-sweep noise of a median on a shared cloud machine, so that a
          // small fleet of similar nodes does not make every small difference huge.
          // Only for fleets of at least 3 instances.
          // THRESHOLD: the 5 % floor, _config.fleetScaleFloor (the latest runs
          // vary more than medians do); with the alert's 3.5, a node must be at
          // least 17.5 % slower than its peers' median to be an outlier. The
          // fleet size: _config.fleetMinInstances.
          {
            record: 'copybench:fleet_duration_seconds:scale',
            expr: |||
              (
                (1.4826 * copybench:fleet_duration_seconds:mad > %(fleetScaleFloor)s * copybench:fleet_duration_seconds:median)
                or
                (%(fleetScaleFloor)s * copybench:fleet_duration_seconds:median)
              )
              and on (job, backend, sync, workers)
              count without (instance) (copybench:last_run_duration_seconds:succeeded) >= %(fleetMinInstances)s
            ||| % v,
          },

          // Each instance's robust z-score: how many spreads its median is above
          // the fleet's (negative: faster).
          {
            record: 'copybench:fleet_duration_seconds:robust_z',
            expr: |||
              (
                copybench:last_run_duration_seconds:succeeded
                - on (job, backend, sync, workers) group_left
                copybench:fleet_duration_seconds:median
              )
              / on (job, backend, sync, workers) group_left
              copybench:fleet_duration_seconds:scale
            |||,
          },

          // One number per instance: the median of its z-scores over every
          // combination, so one odd combination does not make a node an outlier.
          {
            record: 'instance:copybench_fleet_duration_robust_z:median',
            expr: |||
              quantile without (backend, sync, workers) (0.5, copybench:fleet_duration_seconds:robust_z)
            |||,
          },
        ],
      },
    ],
  },
}
