/**
 * A local Kubernetes-style OIDC issuer for tests: a real node:https server (certificate from the
 * test PKI) serving `/.well-known/openid-configuration` and `/openid/v1/jwks` as the API server
 * does, and a minter of service-account tokens with the real claim layout of projected tokens
 * (`kubernetes.io.{namespace, serviceaccount, pod, node, warnafter}`, `sub`
 * `system:serviceaccount:NS:NAME`). It records every request (path and whether it carried which
 * bearer token) so tests can check what the guard fetched and sent.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { TestCert } from './pki.js';

/** One request the issuer served. */
export interface IssuerRequest {
  path: string;
  authorization: string | undefined;
}

/** Options of {@link ServiceAccountIssuer.mint}. */
export interface MintOptions {
  namespace?: string;
  serviceAccount?: string;
  audience?: string | string[];
  /** Lifetime in seconds (default 3600). */
  ttlSec?: number;
  /** Bind to a pod (default true, as kubelet-projected tokens are). */
  pod?: boolean;
  /** `kubernetes.io.warnafter` (seconds since epoch); absent by default. */
  warnAfter?: number;
  /** Claims merged over the generated ones (`undefined` removes one). */
  override?: Record<string, unknown>;
  /** Sign with another key (one the issuer does not publish). */
  foreignKey?: boolean;
}

/** A running issuer. */
export interface ServiceAccountIssuer {
  /** `https://127.0.0.1:PORT` (no trailing slash), the `iss` of its tokens. */
  readonly issuer: string;
  readonly requests: IssuerRequest[];
  /** What the discovery document says; tests change it to provoke failures. */
  discovery: Record<string, unknown>;
  /** Status of the discovery answer (default 200). */
  discoveryStatus: number;
  mint(options?: MintOptions): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts an issuer on 127.0.0.1 with `cert` (its CA must be given to the guard as `ca_file`).
 * @example
 * const issuer = await startServiceAccountIssuer(pki.serverRsa);
 * const token = await issuer.mint({ namespace: 'monitoring', serviceAccount: 'prometheus', audience: 'scrapeguard' });
 */
export async function startServiceAccountIssuer(cert: TestCert): Promise<ServiceAccountIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const foreign = await generateKeyPair('RS256');
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const requests: IssuerRequest[] = [];
  const server: Server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(state.discoveryStatus, { 'content-type': 'application/json' });
      res.end(JSON.stringify(state.discovery));
    } else if (req.url === '/openid/v1/jwks') {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state: ServiceAccountIssuer = {
    issuer,
    requests,
    discoveryStatus: 200,
    // What kube-apiserver serves (pkg/serviceaccount/openidmetadata.go).
    discovery: {
      issuer,
      jwks_uri: `${issuer}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    },
    async mint(o: MintOptions = {}) {
      const ns = o.namespace ?? 'monitoring';
      const sa = o.serviceAccount ?? 'prometheus';
      const now = Math.floor(Date.now() / 1000);
      const claims: JWTPayload = {
        aud: o.audience ?? 'scrapeguard',
        exp: now + (o.ttlSec ?? 3600),
        iat: now,
        nbf: now,
        iss: issuer,
        jti: randomUUID(),
        sub: `system:serviceaccount:${ns}:${sa}`,
        'kubernetes.io': {
          namespace: ns,
          ...(o.pod !== false ? { node: { name: 'node-1', uid: randomUUID() }, pod: { name: `${sa}-0`, uid: randomUUID() } } : {}),
          serviceaccount: { name: sa, uid: randomUUID() },
          ...(o.warnAfter !== undefined ? { warnafter: o.warnAfter } : {}),
        },
      };
      for (const [k, v] of Object.entries(o.override ?? {})) {
        if (v === undefined) delete claims[k];
        else claims[k] = v;
      }
      return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(o.foreignKey ? foreign.privateKey : privateKey);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return state;
}
