/**
 * What every mounted adapter shares: which guard it serves, which path it claims, and how a request
 * the framework routed to it becomes the core's neutral request. Framework-free (node types only).
 *
 * Routing rule, the same for every framework: a request whose path (before any router stripped a
 * mount prefix) equals the adapter's `path` is a scrape and goes to the core with the guard's
 * telemetry path; every other request is the application's (express/koa: `next()`, fastify: not
 * routed here, node:http: the `next` handler, else 404).
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { ScrapeHandler } from '../core/handle.js';
import type { ScrapeRequest } from '../core/request.js';
import { toScrapeRequest } from './node-request.js';
import { checkOptions, type OptionSpec } from '../options.js';
import { MOUNT_OPTIONS } from '../api-options.js';

/** The part of a {@link Guard} an adapter needs (any object with these two members works). */
export interface MountableGuard {
  /** The core (applies trusted proxies; never rejects). */
  readonly handle: ScrapeHandler;
  /** The path the core serves metrics on. */
  readonly telemetryPath: string;
}

/** Options every mounted adapter accepts. */
export interface MountOptions {
  /** Path the adapter answers on (default: the guard's `telemetryPath`). Query strings are ignored. */
  path?: string;
}

/**
 * Validates the adapter's arguments once, at construction (unknown option keys and wrong types
 * throw, see `options.ts`); returns the path it claims. `foreign`: keys the framework adds.
 */
export function mountPath(
  adapter: string,
  guard: MountableGuard,
  options: MountOptions | undefined,
  spec: OptionSpec = MOUNT_OPTIONS,
  foreign: readonly string[] = [],
): string {
  if (typeof guard !== 'object' || guard === null || typeof guard.handle !== 'function' || typeof guard.telemetryPath !== 'string') {
    throw new TypeError(`${adapter}: the first argument must be a guard from createGuard()`);
  }
  if (options !== undefined) checkOptions(adapter, options, spec, { foreign });
  const path = options?.path ?? guard.telemetryPath;
  if (typeof path !== 'string' || !path.startsWith('/')) throw new TypeError(`${adapter}: path must start with "/", got ${JSON.stringify(path)}`);
  return path;
}

/** The neutral request for a scrape the framework routed to the adapter. */
export function routedScrape(req: IncomingMessage | Http2ServerRequest, guard: MountableGuard): ScrapeRequest {
  return toScrapeRequest(req, guard.telemetryPath);
}
