/**
 * Client certificate facts and the `client_allowed_sans` check. SANs are compared exactly, as
 * exporter-toolkit does, against the DNS names, e-mail addresses, IP addresses (in Go's
 * canonical text form) and URIs of the certificate.
 */
import type { X509Certificate } from 'node:crypto';
import { isIPv6 } from 'node:net';

/** Subject alternative names of a certificate, by kind. */
export interface SubjectAltNames {
  dns: string[];
  email: string[];
  /** Canonical text form: IPv4 dotted quad, IPv6 compressed lower-case (`::1`), like Go's `net.IP.String`. */
  ip: string[];
  uri: string[];
}

/** What scrapeguard knows about the certificate a client presented. */
export interface ClientCertificateInfo {
  subject: string;
  /** Common name of the subject, when present. */
  commonName?: string;
  /** Organizational units (OU) of the subject, in order; empty or absent when none. */
  organizationalUnits?: string[];
  issuer: string;
  sans: SubjectAltNames;
  fingerprint256: string;
  notAfter: Date;
  /** Serial number in hex, as OpenSSL prints it; for log lines. */
  serialNumber?: string;
}

/**
 * Splits Node's `subjectAltName` text (`DNS:a, IP Address:1.2.3.4, URI:"x, y"`) into entries.
 * Since Node 17, values with special characters are JSON-quoted, so a comma inside quotes does not
 * end an entry.
 */
export function splitSubjectAltName(text: string | undefined): { type: string; value: string }[] {
  const entries: { type: string; value: string }[] = [];
  if (!text) return entries;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      // JSON string: find the closing quote that is not escaped.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      const quoted = text.slice(j, k + 1);
      try {
        value = JSON.parse(quoted) as string;
      } catch {
        value = quoted;
      }
      j = k + 1;
    } else {
      const comma = text.indexOf(', ', j);
      const end = comma < 0 ? text.length : comma;
      value = text.slice(j, end);
      j = end;
    }
    entries.push({ type, value });
    i = text.startsWith(', ', j) ? j + 2 : j + 1;
  }
  return entries;
}

/** Go's text form of an IP address (`net.IP.String`): IPv6 compressed and lower-case. */
export function canonicalIp(ip: string): string {
  if (!isIPv6(ip)) return ip;
  // The WHATWG URL parser compresses IPv6 exactly as Go does (RFC 5952).
  const text = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  // Go prints an IPv4-mapped address (::ffff:a.b.c.d) as the IPv4 dotted quad.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (!mapped) return text;
  const [hi, lo] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Reads the SANs of a certificate, grouped by kind. */
export function subjectAltNames(cert: X509Certificate): SubjectAltNames {
  const sans: SubjectAltNames = { dns: [], email: [], ip: [], uri: [] };
  for (const { type, value } of splitSubjectAltName(cert.subjectAltName)) {
    if (type === 'DNS') sans.dns.push(value);
    else if (type === 'email') sans.email.push(value);
    else if (type === 'IP Address') sans.ip.push(canonicalIp(value));
    else if (type === 'URI') sans.uri.push(value);
  }
  return sans;
}

/** All SAN values in Go's order (DNS, e-mail, IP, URI), for matching and for log lines. */
export function allSanValues(sans: SubjectAltNames): string[] {
  return [...sans.dns, ...sans.email, ...sans.ip, ...sans.uri];
}

/**
 * Values of one attribute in Node's subject text (one `KEY=value` per line; since Node 17 a value
 * with special characters is JSON-quoted; a multi-valued attribute may be joined with `+`).
 */
export function subjectAttributes(subject: string, key: string): string[] {
  const out: string[] = [];
  for (const line of subject.split('\n')) {
    if (!line.startsWith(`${key}=`)) continue;
    const raw = line.slice(key.length + 1);
    if (raw.startsWith('"')) {
      try {
        out.push(JSON.parse(raw) as string);
        continue;
      } catch {
        // fall through: keep the text as written
      }
    }
    out.push(raw);
  }
  return out;
}

/** Extracts the facts scrapeguard records about a client certificate. */
export function describeClientCertificate(cert: X509Certificate): ClientCertificateInfo {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return {
    subject: cert.subject.replaceAll('\n', ', '),
    ...(cn !== undefined ? { commonName: cn } : {}),
    organizationalUnits: subjectAttributes(cert.subject, 'OU'),
    issuer: cert.issuer.replaceAll('\n', ', '),
    sans: subjectAltNames(cert),
    fingerprint256: cert.fingerprint256,
    notAfter: new Date(cert.validTo),
    serialNumber: cert.serialNumber,
  };
}

/**
 * Compiles `client_allowed_sans` into a predicate over a certificate's SANs (exact match of any
 * value, as exporter-toolkit). The allowed list is put in a Set once, at load.
 */
export function compileAllowedSans(allowed: readonly string[]): (sans: SubjectAltNames) => boolean {
  const set = new Set(allowed.map(canonicalIp));
  return (sans) => allSanValues(sans).some((v) => set.has(v));
}
