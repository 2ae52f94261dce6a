import { defineConfig, type Options } from 'tsup';

// Library entries get ESM + CJS + types; the CLI is one ESM file with a shebang.
// SCRAPEGUARD_BUILD=cli builds the CLI alone (scripts/build-cli.mjs, for `npm run demo`).
const configs: Options[] = [
  {
    entry: {
      index: 'src/index.ts',
      http: 'src/adapters/http.ts',
      express: 'src/adapters/express.ts',
      koa: 'src/adapters/koa.ts',
      fastify: 'src/adapters/fastify.ts',
      config: 'src/config/index.ts',
      exposition: 'src/exposition/index.ts',
      'scrape-config': 'src/tools/scrape-config/index.ts',
      pki: 'src/tools/pki/index.ts',
    },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: true,
  },
  {
    entry: { cli: 'src/tools/cli/main.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
  },
];

export default defineConfig(process.env.SCRAPEGUARD_BUILD === 'cli' ? configs.slice(1) : configs);
