/**
 * HTTP Basic authentication against bcrypt hashes (`basic_auth_users`).
 *
 * - bcrypt runs on libuv's thread pool (@node-rs/bcrypt async), at most `maxConcurrent` at once;
 *   further checks wait in a bounded queue, and beyond that are refused as "busy" instead of
 *   piling up. There is no global lock: checks run in parallel up to the bound.
 * - The queue is fair between source addresses ({@link FairGate}): each address waits in its own
 *   small queue and free slots go round-robin over the addresses, so a flood from one address
 *   costs another address at most one bcrypt run per competing address, never a `busy`.
 * - Successful checks are cached. The cache key is an HMAC (with a per-process random key) over
 *   the length-prefixed user, stored hash and password, so it binds all three unambiguously
 *   (CVE-2022-46146 was a cache keyed by plain concatenation) and holds no plaintext password.
 *   Because the stored hash is part of the key, a password change or a removed user can never be
 *   served from the cache, and the cache safely survives config reloads.
 * - Unknown users are checked against a decoy hash of the same cost as the configured hashes, so
 *   the response time does not reveal which users exist.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { hash as bcryptHash, verify as bcryptVerify } from '@node-rs/bcrypt';

/** Outcome of a basic-auth check. */
export type BasicAuthResult = 'ok' | 'unknown_user' | 'wrong_password' | 'busy';

