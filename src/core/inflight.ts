/**
 * Counts scrapes in flight through a guard's core, whichever adapter started them, so `close()`
 * can let them finish: the standalone server drains its own sockets, but a handler mounted on the
 * application's server has no sockets of its own to wait for.
 */

/** In-flight bookkeeping with a drain that resolves when the count reaches zero (or at a deadline). */
export class InflightScrapes {
  private count = 0;
  private waiters: (() => void)[] = [];

  /** Scrapes running now. */
  get size(): number {
    return this.count;
  }

  /** Runs `task`, counting it while it runs. */
  async track<T>(task: () => Promise<T>): Promise<T> {
    this.count++;
    try {
      return await task();
    } finally {
      if (--this.count === 0) for (const wake of this.waiters.splice(0)) wake();
    }
  }

  /** Resolves true when every scrape finished, false when `graceMs` passed first. Holds no handle after it resolves. */
  drain(graceMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
      timer = setTimeout(
        () => {
          this.waiters = this.waiters.filter((w) => w !== wake);
          resolve(false);
        },
        Math.max(0, graceMs),
      );
    });
  }
}
