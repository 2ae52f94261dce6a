#!/usr/bin/env node
// Adds the lock entries npm leaves out when the registry this project installs from mirrors only
// the linux-x64 builds of platform-specific optional packages (@node-rs/bcrypt-*, @rollup/rollup-*).
// Without them `npm ci` refuses the lock as "not in sync". Each added entry carries the os/cpu/libc
// that its name encodes, so npm skips it on every other platform without fetching anything.
// Run after `npm install` changes package-lock.json.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const OS = ['android', 'darwin', 'freebsd', 'linux', 'win32', 'openbsd', 'openharmony', 'netbsd', 'sunos', 'aix'];
const CPU = {
  'arm-eabi': 'arm',
  'arm-gnueabihf': 'arm',
  'arm-musleabihf': 'arm',
  arm64: 'arm64',
  x64: 'x64',
  ia32: 'ia32',
  loong64: 'loong64',
  ppc64: 'ppc64',
  riscv64: 'riscv64',
  s390x: 's390x',
  arm: 'arm',
};

function platformOf(name) {
  const tail = name.split('/').pop();
  const os = OS.find((o) => tail.includes(`-${o}-`));
  if (!os) return undefined;
  const rest = tail.slice(tail.indexOf(`-${os}-`) + os.length + 2);
  const cpuKey = Object.keys(CPU)
    .sort((a, b) => b.length - a.length)
    .find((k) => rest === k || rest.startsWith(`${k}-`));
  if (!cpuKey) return undefined;
  const entry = { os: [os], cpu: [CPU[cpuKey]] };
  if (/-gnu|gnueabihf/.test(rest)) entry.libc = ['glibc'];
  if (/-musl|musleabihf/.test(rest)) entry.libc = ['musl'];
  return entry;
}

let added = 0;
for (const pkg of Object.values({ ...lock.packages })) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const where = `node_modules/${dep}`;
    if (lock.packages[where]) continue;
    const platform = platformOf(dep);
    if (!platform || !/^\d+\.\d+\.\d+/.test(version)) continue;
    lock.packages[where] = { version, ...platform, optional: true, ...(pkg.dev ? { dev: true } : {}) };
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
lock.packages = sorted;
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(`complete-lockfile: added ${added} platform entries`);
