/**
 * One guard serving TLS on a loopback port, as the attack and bounds suites (connection-budget,
 * http2-bounds, hostile-tls) each set one up: the test PKI's server certificate, the given
 * registry as both the source and the self-metrics, no file watching.
 */
import type { Registry } from 'prom-client';
import { createGuard, type Guard } from '../../src/index.js';
import type { TlsServerConfigInput, WebConfigInput } from '../../src/config/schema.js';
import { silentLogger, type Logger } from '../../src/log.js';
import type { TestPki } from './pki.js';

export interface ListeningGuard {
  guard: Guard;
  port: number;
  /** `https://127.0.0.1:PORT/metrics`. */
  url: string;
}

export interface TlsGuardOptions {
  /** Added to `tls_server_config` (which holds the server certificate and key by file). */
  tls?: TlsServerConfigInput;
  /** The rest of the web config (limits, http_server_config, …). */
  config?: Omit<WebConfigInput, 'tls_server_config'>;
  /** Default: silent. */
  logger?: Logger;
}

/**
 * Starts a guard with TLS on 127.0.0.1 (port chosen by the OS) that serves `registry` and keeps
 * its self-metrics there. The caller closes it (`guard.close(0)`).
 */
export async function listenTlsGuard(pki: TestPki, registry: Registry, options: TlsGuardOptions = {}): Promise<ListeningGuard> {
  const guard = await createGuard({
    config: { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile, ...options.tls }, ...options.config },
    source: registry,
    logger: options.logger ?? silentLogger,
    selfMetrics: registry,
    watch: false,
  });
  const [bound] = await guard.listen('127.0.0.1:0');
  return { guard, port: bound!.port, url: `${bound!.url}/metrics` };
}
