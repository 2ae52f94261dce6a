// Shared plumbing of the examples (not an example itself): command-line flags, a development PKI
// generated on first run (or read from --pki DIR), the web-config the examples enforce, and the
// lines every example prints so a person — or test/examples.test.ts — knows where to scrape.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateDevPki } from 'scrapeguard/pki';

/** `--port N` (default given by the example; 0 picks a free one) and `--pki DIR`. */
export function exampleArgs(defaultPort) {
  const { values } = parseArgs({ options: { port: { type: 'string' }, pki: { type: 'string' } } });
  const port = values.port === undefined ? defaultPort : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${values.port}`);
  return { port, pkiDir: values.pki };
}

/**
 * The PKI in `dir` (created when missing: CA, server cert for localhost/127.0.0.1/::1, client
 * cert CN=prometheus), or in a new temporary directory. Keys are written 0600.
 */
export async function examplePki(dir) {
  const where = resolve(dir ?? mkdtempSync(join(tmpdir(), 'scrapeguard-example-')));
  if (!existsSync(join(where, 'client.key'))) {
    mkdirSync(where, { recursive: true, mode: 0o700 });
    const { ca, server, client } = await generateDevPki();
    for (const [name, pair] of Object.entries({ ca, server, client })) {
      writeFileSync(join(where, `${name}.crt`), pair.certPem);
      writeFileSync(join(where, `${name}.key`), pair.keyPem, { mode: 0o600 });
    }
  }
  const read = (name) => readFile(join(where, name), 'utf8');
  return {
    dir: where,
    file: (name) => join(where, name),
    /** TLS options for an application's own HTTPS server: it asks for a client cert, the guard decides. */
    appTls: { cert: await read('server.crt'), key: await read('server.key'), ca: await read('ca.crt'), requestCert: true, rejectUnauthorized: false },
  };
}

/** web-config the examples enforce: TLS, and only a client certificate from the CA with SAN `prometheus`. */
export function exampleWebConfig(pki) {
  return {
    tls_server_config: {
      cert_file: pki.file('server.crt'),
      key_file: pki.file('server.key'),
      client_ca_file: pki.file('ca.crt'),
      client_auth_type: 'RequireAndVerifyClientCert',
      client_allowed_sans: ['prometheus'],
    },
  };
}

/** Prints where the metrics are and the curl that proves it (the test reads the `metrics:` and `pki:` lines). */
export function announce(metricsUrl, pki, extra = {}) {
  for (const [k, v] of Object.entries(extra)) console.log(`${k}: ${v}`);
  console.log(`pki: ${pki.dir}`);
  console.log(`metrics: ${metricsUrl}`);
  const d = pki.dir;
  console.log(`curl --cacert ${d}/ca.crt --cert ${d}/client.crt --key ${d}/client.key ${metricsUrl}`);
}

/** Runs `stop` once on SIGTERM or SIGINT; the process then exits on its own when nothing is left open. */
export function onShutdown(stop) {
  const handler = (signal) => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
    console.log(`${signal}: shutting down`);
    stop().then(
      () => console.log('stopped'),
      (error) => {
        console.error(error);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
