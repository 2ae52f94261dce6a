/** Type regressions of the adapters' public signatures (vitest's expectTypeOf; checked by tsc). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
import type { Express, RequestHandler } from 'express';
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Guard, GuardOptions, MountableGuard, TrustedProxyOptions } from '../src/index.js';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { metricsHandler, toScrapeRequest, type ApplicationHandler, type MetricsHandlerOptions, type NodeRequestHandler } from '../src/adapters/http.js';
import { expressMetrics } from '../src/adapters/express.js';
import { koaMetrics } from '../src/adapters/koa.js';
import { fastifyMetrics, type FastifyMetricsOptions } from '../src/adapters/fastify.js';

describe('adapter signatures', () => {
  it('a Guard is what every adapter takes', () => {
    expectTypeOf<Guard>().toMatchTypeOf<MountableGuard>();
    expectTypeOf<Guard['telemetryPath']>().toBeString();
  });

  it('node:http: metricsHandler(guard, { path?, next? }) is a (req, res) handler', () => {
    expectTypeOf(metricsHandler).parameters.toEqualTypeOf<[MountableGuard, MetricsHandlerOptions?]>();
    expectTypeOf(metricsHandler).returns.toEqualTypeOf<NodeRequestHandler>();
    expectTypeOf<NodeRequestHandler>().toBeCallableWith({} as IncomingMessage, {} as ServerResponse);
    expectTypeOf<MetricsHandlerOptions['next']>().toEqualTypeOf<ApplicationHandler | undefined>();
    // Ordinary handlers fit as `next`, without casts: node:http's, http2 compat's, and both.
    expectTypeOf(metricsHandler).toBeCallableWith({} as Guard, { next: (_req: IncomingMessage, _res: ServerResponse) => undefined });
    expectTypeOf(metricsHandler).toBeCallableWith({} as Guard, { next: (_req: Http2ServerRequest, _res: Http2ServerResponse) => undefined });
    expectTypeOf(metricsHandler).toBeCallableWith({} as Guard, { next: {} as NodeRequestHandler });
    expectTypeOf(metricsHandler).toBeCallableWith({} as Guard, { next: {} as Express });
    // @ts-expect-error not a handler
    void (() => metricsHandler({} as Guard, { next: 'app' }));
    expectTypeOf(toScrapeRequest).toBeCallableWith({} as IncomingMessage);
  });

  it('express: expressMetrics(guard, { path? }) is an express RequestHandler', () => {
    expectTypeOf(expressMetrics).returns.toEqualTypeOf<RequestHandler>();
    expectTypeOf(expressMetrics).toBeCallableWith({} as Guard, { path: '/metrics' });
    // @ts-expect-error the path is a string
    void (() => expressMetrics({} as Guard, { path: 1 }));
  });

  it('koa: koaMetrics(guard, { path? }) is a koa Middleware', () => {
    expectTypeOf(koaMetrics).returns.toEqualTypeOf<Middleware>();
    expectTypeOf(koaMetrics).toBeCallableWith({} as Guard);
  });

  it('fastify: a plugin registered with { guard, path? }', () => {
    expectTypeOf(fastifyMetrics).toEqualTypeOf<FastifyPluginCallback<FastifyMetricsOptions>>();
    expectTypeOf<{ guard: Guard }>().toMatchTypeOf<FastifyMetricsOptions>();
    expectTypeOf<{ path: string }>().not.toMatchTypeOf<FastifyMetricsOptions>();
    const app = {} as FastifyInstance;
    // Options are checked at register(): a missing guard does not compile.
    void (() => app.register(fastifyMetrics, { guard: {} as Guard, path: '/m' }));
    // @ts-expect-error guard is required
    void (() => app.register(fastifyMetrics, { path: '/m' }));
  });

  it('trustedProxies: addresses plus an optional certificate header format', () => {
    expectTypeOf<GuardOptions['trustedProxies']>().toEqualTypeOf<TrustedProxyOptions | undefined>();
    expectTypeOf<{ addresses: string[]; clientCertificate: 'xfcc' }>().toMatchTypeOf<TrustedProxyOptions>();
    expectTypeOf<{ addresses: string[]; clientCertificate: { header: string; verifyHeader: string } }>().toMatchTypeOf<TrustedProxyOptions>();
    expectTypeOf<{ addresses: string[]; clientCertificate: 'pem' }>().not.toMatchTypeOf<TrustedProxyOptions>();
  });
});

describe('adapter arguments are checked at construction', () => {
  const guard: MountableGuard = { handle: async () => ({ status: 200, headers: {}, body: '' }), telemetryPath: '/metrics' };

  it('a non-guard or a relative path throws TypeError naming the adapter', () => {
    expect(() => expressMetrics({} as Guard)).toThrow(new TypeError('expressMetrics: the first argument must be a guard from createGuard()'));
    expect(() => koaMetrics(guard, { path: 'metrics' })).toThrow(new TypeError('koaMetrics: option `path` must be a path starting with "/", got "metrics"'));
    expect(() => metricsHandler(guard, { next: 'app' as never })).toThrow(TypeError);
    expect(() => metricsHandler(undefined as never)).toThrow('metricsHandler: the first argument must be a guard');
  });

  it('the fastify plugin carries fastify-plugin metadata', () => {
    const meta = (fastifyMetrics as unknown as Record<symbol, unknown>)[Symbol.for('plugin-meta')];
    expect(meta).toEqual({ name: 'scrapeguard', fastify: '4.x || 5.x' });
    expect((fastifyMetrics as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')]).toBe('scrapeguard');
  });
});
