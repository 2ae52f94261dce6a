/**
 * Client-certificate identity (`client_cert_auth`): turns a certificate the TLS layer verified
 * against the client CA into a {@link Principal}. The name comes from one configured field (the
 * first DNS, URI or e-mail SAN, or the subject CN); groups from the subject's OUs or a configured
 * SAN → groups map. An unverified certificate never becomes a principal.
 */
import type { ResolvedClientCertAuth } from '../config/schema.js';
import { allSanValues, type ClientCertificateInfo } from '../tls/client-cert.js';
import type { Principal } from './principal.js';

/** Outcome of deriving an identity. */
export type CertIdentityResult = { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly reason: 'no_identity' };

/** Compiled `client_cert_auth` of one config generation. */
export class ClientCertIdentity {
  constructor(private readonly config: ResolvedClientCertAuth) {}

  /**
   * The principal of a verified certificate.
   * @example
   * const id = new ClientCertIdentity({ principalFrom: 'san_dns', groupsFrom: { kind: 'ou' } });
   * id.identify(request.tls.clientCertificate);
   */
  identify(cert: ClientCertificateInfo): CertIdentityResult {
    let name: string | undefined;
    switch (this.config.principalFrom) {
      case 'san_dns':
        name = cert.sans.dns[0];
        break;
      case 'san_uri':
        name = cert.sans.uri[0];
        break;
      case 'san_email':
        name = cert.sans.email[0];
        break;
      case 'cn':
        name = cert.commonName;
        break;
    }
    if (name === undefined || name === '') return { ok: false, reason: 'no_identity' };
    const from = this.config.groupsFrom;
    let groups: string[] = [];
    if (from?.kind === 'ou') groups = (cert.organizationalUnits ?? []).filter((ou) => ou !== '');
    else if (from?.kind === 'san_map') {
      const seen = new Set<string>();
      for (const san of allSanValues(cert.sans)) for (const g of from.map[san] ?? []) seen.add(g);
      groups = [...seen];
    }
    return { ok: true, principal: { name, method: 'client_cert', groups } };
  }
}
