import { existsSync, writeFileSync } from 'node:fs';
import { must, run } from './command.ts';
import { HOST_LINK, type HostNames, type RunNames } from './names.ts';

/**
 * The test bridge in the root namespace, holding the subnet's .1 for the control plane. No IPv6
 * on it: the root namespace then neither answers nor routes the hosts' link-local IPv6 (its
 * ip6tables FORWARD policy is ACCEPT), so the IPv4 guards are the whole story.
 */
export async function createBridge(names: RunNames): Promise<void> {
  await must('ip', ['link', 'add', names.bridge, 'type', 'bridge']);
  const ipv6 = `/proc/sys/net/ipv6/conf/${names.bridge}/disable_ipv6`;
  if (existsSync(ipv6)) writeFileSync(ipv6, '1');
  await must('ip', ['addr', 'add', `${names.gateway}/24`, 'dev', names.bridge]);
  await must('ip', ['link', 'set', names.bridge, 'up']);
}

/**
 * A host: a network namespace with one veth whose other end is on the test bridge, and no default
 * route, so the host reaches the bridge subnet and nothing else: whatever a test sends from it
 * (or a container masqueraded behind it) to any other address fails at once instead of leaving.
 */
export async function createHostNetwork(names: RunNames, host: HostNames): Promise<void> {
  await must('ip', ['netns', 'add', host.name]);
  await must('ip', ['link', 'add', host.name, 'type', 'veth', 'peer', 'name', HOST_LINK, 'netns', host.name]);
  await must('ip', ['link', 'set', host.name, 'master', names.bridge, 'up']);
  await must('ip', ['-n', host.name, 'addr', 'add', `${host.addr}/24`, 'dev', HOST_LINK]);
  await must('ip', ['-n', host.name, 'link', 'set', HOST_LINK, 'up']);
  await must('ip', ['-n', host.name, 'link', 'set', 'lo', 'up']);
}

/** The run's namespaces that exist now (by prefix, so a half-done start is covered too). */
export async function runNamespaces(names: RunNames): Promise<string[]> {
  const res = await run('ip', ['netns', 'list']);
  return res.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((ns) => ns.startsWith(`${names.prefix}-`));
}

/** The run's links in the root namespace (the bridge and the hosts' veth ends). */
export async function runLinks(names: RunNames): Promise<string[]> {
  const res = await run('ip', ['-o', 'link', 'show']);
  return res.stdout
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter((link) => link.startsWith(`${names.prefix}-`));
}

/** Deletes the run's namespaces (their veth pairs go with them) and then the bridge. */
export async function removeRunNetwork(names: RunNames): Promise<void> {
  for (const ns of await runNamespaces(names)) await run('ip', ['netns', 'del', ns]);
  for (const link of await runLinks(names)) await run('ip', ['link', 'del', link]);
}
