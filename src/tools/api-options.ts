/**
 * The rule tables of the tools' options objects (scrape-config generator, development PKI), for
 * `checkOptions` from the runtime's options checker. Kept here so the runtime's own tables
 * (src/api-options.ts) describe only what a service loads; `test/api-options.test.ts` holds
 * both against their TypeScript types.
 */
import { is, required, type OptionSpec } from '../options.js';

/** `OAuth2Options`. */
export const OAUTH2_OPTIONS: OptionSpec = {
  tokenUrl: required(is.nonEmptyString),
  clientId: required(is.nonEmptyString),
  scopes: is.stringList,
  endpointParams: is.stringRecord,
};

/** `RequirementOptions` of `deriveRequirements`. */
export const REQUIREMENT_OPTIONS: OptionSpec = {
  auth: is.oneOf('basic', 'bearer', 'header', 'jwt', 'none'),
  labelDrops: is.stringList,
  username: is.nonEmptyString,
  oauth2: is.shape(OAUTH2_OPTIONS, '{ tokenUrl, clientId, scopes?, endpointParams? }'),
  metricsPath: is.nonEmptyString,
};

/** `CredentialFiles`. */
export const CREDENTIAL_FILES_OPTIONS: OptionSpec = {
  caFile: is.nonEmptyString,
  certFile: is.nonEmptyString,
  keyFile: is.nonEmptyString,
  passwordFile: is.nonEmptyString,
  credentialsFile: is.nonEmptyString,
  clientSecretFile: is.nonEmptyString,
  oauth2CaFile: is.nonEmptyString,
  apiKeyFile: is.nonEmptyString,
};

/** `ScrapeOptionsBase`. */
const SCRAPE_OPTIONS_BASE: OptionSpec = {
  ...REQUIREMENT_OPTIONS,
  metricsPath: is.nonEmptyString,
  serverName: is.nonEmptyString,
  credentialsDir: is.nonEmptyString,
  files: is.shape(CREDENTIAL_FILES_OPTIONS),
  prometheusVersion: is.either(is.string, is.shape({ major: required(is.nonNegativeInteger), minor: required(is.nonNegativeInteger) }, '{ major, minor }')),
  nativeHistograms: is.boolean,
  baseDir: is.nonEmptyString,
  now: is.date,
};

/** `ScrapeConfigOptions` of `generateScrapeConfig` and `Guard.scrapeConfig`. */
export const SCRAPE_CONFIG_OPTIONS: OptionSpec = {
  ...SCRAPE_OPTIONS_BASE,
  targets: required(is.stringList),
  jobName: is.nonEmptyString,
  scrapeInterval: is.nonEmptyString,
};

/** `OperatorManifestOptions` of `generateOperatorManifests`. */
export const OPERATOR_MANIFEST_OPTIONS: OptionSpec = {
  ...SCRAPE_OPTIONS_BASE,
  kind: is.oneOf('ServiceMonitor', 'PodMonitor', 'ScrapeConfig'),
  operatorVersion: is.either(is.string, is.shape({ major: required(is.nonNegativeInteger), minor: required(is.nonNegativeInteger) }, '{ major, minor }')),
  targets: is.stringList,
  name: is.nonEmptyString,
  namespace: is.nonEmptyString,
  selector: is.stringRecord,
  port: is.nonEmptyString,
  interval: is.nonEmptyString,
  embedSecrets: is.boolean,
  secretName: is.nonEmptyString,
};

/** `CertificateOptions` of `generateCa`, `generateServerCert`, `generateClientCert`. */
export const CERTIFICATE_OPTIONS: OptionSpec = {
  commonName: required(is.nonEmptyString),
  sans: is.stringList,
  keyType: is.oneOf('ec', 'rsa'),
  notBefore: is.date,
  notAfter: is.date,
  organizationalUnit: is.nonEmptyString,
};

/** `DevPkiOptions` of `generateDevPki`. */
export const DEV_PKI_OPTIONS: OptionSpec = {
  serverSans: is.stringList,
  clientName: is.nonEmptyString,
  keyType: is.oneOf('ec', 'rsa'),
};
