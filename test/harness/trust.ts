import { rootCertificates } from 'node:tls';
import { Agent, setGlobalDispatcher } from 'undici';

const trusted = new Set<string>();

/**
 * Lets this test process's fetch() reach control planes serving under their own cluster CA: the
 * global dispatcher trusts the system roots and every CA a started control plane printed. Only the
 * tests' own requests use it; agents and the docker CLI run as processes and pin as users' do.
 */
export function trustInTests(caPem: string) {
  if (trusted.has(caPem)) return;
  trusted.add(caPem);
  setGlobalDispatcher(new Agent({ connect: { ca: [...rootCertificates, ...trusted] } }));
}
