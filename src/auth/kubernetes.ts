/**
 * Kubernetes service-account tokens (`jwt_auth.kubernetes`), validated offline: no TokenReview
 * call per scrape, only the cluster's OIDC discovery document (once) and its JWK Set (cached,
 * refetched as any remote JWK Set is). What a projected token must carry beyond a valid
 * signature, issuer, audience and expiry (checked by jose in `jwt.ts`):
 *
 * - the `kubernetes.io` claim with `namespace` and `serviceaccount.{name,uid}`, and a `sub` that
 *   is exactly `system:serviceaccount:NAMESPACE:NAME` (a token whose parts disagree is forged or
 *   from another kind of issuer);
 * - with `require_pod_binding`, `kubernetes.io.pod.{name,uid}` (a token bound to a pod);
 * - when `kubernetes.io.warnafter` is present, that time is the token's real end of life: the
 *   API server extends the `exp` of kubelet-minted tokens to a year only for clients that never
 *   re-read the file; Prometheus re-reads it on every scrape, so a token past `warnafter` is one
 *   the kubelet already replaced, and it is refused like an expired one.
 *
 * The principal is the `sub` (the name the API server's RBAC uses), its groups those the API server
 * gives service accounts: `system:serviceaccounts`, `system:serviceaccounts:NAMESPACE`,
 * `system:authenticated`. Discovery and JWK Set fetches verify the cluster CA when given and
 * send the guard's own token only to the discovery document's origin.
 */
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { errors as joseErrors, type FetchImplementation, type JWTPayload } from 'jose';
import type { ResolvedKubernetesJwt } from '../config/schema.js';
import { isLoopbackHost } from '../net/loopback.js';
import type { Principal } from './principal.js';

/** Largest discovery document or JWK Set accepted (a real one is a few KiB). */
const MAX_BYTES = 1024 * 1024;

/** The principal of a service account, as the API server names it. */
export function serviceAccountPrincipal(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** What a valid token's claims say, or why they are refused. */
export type KubernetesClaimsResult =
  { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly reason: 'invalid_token' | 'expired'; readonly detail: string };

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== '';
const object = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/**
 * Checks the `kubernetes.io` claims of a token whose signature, issuer, audience and expiry
 * jose already verified, and maps it to a principal.
 * @example
 * kubernetesClaims(payload, { requirePodBinding: true }, Date.now(), 30);
 * // { ok: true, principal: { name: 'system:serviceaccount:monitoring:prometheus', method: 'jwt', groups: [...] } }
 */
export function kubernetesClaims(
  payload: JWTPayload,
  config: Pick<ResolvedKubernetesJwt, 'requirePodBinding'>,
  now: number,
  toleranceSec: number,
): KubernetesClaimsResult {
  const k8s = object(payload['kubernetes.io']);
  if (!k8s) return { ok: false, reason: 'invalid_token', detail: 'missing claim "kubernetes.io" (not a projected service-account token)' };
  const namespace = k8s.namespace;
  const sa = object(k8s.serviceaccount);
  if (!nonEmpty(namespace) || !sa || !nonEmpty(sa.name) || !nonEmpty(sa.uid)) {
    return { ok: false, reason: 'invalid_token', detail: 'claim "kubernetes.io" lacks namespace or serviceaccount.name/uid' };
  }
  // Namespaces and service-account names are DNS labels/subdomains: no ':' can make two parts look like one.
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(sa.name)) {
    return { ok: false, reason: 'invalid_token', detail: 'namespace or service-account name is not a Kubernetes name' };
  }
  const name = serviceAccountPrincipal(namespace, sa.name);
  if (payload.sub !== name) return { ok: false, reason: 'invalid_token', detail: 'claim "sub" does not match kubernetes.io namespace and service account' };
  const pod = object(k8s.pod);
  if (config.requirePodBinding && (!pod || !nonEmpty(pod.name) || !nonEmpty(pod.uid))) {
    return { ok: false, reason: 'invalid_token', detail: 'token is not bound to a pod (require_pod_binding)' };
  }
  const warnAfter = k8s.warnafter;
  if (typeof warnAfter === 'number' && Number.isFinite(warnAfter) && now >= (warnAfter + toleranceSec) * 1000) {
    return { ok: false, reason: 'expired', detail: 'claim "kubernetes.io.warnafter" passed (the kubelet has replaced this token)' };
  }
  return {
    ok: true,
    principal: { name, method: 'jwt', groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] },
  };
}

