/**
 * Scans one metrics endpoint: the probes (anonymous, untrusted client certificate, credentialed)
 * and every check on their results — transport, authentication, headers, content.
 */
import { firstHeader } from '../../core/headers.js';
import { authenticationFindings, untrustedClientCertificate } from './auth.js';
import { isResponse, MAX_BODY_BYTES, probeGet, type ProbeCredentials } from './client.js';
import { contentFindings } from './content.js';
import { headerFindings } from './headers.js';
import { endpointHints } from './hints.js';
import { sortFindings, type Finding, type TargetReport } from './findings.js';
import { checkTransport } from './transport.js';

/** Everything a scan needs besides the URL. */
export interface ScanOptions {
  /** PEM CA pinned for the server certificate. */
  ca?: string;
  /** PEM client certificate and key (mTLS). */
  cert?: string;
  key?: string;
  /** `Basic …` or `Bearer …`. */
  authorization?: string;
  /** Deadline per request / handshake. */
  timeoutMs: number;
  /** Report server certificates expiring within this many days. */
  expiryDays: number;
  /** Evaluation time for certificate validity (tests pin it). */
  now?: Date;
}

/**
 * Scans the metrics endpoint at `url`.
 * @example
 * const report = await scanEndpoint(new URL('http://127.0.0.1:9100/metrics'), { timeoutMs: 5000, expiryDays: 30 });
 * report.findings.map((f) => f.id); // ['auth.none', 'transport.plain-http', …]
 */
export async function scanEndpoint(url: URL, options: ScanOptions): Promise<TargetReport> {
  const hints = endpointHints(url);
  const pinned: ProbeCredentials = options.ca !== undefined ? { ca: options.ca } : {};
  const full: ProbeCredentials = {
    ...pinned,
    ...(options.cert !== undefined && options.key !== undefined ? { cert: options.cert, key: options.key } : {}),
    ...(options.authorization !== undefined ? { authorization: options.authorization } : {}),
  };
  const hasCredentials = full.cert !== undefined || full.authorization !== undefined;

  const anonymous = await probeGet(url, pinned, options.timeoutMs);
  if (!isResponse(anonymous) && !anonymous.tlsFailure) {
    return { url: url.href, kind: 'endpoint', findings: [], error: `${anonymous.code}: ${anonymous.message}` };
  }
  const credentialed = hasCredentials ? await probeGet(url, full, options.timeoutMs) : anonymous;
  const anyCertificate = url.protocol === 'https:' ? await probeGet(url, { ...pinned, ...(await untrustedClientCertificate()) }, options.timeoutMs) : undefined;

  const findings: Finding[] = [];
  let note: string | undefined;
  const transport = await checkTransport(url, {
    credentials: full,
    timeoutMs: options.timeoutMs,
    expiryDays: options.expiryDays,
    hints,
    ...(options.now ? { now: options.now } : {}),
  });
  if (transport.handshakeError !== undefined) return { url: url.href, kind: 'endpoint', findings: [], error: transport.handshakeError };
  findings.push(...transport.findings);
  findings.push(
    ...authenticationFindings(
      url,
      { anonymous, credentialed, sentBasic: /^basic /i.test(options.authorization ?? ''), ...(anyCertificate !== undefined ? { anyCertificate } : {}) },
      hints,
    ),
  );
  if (isResponse(credentialed) && credentialed.status >= 200 && credentialed.status < 300) {
    const anonymousServed = isResponse(anonymous) && anonymous.status >= 200 && anonymous.status < 300;
    findings.push(...headerFindings(url, credentialed, hasCredentials && !anonymousServed, hints));
    if (credentialed.truncated) note = `content not checked: the body is larger than ${MAX_BODY_BYTES} bytes`;
    else findings.push(...contentFindings(url.href, credentialed.body, firstHeader(credentialed.headers, 'content-type'), hints));
  } else {
    note = isResponse(credentialed)
      ? `content and headers not checked: the metrics were not served (HTTP ${credentialed.status}${hasCredentials ? ' with the given credentials' : '; pass credentials to check the content'})`
      : `content and headers not checked: the metrics were not served (${credentialed.code}${hasCredentials ? '' : '; pass credentials to check the content'})`;
  }
  return { url: url.href, kind: 'endpoint', findings: sortFindings(findings), ...(note !== undefined ? { notes: [note] } : {}) };
}
