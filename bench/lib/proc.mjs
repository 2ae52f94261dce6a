// Child processes for the benchmark and what the kernel says about them: CPU seconds (utime +
// stime from /proc/PID/stat, children included via their own entries) and peak RSS (VmHWM).
// Linux only, like the machines the numbers are published from.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

/** All descendants of `pid` (nginx workers, the CLI's own children), including `pid`. */
export function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks;
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
      } catch {
        // the task ended meanwhile
      }
    }
  }
  return out;
}

/** CPU seconds (user + system) used so far by `pid` and its descendants. */
export function cpuSeconds(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    } catch {
      // ended
    }
  }
  return ticks / TICKS;
}

/** Peak resident set size in MiB of `pid` plus its descendants' peaks. */
export function peakRssMiB(pid) {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // ended
    }
  }
  return kb / 1024;
}

/** Current resident set size in MiB of `pid` plus its descendants (VmRSS). */
export function rssMiB(pid) {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // ended
    }
  }
  return kb / 1024;
}

/**
 * Kills the process trees of `pids` (SIGKILL) as soon as their resident memory together exceeds
 * `boundMiB`: a benchmark of a huge registry must not push a shared machine into swap or the OOM
 * killer. Polls every 200 ms. `stop()` ends the watch; `tripped` says whether it fired.
 */
export function memoryWatchdog(pids, boundMiB) {
  const state = { tripped: false, atMiB: 0 };
  const timer = setInterval(() => {
    const total = pids.reduce((sum, pid) => sum + rssMiB(pid), 0);
    if (total <= boundMiB) return;
    state.tripped = true;
    state.atMiB = total;
    clearInterval(timer);
    for (const pid of pids)
      for (const p of processTree(pid).reverse()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
  }, 200);
  return {
    get tripped() {
      return state.tripped;
    },
    get atMiB() {
      return state.atMiB;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Starts a process and waits until it prints a line matching `ready` on stdout (or stderr);
 * without `ready`, until it has spawned. `onSpawn(child)` runs at once (a memory watchdog can
 * cover the start-up, where a huge registry is built).
 * @returns {Promise<{child: import('node:child_process').ChildProcess, match: RegExpExecArray, stop(): Promise<void>, output(): string}>}
 */
export function startProcess(command, args, { ready, env, timeoutMs = 30_000, cwd, onSpawn } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, cwd });
    onSpawn?.(child);
    let log = '';
    let done = false;
    const stop = () =>
      new Promise((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        child.once('exit', () => r());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      });
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(new Error(`${command} did not become ready in ${timeoutMs} ms:\n${log}`));
    }, timeoutMs);
    const onData = (chunk) => {
      log += chunk;
      if (log.length > 100_000) log = log.slice(-50_000);
      const m = ready.exec(log);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        resolve({ child, match: m, stop, output: () => log });
      }
    };
    if (!ready) {
      // Nothing to wait for in the output (nginx prints nothing): the caller polls the port.
      child.once('spawn', () => {
        done = true;
        clearTimeout(timer);
        resolve({ child, match: [], stop, output: () => log });
      });
      ready = /(?!)/;
    }
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('error', (error) => {
      // spawn failed (a binary missing): a rejection, not an unhandled 'error' event
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${command} could not start: ${error.message}`));
    });
    child.on('exit', (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code ?? signal}) before it was ready:\n${log}`));
    });
  });
}
