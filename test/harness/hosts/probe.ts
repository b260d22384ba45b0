import { spawn } from 'node:child_process';
import { docker } from '../docker-cli.ts';
import { watchOutput } from '../process-output.ts';
import { inNetns, runIn } from './command.ts';
import { TEST_IMAGE } from './engine.ts';
import type { HostNames } from './names.ts';

/** .ci/run installs busybox-static for the test image; its ping serves the namespaces too. */
const BUSYBOX = '/bin/busybox';

/** One ICMP echo from inside a host's namespace, answered within a second. */
export async function pingFromHost(host: HostNames, addr: string): Promise<boolean> {
  return (await runIn(host.name, BUSYBOX, ['ping', '-c', '1', '-W', '1', addr], 10_000)).code === 0;
}

/** One ICMP echo from a container on the host's own engine: the path its tasks' traffic takes. */
export async function pingFromContainer(host: HostNames, addr: string): Promise<boolean> {
  const res = await docker(['--host', host.engineUrl, 'run', '--rm', TEST_IMAGE, 'ping', '-c', '1', '-W', '2', addr], {}, { timeoutMs: 30_000 });
  return res.code === 0;
}

/** Runs a short node script on a host (busybox's nc has no UDP). */
function nodeOn(host: HostNames, script: string, args: string[]) {
  const [launcher, ...launcherArgs] = inNetns(host.name);
  const proc = spawn(launcher!, [...launcherArgs, process.execPath, '-e', script, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return watchOutput(proc, `probe on ${host.name}`, 5_000);
}

const RECEIVE = `
const [port, ms] = process.argv.slice(1).map(Number);
const s = require('dgram').createSocket('udp4');
s.on('message', (m) => { console.log('received ' + m); process.exit(0); });
s.bind(port, () => console.log('listening'));
setTimeout(() => process.exit(3), ms);`;

const SEND = `
const [addr, port] = process.argv.slice(1);
const s = require('dgram').createSocket('udp4');
let sent = 0;
const t = setInterval(() => {
  s.send('probe', Number(port), addr);
  if (++sent === 5) { clearInterval(t); setTimeout(() => process.exit(0), 100); }
}, 100);`;

/**
 * Whether UDP datagrams sent from `from` arrive at `to`: one direction only, unlike ping or TCP,
 * which need both, so this is what tells a one-way partition's directions apart. Five datagrams,
 * one listener that gives up after 1.2 s.
 */
export async function udpReaches(from: HostNames, to: HostNames): Promise<boolean> {
  const port = String(20_000 + Math.floor(Math.random() * 20_000));
  const receiver = nodeOn(to, RECEIVE, [port, '1200']);
  await receiver.waitForOutput(/listening/);
  const sender = nodeOn(from, SEND, [to.addr, port]);
  await Promise.all([sender.exited, receiver.exited]);
  return /received probe/.test(receiver.output());
}
