// Small functions shared by the rules, alerts and dashboards.
{
  // A number as a person writes it: 0.05, 3.5, 900 (std.toString gives
  // 0.050000000000000003). Six decimals at most.
  num(x)::
    if x == std.floor(x) && std.abs(x) < 1e15 then std.toString(x)
    else
      local n = std.floor(std.abs(x) * 1e6 + 0.5);
      local whole = std.floor(n / 1e6);
      local frac = std.rstripChars(std.substr(std.toString(1e6 + n - whole * 1e6), 1, 6), '0');
      (if x < 0 then '-' else '') + std.toString(whole) + (if frac == '' then '' else '.' + frac),

  // A ratio as a percentage without the sign: 0.25 -> '25', 0.125 -> '12.5'.
  pct(x):: self.num(x * 100),

  // The `{...}` of a vector selector from label matchers, leaving out empty
  // ones; '' when none is left, so that `metric` + selector([]) is `metric`.
  selector(matchers)::
    local set = std.filter(function(m) m != '', matchers);
    if set == [] then '' else '{' + std.join(', ', set) + '}',

  // A block of text as one line, as YAML's folded style (`>-`) reads it.
  fold(text):: std.join(' ', std.split($.chomp(text), '\n')),

  // Text without its final newline (text blocks end with one).
  chomp(text)::
    if std.endsWith(text, '\n') then std.substr(text, 0, std.length(text) - 1) else text,

  // An object's fields for `%(name)s` formatting: numbers as num() writes them.
  formatArgs(obj):: {
    [k]: if std.isNumber(obj[k]) then $.num(obj[k]) else obj[k]
    for k in std.objectFields(obj)
  },

  // A string as a JSON (and YAML) double-quoted scalar. std.escapeStringJson
  // does the same character by character, which jsonnet 0.18 takes seconds
  // for on a dashboard; the strings here hold no other control characters.
  quote(s)::
    local r(str, from, to) = std.strReplace(str, from, to);
    '"' + r(r(r(r(r(s, '\\', '\\\\'), '"', '\\"'), '\n', '\\n'), '\t', '\\t'), '\r', '\\r') + '"',

  // orderedKeys(first, last)(obj) is obj's keys: those in `first` in that
  // order, the rest but those in `last` sorted, then those in `last`.
  orderedKeys(first, last=[])::
    local listed = { [k]: true for k in first + last };
    function(obj)
      [k for k in first if std.objectHas(obj, k)]
      + [k for k in std.objectFields(obj) if !std.objectHas(listed, k)]
      + [k for k in last if std.objectHas(obj, k)],

  local scalar(v) =
    if std.isString(v) then $.quote(v)
    else if std.isNumber(v) then $.num(v)
    else if std.isBoolean(v) then (if v then 'true' else 'false')
    else if v == null then 'null'
    else error 'cannot render ' + std.type(v),

  // JSON with two-space indentation, empty arrays and objects as [] and {},
  // numbers as num() writes them and keys in orderedKeys(keyOrder, keyLast)
  // order.
  manifestJson(value, keyOrder=[], keyLast=[])::
    local keys = $.orderedKeys(keyOrder, keyLast);
    local render(v, indent) =
      local inner = indent + '  ';
      if std.isObject(v) && std.length(v) > 0 then
        '{\n' + std.join(',\n', [
          inner + $.quote(k) + ': ' + render(v[k], inner)
          for k in keys(v)
        ]) + '\n' + indent + '}'
      else if std.isObject(v) then '{}'
      else if std.isArray(v) && std.length(v) > 0 then
        '[\n' + std.join(',\n', [inner + render(x, inner) for x in v]) + '\n' + indent + ']'
      else if std.isArray(v) then '[]'
      else scalar(v);
    render(value, ''),

  // YAML in the style of the Prometheus documentation: lists indented under
  // their key, a blank line between list items that are objects, keys in
  // orderedKeys(keyOrder) order (keys are written plain: they must be simple
  // words).
  // Multi-line strings become literal blocks (|), long single-line ones
  // folded blocks (>-) wrapped at `width`, simple words stay plain, other
  // strings are double-quoted.
  manifestYaml(doc, keyOrder=[], width=80)::
    local keys = $.orderedKeys(keyOrder);
    local charSet(chars) = { [ch]: true for ch in std.stringChars(chars) };
    local letters = charSet('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ');
    local digits = charSet('0123456789');
    local units = charSet('smhdwy');
    local wordChars = letters + digits + charSet('_.:/-');
    local durationChars = digits + units;
    local reserved = { [w]: true for w in ['y', 'n', 'yes', 'no', 'true', 'false', 'on', 'off', 'null'] };
    local isBlock(s) =
      std.length(s) > 1 && std.endsWith(s, '\n') && !std.endsWith(s, '\n\n')
      && !std.startsWith(s, ' ') && !std.startsWith(s, '\n');
    local isFoldable(s) =
      local lacks(part) = std.length(std.strReplace(s, part, '')) == std.length(s);
      std.length(s) > width && lacks('\n') && lacks('  ') && lacks('\t')
      && !std.startsWith(s, ' ') && !std.endsWith(s, ' ');
    // Words packed into lines of at most `width` characters; a Go template
    // action ({{ ... }}) is kept on one line, however long.
    local wrap(s) =
      local words = std.split(s, ' ');
      local has(word, part) = std.length(std.strReplace(word, part, '')) < std.length(word);
      // lines so far; open: inside an action. (tailstrict: evaluated as it
      // goes, not as a chain of a hundred pending steps.)
      local go(i, lines, open) =
        if i == std.length(words) then lines
        else
          local word = words[i];
          local n = std.length(lines);
          local joined =
            if n == 0 then [word]
            else if open || std.length(lines[n - 1]) + 1 + std.length(word) <= width
            then lines[:n - 1] + [lines[n - 1] + ' ' + word]
            else lines + [word];
          // After the word's last `}}`, an action is open if a `{{` follows.
          local afterClose = std.split(std.strReplace(word, '}}', '\u0001'), '\u0001');
          local stillOpen =
            if has(word, '}}') then has(afterClose[std.length(afterClose) - 1], '{{')
            else open || has(word, '{{');
          go(i + 1, joined, stillOpen) tailstrict;
      go(0, [], false);
    // A string YAML reads as that string without quotes: a simple word
    // (copybench.rules, warning, PrometheusRule) or a duration (5m).
    local isPlain(s) =
      local chars = std.stringChars(s);
      local all(set) = std.length(std.filter(function(ch) !std.objectHas(set, ch), chars)) == 0;
      std.length(s) > 0 && std.length(s) <= width && (
        (std.objectHas(letters, chars[0]) && all(wordChars)
         && !std.objectHas({ ':': true, '.': true }, chars[std.length(chars) - 1])
         && !std.objectHas(reserved, std.asciiLower(s)))
        || (std.objectHas(digits, chars[0]) && all(durationChars)
            && std.objectHas(units, chars[std.length(chars) - 1]))
      );
    local string(s, indent) =
      if isBlock(s) then
        '|\n' + std.join('', [
          (if line == '' then '' else indent + line) + '\n'
          for line in std.split($.chomp(s), '\n')
        ])
      else if isFoldable(s) then
        '>-\n' + std.join('', [indent + line + '\n' for line in wrap(s)])
      else if isPlain(s) then s + '\n'
      else $.quote(s) + '\n';
    // A value after "key:" or "- ": the text from there on, ending with a
    // newline. (One `local` for the three: they call each other.)
    local value(v, indent) =
      if std.isObject(v) && std.length(v) > 0 then '\n' + object(v, indent)
      else if std.isArray(v) && std.length(v) > 0 then '\n' + array(v, indent)
      else if std.isObject(v) then ' {}\n'
      else if std.isArray(v) then ' []\n'
      else if std.isString(v) then ' ' + string(v, indent)
      else ' ' + scalar(v) + '\n',
    object(o, indent) = std.join('', [
      local v = o[k];
      indent + k + ':' + (
        if std.isString(v) then ' ' + string(v, indent + '  ')
        else if std.isArray(v) && std.length(v) > 0 then '\n' + array(v, indent + '  ')
        else value(v, indent + '  ')
      )
      for k in keys(o)
    ]),
    array(a, indent) = std.join(
      if std.length(std.filter(function(x) !std.isObject(x), a)) == 0 then '\n' else '',
      [
        local item = if std.isObject(x) && std.length(x) > 0
        then object(x, indent + '  ')
        else indent + '  ' + std.lstripChars(value(x, indent + '  '), ' ');
        indent + '- ' + std.substr(item, std.length(indent) + 2, std.length(item))
        for x in a
      ]
    );
    if std.isObject(doc) then object(doc, '') else error 'manifestYaml: expected an object',
}