/** Options of {@link BasicAuthenticator}. */
export interface BasicAuthenticatorOptions {
  /** bcrypt checks running at once (default 4, the default libuv pool size). */
  maxConcurrent?: number;
  /** Checks allowed to wait for a slot before new ones are refused as busy (default 64). */
  maxQueued?: number;
  /** Checks one source address may have waiting (default {@link DEFAULT_MAX_QUEUED_PER_SOURCE}; at most `maxQueued`). */
  maxQueuedPerSource?: number;
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

/** Default bound on the checks one source address may have waiting (see {@link FairGate}). */
export const DEFAULT_MAX_QUEUED_PER_SOURCE = 8;

/**
 * The queue a client address waits in: IPv4 addresses (also IPv4-mapped IPv6) as they are, IPv6
 * addresses by their /64 prefix — one host usually holds a whole /64, so per-address fairness
 * would let it take as many places as it likes. Anything else (no address) is its own source.
 * @example
 * fairQueueSource('2001:db8:1:2:aaaa::7') // '2001:db8:1:2::/64'
 */
export function fairQueueSource(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const bare = address.replace(/%.*$/, '');
  const [head = '', tail] = bare.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const h = groups(head);
  const all = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - groups(tail).length)).fill('0'), ...groups(tail)];
  return `${all
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** A waiting check: told `true` when it got a slot, `false` when it was pushed out (busy). */
type Waiter = (granted: boolean) => void;

/**
 * Bounded concurrency with a bounded wait queue that is fair between sources (client addresses).
 *
 * - At most `max` tasks run at once.
 * - Each source has its own FIFO queue of at most `maxQueuedPerSource` waiters; a source over
 *   its cap is refused (busy) for its own excess only.
 * - All queues together hold at most `maxQueued`. When they are full, a newcomer from a source
 *   that holds fewer waiters than the longest queue takes the place of that queue's newest
 *   waiter (which is refused): a flood never pushes a quieter source out, a quieter source can
 *   push the flood back to its fair share.
 * - A freed slot goes to the source next in round-robin order (sources rotate in the order they
 *   started waiting), so with `n` sources waiting, each waits for at most `n - 1` other tasks
 *   per own task, however many the others queued.
 *
 * Deterministic: no timers; the order depends only on the order of `run()` calls and completions.
 */
export class FairGate {
  private running = 0;
  private queued = 0;
  /** Waiters per source; Map order is the round-robin order (the next source to serve is first). */
  private readonly queues = new Map<string, Waiter[]>();
  private readonly perSource: number;

  constructor(
    private readonly max: number,
    private readonly maxQueued: number,
    maxQueuedPerSource = DEFAULT_MAX_QUEUED_PER_SOURCE,
  ) {
    this.perSource = Math.min(maxQueuedPerSource, maxQueued);
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Waiters now, in total or for one source. */
  waiting(source?: string): number {
    return source === undefined ? this.queued : (this.queues.get(source)?.length ?? 0);
  }

  /** Runs `task` for `source` when a slot is free; resolves undefined (busy) when it cannot wait. */
  async run<T>(source: string, task: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= this.max) {
      const granted = await this.wait(source);
      if (!granted) return undefined;
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private wait(source: string): Promise<boolean> {
    const own = this.queues.get(source);
    const ownLength = own?.length ?? 0;
    if (ownLength >= this.perSource) return Promise.resolve(false);
    if (this.queued >= this.maxQueued && !this.evictFor(ownLength)) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      if (own) own.push(resolve);
      else this.queues.set(source, [resolve]);
      this.queued++;
    });
  }

  /** Refuses the newest waiter of the longest queue if it is longer than `ownLength + 1`; true when a place was freed. */
  private evictFor(ownLength: number): boolean {
    let longest: Waiter[] | undefined;
    let longestSource = '';
    for (const [source, queue] of this.queues) {
      if (!longest || queue.length > longest.length) {
        longest = queue;
        longestSource = source;
      }
    }
    // Only a queue that would still be longer than the newcomer's after giving up one place.
    if (!longest || longest.length <= ownLength + 1) return false;
    const evicted = longest.pop()!;
    this.queued--;
    if (longest.length === 0) this.queues.delete(longestSource);
    evicted(false);
    return true;
  }

  private release(): void {
    // Hand the slot straight to the next source in rotation; otherwise free it.
    const next = this.queues.entries().next();
    if (next.done) {
      this.running--;
      return;
    }
    const [source, queue] = next.value;
    const waiter = queue.shift()!;
    this.queued--;
    // Served: this source goes to the back of the rotation (or leaves it when its queue is empty).
    this.queues.delete(source);
    if (queue.length > 0) this.queues.set(source, queue);
    waiter(true);
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
  private readonly gate: FairGate;
  private readonly onBcrypt: ((seconds: number) => void) | undefined;

  private constructor(
    private readonly users: ReadonlyMap<string, string>,
    private readonly decoy: string,
    private readonly cache: BasicAuthCache,
    options: BasicAuthenticatorOptions,
  ) {
    this.gate = new FairGate(options.maxConcurrent ?? 4, options.maxQueued ?? 64, options.maxQueuedPerSource);
    this.onBcrypt = options.onBcrypt;
  }

  /**
   * Prepares an authenticator (computes the decoy hash for the highest configured cost).
   * Pass the same `cache` across reloads to keep cached successes that are still valid.
   */
  static async create(users: ReadonlyMap<string, string>, cache: BasicAuthCache, options: BasicAuthenticatorOptions = {}): Promise<BasicAuthenticator> {
    // Exactly the highest configured cost (10 with no users): a floor above it would make unknown
    // users slower than wrong passwords, revealing which users exist.
    const cost = users.size > 0 ? Math.max(...[...users.values()].map(bcryptCost)) : 10;
    return new BasicAuthenticator(users, await decoyHash(cost), cache, options);
  }

  /** Number of configured users (0 means basic auth is off). */
  get userCount(): number {
    return this.users.size;
  }

  /**
   * Checks a user/password pair. Never throws for bad credentials. `source` is the client's
   * address (after trusted-proxy resolution): bcrypt work is queued fairly between sources, so
   * one address's flood cannot starve another's check. Checks without a source share one queue.
   */
  async verify(user: string, password: string, source = ''): Promise<BasicAuthResult> {
    const stored = this.users.get(user);
    const known = stored !== undefined;
    const hash = stored ?? this.decoy;
    const digest = this.cache.digest(user, hash, password);
    if (known && this.cache.has(digest)) return 'ok';
    const matched = await this.gate.run(fairQueueSource(source), async () => {
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
