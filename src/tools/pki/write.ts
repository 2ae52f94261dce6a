/**
 * Writing generated key material to disk without leaking it: secret files are created with mode
 * 0600 from the first byte (never written first and restricted later), existing files are only
 * replaced when the caller says so, and a set of files is checked as a whole before the first
 * one is written, so a refusal never leaves half a PKI behind.
 */
import { constants as fsConstants } from 'node:fs';
import { chmod, lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { ScrapeguardError } from '../../errors.js';
import type { DevPki } from './generate.js';

/** Mode of files that hold secrets (private keys, passwords): owner read/write only. */
export const SECRET_FILE_MODE = 0o600;
/** Mode of files anyone may read (certificates). */
export const PUBLIC_FILE_MODE = 0o644;
/** Mode of a directory created to hold key material. */
export const SECRET_DIR_MODE = 0o700;

/** Options of the writers in this module. */
export interface WriteOptions {
  /**
   * Replace files that already exist. Without it, an existing file (or symlink) at any target
   * path makes the call throw a `FILE_EXISTS` {@link ScrapeguardError} before anything is written.
   */
  force?: boolean;
}

/** One file to write, relative to the directory given to {@link writeFileSet}. */
export interface FileToWrite {
  /** File name (may contain subdirectories that already exist). */
  name: string;
  contents: string | Uint8Array;
  /** {@link SECRET_FILE_MODE} for anything secret; the mode is enforced regardless of umask. */
  mode: number;
}

/** A file that was written, with the mode it now has. */
export interface WrittenFile {
  path: string;
  mode: number;
}

/**
 * The files of a development PKI: `ca.crt`, `ca.key`, `server.crt`, `server.key`, `client.crt`,
 * `client.key`. Keys get mode 0600, certificates 0644. The CA key is included on purpose: it is
 * what lets the owner mint more server or client certificates from the same trust root later.
 */
export function devPkiFiles(pki: DevPki): FileToWrite[] {
  return [
    { name: 'ca.crt', contents: pki.ca.certPem, mode: PUBLIC_FILE_MODE },
    { name: 'ca.key', contents: pki.ca.keyPem, mode: SECRET_FILE_MODE },
    { name: 'server.crt', contents: pki.server.certPem, mode: PUBLIC_FILE_MODE },
    { name: 'server.key', contents: pki.server.keyPem, mode: SECRET_FILE_MODE },
    { name: 'client.crt', contents: pki.client.certPem, mode: PUBLIC_FILE_MODE },
    { name: 'client.key', contents: pki.client.keyPem, mode: SECRET_FILE_MODE },
  ];
}

/**
 * Writes a development PKI into `dir` (created with mode 0700 if missing); see {@link devPkiFiles}
 * for the file names and modes.
 * @throws {ScrapeguardError} `FILE_EXISTS` naming the existing files, before writing anything,
 *   unless `force` is set.
 * @example
 * const pki = await generateDevPki();
 * await writeDevPki('./pki', pki, { force: false });
 */
export function writeDevPki(dir: string, pki: DevPki, options: WriteOptions = {}): Promise<WrittenFile[]> {
  return writeFileSet(dir, devPkiFiles(pki), options);
}

/**
 * Writes several files into `dir` as one unit of intent: every target is checked first and, if any
 * exists and `force` is not set, nothing is written. `dir` is created (mode 0700) when missing.
 * @throws {ScrapeguardError} `FILE_EXISTS` naming every existing target.
 * @example
 * await writeFileSet(dir, [{ name: 'password', contents: pw, mode: SECRET_FILE_MODE }], { force });
 */
export async function writeFileSet(dir: string, files: readonly FileToWrite[], options: WriteOptions = {}): Promise<WrittenFile[]> {
  const force = options.force === true;
  const targets = files.map((f) => ({ ...f, path: join(dir, f.name) }));
  if (!force)
    await refuseExisting(
      dir,
      files.map((f) => f.name),
    );
  await ensureDir(dir);
  const written: WrittenFile[] = [];
  for (const t of targets) {
    await writeOne(t.path, t.contents, t.mode, force);
    written.push({ path: t.path, mode: t.mode });
  }
  return written;
}

/**
 * Throws the `FILE_EXISTS` error {@link writeFileSet} would throw, without writing anything: lets a
 * caller refuse early, before spending time generating the contents.
 * @throws {ScrapeguardError} `FILE_EXISTS` naming every existing file (or symlink) among `names`.
 * @example
 * if (!force) await refuseExisting(dir, ['ca.crt', 'ca.key']);
 */
export async function refuseExisting(dir: string, names: readonly string[]): Promise<void> {
  const existing: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (await exists(path)) existing.push(path);
  }
  if (existing.length > 0) throw fileExists(existing);
}

/**
 * Writes one secret (a password, a token, a key) to `path` with mode 0600. Without `force` the
 * file is created exclusively (an existing file or symlink is never followed or replaced); with
 * `force` the new contents go to a fresh temporary file that is renamed over the target, so the
 * secret is never readable with the old file's permissions and a symlink at `path` is replaced,
 * not written through. The parent directory must exist.
 * @throws {ScrapeguardError} `FILE_EXISTS` when the file exists and `force` is not set.
 * @example
 * await writeSecretFile('/etc/prometheus/scrape-password', password, { force: false });
 */
export async function writeSecretFile(path: string, contents: string | Uint8Array, options: WriteOptions = {}): Promise<WrittenFile> {
  await writeOne(path, contents, SECRET_FILE_MODE, options.force === true);
  return { path, mode: SECRET_FILE_MODE };
}

async function writeOne(path: string, contents: string | Uint8Array, mode: number, force: boolean): Promise<void> {
  if (!force) {
    try {
      await createAndWrite(path, contents, mode);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw fileExists([path], error);
      throw error;
    }
    return;
  }
  // Same directory, so the rename is atomic and stays on one file system.
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await createAndWrite(tmp, contents, mode);
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}

async function createAndWrite(path: string, contents: string | Uint8Array, mode: number): Promise<void> {
  // O_EXCL|O_CREAT also refuses a dangling symlink, so a planted link cannot redirect the write.
  const handle = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
  try {
    // The creation mode is filtered by the umask; chmod sets exactly what was asked for.
    await handle.chmod(mode);
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function ensureDir(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: SECRET_DIR_MODE });
  // Only a directory made here is tightened; an existing one keeps the mode its owner chose.
  if (created !== undefined) await chmod(dir, SECRET_DIR_MODE);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

function fileExists(paths: readonly string[], cause?: unknown): ScrapeguardError {
  const message = paths.length === 1 ? `${paths[0]} already exists; refusing to overwrite it` : `${paths.join(', ')} already exist; refusing to overwrite them`;
  return new ScrapeguardError('FILE_EXISTS', message, cause === undefined ? {} : { cause });
}