/** Fetch settings for the discovery document and the JWK Set. */
export interface ClusterFetchOptions {
  /** CA bundle (PEM) verifying the endpoint; default: Node's roots. */
  caPem?: string;
  /** File with the bearer token to send (read on every fetch: the kubelet rotates it). */
  tokenFile?: string;
  /** Only URLs of this origin get the token. */
  tokenOrigin?: string;
  timeoutMs: number;
}

/**
 * GETs a JSON document over https (or http to a loopback address) with the cluster CA and,
 * for the token's origin only, the bearer token. Bounded in size and time; redirects are not
 * followed (jose asks for `redirect: manual` too).
 */
export async function clusterGet(
  url: string,
  options: ClusterFetchOptions,
  signal?: AbortSignal,
): Promise<{ status: number; body: string; contentType: string }> {
  const target = new URL(url);
  const https = target.protocol === 'https:';
  if (!https && !(target.protocol === 'http:' && isLoopbackHost(target.hostname)))
    throw new TypeError(`refusing to fetch ${target.origin}: https:// only (http:// for loopback)`);
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'scrapeguard' };
  if (options.tokenFile !== undefined && target.origin === options.tokenOrigin) {
    const token = (await readFile(options.tokenFile, 'utf8')).trim();
    if (token !== '') headers.authorization = `Bearer ${token}`;
  }
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(target, {
      method: 'GET',
      headers,
      ...(https && options.caPem !== undefined ? { ca: options.caPem } : {}),
      timeout: options.timeoutMs,
      ...(signal ? { signal } : {}),
    });
    req.on('timeout', () => req.destroy(new joseErrors.JWKSTimeout(`no answer from ${target.origin} within ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BYTES) {
          res.destroy();
          reject(new joseErrors.JWKSInvalid(`${target.origin} answered more than ${MAX_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: String(res.headers['content-type'] ?? '') }),
      );
    });
    req.end();
  });
}

/** jose's fetch hook over {@link clusterGet}, for the JWK Set. */
export function clusterFetch(options: ClusterFetchOptions): FetchImplementation {
  return async (url, init) => {
    let got: Awaited<ReturnType<typeof clusterGet>>;
    try {
      got = await clusterGet(url, options, init.signal);
    } catch (error) {
      // jose and jwt.ts tell "key set unreachable" (503, keep the old keys) by these classes.
      if (error instanceof joseErrors.JOSEError) throw error;
      const name = (error as Error).name;
      if (name === 'AbortError' || name === 'TimeoutError') throw new joseErrors.JWKSTimeout(undefined, { cause: error });
      throw new joseErrors.JWKSInvalid(`fetching the JSON Web Key Set failed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
        cause: error,
      });
    }
    return new Response(got.body, { status: got.status, headers: { 'content-type': got.contentType || 'application/json' } });
  };
}

/**
 * Reads the OIDC discovery document (OpenID Connect Discovery 1.0 §4) and returns its `jwks_uri`.
 * The document's `issuer` must be exactly the configured one (§4.3), or its keys could belong to
 * another issuer.
 * @throws jose's JWKSInvalid (so verification answers 503 `jwks_unavailable`) on any failure.
 */
export async function discoverJwksUri(discoveryUrl: string, issuer: string, options: ClusterFetchOptions): Promise<string> {
  const fail = (why: string, cause?: unknown): never => {
    throw new joseErrors.JWKSInvalid(`OIDC discovery ${discoveryUrl}: ${why}`, cause !== undefined ? { cause } : undefined);
  };
  let got: Awaited<ReturnType<typeof clusterGet>> | undefined;
  try {
    got = await clusterGet(discoveryUrl, options);
  } catch (error) {
    fail(`request failed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, error);
  }
  if (got!.status !== 200)
    fail(
      `answered HTTP ${got!.status}${got!.status === 401 || got!.status === 403 ? ' (grant the service-account-issuer-discovery role, or set token_file)' : ''}`,
    );
  let doc: Record<string, unknown> | undefined;
  try {
    doc = object(JSON.parse(got!.body));
  } catch {
    doc = undefined;
  }
  if (!doc) return fail('not a JSON object');
  if (doc.issuer !== issuer) return fail(`issuer is ${JSON.stringify(String(doc.issuer).slice(0, 200))}, not the configured ${JSON.stringify(issuer)}`);
  const jwksUri = doc.jwks_uri;
  if (!nonEmpty(jwksUri)) return fail('no jwks_uri');
  let parsed: URL;
  try {
    parsed = new URL(jwksUri);
  } catch {
    return fail('jwks_uri is not a URL');
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname))) return fail('jwks_uri is not https://');
  return parsed.href;
}
