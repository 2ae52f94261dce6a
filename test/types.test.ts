/** Type regressions of the public API (vitest's expectTypeOf; checked by tsc in `npm test`). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expectTypeOf, it } from 'vitest';
import type { Registry } from 'prom-client';
import {
  createGuard,
  loadConfigFile,
  type Guard,
  type GuardOptions,
  type ListeningAddress,
  type ResolvedConfig,
  type ScrapeRequest,
  type ScrapeResponse,
  type WebConfigInput,
} from '../src/index.js';

describe('public types', () => {
  it('createGuard takes a path or a web-config object and any registry-like source', () => {
    expectTypeOf(createGuard).parameter(0).toEqualTypeOf<GuardOptions>();
    expectTypeOf(createGuard).returns.resolves.toEqualTypeOf<Guard>();
    expectTypeOf<{ config: string; source: Registry }>().toMatchTypeOf<GuardOptions>();
    expectTypeOf<{ config: WebConfigInput; source: () => string }>().toMatchTypeOf<GuardOptions>();
    expectTypeOf<{ source: { metrics(): Promise<string>; contentType: string } }>().toMatchTypeOf<GuardOptions>();
    // A web-config document with an unknown client auth type does not type-check.
    expectTypeOf<{ tls_server_config: { client_auth_type: 'Bogus' } }>().not.toMatchTypeOf<WebConfigInput>();
  });

  it('a guard exposes the core, a node handler and its own server', () => {
    expectTypeOf<Guard['handle']>().toEqualTypeOf<(request: ScrapeRequest) => Promise<ScrapeResponse>>();
    expectTypeOf<Guard['nodeHandler']>().toBeCallableWith({} as IncomingMessage, {} as ServerResponse);
    expectTypeOf<Guard['listen']>().returns.resolves.toEqualTypeOf<ListeningAddress[]>();
    expectTypeOf<Guard['reload']>().returns.resolves.toBeBoolean();
    expectTypeOf<Guard['config']>().toEqualTypeOf<ResolvedConfig>();
    expectTypeOf(loadConfigFile).returns.resolves.toEqualTypeOf<ResolvedConfig>();
  });
});
