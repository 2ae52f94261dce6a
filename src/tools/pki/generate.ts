/**
 * Development PKI: a CA, server certificates and client certificates made with `selfsigned`.
 * Used by `scrapeguard init`, `scrapeguard demo` and the test suites (which generate every
 * certificate they use at run time; none is committed). Every certificate carries subject and
 * authority key identifiers, so verifiers tell CAs apart by key, not only by name.
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { generate } from 'selfsigned';
import { checkOptions } from '../../options.js';
import { CERTIFICATE_OPTIONS, DEV_PKI_OPTIONS } from '../api-options.js';
import { addKeyIdentifiers } from './key-identifiers.js';

/** A certificate and its private key, both PEM. */
export interface CertificateAndKey {
  certPem: string;
  /** Secret: write with mode 0600, never log. */
  keyPem: string;
}

/** Key algorithm for generated certificates. `ec` is P-256. */
export type KeyType = 'ec' | 'rsa';

/** Options shared by every generated certificate. */
export interface CertificateOptions {
  /** Subject common name. */
  commonName: string;
  /**
   * Subject alternative names. A plain string is classified: an IP literal becomes an IP SAN,
   * `x@y` an e-mail SAN, `scheme://…` a URI SAN, anything else a DNS SAN.
   */
  sans?: readonly string[];
  /** Default `ec` (P-256): fast handshakes and small keys. */
  keyType?: KeyType;
  /** Default: one minute ago (tolerates small clock skew between processes). */
  notBefore?: Date;
  /** Default: `notBefore` + 365 days (CA: + 10 years). */
  notAfter?: Date;
  /** Organizational unit, e.g. for group mapping of client identities. */
  organizationalUnit?: string;
}

type SanEntry = { type: 1 | 2 | 6; value: string } | { type: 7; ip: string };

/** Classifies a SAN string the way {@link CertificateOptions.sans} documents. */
export function sanEntry(name: string): SanEntry {
  // selfsigned mis-encodes IPv6 with an embedded IPv4 part (`::ffff:10.0.0.8` became
  // `::ffff:10`): hand it the all-hex form the URL parser produces.
  if (isIP(name) === 6) return { type: 7, ip: new URL(`http://[${name}]/`).hostname.slice(1, -1) };
  if (isIP(name)) return { type: 7, ip: name };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(name)) return { type: 6, value: name };
  if (name.includes('@')) return { type: 1, value: name };
  return { type: 2, value: name };
}

const DAY_MS = 86_400_000;

function validity(opts: CertificateOptions, defaultDays: number): { notBeforeDate: Date; notAfterDate: Date } {
  const notBeforeDate = opts.notBefore ?? new Date(Date.now() - 60_000);
  const notAfterDate = opts.notAfter ?? new Date(notBeforeDate.getTime() + defaultDays * DAY_MS);
  return { notBeforeDate, notAfterDate };
}

