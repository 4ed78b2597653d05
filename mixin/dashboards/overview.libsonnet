// The copybench overview dashboard: how a node or pod scales with workers and
// whether its benchmark output stays correct. Rows and panels are described in
// dashboards/README.md. A function of the mixin's _config (title, uid and the
// alert thresholds its panels quote).
local p = import 'panels.libsonnet';
local utils = import '../lib/utils.libsonnet';
local fold = utils.fold;

// Label matchers of the template variables, for %(all)s, %(inst)s and
// %(fleet)s in the queries below.
local matchers = {
  all: 'job=~"$job", instance=~"$instance", backend=~"$backend", sync=~"$sync"',
  inst: 'job=~"$job", instance=~"$instance"',
  fleet: 'job=~"$job", backend=~"$backend", sync=~"$sync"',
};
local t(expr, legend, refId=null) = p.target(expr % matchers, legend, refId);
local i(expr, legend) = p.instant(expr % matchers, legend);
local table(expr, legend) = p.instant(expr % matchers, legend, 'table');

// Legends.
local combo = '{{instance}} {{backend}}/{{sync}} workers={{workers}}';
local pair = '{{instance}} {{backend}}/{{sync}}';
local comboAll = '{{backend}}/{{sync}} workers={{workers}}';
local pairAll = '{{backend}}/{{sync}}';
local instance = '{{instance}}';

local row = p.row;
local ts = p.timeseries;
local th = p.thresholds;
local texts = p.valueTexts;
local bars(id, title, unit, description, expr, w, h) =
  p.workerBars(id, title, unit, description, expr % matchers, w, h);

// The fit of the Universal Scalability Law: one number per backend/sync.
local uslStat(id, title, unit, description, metric, h, decimals=null) =
  p.stat(id, title, unit, description, [t(metric + '{%(all)s}', pair)], 4, h,
         color={ mode: 'palette-classic' }, decimals=decimals, colorMode='value',
         textMode='value_and_name');

// The output-verification counters: red above 0.
local faultStat(id, title, description, metric) =
  p.stat(id, title, 'short', description, [
    t('max by (backend, sync) (' + metric + '{%(all)s})', pairAll),
  ], 6, 6, thresholds=th([['green'], ['red', 1]]), min=0);
local faultNote = |||
  in the latest run, highest value per backend/sync over the selected workers and instances.
  Red above 0. For sync="lock" and sync="ordered" any value above 0 is a fault
  (CopybenchOrderingFault). For sync="none" the workers race by design, so red is expected
  there and not a fault.
|||;

