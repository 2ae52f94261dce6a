/**
 * Subject and authority key identifiers (RFC 5280 §4.2.1.1, §4.2.1.2) for the certificates the
 * development PKI makes.
 *
 * Why: without them, a verifier picks a candidate issuer by subject name alone. Two CAs with the
 * same name (two `scrapeguard init` runs) then fail with a signature error on the wrong candidate
 * instead of the plain "unknown CA" / "unable to get local issuer certificate" the user can act on.
 * With AKI/SKI, OpenSSL and Go skip a candidate whose key identifier does not match.
 *
 * `selfsigned` (5.5) only knows the basicConstraints, keyUsage, extKeyUsage and subjectAltName
 * extensions and drops any other with a warning, so this module adds the two extensions to the DER
 * certificate it returns and signs the changed TBSCertificate again with node:crypto and the same
 * issuer key and signature algorithm. Only the narrow DER subset of an X.509 certificate is read:
 * single-byte tags, definite lengths (DER forbids anything else).
 */
import { createHash, createPrivateKey, sign, X509Certificate } from 'node:crypto';

interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

function readTlv(der: Uint8Array, offset: number, limit = der.length): Tlv {
  if (offset + 2 > limit) throw new Error('truncated DER');
  const tag = der[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte DER tags are not expected in a certificate');
  let length = der[offset + 1] ?? 0;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    // DER: no indefinite length; four length bytes are far beyond any certificate.
    if (count === 0 || count > 4) throw new Error('unsupported DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[contentStart + i] ?? 0);
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new Error('truncated DER');
  return { tag, start: offset, contentStart, end };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let offset = parent.contentStart; offset < parent.end;) {
    const child = readTlv(der, offset, parent.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

const slice = (der: Uint8Array, t: Tlv) => Buffer.from(der.subarray(t.start, t.end));
const content = (der: Uint8Array, t: Tlv) => Buffer.from(der.subarray(t.contentStart, t.end));

const SEQUENCE = 0x30;
const OCTET_STRING = 0x04;
const BIT_STRING = 0x03;
const OID = 0x06;
const EXTENSIONS = 0xa3; // [3] EXPLICIT in TBSCertificate
const KEY_ID = 0x80; // [0] IMPLICIT KeyIdentifier in AuthorityKeyIdentifier

/** DER of the OIDs id-ce-subjectKeyIdentifier (2.5.29.14) and id-ce-authorityKeyIdentifier (2.5.29.35). */
const OID_SKI = Buffer.from([0x55, 0x1d, 0x0e]);
const OID_AKI = Buffer.from([0x55, 0x1d, 0x23]);

/** The parts of a certificate this module rewrites. */
interface ParsedCertificate {
  der: Buffer;
  tbs: Tlv;
  tbsFields: Tlv[];
  signatureAlgorithm: Tlv;
}

function parseCertificate(pem: string): ParsedCertificate {
  const der = Buffer.from(new X509Certificate(pem).raw);
  const cert = readTlv(der, 0);
  const [tbs, signatureAlgorithm] = children(der, cert);
  if (cert.tag !== SEQUENCE || tbs?.tag !== SEQUENCE || signatureAlgorithm?.tag !== SEQUENCE) throw new Error('not an X.509 certificate');
  return { der, tbs, tbsFields: children(der, tbs), signatureAlgorithm };
}

/** The extensions (each the DER of one `Extension` SEQUENCE) and the index of the [3] field, if any. */
function extensionsOf(parsed: ParsedCertificate): { index: number; list: Tlv[] } {
  const index = parsed.tbsFields.findIndex((f) => f.tag === EXTENSIONS);
  const field = parsed.tbsFields[index];
  if (field === undefined) return { index: -1, list: [] };
  const [sequence] = children(parsed.der, field);
  return { index, list: sequence === undefined ? [] : children(parsed.der, sequence) };
}

function extensionOid(der: Uint8Array, extension: Tlv): Buffer | undefined {
  const [oid] = children(der, extension);
  return oid?.tag === OID ? content(der, oid) : undefined;
}

/**
 * The subject key identifier of `certPem`: the value of its SKI extension when it has one,
 * otherwise computed as RFC 5280 §4.2.1.2 method (1), the SHA-1 of the subjectPublicKey bits
 * (what OpenSSL and Go compute too).
 */
export function subjectKeyIdentifier(certPem: string): Buffer {
  const parsed = parseCertificate(certPem);
  for (const extension of extensionsOf(parsed).list) {
    if (!extensionOid(parsed.der, extension)?.equals(OID_SKI)) continue;
    const value = children(parsed.der, extension).at(-1);
    if (value?.tag !== OCTET_STRING) break;
    const inner = readTlv(parsed.der, value.contentStart, value.end);
    if (inner.tag === OCTET_STRING) return content(parsed.der, inner);
    break;
  }
  return computedKeyIdentifier(parsed);
}

function computedKeyIdentifier(parsed: ParsedCertificate): Buffer {
  // TBSCertificate: [0] version, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, …
  const offset = parsed.tbsFields[0]?.tag === 0xa0 ? 1 : 0;
  const spki = parsed.tbsFields[offset + 5];
  if (spki?.tag !== SEQUENCE) throw new Error('certificate without subjectPublicKeyInfo');
  const bits = children(parsed.der, spki)[1];
  if (bits?.tag !== BIT_STRING) throw new Error('subjectPublicKeyInfo without a public key');
  // Skip the "unused bits" byte of the BIT STRING.
  return createHash('sha1')
    .update(parsed.der.subarray(bits.contentStart + 1, bits.end))
    .digest();
}

/** Node's digest name for the signature algorithms `selfsigned` uses, by the DER of their OID. */
const SIGNATURE_DIGESTS: ReadonlyMap<string, string> = new Map([
  ['2a8648ce3d040302', 'sha256'], // ecdsa-with-SHA256
  ['2a8648ce3d040303', 'sha384'], // ecdsa-with-SHA384
  ['2a8648ce3d040304', 'sha512'], // ecdsa-with-SHA512
  ['2a864886f70d01010b', 'sha256'], // sha256WithRSAEncryption
  ['2a864886f70d01010c', 'sha384'], // sha384WithRSAEncryption
  ['2a864886f70d01010d', 'sha512'], // sha512WithRSAEncryption
]);

/**
 * Returns `certPem` with a subject key identifier and an authority key identifier (keyIdentifier
 * form) added, signed again with `issuerKeyPem`. For a self-signed certificate pass its own key and
 * omit `issuerCertPem`: its AKI then equals its SKI, as OpenSSL writes for a root. A certificate
 * that already has either extension is refused rather than given a second one.
 * @throws {Error} on input that is not a certificate of the shape `selfsigned` produces.
 * @example
 * const leafPem = addKeyIdentifiers(leaf.cert, ca.keyPem, ca.certPem);
 */
export function addKeyIdentifiers(certPem: string, issuerKeyPem: string, issuerCertPem?: string): string {
  const parsed = parseCertificate(certPem);
  const { der, tbs, tbsFields, signatureAlgorithm } = parsed;
  const existing = extensionsOf(parsed);
  if (
    existing.list.some((e) => {
      const oid = extensionOid(der, e);
      return oid?.equals(OID_SKI) === true || oid?.equals(OID_AKI) === true;
    })
  ) {
    throw new Error('the certificate already has a key identifier extension');
  }
  const ski = computedKeyIdentifier(parsed);
  const aki = issuerCertPem === undefined ? ski : subjectKeyIdentifier(issuerCertPem);
  const newExtensions = [
    tlv(SEQUENCE, tlv(OID, OID_SKI), tlv(OCTET_STRING, tlv(OCTET_STRING, ski))),
    tlv(SEQUENCE, tlv(OID, OID_AKI), tlv(OCTET_STRING, tlv(SEQUENCE, tlv(KEY_ID, aki)))),
  ];
  const extensionsField = tlv(EXTENSIONS, tlv(SEQUENCE, ...existing.list.map((e) => slice(der, e)), ...newExtensions));
  const fields: Buffer[] = tbsFields.map((f) => slice(der, f));
  if (existing.index >= 0) fields[existing.index] = extensionsField;
  else fields.push(extensionsField);
  const newTbs = tlv(tbs.tag, ...fields);

  const algorithmOid = children(der, signatureAlgorithm)[0];
  const digest = algorithmOid?.tag === OID ? SIGNATURE_DIGESTS.get(content(der, algorithmOid).toString('hex')) : undefined;
  if (digest === undefined) throw new Error('unsupported certificate signature algorithm');
  // ECDSA signatures come out DER-encoded and RSA ones PKCS#1 v1.5: what the algorithm OIDs above name.
  const signature = sign(digest, newTbs, createPrivateKey(issuerKeyPem));
  const newDer = tlv(SEQUENCE, newTbs, slice(der, signatureAlgorithm), tlv(BIT_STRING, Buffer.from([0]), signature));
  const lines = newDer.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
