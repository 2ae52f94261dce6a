/**
 * The audit log: one JSON object per request (who, how authenticated, from where, over which TLS
 * version and client certificate, what was asked, the answer, how many series were returned and
 * withheld, how long it took, and why a request was refused). Never a credential: records are
 * built from the principal and the request's facts, not from its headers.
 *
 * Writing never blocks or fails a scrape. The file sink appends (created 0600) from an in-memory
 * queue drained by one asynchronous writer; when the disk is full or the file is gone, lines are
 * dropped, the first failure is logged (once, until a write succeeds again) and every dropped line
 * is counted in `scrapeguard_audit_write_errors_total`. The queue is bounded, so a stuck disk
 * cannot grow memory without limit. Rotation is by size (`FILE` → `FILE.1` … `FILE.keep`), and
 * {@link AuditLog.reopen} (SIGHUP, `guard.reopenAuditLog()`) reopens the path after an external
 * logrotate moved it.
 */
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import type { AuthMethod } from '../auth/principal.js';
import type { ResolvedAuditLog } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { SelfMetrics } from '../metrics/self.js';

/** One audit line. Absent facts are `null`, so every line has every field. */
export interface AuditRecord {
  /** RFC 3339 UTC time the request arrived. */
  time: string;
  /** Authenticated principal; `null` when authentication failed or was not reached. */
  principal: string | null;
  /** Method that authenticated (or that the refused credential was for); `null` when none applied. */
  auth_method: AuthMethod | null;
  /** Groups of the principal. */
  groups: readonly string[];
  remote_address: string;
  /** `TLSv1.3`, `TLSv1.2`; `null` for plain HTTP. */
  tls_version: string | null;
  /** Subject of the client certificate presented, when any. */
  client_cert_subject: string | null;
  method: string;
  path: string;
  status: number;
  /** Bytes of the response body as sent (compressed when gzip). */
  bytes: number;
  series_returned: number | null;
  series_withheld: number | null;
  duration_ms: number;
  /** Why the request was refused or limited (`missing`, `revoked`, `access_denied`…); `null` on success. */
  reason: string | null;
}

/** Receives each audit record (a callback given in code). Must not throw; errors are caught and logged. */
export type AuditSink = (record: AuditRecord) => void;

/** Lines waiting at most (beyond that, new lines are dropped and counted). */
const MAX_QUEUED = 10_000;

/** Dependencies of an {@link AuditLog}. */
export interface AuditLogContext {
  logger: Logger;
  metrics: SelfMetrics;
  /** Where `stdout: true` writes (default `process.stdout`). */
  stdout?: { write(text: string): unknown };
}

/** A configured audit destination (file or stdout). */
export class AuditLog {
  private queue: string[] = [];
  private draining = false;
  private handle: FileHandle | undefined;
  private size = 0;
  private reopenRequested = false;
  private failing = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => {};

  /**
   * @example
   * const audit = new AuditLog({ kind: 'file', path: '/var/log/scrapeguard/audit.log', maxSizeBytes: 1e8, keep: 5 }, { logger, metrics });
   * audit.write(record);
   */
  constructor(
    readonly config: ResolvedAuditLog,
    private readonly context: AuditLogContext,
  ) {}

  /** Queues one record. Returns at once; never throws. */
  write(record: AuditRecord): void {
    if (this.closed) return;
    const line = `${JSON.stringify(record)}\n`;
    if (this.config.kind === 'stdout') {
      try {
        (this.context.stdout ?? process.stdout).write(line);
      } catch (error) {
        this.failed(error);
      }
      return;
    }
    if (this.queue.length >= MAX_QUEUED) {
      this.failed(new Error(`audit queue full (${MAX_QUEUED} lines waiting)`));
      return;
    }
    this.queue.push(line);
    if (!this.draining) this.drain();
  }

  /** Reopens the file at its path on the next write (after logrotate moved it). */
  reopen(): void {
    this.reopenRequested = true;
    if (!this.draining && this.queue.length === 0) void this.closeHandle();
  }

  /** Resolves when every queued line was written (or dropped). */
  flush(): Promise<void> {
    return this.draining ? this.idle : Promise.resolve();
  }

  /** Writes what is queued and closes the file. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.closeHandle();
  }

  private drain(): void {
    this.draining = true;
    this.idle = new Promise((resolve) => (this.markIdle = resolve));
    void (async () => {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        const data = Buffer.from(batch.join(''), 'utf8');
        try {
          await this.ensureOpen(data.length);
          await this.handle!.write(data);
          this.size += data.length;
          if (this.failing) {
            this.failing = false;
            this.context.logger.info('audit log writable again', { path: this.path });
          }
        } catch (error) {
          for (let i = 0; i < batch.length; i++) this.failed(error);
          await this.closeHandle();
        }
      }
      this.draining = false;
      this.markIdle();
    })();
  }

  private get path(): string {
    return this.config.kind === 'file' ? this.config.path : '-';
  }

  private async ensureOpen(incoming: number): Promise<void> {
    if (this.config.kind !== 'file') return;
    if (this.reopenRequested) {
      this.reopenRequested = false;
      await this.closeHandle();
    }
    const { maxSizeBytes } = this.config;
    if (this.handle && maxSizeBytes > 0 && this.size > 0 && this.size + incoming > maxSizeBytes) {
      await this.closeHandle();
      await this.rotate();
    }
    if (!this.handle) {
      this.handle = await open(this.config.path, 'a', 0o600);
      this.size = (await this.handle.stat()).size;
      if (maxSizeBytes > 0 && this.size > 0 && this.size + incoming > maxSizeBytes) {
        await this.closeHandle();
        await this.rotate();
        this.handle = await open(this.config.path, 'a', 0o600);
        this.size = 0;
      }
    }
  }

  /** `FILE.(keep-1)` → `FILE.keep`, …, `FILE` → `FILE.1`; the oldest beyond `keep` is removed. */
  private async rotate(): Promise<void> {
    if (this.config.kind !== 'file') return;
    const { path, keep } = this.config;
    await unlink(`${path}.${keep}`).catch(() => undefined);
    for (let i = keep - 1; i >= 1; i--) await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => undefined);
    if (await stat(path).catch(() => undefined)) await rename(path, `${path}.1`);
  }

  private async closeHandle(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    this.size = 0;
    await h?.close().catch(() => undefined);
  }

  private failed(error: unknown): void {
    this.context.metrics.auditWriteError();
    if (!this.failing) {
      this.failing = true;
      this.context.logger.error('cannot write the audit log; scrapes continue, lines are dropped until it recovers', {
        path: this.path,
        error: (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error)),
      });
    }
  }
}
