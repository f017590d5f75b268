/**
 * The live dashboard, `GET /` on the management server: one static HTML page with a small
 * inline script that polls `GET /stats/dashboard` (sampler.ts) once a second and draws its
 * charts as SVG polylines. Nothing is fetched from anywhere else (no CDN, no font, no
 * framework), and the page sets a Content-Security-Policy that allows only its own origin.
 * What it shows: docs/operations.md, "Dashboard".
 */

/** The Content-Security-Policy the page is served with (its inline style and script, same-origin fetches). */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

/** The page (UTF-8 HTML). */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Janus gateway</title>
<style>
  :root { color-scheme: light; --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; --card: #fff; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  #status { color: var(--muted); }
  #status[data-state="live"]::before { content: "\\25CF  "; color: #12b76a; }
  #status[data-state="error"]::before { content: "\\25CF  "; color: #f04438; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 14px; padding: 14px 20px; }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
  h2 { font-size: 13px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 6px; }
  .figures { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 4px; }
  .figure b { font-size: 19px; font-variant-numeric: tabular-nums; }
  .figure span { color: var(--muted); margin-left: 4px; }
  svg.chart { width: 100%; height: 120px; display: block; }
  svg.chart .grid { stroke: var(--line); stroke-width: 1; }
  svg.chart text { fill: var(--muted); font-size: 10px; }
  svg.chart polyline { fill: none; stroke-width: 1.8; vector-effect: non-scaling-stroke; }
  .legend { color: var(--muted); font-size: 12px; }
  .legend i { display: inline-block; width: 10px; height: 3px; margin: 0 4px 2px 10px; vertical-align: middle; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { color: var(--muted); font-weight: 500; font-size: 12px; }
  td.n, th.n { text-align: right; }
  #backends td:first-child { white-space: normal; }
  .bar { height: 6px; background: #2e90fa; border-radius: 3px; }
  .empty { color: var(--muted); }
</style>
</head>
<body>
<header><h1>Janus gateway <span id="gateway"></span></h1><span id="status" data-state="loading">loading</span></header>
<main>
  <section id="sec-connections">
    <h2>Connections</h2>
    <div class="figures">
      <div class="figure"><b id="connections">-</b><span>open</span></div>
      <div class="figure"><b id="sessions">-</b><span>sessions</span></div>
      <div class="figure"><b id="transports">-</b><span>tcp / ws</span></div>
    </div>
    <svg class="chart" id="chart-connections" viewBox="0 0 400 120" preserveAspectRatio="none"></svg>
    <div class="legend"><i style="background:#2e90fa"></i>connections<i style="background:#12b76a"></i>sessions</div>
  </section>
  <section id="sec-msgs">
    <h2>Messages</h2>
    <div class="figures">
      <div class="figure"><b id="msgs">-</b><span>msgs/s</span></div>
      <div class="figure"><b id="errors-rate">-</b><span>errors/s</span></div>
    </div>
    <svg class="chart" id="chart-msgs" viewBox="0 0 400 120" preserveAspectRatio="none"></svg>
    <div class="legend"><i style="background:#7a5af8"></i>msgs/s<i style="background:#f04438"></i>errors/s</div>
  </section>
  <section id="sec-latency">
    <h2>Request latency</h2>
    <div class="figures">
      <div class="figure"><b id="p50">-</b><span>p50</span></div>
      <div class="figure"><b id="p90">-</b><span>p90</span></div>
      <div class="figure"><b id="p99">-</b><span>p99</span></div>
      <div class="figure"><b id="proc99">-</b><span>gateway p99</span></div>
    </div>
    <svg class="chart" id="chart-latency" viewBox="0 0 400 120" preserveAspectRatio="none"></svg>
    <div class="legend"><i style="background:#12b76a"></i>p50<i style="background:#f79009"></i>p90<i style="background:#f04438"></i>p99 (ms, <span id="window"></span> s window)</div>
  </section>
  <section id="sec-modules">
    <h2>Traffic per module</h2>
    <table><thead><tr><th>module</th><th class="n">msgs/s</th><th style="width:35%"></th><th class="n">total</th></tr></thead><tbody id="modules"></tbody></table>
  </section>
  <section id="sec-backends">
    <h2>Backends and tunnels</h2>
    <table><thead><tr><th>service</th><th>instance</th><th>color</th><th class="n">weight</th><th class="n">tunnels</th></tr></thead><tbody id="backends"></tbody></table>
  </section>
  <section id="sec-errors">
    <h2>Recent errors</h2>
    <table><thead><tr><th>time</th><th>kind</th><th>type</th><th class="n">count</th></tr></thead><tbody id="errors"></tbody></table>
  </section>
</main>
<script>
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';
  var $ = function (id) { return document.getElementById(id); };
  var fmt = function (n) { return n === null || n === undefined ? '-' : (Math.round(n * 10) / 10).toLocaleString('en-US'); };
  var fmtMs = function (n) { return n === null || n === undefined ? '-' : (n < 10 ? n.toFixed(2) : n.toFixed(1)) + ' ms'; };
  var time = function (t) { return new Date(t).toLocaleTimeString('en-GB', { hour12: false }); };

  function el(tag, attrs, text) {
    var e = tag.indexOf('svg:') === 0 ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** Draws series (arrays of numbers or nulls, one per sample) into an SVG chart. */
  function chart(svg, samples, series) {
    var W = 400, H = 120, top = 8, bottom = 14, left = 34;
    var max = 0;
    series.forEach(function (s) { samples.forEach(function (x) { var v = s.get(x); if (v !== null && v > max) max = v; }); });
    max = niceMax(max);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    for (var g = 0; g <= 2; g++) {
      var y = top + ((H - top - bottom) * g) / 2;
      svg.appendChild(el('svg:line', { class: 'grid', x1: left, x2: W, y1: y, y2: y }));
      svg.appendChild(el('svg:text', { x: 0, y: y + 3 }, fmt((max * (2 - g)) / 2)));
    }
    var n = samples.length;
    if (n > 0) {
      svg.appendChild(el('svg:text', { x: left, y: H - 2 }, time(samples[0].t)));
      svg.appendChild(el('svg:text', { x: W - 44, y: H - 2 }, time(samples[n - 1].t)));
    }
    series.forEach(function (s) {
      var pts = [];
      samples.forEach(function (x, i) {
        var v = s.get(x);
        if (v === null) return;
        var px = n <= 1 ? W : left + ((W - left) * i) / (n - 1);
        var py = top + (H - top - bottom) * (1 - (max > 0 ? v / max : 0));
        pts.push(px.toFixed(1) + ',' + py.toFixed(1));
      });
      var attrs = { points: pts.join(' '), stroke: s.color, 'data-series': s.name, 'data-points': pts.length };
      if (s.dash) attrs['stroke-dasharray'] = '5 4';
      svg.appendChild(el('svg:polyline', attrs));
    });
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function rows(tbody, list, cells, empty) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    if (list.length === 0) {
      var tr = el('tr'); var td = el('td', { colspan: 5, class: 'empty' }, empty); tr.appendChild(td); tbody.appendChild(tr);
      return;
    }
    list.forEach(function (x) {
      var tr = el('tr');
      cells(x).forEach(function (c) {
        var td = el('td', c.cls ? { class: c.cls } : {});
        if (c.node) td.appendChild(c.node); else td.textContent = c.text;
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }

  function render(d) {
    var s = d.samples;
    var last = s[s.length - 1];
    $('gateway').textContent = d.gateway;
    $('window').textContent = String(d.windowS);
    if (last) {
      $('connections').textContent = fmt(last.connections);
      $('sessions').textContent = fmt(last.sessions);
      $('transports').textContent = last.tcp + ' / ' + last.ws;
      $('msgs').textContent = fmt(last.msgsPerS);
      $('errors-rate').textContent = fmt(last.errorsPerS);
      $('p50').textContent = fmtMs(last.p50Ms);
      $('p90').textContent = fmtMs(last.p90Ms);
      $('p99').textContent = fmtMs(last.p99Ms);
      $('proc99').textContent = fmtMs(last.processingP99Ms);
    }
    chart($('chart-connections'), s, [
      { name: 'connections', color: '#2e90fa', get: function (x) { return x.connections; } },
      { name: 'sessions', color: '#12b76a', dash: true, get: function (x) { return x.sessions; } },
    ]);
    chart($('chart-msgs'), s, [
      { name: 'msgs', color: '#7a5af8', get: function (x) { return x.msgsPerS; } },
      { name: 'errors', color: '#f04438', get: function (x) { return x.errorsPerS; } },
    ]);
    chart($('chart-latency'), s, [
      { name: 'p50', color: '#12b76a', get: function (x) { return x.p50Ms; } },
      { name: 'p90', color: '#f79009', get: function (x) { return x.p90Ms; } },
      { name: 'p99', color: '#f04438', get: function (x) { return x.p99Ms; } },
    ]);
    var mods = d.modules.filter(function (m) { return m.total > 0; }).sort(function (a, b) { return b.perS - a.perS || b.total - a.total; });
    var top = mods.reduce(function (a, m) { return Math.max(a, m.perS); }, 0);
    rows($('modules'), mods, function (m) {
      var bar = el('div', { class: 'bar', style: 'width:' + (top > 0 ? Math.max(1, (100 * m.perS) / top) : 0) + '%' });
      return [{ text: m.name }, { text: fmt(m.perS), cls: 'n' }, { node: bar }, { text: fmt(m.total), cls: 'n' }];
    }, 'no traffic yet');
    var inst = [];
    d.backends.forEach(function (b) {
      if (b.instances.length === 0) inst.push({ service: b.service + ' (' + b.discoveryName + ')', id: 'no instance', color: '', weight: '', tunnels: b.tunnelsOpen });
      b.instances.forEach(function (i) { inst.push({ service: b.service + ' (' + b.discoveryName + ')', id: i.id, color: i.color || '-', weight: i.weight, tunnels: i.tunnelsOpen }); });
    });
    rows($('backends'), inst, function (i) {
      return [{ text: i.service }, { text: i.id }, { text: i.color }, { text: String(i.weight), cls: 'n' }, { text: String(i.tunnels), cls: 'n' }];
    }, 'no services');
    rows($('errors'), d.errors.slice(-20).reverse(), function (e) {
      return [{ text: time(e.t) }, { text: e.kind }, { text: e.type }, { text: String(e.count), cls: 'n' }];
    }, 'none in the last ' + Math.round((d.capacity * d.intervalMs) / 60000) + ' minutes');
  }

  var interval = 1000;
  function poll() {
    fetch('stats/dashboard', { cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) throw new Error('GET /stats/dashboard answered ' + r.status);
        return r.json();
      })
      .then(function (d) {
        interval = d.intervalMs;
        render(d);
        $('status').dataset.state = 'live';
        $('status').textContent = 'live, updated ' + time(d.now);
        $('status').dataset.updates = String(Number($('status').dataset.updates || '0') + 1);
      })
      .catch(function (e) {
        $('status').dataset.state = 'error';
        $('status').textContent = String(e.message || e);
      })
      .then(function () { setTimeout(poll, interval); });
  }
  poll();
})();
</script>
</body>
</html>
`;
