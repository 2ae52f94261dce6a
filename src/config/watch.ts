/**
 * Watches the files a configuration depends on (config file, certificate, key, CA bundle) and
 * calls back, debounced, when any of them may have changed. The parent directories are watched,
 * not the files, so atomic replacements (editors, cert-manager, Kubernetes Secret volumes that
 * swap a `..data` symlink) are seen. A slow stat poll backs fs.watch up where it misses events
 * (network filesystems). The callback only signals; the guard decides whether anything changed.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Options of {@link watchFiles}. */
export interface WatchOptions {
  /** Quiet time before calling back (default 200 ms): one rotation touches several files. */
  debounceMs?: number;
  /** Stat poll interval (default 30 s; 0 disables). */
  pollMs?: number;
  /** Told when a directory cannot be watched (the poll still covers it). */
  onWatchError?: (directory: string, error: Error) => void;
}

/** A running watch; `close()` releases every handle (nothing keeps the process alive after it). */
export interface FileWatch {
  close(): void;
}

async function fingerprint(files: readonly string[]): Promise<string> {
  const parts = await Promise.all(
    files.map(async (f) => {
      try {
        const s = await stat(f);
        return `${f}:${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch (error) {
        return `${f}:${(error as NodeJS.ErrnoException).code ?? 'error'}`;
      }
    }),
  );
  return parts.join('|');
}

/** Watches `files` and calls `onChange` after changes settle. */
export function watchFiles(files: readonly string[], onChange: () => void, options: WatchOptions = {}): FileWatch {
  const debounceMs = options.debounceMs ?? 200;
  const pollMs = options.pollMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const fire = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    try {
      const w = watch(dir, { persistent: false }, fire);
      w.on('error', (error) => options.onWatchError?.(dir, error));
      watchers.push(w);
    } catch (error) {
      options.onWatchError?.(dir, error as Error);
    }
  }
  let poll: NodeJS.Timeout | undefined;
  if (pollMs > 0) {
    let last: string | undefined;
    void fingerprint(files).then((f) => (last = f));
    poll = setInterval(() => {
      void fingerprint(files).then((f) => {
        if (last !== undefined && f !== last) fire();
        last = f;
      });
    }, pollMs);
    poll.unref();
  }
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}
