// A deterministic prom-client registry with a given number of series, shaped like a busy web
// service: request counters by method/route/status, in-flight gauges by route, one latency
// histogram by route (12 buckets + sum + count per route), and process metrics. Label values are
// ordinary (routes, methods) plus a few that a redaction rule or access rule acts on.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const STATUSES = ['200', '201', '204', '400', '404', '500'];
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * @param {number} series approximate number of series (exact to within one histogram route)
 * @returns {Registry}
 */
export function buildRegistry(series) {
  const registry = new Registry();
  const requests = new Counter({
    name: 'app_http_requests_total',
    help: 'HTTP requests served.',
    labelNames: ['method', 'route', 'status', 'tenant'],
    registers: [registry],
  });
  const inflight = new Gauge({ name: 'app_http_in_flight', help: 'Requests in flight.', labelNames: ['route', 'tenant'], registers: [registry] });
  const latency = new Histogram({
    name: 'app_http_request_duration_seconds',
    help: 'Request latency.',
    labelNames: ['route', 'tenant'],
    buckets: BUCKETS,
    registers: [registry],
  });
  const info = new Gauge({ name: 'app_db_pool_info', help: 'Database pool.', labelNames: ['pool', 'dsn'], registers: [registry] });
  info.set({ pool: 'main', dsn: 'postgres://app:hunter2-not-real@db:5432/app' }, 1);

  // 60 % counters, 10 % gauges, 30 % histogram series (14 series per route: 12 buckets, sum, count).
  const counterSeries = Math.round(series * 0.6);
  const gaugeSeries = Math.round(series * 0.1);
  const histogramRoutes = Math.max(1, Math.round((series * 0.3) / (BUCKETS.length + 3)));
  for (let i = 0; i < counterSeries; i++) {
    const route = `/api/v1/resource${Math.floor(i / (METHODS.length * STATUSES.length))}`;
    requests.inc(
      { method: METHODS[i % METHODS.length], route, status: STATUSES[Math.floor(i / METHODS.length) % STATUSES.length], tenant: i % 2 ? 'blue' : 'green' },
      (i * 7) % 1000,
    );
  }
  for (let i = 0; i < gaugeSeries; i++) inflight.set({ route: `/api/v1/resource${i}`, tenant: i % 2 ? 'blue' : 'green' }, i % 17);
  for (let i = 0; i < histogramRoutes; i++) {
    const labels = { route: `/api/v1/resource${i}`, tenant: i % 2 ? 'blue' : 'green' };
    for (let j = 0; j < 5; j++) latency.observe(labels, ((i + j) % 100) / 97);
  }
  return registry;
}

/** Series count of a registry as exposed (sample lines), for the report. */
export async function seriesCount(registry) {
  const text = await registry.metrics();
  let n = 0;
  for (const line of text.split('\n')) if (line !== '' && line[0] !== '#') n++;
  return n;
}