// selfsigned joins attributes into an RFC 4514 string without escaping, so characters with a
// meaning there are refused rather than allowed to inject extra name attributes.
const DN_SPECIAL = /[,+=\\"<>;#\n\r\0]/;

function subject(opts: CertificateOptions) {
  for (const [option, value] of [
    ['commonName', opts.commonName],
    ['organizationalUnit', opts.organizationalUnit],
  ] as const) {
    if (value !== undefined && (value === '' || DN_SPECIAL.test(value))) {
      throw new TypeError(`${option} must be non-empty and free of , + = \\ " < > ; #: ${JSON.stringify(value)}`);
    }
  }
  const attrs: { name?: string; shortName?: string; value: string }[] = [{ name: 'commonName', value: opts.commonName }];
  if (opts.organizationalUnit) attrs.push({ shortName: 'OU', value: opts.organizationalUnit });
  return attrs;
}

function keyOptions(keyType: KeyType = 'ec') {
  return keyType === 'ec' ? ({ keyType: 'ec', curve: 'P-256' } as const) : ({ keyType: 'rsa', keySize: 2048 } as const);
}

/**
 * Creates a self-signed certificate authority.
 * @example
 * const ca = await generateCa({ commonName: 'scrapeguard dev CA' });
 */
export async function generateCa(opts: CertificateOptions): Promise<CertificateAndKey> {
  checkOptions('generateCa', opts, CERTIFICATE_OPTIONS);
  const pems = await generate(subject(opts), {
    ...keyOptions(opts.keyType),
    ...validity(opts, 3650),
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { certPem: addKeyIdentifiers(pems.cert, pems.private), keyPem: pems.private };
}

async function leaf(opts: CertificateOptions, usage: 'server' | 'client', issuer: CertificateAndKey | undefined): Promise<CertificateAndKey> {
  checkOptions(usage === 'server' ? 'generateServerCert' : 'generateClientCert', opts, CERTIFICATE_OPTIONS);
  const sans = (opts.sans ?? []).map(sanEntry);
  if (issuer) {
    // selfsigned imports the CA key with the leaf's algorithm, so the two must match.
    const caType = createPrivateKey(issuer.keyPem).asymmetricKeyType;
    if (caType !== (opts.keyType ?? 'ec')) {
      throw new TypeError(`keyType ${JSON.stringify(opts.keyType ?? 'ec')} needs a CA with a key of the same type (the CA key is ${caType})`);
    }
  }
  const pems = await generate(subject(opts), {
    ...keyOptions(opts.keyType),
    ...validity(opts, 365),
    algorithm: 'sha256',
    ...(issuer ? { ca: { key: issuer.keyPem, cert: issuer.certPem } } : {}),
    extensions: [
      { name: 'basicConstraints', cA: false },
      // keyEncipherment only makes sense for RSA key transport.
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: opts.keyType === 'rsa', critical: true },
      { name: 'extKeyUsage', serverAuth: usage === 'server', clientAuth: usage === 'client' },
      ...(sans.length > 0 ? [{ name: 'subjectAltName' as const, altNames: sans }] : []),
    ],
  });
  const certPem = issuer ? addKeyIdentifiers(pems.cert, issuer.keyPem, issuer.certPem) : addKeyIdentifiers(pems.cert, pems.private);
  return { certPem, keyPem: pems.private };
}

/**
 * Creates a server certificate signed by `ca` (or self-signed when `ca` is `null`).
 * @example
 * const server = await generateServerCert(ca, { commonName: 'localhost', sans: ['localhost', '127.0.0.1'] });
 */
export function generateServerCert(ca: CertificateAndKey | null, opts: CertificateOptions): Promise<CertificateAndKey> {
  return leaf(opts, 'server', ca ?? undefined);
}

/**
 * Creates a client certificate signed by `ca` (or self-signed when `ca` is `null`).
 * @example
 * const client = await generateClientCert(ca, { commonName: 'prometheus', sans: ['prometheus'] });
 */
export function generateClientCert(ca: CertificateAndKey | null, opts: CertificateOptions): Promise<CertificateAndKey> {
  return leaf(opts, 'client', ca ?? undefined);
}

/** A complete development PKI: CA, server and scraper client certificate. */
export interface DevPki {
  ca: CertificateAndKey;
  server: CertificateAndKey;
  client: CertificateAndKey;
}

/**
 * A CA common name unique to one run: `scrapeguard development CA 3f9c0a1b2d4e`. The suffix is a
 * random identifier, not a secret; it makes two runs' CAs differ by name as well as by key, so a
 * certificate from another run is reported as from an unknown CA.
 */
export function uniqueDevCaName(): string {
  return `scrapeguard development CA ${randomBytes(6).toString('hex')}`;
}

/** Options of {@link generateDevPki}. */
export interface DevPkiOptions {
  /** Server SANs (default: localhost, 127.0.0.1, ::1). */
  serverSans?: readonly string[];
  /** Client certificate common name and SAN (default `prometheus`). */
  clientName?: string;
  keyType?: KeyType;
}

/**
 * Creates the CA, a server certificate and a client certificate for the scraper in one call.
 * @example
 * const { ca, server, client } = await generateDevPki({ serverSans: ['localhost', 'metrics.internal'] });
 */
export async function generateDevPki(opts: DevPkiOptions = {}): Promise<DevPki> {
  checkOptions('generateDevPki', opts, DEV_PKI_OPTIONS);
  const keyType = opts.keyType ?? 'ec';
  const ca = await generateCa({ commonName: uniqueDevCaName(), keyType });
  const serverSans = opts.serverSans ?? ['localhost', '127.0.0.1', '::1'];
  const server = await generateServerCert(ca, { commonName: serverSans[0] ?? 'localhost', sans: serverSans, keyType });
  const clientName = opts.clientName ?? 'prometheus';
  const client = await generateClientCert(ca, { commonName: clientName, sans: [clientName], keyType });
  return { ca, server, client };
}
