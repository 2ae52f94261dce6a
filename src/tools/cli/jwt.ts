/**
 * `scrapeguard jwt`: mints a signed JWT for local testing (`--key-file FILE --sub S [--scope …]`), and
 * `scrapeguard jwt keygen --out DIR` makes a signing key pair: the private key (PEM, 0600) and the
 * matching public JWK Set (`jwks.json`) that `jwt_auth.jwks_file` reads. Production tokens come
 * from an identity provider; this is for development, demos and end-to-end tests.
 */
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair, importJWK, SignJWT } from 'jose';
import { parseGoDuration } from '../../config/duration.js';
import { ScrapeguardError } from '../../errors.js';
import { PUBLIC_FILE_MODE, SECRET_FILE_MODE, writeFileSet } from '../pki/write.js';
import { flagOption, parseCommandArgs, stringOption } from './args.js';
import type { CliCommand } from './io.js';

const USAGE = `Usage: scrapeguard jwt --key-file FILE --sub SUBJECT [options]
       scrapeguard jwt keygen --out DIR [--alg ES256] [--kid KID] [--force]

Mints a signed JWT for local testing and prints it on stdout. FILE is a private key in PEM
(PKCS#8, as written by "jwt keygen") or JWK form, or with --alg HS256/HS384/HS512 a shared
secret file (the one jwt_auth.secret_file names).

Options:
  --key-file FILE  signing key (required; formerly named key)
  --sub SUBJECT    the "sub" claim (required)
  --scope S        "scope" claim: space-separated scopes (quote them)
  --groups a,b     "groups" claim (a list), comma-separated
  --ttl DURATION   lifetime, Go syntax (default 1h)
  --iss ISSUER     "iss" claim
  --aud AUDIENCE   "aud" claim
  --kid KID        "kid" header (default: the key's kid when the key is a JWK)
  --alg ALG        algorithm (default from the key: ES256, ES384, RS256, EdDSA)
  -h, --help       show this help

keygen writes DIR/jwt-signing.key (0600) and DIR/jwks.json (its public key as a JWK Set).
`;

const KEYGEN_ALGS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'] as const;

function defaultAlg(key: KeyObject): string {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    if (curve === 'secp521r1') return 'ES512';
  }
  if (type === 'rsa') return 'RS256';
  if (type === 'rsa-pss') return 'PS256';
  if (type === 'ed25519') return 'EdDSA';
  throw new ScrapeguardError('USAGE', `unsupported key type ${type ?? 'unknown'}; use an EC, RSA or Ed25519 key, or --alg HS256 with a secret file`);
}

async function keygen(argv: readonly string[], io: Parameters<CliCommand>[1]): Promise<number> {
  const args = parseCommandArgs(argv, { out: { type: 'string' }, alg: { type: 'string' }, kid: { type: 'string' }, force: { type: 'boolean' } });
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const out = stringOption(args, 'out');
  if (!out) throw new ScrapeguardError('USAGE', '--out DIR is required');
  const alg = stringOption(args, 'alg') ?? 'ES256';
  if (!(KEYGEN_ALGS as readonly string[]).includes(alg))
    throw new ScrapeguardError('USAGE', `--alg must be one of ${KEYGEN_ALGS.join(', ')}, got ${JSON.stringify(alg)}`);
  const kid = stringOption(args, 'kid') ?? randomBytes(8).toString('hex');
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const dir = resolve(io.cwd, out);
  const written = await writeFileSet(
    dir,
    [
      { name: 'jwt-signing.key', contents: await exportPKCS8(privateKey), mode: SECRET_FILE_MODE },
      { name: 'jwks.json', contents: `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`, mode: PUBLIC_FILE_MODE },
    ],
    { force: flagOption(args, 'force') },
  );
  for (const f of written) io.stdout.write(`wrote ${f.path} (mode ${f.mode.toString(8).padStart(4, '0')})\n`);
  io.stdout.write(`\n# web-config.yml:\njwt_auth:\n  jwks_file: ${join(dir, 'jwks.json')}\n  algorithms: [${alg}]\n`);
  io.stdout.write(`\n# a token: scrapeguard jwt --key-file ${join(dir, 'jwt-signing.key')} --sub prometheus\n`);
  return 0;
}

