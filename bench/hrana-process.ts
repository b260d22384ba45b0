/**
 * The remote libSQL server of bench/remote-db.ts as a process of its own (its SQLite work must not
 * share the benchmark's or the control plane's CPU time slices): the Hrana server double
 * (test/harness/hrana-server.ts; no sqld is installable here) on HRANA_FILE, behind a proxy adding
 * HRANA_RTT_MS of round trip. Prints `url <url>` once serving, and runs until it is signalled.
 */
import { startHranaServer } from '../test/harness/hrana-server.ts';
import { startDelayProxy } from './delay-proxy.ts';

const hrana = await startHranaServer({ file: process.env.HRANA_FILE!, authToken: process.env.HRANA_TOKEN! });
const { hostname, port } = new URL(hrana.url);
const proxy = await startDelayProxy({ host: hostname, port: Number(port) }, Number(process.env.HRANA_RTT_MS ?? 0));
console.log(`url http://127.0.0.1:${proxy.port}`);
