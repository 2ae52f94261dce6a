/**
 * The public API, pinned: every value each entry point exports. A new export is a decision (it is
 * API to keep), so adding one means changing this list, docs/api.md#entry-points and the
 * CHANGELOG together. The root stays what a service needs: ≤ 15 values, no generator.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ENTRIES: Record<string, { module: () => Promise<Record<string, unknown>>; values: string[] }> = {
  scrapeguard: {
    module: () => import('../src/index.js'),
    values: [
      'ConfigError',
      'SCRAPEGUARD_ERROR_CODES',
      'ScrapeguardError',
      'aggregateLogs',
      'createGuard',
      'createLogfmtLogger',
      'defineMetricsSource',
      'formatConfigIssue',
      'loadConfigFile',
      'loadConfigObject',
      'metricsHandler',
      'silentLogger',
      'upstreamSource',
    ],
  },
  'scrapeguard/http': { module: () => import('../src/adapters/http.js'), values: ['metricsHandler', 'toNodeHandler', 'toScrapeRequest'] },
  'scrapeguard/express': { module: () => import('../src/adapters/express.js'), values: ['expressMetrics'] },
  'scrapeguard/koa': { module: () => import('../src/adapters/koa.js'), values: ['koaMetrics'] },
  'scrapeguard/fastify': { module: () => import('../src/adapters/fastify.js'), values: ['fastifyMetrics'] },
  'scrapeguard/config': {
    module: () => import('../src/config/index.js'),
    values: [
      'CLIENT_CERT_REFUSAL_REASONS',
      'CLIENT_CERT_REFUSED_MESSAGE',
      'ConfigError',
      'DEFAULT_TLS_PROFILE',
      'formatConfigIssue',
      'loadConfigFile',
      'loadConfigObject',
      'parseGoDuration',
    ],
  },
  'scrapeguard/exposition': {
    module: () => import('../src/exposition/index.js'),
    values: [
      'ExpositionParseError',
      'OPENMETRICS_CONTENT_TYPE',
      'PROTOBUF_CONTENT_TYPE',
      'ProtobufDecodeError',
      'SECRET_DETECTORS',
      'SECRET_DETECTOR_NAMES',
      'SourceError',
      'TEXT_CONTENT_TYPE',
      'acceptsGzip',
      'compileRedaction',
      'compileSecretDetection',
      'createPipeline',
      'decodeProtobuf',
      'defaultRedaction',
      'encodeProtobuf',
      'escapeFamilies',
      'escapeLabelName',
      'escapeName',
      'isProtobufContentType',
      'defineMetricsSource',
      'maskedPreview',
      'negotiateFormat',
      'parseExposition',
      'renderExposition',
      'sniffFormat',
      'toMetricsSource',
      'upstreamSource',
    ],
  },
  'scrapeguard/scrape-config': {
    module: () => import('../src/tools/scrape-config/index.js'),
    values: [
      'CREDENTIAL_FILE_NAMES',
      'DEFAULT_PROMETHEUS_VERSION',
      'FIELD_SINCE',
      'deriveRequirements',
      'generateOperatorManifests',
      'generateScrapeConfig',
      'operatorManifestsFromRequirements',
      'parsePrometheusVersion',
      'scrapeConfigFromRequirements',
    ],
  },
  'scrapeguard/pki': {
    module: () => import('../src/tools/pki/index.js'),
    values: ['generateCa', 'generateClientCert', 'generateDevPki', 'generateServerCert'],
  },
};

describe('public API', () => {
  it.each(Object.entries(ENTRIES))('%s exports exactly its pinned values', async (_, entry) => {
    const mod = await entry.module();
    expect(Object.keys(mod).sort()).toEqual([...entry.values].sort());
  });

  it('the root exports at most 15 values and none of the generators', () => {
    const root = ENTRIES.scrapeguard!.values;
    expect(root.length).toBeLessThanOrEqual(15);
    for (const generator of [...ENTRIES['scrapeguard/pki']!.values, ...ENTRIES['scrapeguard/scrape-config']!.values]) expect(root).not.toContain(generator);
  });

  it('package.json exports exactly these entry points', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown> };
    const subpaths = Object.keys(pkg.exports)
      .filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? 'scrapeguard' : `scrapeguard/${k.slice(2)}`));
    expect(subpaths.sort()).toEqual(Object.keys(ENTRIES).sort());
  });
});
