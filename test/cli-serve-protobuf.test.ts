/**
 * `scrapeguard serve --upstream` with a protobuf upstream, in-process (issue #15): a scraper that
 * negotiates protobuf gets protobuf; malformed protobuf from the upstream is a clean 502 whose log
 * line names EXPOSITION_PROTOBUF and never the body, and the sidecar keeps serving afterwards.
 * (test/e2e/prometheus3-native-histograms.test.ts runs the built CLI between two Prometheus 3.5.)
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { serveCommand } from '../src/tools/cli/serve.js';
import { decodeProtobuf, encodeProtobuf, PROTOBUF_CONTENT_TYPE } from '../src/exposition/protobuf/codec.js';
import { runCli } from './helpers/cli.js';
import { freePort, sleep } from './e2e/support.js';

const PROTO_ACCEPT =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1';
const servers: Server[] = [];
afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

describe('serve --upstream with a protobuf upstream', () => {
  it('answers protobuf, and 502 (EXPOSITION_PROTOBUF in the log, not the body) while the upstream sends malformed protobuf', async () => {
    let garbage = false;
    const good = encodeProtobuf([
      { name: 'db_up', type: 'gauge', samples: [{ suffix: '', labels: ['dsn', 'mysql://root:hunter2@db:3306/x'], value: 1 }] },
    ]).body;
    const bad = Buffer.concat([Buffer.from([0x30, 0x0a, 0x05]), Buffer.from('hunter2-in-a-broken-message-body-xxxxxxxxxxxxxxx')]);
    const upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': `${PROTOBUF_CONTENT_TYPE}; escaping=underscores` });
      res.end(garbage ? bad : good);
    });
    servers.push(upstream);
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const port = await freePort();
    let stop!: () => void;
    const stopSignal = new Promise<void>((r) => (stop = r));
    const run = runCli(
      serveCommand,
      ['--web.listen-address', `127.0.0.1:${port}`, '--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/metrics`],
      { stopSignal },
    );
    const get = () => fetch(`http://127.0.0.1:${port}/metrics`, { headers: { accept: PROTO_ACCEPT } }).catch(() => undefined);
    let r = await get();
    for (let i = 0; i < 50 && r === undefined; i++) {
      await sleep(100);
      r = await get();
    }
    expect(r?.status).toBe(200);
    expect(r!.headers.get('content-type')).toBe(`${PROTOBUF_CONTENT_TYPE}; escaping=underscores`);
    const families = decodeProtobuf(new Uint8Array(await r!.arrayBuffer()));
    expect(families.find((f) => f.name === 'db_up')?.samples[0]?.labels).toEqual(['dsn', '[REDACTED]']);

    garbage = true;
    const failed = await get();
    expect(failed?.status).toBe(502);
    expect(await failed!.text()).toBe('Bad Gateway\n');
    garbage = false;
    const after = await get();
    expect(after?.status).toBe(200);
    const self = decodeProtobuf(new Uint8Array(await after!.arrayBuffer())).find((f) => f.name === 'scrapeguard_source_errors');
    expect(self?.samples.find((s) => s.labels.includes('parse'))?.value).toBe(1);
    stop();
    const result = await run;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('EXPOSITION_PROTOBUF');
    expect(result.stderr).not.toContain('hunter2');
  });
});
