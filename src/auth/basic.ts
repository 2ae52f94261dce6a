/**
 * HTTP Basic authentication against bcrypt hashes (`basic_auth_users`).
 *
 * - bcrypt runs on libuv's thread pool (@node-rs/bcrypt async), at most `maxConcurrent` at once;
 *   further checks wait in a bounded queue, and beyond that are refused as "busy" instead of
 *   piling up. There is no global lock: checks run in parallel up to the bound.
 * - Successful checks are cached. The cache key is an HMAC (with a per-process random key) over
 *   the length-prefixed user, stored hash and password, so it binds all three unambiguously
 *   (CVE-2022-46146 was a cache keyed by plain concatenation) and holds no plaintext password.
 *   Because the stored hash is part of the key, a password change or a removed user can never be
 *   served from the cache, and the cache safely survives config reloads.
 * - Unknown users are checked against a decoy hash of the same cost as the configured hashes, so
 *   the response time does not reveal which users exist.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { hash as bcryptHash, verify as bcryptVerify } from '@node-rs/bcrypt';

/** Outcome of a basic-auth check. */
export type BasicAuthResult = 'ok' | 'unknown_user' | 'wrong_password' | 'busy';

/** Options of {@link BasicAuthenticator}. */
export interface BasicAuthenticatorOptions {
  /** bcrypt checks running at once (default 4, the default libuv pool size). */
  maxConcurrent?: number;
  /** Checks allowed to wait for a slot before new ones are refused as busy (default 64). */
  maxQueued?: number;
  /** Successful results remembered (default 1024); the oldest is evicted first. */
  cacheSize?: number;
  /** Told after each bcrypt verification with its wall time on the pool, in seconds. */
  onBcrypt?: (seconds: number) => void;
}

/** Reads the cost from a bcrypt hash (`$2b$12$…` → 12). */
export function bcryptCost(hash: string): number {
  const m = /^\$2[abxy]\$(\d\d)\$/.exec(hash);
  return m ? Number(m[1]) : 10;
}

/** Bounded concurrency gate with a bounded wait queue. */
class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly max: number,
    private readonly maxQueued: number,
  ) {}

  /** Runs `task` when a slot is free; returns undefined when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= this.max) {
      if (this.waiting.length >= this.maxQueued) return undefined;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter; otherwise release it.
      if (next) next();
      else this.running--;
    }
  }
}

const decoyCache = new Map<number, Promise<string>>();

/** A decoy hash of the given cost, made once per process and cost. */
function decoyHash(cost: number): Promise<string> {
  let decoy = decoyCache.get(cost);
  if (!decoy) {
    decoy = bcryptHash(randomBytes(18).toString('base64url'), { cost });
    decoyCache.set(cost, decoy);
  }
  return decoy;
}

/** Cache of successful checks, shared by every config generation of one guard. */
export class BasicAuthCache {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, true>();
  constructor(private readonly capacity = 1024) {}

  /** Keyed digest binding user, stored hash and password (each length-prefixed). */
  digest(user: string, storedHash: string, password: string): string {
    const mac = createHmac('sha256', this.key);
    for (const part of [user, storedHash, password]) {
      const bytes = Buffer.from(part, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      mac.update(len).update(bytes);
    }
    return mac.digest('base64');
  }

  has(digest: string): boolean {
    if (!this.entries.has(digest)) return false;
    // Refresh recency: Map keeps insertion order, so re-insert to mark as recently used.
    this.entries.delete(digest);
    this.entries.set(digest, true);
    return true;
  }

  add(digest: string): void {
    this.entries.set(digest, true);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Verifies basic-auth credentials against one generation of `basic_auth_users`. */
export class BasicAuthenticator {
  private readonly gate: Gate;
  private readonly onBcrypt: ((seconds: number) => void) | undefined;

  private constructor(
    private readonly users: ReadonlyMap<string, string>,
    private readonly decoy: string,
    private readonly cache: BasicAuthCache,
    options: BasicAuthenticatorOptions,
  ) {
    this.gate = new Gate(options.maxConcurrent ?? 4, options.maxQueued ?? 64);
    this.onBcrypt = options.onBcrypt;
  }

  /**
   * Prepares an authenticator (computes the decoy hash for the highest configured cost).
   * Pass the same `cache` across reloads to keep cached successes that are still valid.
   */
  static async create(
    users: ReadonlyMap<string, string>,
    cache: BasicAuthCache,
    options: BasicAuthenticatorOptions = {},
  ): Promise<BasicAuthenticator> {
    // Exactly the highest configured cost (10 with no users): a floor above it would make unknown
    // users slower than wrong passwords, revealing which users exist.
    const cost = users.size > 0 ? Math.max(...[...users.values()].map(bcryptCost)) : 10;
    return new BasicAuthenticator(users, await decoyHash(cost), cache, options);
  }

  /** Number of configured users (0 means basic auth is off). */
  get userCount(): number {
    return this.users.size;
  }

  /** Checks a user/password pair. Never throws for bad credentials. */
  async verify(user: string, password: string): Promise<BasicAuthResult> {
    const stored = this.users.get(user);
    const known = stored !== undefined;
    const hash = stored ?? this.decoy;
    const digest = this.cache.digest(user, hash, password);
    if (known && this.cache.has(digest)) return 'ok';
    const matched = await this.gate.run(async () => {
      const started = performance.now();
      try {
        return await bcryptVerify(password, hash);
      } finally {
        this.onBcrypt?.((performance.now() - started) / 1000);
      }
    });
    if (matched === undefined) return 'busy';
    if (!known) return 'unknown_user';
    if (!matched) return 'wrong_password';
    this.cache.add(digest);
    return 'ok';
  }
}

/**
 * Parses an `Authorization: Basic …` header (RFC 7617): scheme case-insensitive, base64 of
 * `user:password`, split at the first colon. Returns undefined for anything else.
 */
export function parseBasicAuthorization(header: string | undefined): { user: string; password: string } | undefined {
  if (!header) return undefined;
  const m = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!m?.[1] || m[1].length % 4 === 1) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
