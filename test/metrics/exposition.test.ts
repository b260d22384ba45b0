import { describe, expect, it } from 'vitest';
import { MetricRegistry, renderFamilies, Gauge } from '../../protocol/metrics.ts';

describe('Prometheus text exposition', () => {
  it('writes HELP, TYPE and one line per series, labels sorted and escaped', () => {
    const r = new MetricRegistry();
    const c = r.counter('x_requests_total', 'Requests.\nSecond line \\ backslash');
    c.inc({ route: '/services/:id', method: 'GET' });
    c.inc({ method: 'GET', route: '/services/:id' }, 2);
    c.inc({ route: 'a"b\\c\nd', method: 'POST' });
    expect(r.render()).toBe(
      [
        '# HELP x_requests_total Requests.\\nSecond line \\\\ backslash',
        '# TYPE x_requests_total counter',
        'x_requests_total{method="GET",route="/services/:id"} 3',
        'x_requests_total{method="POST",route="a\\"b\\\\c\\nd"} 1',
        '',
      ].join('\n'),
    );
  });

  it('writes cumulative histogram buckets, +Inf, sum and count', () => {
    const r = new MetricRegistry();
    const h = r.histogram('x_seconds', 'Time.', [0.1, 1]);
    h.observe({ cluster: 'c1' }, 0.05);
    h.observe({ cluster: 'c1' }, 0.5);
    h.observe({ cluster: 'c1' }, 5);
    expect(r.render()).toBe(
      [
        '# HELP x_seconds Time.',
        '# TYPE x_seconds histogram',
        'x_seconds_bucket{cluster="c1",le="0.1"} 1',
        'x_seconds_bucket{cluster="c1",le="1"} 2',
        'x_seconds_bucket{cluster="c1",le="+Inf"} 3',
        'x_seconds_sum{cluster="c1"} 5.55',
        'x_seconds_count{cluster="c1"} 3',
        '',
      ].join('\n'),
    );
  });

  it('leaves out series the filter hides, and a family left empty by it, HELP included', () => {
    const r = new MetricRegistry();
    r.counter('x_total', 'Per cluster.').inc({ cluster: 'mine' });
    r.counter('x_total_other', 'Other tenant.').inc({ cluster: 'theirs' });
    r.gauge('x_global', 'Instance-wide.').set({}, 7);
    const extra = new Gauge('x_tasks', 'Tasks.');
    extra.set({ cluster: 'mine', state: 'running' }, 2);
    extra.set({ cluster: 'theirs', state: 'running' }, 5);
    const text = r.render((l) => l.cluster === 'mine', [extra]);
    expect(text).toBe(['# HELP x_total Per cluster.', '# TYPE x_total counter', 'x_total{cluster="mine"} 1', '# HELP x_tasks Tasks.', '# TYPE x_tasks gauge', 'x_tasks{cluster="mine",state="running"} 2', ''].join('\n'));
    expect(text).not.toContain('theirs');
    expect(renderFamilies([], () => true)).toBe('');
  });

  it('refuses invalid names, a family registered twice, and a counter going down', () => {
    const r = new MetricRegistry();
    expect(() => r.counter('bad-name', 'x')).toThrow(/invalid metric name/);
    r.counter('ok_total', 'x');
    expect(() => r.gauge('ok_total', 'x')).toThrow(/registered twice/);
    const c = r.counter('down_total', 'x');
    expect(() => c.inc({}, -1)).toThrow(/cannot go down/);
    expect(() => c.inc({ 'bad-label': 'v' })).toThrow(/invalid label name/);
  });
});
