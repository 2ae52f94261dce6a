/**
 * Authentication checks, from three requests: one with no credential at all, one with a client
 * certificate generated on the spot (self-signed, so no sane server trusts it) and no other
 * credential, and the credentialed one the content checks read. What they show: the endpoint
 * serves anyone; it asks for a certificate but takes any; basic auth travels over plain HTTP; a
 * 401 lacks its WWW-Authenticate challenge.
 */
import { generateClientCert } from '../pki/generate.js';
import { isResponse, type ProbeFailure, type ProbeResponse } from './client.js';
import { finding, type Finding } from './findings.js';

/** The three probes {@link authenticationFindings} judges. */
export interface AuthProbes {
  anonymous: ProbeResponse | ProbeFailure;
  /** Only for HTTPS. */
  anyCertificate?: ProbeResponse | ProbeFailure;
  /** The credentialed request, when credentials were given (else the anonymous one). */
  credentialed: ProbeResponse | ProbeFailure;
  /** Credentials given on the command line. */
  sentBasic: boolean;
}

/**
 * A fresh self-signed client certificate (CN `scrapeguard-scan-untrusted`) for the any-cert probe:
 * a server that accepts it does not verify client certificates.
 */
export async function untrustedClientCertificate(): Promise<{ cert: string; key: string }> {
  const pair = await generateClientCert(null, { commonName: 'scrapeguard-scan-untrusted', sans: ['scrapeguard-scan-untrusted'] });
  return { cert: pair.certPem, key: pair.keyPem };
}

const ok = (r: ProbeResponse | ProbeFailure | undefined): boolean => r !== undefined && isResponse(r) && r.status >= 200 && r.status < 300;

/** Judges the probes of one URL. */
export function authenticationFindings(url: URL, probes: AuthProbes, hints: readonly string[]): Finding[] {
  const target = url.href;
  const findings: Finding[] = [];
  const { anonymous, anyCertificate, credentialed } = probes;

  if (isResponse(anonymous) && ok(anonymous)) {
    findings.push(
      finding('auth.none', target, `the endpoint answered ${anonymous.status} to a request without any credential`, { status: anonymous.status }, hints),
    );
  } else if (anyCertificate !== undefined && isResponse(anyCertificate)) {
    const refusedAtTls = !isResponse(anonymous) && anonymous.tlsFailure;
    if (ok(anyCertificate)) {
      findings.push(
        finding(
          'auth.any-client-cert',
          target,
          `a self-signed client certificate nobody issued was served (${anyCertificate.status}) while the request without one was ${describe(anonymous)}`,
          { status: anyCertificate.status, withoutCertificate: describe(anonymous) },
          hints,
        ),
      );
    } else if (refusedAtTls) {
      findings.push(
        finding(
          'auth.any-client-cert',
          target,
          `the TLS handshake requires a client certificate but completed with a self-signed one nobody issued (HTTP ${anyCertificate.status}: only the HTTP authentication still protects the endpoint)`,
          { status: anyCertificate.status, withoutCertificate: describe(anonymous) },
          hints,
        ),
      );
    }
  }

  if (url.protocol === 'http:') {
    const challenge = isResponse(anonymous) ? headerText(anonymous.headers['www-authenticate']) : '';
    if (/^\s*basic\b/i.test(challenge) || (probes.sentBasic && ok(credentialed))) {
      findings.push(
        finding(
          'auth.basic-over-http',
          target,
          /^\s*basic\b/i.test(challenge)
            ? 'the endpoint asks for basic authentication over plain HTTP'
            : 'the endpoint accepted basic authentication over plain HTTP',
          { scheme: 'http', challenge: challenge !== '' },
          hints,
        ),
      );
    }
  }

  for (const [probe, name] of [
    [anonymous, 'without credentials'],
    [anyCertificate, 'with an untrusted client certificate'],
    [credentialed, 'with the given credentials'],
  ] as const) {
    if (probe !== undefined && isResponse(probe) && probe.status === 401 && headerText(probe.headers['www-authenticate']) === '') {
      findings.push(finding('auth.missing-www-authenticate', target, `401 ${name} carries no WWW-Authenticate header`, { request: name }));
      break;
    }
  }
  return findings;
}

function describe(r: ProbeResponse | ProbeFailure): string {
  return isResponse(r) ? `HTTP ${r.status}` : r.tlsFailure ? `refused in the TLS handshake (${r.code})` : `failed (${r.code})`;
}

/** A header as one string (joined when repeated). */
export function headerText(value: string | string[] | undefined): string {
  if (value === undefined) return '';
  return Array.isArray(value) ? value.join(', ') : value;
}
