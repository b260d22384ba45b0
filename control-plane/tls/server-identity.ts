import type { SecureContextOptions } from 'node:tls';
import { type CaMaterial, issueServerCertificate, type ServerCertificate } from './certificates.ts';

/**
 * The HTTPS server's certificate under the cluster CA, re-issued when a name must be added to it
 * (`docker swarm init --advertise-addr`): new handshakes get the new one through `apply`, which is
 * the server's `setSecureContext`.
 */
export class ServerIdentity {
  private names: Set<string>;
  private issuing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly ca: CaMaterial,
    names: string[],
    public current: ServerCertificate,
  ) {
    this.names = new Set(names);
  }

  static async issue(ca: CaMaterial, names: string[]): Promise<ServerIdentity> {
    return new ServerIdentity(ca, names, await issueServerCertificate(ca, names));
  }

  get secureContext(): SecureContextOptions {
    return { cert: this.current.certPem, key: this.current.keyPem };
  }

  /** Adds `host` to the certificate's names (a no-op when it is there), then hands the new context to `apply`. */
  cover(host: string, apply: (context: SecureContextOptions) => void): Promise<void> {
    this.issuing = this.issuing.then(async () => {
      if (this.names.has(host)) return;
      this.names.add(host);
      this.current = await issueServerCertificate(this.ca, [...this.names]);
      apply(this.secureContext);
    });
    return this.issuing;
  }

  get serverNames(): string[] {
    return [...this.names];
  }
}