function(config) {
  __inputs: [{
    name: 'DS_PROMETHEUS',
    label: 'Prometheus',
    description: 'The Prometheus data source that scrapes copybench_exporter.',
    type: 'datasource',
    pluginId: 'prometheus',
    pluginName: 'Prometheus',
  }],
  __requires: [
    { type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' },
    { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
  ] + [
    { type: 'panel', id: x[0], name: x[1], version: '' }
    for x in [
      ['barchart', 'Bar chart'],
      ['bargauge', 'Bar gauge'],
      ['stat', 'Stat'],
      ['state-timeline', 'State timeline'],
      ['timeseries', 'Time series'],
    ]
  ],
  title: config.dashboardTitle,
  uid: config.dashboardUid,
  description: 'Copy-workload benchmark results from copybench_exporter: scaling with workers, '
               + 'output verification, CPU placement, scheduling and exporter health.',
  tags: ['copybench', 'prometheus', 'benchmark'],
  timezone: 'browser',
  editable: true,
  graphTooltip: 1,
  liveNow: false,
  fiscalYearStartMonth: 0,
  refresh: '1m',
  schemaVersion: 39,
  version: 1,
  time: { from: 'now-24h', to: 'now' },
  timepicker: {},
  links: [],

  annotations: {
    list: [
      {
        datasource: p.datasource,
        enable: true,
        hide: false,
        iconColor: 'red',
        name: 'Regressions',
        expr: fold(|||
          1000 * max by (instance, backend, sync, workers) (copybench_regression_change_timestamp_seconds{%(all)s}
          and on (instance, backend, sync, workers) copybench_regression_detected{%(all)s} == 1)
        |||) % matchers,
        step: '1m',
        titleFormat: 'Regression {{backend}}/{{sync}} workers={{workers}}',
        tagKeys: 'instance,backend,sync,workers',
        useValueForTime: true,
      },
      {
        datasource: p.datasource,
        enable: true,
        hide: false,
        iconColor: 'blue',
        name: 'Node changed',
        expr: fold(|||
          copybench_host_info{%(inst)s} unless on (instance, kernel, boot_id, cpu_model, microcode,
          online_cpus, cpuset, governor) (copybench_host_info{%(inst)s} offset 10m)
        |||) % matchers,
        step: '1m',
        titleFormat: 'Node {{instance}}: kernel {{kernel}}, cpuset {{cpuset}}, microcode {{microcode}}',
        tagKeys: 'instance,kernel,cpuset',
      },
    ],
  },

  templating: {
    list: [
      {
        name: 'datasource',
        label: 'Data source',
        type: 'datasource',
        query: 'prometheus',
        refresh: 1,
        hide: 0,
        regex: '',
        multi: false,
        includeAll: false,
        description: 'Prometheus data source holding the copybench_exporter metrics.',
        current: { selected: false, text: '${DS_PROMETHEUS}', value: '${DS_PROMETHEUS}' },
      },
      p.queryVariable('job', 'Job', 'label_values(copybench_build_info, job)',
                      'Scrape job of copybench_exporter.', multi=false),
      p.queryVariable('instance', 'Instance', 'label_values(copybench_build_info{job=~"$job"}, instance)',
                      'Exporter instances (one per node when run as a DaemonSet).'),
      p.queryVariable('backend', 'Backend',
                      'label_values(copybench_last_run_duration_seconds{%(inst)s}, backend)' % matchers,
                      'Worker backend: separate OS processes or threads.'),
      p.queryVariable('sync', 'Sync mode',
                      'label_values(copybench_last_run_duration_seconds{%(inst)s}, sync)' % matchers,
                      'none: racy, lock: serial, ordered: parallel reads with in-order appends.'),
    ],
  },

  // Rows and panels in reading order; p.layout() places them by their width
  // and height. The ids stay as they are: links and Grafana's own state use them.
  panels: p.layout([
    row(1, 'Scaling with workers'),
    ts(2, 'Run duration by worker count', 's', fold(|||
      Duration of the latest completed run of every backend/sync/worker combination
      (copybench_last_run_duration_seconds). Each combination runs once per sweep, so the line
      moves in steps. A step up of one combination on one instance is the first sign of a
      performance regression.
    |||), [
      t('copybench_last_run_duration_seconds{%(all)s}', combo),
    ], w=12, h=9, legendCalcs=['lastNotNull', 'min', 'max']),
    bars(3, 'Latest sweep: duration by worker count', 's', fold(|||
      Duration of the latest run of each combination, with the worker count on the x axis and one
      bar per backend/sync. With several instances selected the slowest one is shown. Shorter bars
      at higher worker counts mean the node scales.
    |||),
    'label_join(max by (backend, sync, workers) (copybench_last_run_duration_seconds{%(all)s}), "combination", "/", "backend", "sync")', 12, 9),
    ts(4, 'Speedup against 1 worker', 'suffix:x', fold(|||
      Duration at workers="1" divided by the duration at N workers for the same backend and sync
      mode (recording rule copybench:speedup:ratio). 1x means no gain from parallelism;
      sync="lock" stays near 1x by design.
    |||), [
      t('copybench:speedup:ratio{%(all)s}', combo),
    ], h=9),
    ts(5, 'Parallel efficiency', 'percentunit', fold(|||
      Speedup divided by the worker count (recording rule copybench:parallel_efficiency:ratio).
      100% is perfect scaling. CopybenchScalingCollapse fires when the efficiency at the highest
      configured worker count stays below its threshold (sync="lock" excluded).
    |||), [
      t('copybench:parallel_efficiency:ratio{%(all)s}', combo),
    ], h=9),
    bars(6, 'Latest sweep: speedup by worker count', 'suffix:x', fold(|||
      Speedup against 1 worker from the latest run of each combination, worker count on the x
      axis. With several instances selected the best one is shown. Ideal scaling would make each
      bar as tall as its worker count.
    |||),
    'label_join(max by (backend, sync, workers) (copybench:speedup:ratio{%(all)s}), "combination", "/", "backend", "sync")', 8, 9),

    row(80, 'Fleet: each node against its peers'),
    ts(81, 'Fleet median duration and spread', 's', fold(|||
      Across the instances of the job: the median of each combination's latest successful
      duration, throttled or not (copybench:fleet_duration_seconds:median), and the median
      absolute deviation from it (:mad). A fleet-wide slowdown moves the median; an outlying node
      does not.
    |||), [
      t('copybench:fleet_duration_seconds:median{%(fleet)s}', 'median {{backend}}/{{sync}} workers={{workers}}'),
      t('copybench:fleet_duration_seconds:mad{%(fleet)s}', 'MAD {{backend}}/{{sync}} workers={{workers}}'),
    ], w=12, h=9),
    p.panel('table', 82, 'Instances ranked by robust z-score', 'none', fold(|||
      Each instance's median robust z-score over its combinations
      (instance:copybench_fleet_duration_robust_z:median): how many spreads (1.4826 x MAD, at
      least %(floor)s %% of the median) its latest durations lie above the fleet's. Above %(z)s for
      15 minutes, CopybenchNodeOutlier fires. Needs at least %(n)s instances.
    |||) % {
      floor: utils.pct(config.fleetScaleFloor),
      z: utils.num(config.nodeOutlierThreshold),
      n: utils.num(config.fleetMinInstances),
    }, [
      table('sort_desc(instance:copybench_fleet_duration_robust_z:median{%(inst)s})', instance),
    ], 12, 9) {
      fieldConfig+: {
        defaults+: {
          decimals: 2,
          color: { mode: 'thresholds' },
          thresholds: th([['green'], ['orange', 2], ['red', config.nodeOutlierThreshold]]),
          custom: { cellOptions: { type: 'color-background' } },
        },
      },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        footer: { show: false, reducer: ['sum'], countRows: false, fields: '' },
        sortBy: [{ displayName: 'Value', desc: true }],
      },
      transformations: [{
        id: 'organize',
        options: { excludeByName: { Time: true, __name__: true }, renameByName: { Value: 'robust z' } },
      }],
    },
    bars(83, 'Per-node scaling: speedup by worker count', 'suffix:x', fold(|||
      Speedup against 1 worker from each instance's latest runs, one series per instance and
      combination, worker count on the x axis: the nodes' scaling curves side by side.
    |||),
    'label_join(max by (instance, backend, sync, workers) (copybench:speedup:ratio{%(all)s}), "combination", " ", "instance", "backend", "sync")', 24, 9),

    row(50, 'Scaling model: Universal Scalability Law'),
    ts(51, 'Contention σ', 'percentunit', fold(|||
      Contention (sigma) of the Universal Scalability Law fitted to each backend and sync mode's
      latest sweep (copybench_usl_sigma): the serial share of the work. NaN with fewer than 4 pool
      sizes. With [metrics] detail = "full" the exporter also exports its 95 % interval
      (copybench_usl_sigma_lower, _upper).
    |||), [
      t('copybench_usl_sigma{%(all)s}', pair),
    ], max=1),
    ts(52, 'Coherency κ', 'none', fold(|||
      Coherency (kappa) of the fit (copybench_usl_kappa): the cost of keeping workers consistent,
      which makes throughput fall past a peak. 0 when the fit fell back to Amdahl's law. With
      [metrics] detail = "full" the exporter also exports its 95 % interval
      (copybench_usl_kappa_lower, _upper).
    |||), [
      t('copybench_usl_kappa{%(all)s}', pair),
    ]),
    uslStat(53, 'Peak pool size N*', 'none', fold(|||
      Pool size of peak throughput, sqrt((1-sigma)/kappa) (copybench_usl_peak_workers). No value
      when the fit has no finite peak (Amdahl, or a peak beyond 100 times the largest measured
      pool).
    |||), 'copybench_usl_peak_workers', 8, decimals=1),
    uslStat(54, 'Fit quality R²', 'percentunit', fold(|||
      Share of the throughput's variance the fit explains (copybench_usl_r_squared). Low values
      mean the curve is not a good summary of this sweep.
    |||), 'copybench_usl_r_squared', 4),
    uslStat(55, 'One-worker throughput λ', 'suffix: lines/s', fold(|||
      Throughput of one worker without contention, from the fit (copybench_usl_lambda), in lines
      per second.
    |||), 'copybench_usl_lambda', 4, decimals=0),
    ts(43, "Speedup of the sweep's medians", 'suffix:x', fold(|||
      Median 1-worker duration over the median N-worker duration of the same sweep
      (copybench_speedup_ratio; pools only: one worker's is 1). With [metrics] detail = "full" the
      exporter also exports its 95 % bootstrap interval (copybench_speedup_lower_ratio,
      _upper_ratio).
    |||), [
      t('copybench_speedup_ratio{%(all)s}', combo),
    ], w=12),
    ts(56, "Parallel efficiency of the sweep's medians", 'percentunit', fold(|||
      Speedup per worker: copybench_speedup_ratio over copybench_pool_workers; 1 is perfect
      scaling. With [metrics] detail = "full" the exporter also exports it divided
      (copybench_parallel_efficiency_ratio), with its interval.
    |||), [
      t('copybench_speedup_ratio{%(all)s} / copybench_pool_workers{%(all)s}', combo),
    ], w=12),

    row(60, 'Regression detection'),
    p.stateTimeline(61, 'Regression detected', fold(|||
      1 while the change-point detectors report a confirmed slowdown of the combination beyond
      [analysis] min_magnitude (copybench_regression_detected); the red marks on the time axis are
      the changes' times.
    |||), [
      t('max by (instance, backend, sync, workers) (copybench_regression_detected{%(all)s})', combo),
    ], 12, 8, 'blue', ['none', 'regression']),
    ts(62, 'Size of the regression', 'suffix:x', fold(|||
      Median duration after the change over before it (copybench_regression_ratio) of each
      combination with a confirmed regression; NaN without one.
    |||), [
      t('copybench_regression_ratio{%(all)s}', combo),
    ], w=12, min=null),
    p.stateTimeline(63, 'Which signal moved: host, contention, workload, scaling', fold(|||
      1 while the node's watch alerts, by signal: host (the node itself got slower:
      copybench_host_alert), contention (other tasks took the CPUs in most sweeps of 30 minutes:
      copybench_contention_alert), workload (one combination against the same sweeps'
      single-worker runs: copybench_workload_alert) and scaling (a multi-worker combination
      against its 1-worker runs: copybench_scaling_alert).
    |||), [
      t('max by (instance) (copybench_host_alert{%(inst)s})', '{{instance}} host'),
      t('max by (instance) (copybench_contention_alert{%(inst)s})', '{{instance}} contention'),
      t('max by (instance, backend, sync, workers) (copybench_workload_alert{%(all)s})', '{{instance}} workload {{backend}}/{{sync}} workers={{workers}}'),
      t('max by (instance, backend, sync, workers) (copybench_scaling_alert{%(all)s})', '{{instance}} scaling {{backend}}/{{sync}} workers={{workers}}'),
    ], 20, 8, 'red', ['quiet', 'alert']),
    p.stat(64, 'Detectors warming up', 'none', fold(|||
      Host, workload and scaling detectors of each node still building their baselines from
      uncontended sweeps (copybench_watch_warming_detectors): until it is 0 their alerts cannot
      fire. 33 sweeps each, 2.75 hours at the default interval on a calm node; a restart keeps
      them, rebuilt from the history.
    |||), [
      t('copybench_watch_warming_detectors{%(inst)s}', instance),
    ], w=4, h=8, thresholds=th([['green'], ['orange', 1]]), textMode='value_and_name'),

    row(40, 'Measurement quality: repeats and intervals'),
    ts(41, 'Median duration with its interval', 's', fold(|||
      Median duration of each combination's runs in its latest sweep
      (copybench_point_median_seconds), with the order-statistic confidence interval of the median
      (copybench_point_median_lower_seconds, _upper_seconds: 95 %, or min to max with fewer than 6
      runs). A change smaller than the interval is not a measured change.
    |||), [
      t('copybench_point_median_seconds{%(all)s}', combo),
      t('copybench_point_median_lower_seconds{%(all)s}', 'lower {{instance}} {{backend}}/{{sync}} workers={{workers}}'),
      t('copybench_point_median_upper_seconds{%(all)s}', 'upper {{instance}} {{backend}}/{{sync}} workers={{workers}}'),
    ], w=12),
    ts(42, 'Run-to-run variation (CV)', 'percentunit', fold(|||
      Coefficient of variation of each combination's runs within its latest sweep
      (copybench_point_cv_ratio). Above [analysis] max_cv (10 % by default) the combination is
      flagged noisy (copybench_point_noisy): its numbers say more about the host than about the
      workload.
    |||), [
      t('copybench_point_cv_ratio{%(all)s}', combo),
      t('max by (instance) (copybench_point_noisy{%(all)s})', '{{instance}} any noisy'),
    ], w=12),
    ts(46, 'Host reference', 's', fold(|||
      Fastest run of each sweep's host reference: the workload on its own input with one thread
      and no coordination, run in every round (copybench_host_reference_seconds). If it rises with
      the durations, the host got slower at everything; if the durations rise alone, the parallel
      workload got worse.
    |||), [
      t('copybench_host_reference_seconds{%(inst)s}', instance),
    ], h=7),
    ts(48, 'What the measuring costs', 'percentunit', fold(|||
      CPU the workload's workers use, in CPUs (rate of copybench_workload_cpu_seconds_total), and
      the interval in force between sweep starts (copybench_schedule_interval_seconds), stretched
      when a sweep used more than [schedule] max_duty_cycle.
    |||), [
      t('rate(copybench_workload_cpu_seconds_total{%(inst)s}[$__rate_interval])', '{{instance}} CPUs used'),
    ], h=7),
    ts(49, 'Interval between sweeps', 's', fold(|||
      Time between sweep starts in force (copybench_schedule_interval_seconds): [schedule]
      interval, or longer when the last sweep's CPU time would exceed the [schedule]
      max_duty_cycle budget.
    |||), [
      t('copybench_schedule_interval_seconds{%(inst)s}', instance),
    ], h=7),

    row(70, 'Throttling and steal'),
    ts(44, 'Throttling by the CPU quota', 's', fold(|||
      Whether the cgroup's CPU quota throttled any run of each combination's latest sweep beyond
      [analysis] max_throttled_ratio of its periods (copybench_run_throttled, highest per
      instance): such runs are left out of the statistics, and a slowdown here is the quota, not
      the node. With [metrics] detail = "full" also the time it held them back
      (copybench_point_throttled_seconds).
    |||), [
      t('max by (instance) (copybench_run_throttled{%(all)s})', '{{instance}} throttled runs', 'B'),
    ]),
    ts(45, 'Steal during runs', 's', fold(|||
      Time the hypervisor gave the host's CPUs to others while each combination ran in its latest
      sweep, summed over the host's CPUs (copybench_point_steal_seconds). A noisy neighbour on the
      host shows here.
    |||), [
      t('copybench_point_steal_seconds{%(all)s}', combo),
    ]),
    p.stat(47, 'CPU quota and cpuset', 'none', fold(|||
      The exporter's CPU quota in cores (copybench_cpu_quota_cores; +Inf without one) and the CPUs
      of its affinity mask (copybench_cpuset_cpus). A quota does not pin workers to CPUs: they may
      run on any CPU of the cpuset.
    |||), [
      t('copybench_cpu_quota_cores{%(inst)s}', 'quota {{instance}}'),
      t('copybench_cpuset_cpus{%(inst)s}', 'cpuset {{instance}}'),
    ], w=8, h=8, thresholds=th([['red'], ['green', 1]]), textMode='value_and_name'),

    row(7, 'Output verification'),
    faultStat(8, 'Disorder', 'Lines out of position (copybench_disorder_lines) ' + fold(faultNote),
              'copybench_disorder_lines'),
    faultStat(9, 'Duplicates', 'Lines written more than once (copybench_duplicate_lines) ' + fold(faultNote),
              'copybench_duplicate_lines'),
    faultStat(10, 'Missing', 'Lines missing from the output (copybench_missing_lines) ' + fold(faultNote),
              'copybench_missing_lines'),
    faultStat(11, 'Torn records', 'Records torn by interleaved writes (copybench_torn_records) ' + fold(faultNote),
              'copybench_torn_records'),

    row(12, 'CPU placement'),
    p.panel('bargauge', 13, 'Records per CPU', 'short', fold(|||
      Records written on each CPU number by the latest runs of every combination together
      (copybench_node_cpu_records, per instance and CPU; with [metrics] detail = "full" also per
      combination, copybench_cpu_records). An even spread means the scheduler used every CPU; a
      few hot CPUs point at a cpuset or affinity restriction.
    |||), [
      i('sum by (instance, cpu) (copybench_node_cpu_records{%(inst)s})', '{{instance}} CPU {{cpu}}'),
    ], 8, 9) {
      fieldConfig+: {
        defaults+: { color: { mode: 'continuous-BlPu' }, min: 0, thresholds: th([['green']]) },
      },
      options: {
        orientation: 'horizontal',
        displayMode: 'gradient',
        valueMode: 'color',
        showUnfilled: true,
        namePlacement: 'auto',
        sizing: 'auto',
        minVizHeight: 10,
        minVizWidth: 0,
        maxVizHeight: 300,
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      },
    },
    ts(14, 'CPUs used', 'short', fold(|||
      Number of distinct CPUs the workers ran on during the latest run (copybench_cpus_used). It
      should reach min(workers, CPUs available to the exporter). Times a worker moved to another
      CPU between tasks: copybench_cpu_migrations, with [metrics] detail = "full".
    |||), [
      t('max by (backend, sync, workers) (copybench_cpus_used{%(all)s})', comboAll),
    ], w=16, h=9, decimals=0),

    row(16, 'Workers and scheduling'),
    ts(17, 'Worker threads', 'short', fold(|||
      Highest thread count seen in the workers' records during the latest run
      (copybench_worker_threads_max: the experiment's "total threads:"; with [metrics] detail =
      "full" also the lowest, copybench_worker_threads_min).
    |||), [
      t('max by (backend, sync, workers) (copybench_worker_threads_max{%(all)s})', 'max {{backend}}/{{sync}} workers={{workers}}'),
    ], h=9, decimals=0),
    ts(18, 'Worker processes', 'short', fold(|||
      Number of worker processes used by the latest run (copybench_worker_processes): one per
      worker for backend="process", a single process for backend="thread".
    |||), [
      t('max by (backend, sync, workers) (copybench_worker_processes{%(all)s})', comboAll),
    ], h=9, decimals=0),
    ts(19, 'Context switches', 'short', fold(|||
      Involuntary context switches of the workers in the latest run (preempted by the scheduler;
      copybench_context_switches{kind="involuntary"}). Rising involuntary switches at a constant
      workload point at a noisy neighbour or a CPU limit. With [metrics] detail = "full" also the
      voluntary ones (waiting for I/O or a lock: the ordered mode's turnstile).
    |||), [
      t('max by (backend, sync, workers) (copybench_context_switches{%(all)s, kind="involuntary"})', 'involuntary {{backend}}/{{sync}} workers={{workers}}', 'B'),
    ], h=9),

    row(20, 'Runs and sweeps'),
    ts(21, 'Run failures by reason', 'opm', fold(|||
      Failed runs per minute by reason, every combination together
      (copybench_run_failure_reasons_total): timeout, io, worker_exit, verify or cancelled;
      copybench_run_failures_total counts each combination's. CopybenchRunsFailing fires when more
      than %s%% of a combination's runs failed over the last hour.
    |||) % utils.pct(config.runsFailingThreshold), [
      t('60 * sum by (instance, reason) (rate(copybench_run_failure_reasons_total{%(inst)s}[$__rate_interval]))', '{{reason}} {{instance}}'),
    ], drawStyle='bars'),
    ts(22, 'Runs', 'opm', fold(|||
      Completed runs per minute, successful or not (copybench_runs_total), by backend/sync.
    |||), [
      t('60 * sum by (backend, sync) (rate(copybench_runs_total{%(all)s}[$__rate_interval]))', pairAll),
    ]),
    ts(23, 'Age of the last run', 's', fold(|||
      Seconds since the latest run of each combination ended (time() -
      copybench_last_run_timestamp_seconds), oldest per backend/sync. With the default schedule it
      should stay under about 5.5 minutes; CopybenchResultsStale fires after 15 minutes without a
      successful run.
    |||), [
      t('max by (backend, sync) (time() - copybench_last_run_timestamp_seconds{%(all)s})', pairAll),
    ], thresholds=th([['green'], ['orange', 600], ['red', 900]])),
    ts(24, 'Sweep duration', 's', fold(|||
      Wall-clock time of the latest full sweep over all configured combinations
      (copybench_sweep_duration_seconds). It must stay well below the sweep interval.
    |||), [
      t('copybench_sweep_duration_seconds{%(inst)s}', instance),
    ], w=12, h=7),
    p.stateTimeline(25, 'Run in progress', fold(|||
      Whether a benchmark run is executing (copybench_run_in_progress). Timings taken while
      something else loads the node are noisier.
    |||), [
      t('copybench_run_in_progress{%(inst)s}', instance),
    ], 12, 7, 'blue', ['idle', 'running']),

    row(26, 'Exporter health'),
    p.stat(27, 'Target up', 'none', fold(|||
      Whether Prometheus could scrape each selected exporter (up). Down for 5 minutes raises
      CopybenchExporterDown.
    |||), [
      t('up{%(inst)s}', instance),
    ], w=4, h=6, thresholds=th([['red'], ['green', 1]]), mappings=texts(['down', 'up']), textMode='value_and_name'),
    p.stat(28, 'Config reload', 'none', fold(|||
      Result of the latest configuration load or reload (copybench_config_last_reload_successful).
      A failed reload keeps the previous configuration running.
    |||), [
      t('copybench_config_last_reload_successful{%(inst)s}', instance),
    ], w=4, h=6, thresholds=th([['red'], ['green', 1]]), mappings=texts(['failed', 'ok']), textMode='value_and_name'),
    p.stat(29, 'Version', 'none', 'Version and revision of the running exporter (copybench_build_info).', [
      i('copybench_build_info{%(inst)s}', '{{instance}}: {{version}} ({{revision}})'),
    ], w=4, h=6, color={ mode: 'fixed', fixedColor: 'text' }, colorMode='none', textMode='name'),
    ts(30, 'Scrape duration', 's', fold(|||
      Time Prometheus needs to scrape /metrics (scrape_duration_seconds). Results are cached, so
      this stays small even while a benchmark runs.
    |||), [
      t('scrape_duration_seconds{%(inst)s}', instance),
    ], w=4, h=6),
    ts(31, 'Resident memory', 'bytes', fold(|||
      Resident memory of the exporter process (process_resident_memory_bytes), without its worker
      processes.
    |||), [
      t('process_resident_memory_bytes{%(inst)s}', instance),
    ], w=4, h=6),
    ts(32, 'Exporter CPU', 'percentunit', fold(|||
      CPU time used by the exporter process per second (process_cpu_seconds_total); 100% is one
      full CPU.
    |||), [
      t('rate(process_cpu_seconds_total{%(inst)s}[$__rate_interval])', instance),
    ], w=4, h=6),
  ]),
}
