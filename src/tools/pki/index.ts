/**
 * `scrapeguard/pki`: development certificates (a CA, server and client certificates) generated
 * in-process with `selfsigned`, for tests, demos and `scrapeguard init`. Not for production CAs.
 * @packageDocumentation
 */
export {
  generateCa,
  generateServerCert,
  generateClientCert,
  generateDevPki,
  type CertificateAndKey,
  type CertificateOptions,
  type DevPki,
  type DevPkiOptions,
  type KeyType,
} from './generate.js';
