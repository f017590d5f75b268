/**
 * docs/grafana/janus.json and docs/operations.md name only what exists: every metric a
 * Grafana query (or template variable) references, and every label it groups by, is in a
 * real scrape of a running gateway with traffic (process metrics on); every janus_*,
 * process_* and nodejs_* name operations.md cites is in that scrape too; and every log line
 * the runbooks cite (`msg: ...`) is a message the gateway's source writes.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { memoryLogger, scrape, type Scrape } from './support/management.js';
import { loggedIn, text } from './support/session.js';
import { startStack } from './support/stack.js';

// Compiled tests run from packages/gateway/dist/test.
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const GRAFANA = join(REPO, 'docs', 'grafana', 'janus.json');
const OPERATIONS = join(REPO, 'docs', 'operations.md');
const GATEWAY_SRC = join(REPO, 'packages', 'gateway', 'src');

/** PromQL functions, aggregations and keywords (not metric names). */
const PROMQL_WORDS = new Set(
  'sum min max avg count stddev stdvar topk bottomk quantile count_values group rate irate increase delta idelta deriv histogram_quantile clamp_min clamp_max abs ceil floor round time vector scalar label_replace label_join absent absent_over_time avg_over_time max_over_time min_over_time sum_over_time and or unless bool offset by without on ignoring group_left group_right label_values'.split(' '),
);

/** One query: the metric names and grouping labels it references. */
export function references(expr: string): { metrics: string[]; labels: string[] } {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const labels: string[] = [];
  for (const m of e.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) labels.push(...m[1]!.split(',').map((l) => l.trim()).filter(Boolean));
  e = e
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)/g, (_m, metric: string, label: string) => {
      labels.push(label);
      return ` ${metric} `;
    });
  const metrics = (e.match(/(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? []).filter((w) => !PROMQL_WORDS.has(w));
  return { metrics: [...new Set(metrics)], labels: [...new Set(labels)] };
}

interface GrafanaPanel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: GrafanaPanel[];
}

/** Every query of the dashboard: panel targets (rows' panels included) and template variable queries. */
function queries(d: { panels: GrafanaPanel[]; templating?: { list: { query?: string | { query?: string } }[] } }): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (ps: GrafanaPanel[]): void => {
    for (const p of ps) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}"`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q && /\(/.test(q)) out.push({ where: 'template variable', expr: q });
  }
  return out;
}

/** Names a scrape defines: its `# TYPE` lines (histograms with _bucket, _sum, _count) and its samples. */
function definedNames(s: Scrape): Set<string> {
  const names = new Set(s.samples.map((x) => x.name));
  for (const m of s.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]!);
    if (m[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(m[1]! + suffix);
  }
  return names;
}

function sourceText(dir: string): string {
  return readdirSync(dir)
    .map((f) => join(dir, f))
    .map((p) => (statSync(p).isDirectory() ? sourceText(p) : p.endsWith('.ts') ? readFileSync(p, 'utf8') : ''))
    .join('\n');
}

describe('Grafana dashboard and operations.md against a real scrape', () => {
  let scraped: Scrape;
  let names: Set<string>;
  before(async () => {
    const log = memoryLogger('info');
    const s = await startStack({ logger: log.logger, config: { metrics: { latencySampleEvery: 1, processMetrics: true } } });
    try {
      // Traffic, so the labelled series (disconnects by reason, requests by module) have samples.
      const a = await loggedIn(s, 'tcp', 4001);
      const b = await loggedIn(s, 'ws', 4002);
      for (const c of [a, b]) {
        const r = c.send({ mod: 3, seq: 1, data: text('ping') });
        assert.equal((await c.nextPacket())?.index, r.index);
      }
      a.close();
      await log.line((l) => l.msg === 'closed' && l.uid === '4001');
      scraped = await scrape(s);
      b.close();
    } finally {
      await s.stop();
    }
    names = definedNames(scraped);
  });

  it('the reference extractor finds metric names and grouping labels, not functions, label values or variables', () => {
    assert.deepEqual(
      references('histogram_quantile(0.99, sum by (le, service) (rate(janus_tunnel_roundtrip_seconds_bucket{instance=~"$instance",service="player"}[$__rate_interval]))) / on (instance) up'),
      { metrics: ['janus_tunnel_roundtrip_seconds_bucket', 'up'], labels: ['le', 'service', 'instance'] },
    );
    assert.deepEqual(references('label_values(janus_connections_active, instance)'), { metrics: ['janus_connections_active'], labels: ['instance'] });
    assert.deepEqual(references('sum(rate(a_total[5m])) + rate(b_total[1m] offset 5m)'), { metrics: ['a_total', 'b_total'], labels: [] });
  });

  it('every metric a query references is in the scrape, and every label it groups by is on one of its metrics', () => {
    const d = JSON.parse(readFileSync(GRAFANA, 'utf8')) as Parameters<typeof queries>[0];
    const qs = queries(d);
    assert.ok(qs.length >= 20, `only ${qs.length} queries found`);
    const missing: string[] = [];
    for (const { where, expr } of qs) {
      const r = references(expr);
      assert.ok(r.metrics.length > 0, `${where}: no metric in ${expr}`);
      for (const m of r.metrics) if (!names.has(m)) missing.push(`${where}: metric ${m} (${expr})`);
      // Labels: `le` of a histogram's buckets; `instance` and `job` are the scraper's own (Prometheus adds them).
      const present = new Set(['le', 'instance', 'job', ...scraped.samples.filter((x) => r.metrics.includes(x.name)).flatMap((x) => Object.keys(x.labels))]);
      for (const l of r.labels) if (!present.has(l)) missing.push(`${where}: label ${l} on ${r.metrics.join(', ')} (${expr})`);
    }
    assert.deepEqual(missing, []);
    const used = new Set(qs.flatMap((q) => references(q.expr).metrics.map((m) => m.replace(/_(bucket|sum|count)$/, ''))));
    // Every janus_* metric the gateway exports has a panel.
    const janus = [...scraped.text.matchAll(/^# TYPE (janus_\S+)/gm)].map((m) => m[1]!);
    assert.ok(janus.length >= 18);
    assert.deepEqual(
      janus.filter((m) => !used.has(m)),
      [],
    );
  });

  it('every janus_*, process_* and nodejs_* name docs/operations.md cites is in the scrape', () => {
    const doc = readFileSync(OPERATIONS, 'utf8');
    const cited = [...new Set(doc.match(/\b(?:janus|process|nodejs)_[a-z0-9_]*[a-z0-9](?![a-z0-9_]*\*)/g) ?? [])];
    assert.ok(cited.length >= 20, `only ${cited.length} names found`);
    assert.deepEqual(
      cited.filter((n) => !names.has(n)),
      [],
    );
  });

  it('every log line the runbooks cite (`msg: ...`) is written by the gateway source', () => {
    const doc = readFileSync(OPERATIONS, 'utf8');
    // Quotes escaped in single-quoted strings read as the line writes them.
    const src = sourceText(GATEWAY_SRC).replace(/\\'/g, "'");
    const cited = [...doc.matchAll(/`msg: ([^`]+)`/g)].map((m) => m[1]!);
    assert.ok(cited.length >= 10, `only ${cited.length} log lines cited`);
    // `<...>` stands for a value the line carries: each fixed piece around it must be in the source.
    const missing = cited.filter((c) =>
      c
        .split(/<[^>]+>/)
        .map((p) => p.trim())
        .filter(Boolean)
        .some((p) => !src.includes(p)),
    );
    assert.deepEqual(missing, []);
  });
});
