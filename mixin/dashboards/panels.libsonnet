// Grafana panels, targets and template variables in the shapes the copybench
// dashboards use (schemaVersion 39). Panels give only their size in gridPos;
// layout() places them.
local ds = { type: 'prometheus', uid: '${datasource}' };

// A field only when a value is given.
local opt(name, value) = if value == null then {} else { [name]: value };

{
  datasource:: ds,

  // A range query (one series per label set over time).
  target(expr, legend, refId=null):: {
    datasource: ds,
    expr: expr,
    legendFormat: legend,
    range: true,
    instant: false,
    format: 'time_series',
    editorMode: 'code',
  } + opt('refId', refId),

  // An instant query: the latest value of each series, or a table.
  instant(expr, legend, format='time_series', refId=null)::
    self.target(expr, legend, refId) { range: false, instant: true, format: format },

  // Threshold steps: thresholds([['green'], ['red', 1]]); the first step has
  // no value (it is the base).
  thresholds(steps):: {
    mode: 'absolute',
    steps: [{ color: steps[0][0], value: null }] + [{ color: s[0], value: s[1] } for s in steps[1:]],
  },

  // Value mappings 0 -> texts[0], 1 -> texts[1], ...
  valueTexts(texts):: [{
    type: 'value',
    options: { [std.toString(i)]: { text: texts[i], index: i } for i in std.range(0, std.length(texts) - 1) },
  }],

  // What every panel has. Targets without a refId get A, B, C... by position.
  panel(type, id, title, unit, description, targets, w, h):: {
    type: type,
    id: id,
    title: title,
    description: description,
    datasource: ds,
    gridPos: { w: w, h: h },
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    targets: std.mapWithIndex(function(i, t) { refId: std.char(std.codepoint('A') + i) } + t, targets),
  },

  row(id, title):: {
    type: 'row',
    id: id,
    title: title,
    collapsed: false,
    panels: [],
    gridPos: { w: 24, h: 1 },
  },

  // Lines over time. legendCalcs turns the legend into a table with those
  // columns; thresholds are drawn as lines.
  timeseries(id, title, unit, description, targets, w=8, h=8, min=0, max=null, decimals=null,
             drawStyle='line', legendCalcs=[], thresholds=null)::
    self.panel('timeseries', id, title, unit, description, targets, w, h) {
      fieldConfig+: {
        defaults+: {
          color: { mode: 'palette-classic' },
          custom: {
            drawStyle: drawStyle,
            lineWidth: 1,
            fillOpacity: 0,
            showPoints: 'auto',
            pointSize: 4,
            spanNulls: true,
            axisPlacement: 'auto',
          } + (if thresholds == null then {} else { thresholdsStyle: { mode: 'line' } }),
        } + opt('min', min) + opt('max', max) + opt('decimals', decimals) + opt('thresholds', thresholds),
      },
      options: {
        legend: {
          displayMode: if legendCalcs == [] then 'list' else 'table',
          placement: 'bottom',
          showLegend: true,
          calcs: legendCalcs,
        },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  // One number per series. color: the field's color object.
  stat(id, title, unit, description, targets, w, h, color={ mode: 'thresholds' }, thresholds=null,
       mappings=null, min=null, decimals=null, colorMode='background', textMode='auto')::
    self.panel('stat', id, title, unit, description, targets, w, h) {
      fieldConfig+: {
        defaults+: { color: color } + opt('thresholds', thresholds) + opt('mappings', mappings)
                   + opt('min', min) + opt('decimals', decimals),
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        orientation: 'auto',
        textMode: textMode,
        colorMode: colorMode,
        graphMode: 'none',
        justifyMode: 'auto',
        wideLayout: true,
        showPercentChange: false,
      },
    },

  // A 0/1 state over time: transparent at 0, `color` at 1, named by texts.
  stateTimeline(id, title, description, targets, w, h, color, texts)::
    self.panel('state-timeline', id, title, 'none', description, targets, w, h) {
      fieldConfig+: {
        defaults+: {
          color: { mode: 'thresholds' },
          thresholds: $.thresholds([['transparent'], [color, 1]]),
          mappings: $.valueTexts(texts),
        },
      },
      options: {
        mergeValues: true,
        showValue: 'never',
        alignValue: 'left',
        rowHeight: 0.9,
        legend: { displayMode: 'list', placement: 'bottom', showLegend: false },
        tooltip: { mode: 'single', sort: 'none' },
      },
    },

  // Bars of the latest sweep with the worker count on the x axis: `expr` is an
  // instant query with a `workers` label and a `combination` label that names
  // each bar's series.
  workerBars(id, title, unit, description, expr, w, h)::
    local convertWorkers(type) = {
      id: 'convertFieldType',
      options: { fields: {}, conversions: [{ targetField: 'workers', destinationType: type }] },
    };
    self.panel('barchart', id, title, unit, description, [$.instant(expr, '__auto', 'table')], w, h) {
      fieldConfig+: {
        defaults+: {
          color: { mode: 'palette-classic' },
          custom: { fillOpacity: 80, lineWidth: 1, gradientMode: 'none', axisPlacement: 'auto', axisLabel: '' },
        },
      },
      options: {
        xField: 'workers',
        orientation: 'vertical',
        showValue: 'auto',
        stacking: 'none',
        groupWidth: 0.7,
        barWidth: 0.9,
        barRadius: 0,
        fullHighlight: false,
        xTickLabelRotation: 0,
        xTickLabelSpacing: 0,
        legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
        tooltip: { mode: 'multi', sort: 'none' },
      },
      // One row per worker count, one column per combination, sorted by the
      // worker count as a number and shown as a category.
      transformations: [
        {
          id: 'groupingToMatrix',
          options: { columnField: 'combination', rowField: 'workers', valueField: 'Value', emptyValue: 'null' },
        },
        { id: 'organize', options: { renameByName: { 'workers\\combination': 'workers' } } },
        convertWorkers('number'),
        { id: 'sortBy', options: { sort: [{ field: 'workers', desc: false }] } },
        convertWorkers('string'),
      ],
    },

  // A template variable from a label's values.
  queryVariable(name, label, query, description, multi=true):: {
    name: name,
    label: label,
    type: 'query',
    datasource: ds,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-' + name },
    refresh: 2,
    sort: 1,
    hide: 0,
    regex: '',
    multi: multi,
    includeAll: multi,
    description: description,
  } + (if multi then { allValue: '.+' } else {}),

  // Places the panels on Grafana's 24-column grid in order: each at the
  // highest free position (then the leftmost) its width fits, as Grafana's
  // gravity would float it. A row spans the full width, below everything.
  layout(panels)::
    // (An object's fields are evaluated anew on every access, locals once:
    // what is read more than once is a local.)
    local place(state, p) =
      local heights = state.heights;
      local w = p.gridPos.w;
      local spot(x) =
        local y = std.foldl(std.max, [heights[i] for i in std.range(x, x + w - 1)], 0);
        { x: x, y: y };
      local spots = [spot(x) for x in std.range(0, 24 - w)];
      local best = std.foldl(function(a, b) if b.y < a.y then b else a, spots[1:], spots[0]);
      local newHeights = [
        if i >= best.x && i < best.x + w then best.y + p.gridPos.h else heights[i]
        for i in std.range(0, 23)
      ];
      local placed = state.placed + [p { gridPos+: { x: best.x, y: best.y } }];
      { heights: newHeights, placed: placed };
    std.foldl(place, panels, { heights: std.makeArray(24, function(i) 0), placed: [] }).placed,
}