/** Runs `scrapeguard jwt`. */
export const jwtCommand: CliCommand = async (argv, io) => {
  if (argv[0] === 'keygen') return keygen(argv.slice(1), io);
  const args = parseCommandArgs(
    argv,
    {
      'key-file': { type: 'string' },
      sub: { type: 'string' },
      scope: { type: 'string' },
      groups: { type: 'string' },
      ttl: { type: 'string' },
      iss: { type: 'string' },
      aud: { type: 'string' },
      kid: { type: 'string' },
      alg: { type: 'string' },
    },
    false,
    { key: 'key-file' },
  );
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  for (const notice of args.renamed) io.stderr.write(`warning: ${notice}\n`);
  const keyFile = stringOption(args, 'key-file');
  const sub = stringOption(args, 'sub');
  if (!keyFile) throw new ScrapeguardError('USAGE', '--key-file FILE is required');
  if (!sub) throw new ScrapeguardError('USAGE', '--sub SUBJECT is required');
  const ttlText = stringOption(args, 'ttl') ?? '1h';
  const ttlMs = parseGoDuration(ttlText);
  if (ttlMs === undefined || ttlMs <= 0)
    throw new ScrapeguardError('USAGE', `--ttl must be a positive duration such as 1h or 15m, got ${JSON.stringify(ttlText)}`);

  const path = resolve(io.cwd, keyFile);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ScrapeguardError('USAGE', `cannot read --key-file ${JSON.stringify(path)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let alg = stringOption(args, 'alg');
  let kid = stringOption(args, 'kid');
  let key: KeyObject | Awaited<ReturnType<typeof importJWK>>;
  try {
    if (alg?.startsWith('HS')) {
      key = new Uint8Array(Buffer.from(text.replace(/\r?\n$/, ''), 'utf8'));
    } else if (text.trimStart().startsWith('{')) {
      const jwk = JSON.parse(text) as { alg?: string; kid?: string; d?: string };
      if (jwk.d === undefined) throw new Error('the JWK has no private part ("d")');
      alg ??= jwk.alg;
      kid ??= jwk.kid;
      if (!alg) throw new Error('the JWK names no "alg"; pass --alg');
      key = await importJWK(jwk, alg);
    } else {
      key = createPrivateKey(text);
      alg ??= defaultAlg(key);
    }
  } catch (error) {
    if (error instanceof ScrapeguardError) throw error;
    // The message may describe the key's format, never its contents.
    throw new ScrapeguardError('USAGE', `cannot use --key-file ${JSON.stringify(path)}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!kid && !(key instanceof Uint8Array) && 'asymmetricKeyType' in key) {
    // Match the kid "jwt keygen" wrote next to the key, when there is a jwks.json beside it.
    kid = await siblingKid(path, key);
  }
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  const scope = stringOption(args, 'scope');
  if (scope !== undefined) claims.scope = scope;
  const groups = stringOption(args, 'groups');
  if (groups !== undefined)
    claims.groups = groups
      .split(',')
      .map((g) => g.trim())
      .filter((g) => g !== '');
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'JWT', ...(kid ? { kid } : {}) })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.ceil(ttlMs / 1000));
  const iss = stringOption(args, 'iss');
  const aud = stringOption(args, 'aud');
  if (iss !== undefined) jwt = jwt.setIssuer(iss);
  if (aud !== undefined) jwt = jwt.setAudience(aud);
  try {
    io.stdout.write(`${await jwt.sign(key)}\n`);
  } catch (error) {
    throw new ScrapeguardError('USAGE', `cannot sign with ${alg}: ${(error as Error).message.split('\n')[0]}`);
  }
  return 0;
};

/** The kid of the public key in a `jwks.json` next to the private key, if it matches. */
async function siblingKid(keyPath: string, key: KeyObject): Promise<string | undefined> {
  try {
    const jwks = JSON.parse(await readFile(join(keyPath, '..', 'jwks.json'), 'utf8')) as { keys?: { kid?: string; x?: string; n?: string }[] };
    const pub = await exportJWK(createPublicKey(key));
    return jwks.keys?.find((k) => (k.x !== undefined && k.x === pub.x) || (k.n !== undefined && k.n === pub.n))?.kid;
  } catch {
    return undefined;
  }
}
