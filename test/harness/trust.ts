import { createSecureContext, rootCertificates } from 'node:tls';
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
  setGlobalDispatcher(trustingAgent());
}

/**
 * A dispatcher of its own (its own connections and their number) that trusts what the global one
 * trusts. The trust is parsed once: a `ca` list is parsed again for every connection (~140 system
 * roots), which a flood of 400 connections turned into a minute of the test process's CPU.
 */
export function trustingAgent(opts: Omit<Agent.Options, 'connect'> = {}): Agent {
  const secureContext = createSecureContext({ ca: [...rootCertificates, ...trusted] });
  // A loaded shared machine may take longer than undici's 10 s to accept a flood's connections.
  return new Agent({ ...opts, connect: { secureContext, timeout: 60_000 } });
}
