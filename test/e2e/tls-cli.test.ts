/**
 * The docker CLI over TLS exactly as `npm start` says to point it: the cluster CA verifies the
 * control plane, `docker swarm ca` prints it, and a control plane under another CA is refused.
 * The CA's key stays out of the database, 0600 in the data dir.
 */
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pemDigest } from '../../agent/ca-pin.ts';
import { startControlPlane } from '../harness/control-plane-process.ts';
import { docker } from '../harness/docker-cli.ts';
import { type CliSession, startCliSession } from './cli-session.ts';

let s: CliSession;
beforeAll(async () => {
  s = await startCliSession();
  await s.ok('swarm', 'init');
}, 60_000);
afterAll(() => s?.cp.stop());

describe('docker CLI over TLS with the cluster CA', () => {
  it('prints the four exports; the CLI verifies with ca.pem and needs no client certificate', async () => {
    expect(s.cp.url).toMatch(/^https:/);
    expect(s.cp.dockerEnv.DOCKER_TLS_VERIFY).toBe('1');
    expect(s.cp.dockerEnv.DOCKER_CERT_PATH).toBe(s.cp.dockerEnv.DOCKER_CONFIG);
    expect(readdirSync(s.cp.dockerEnv.DOCKER_CERT_PATH!).sort()).toEqual(['ca.pem', 'config.json']);
    expect(await s.ok('service', 'ls')).toMatch(/^ID\s+NAME/);
  });

  it('`docker swarm ca` prints the trust root; TLSInfo names the issuer as dockerd does', async () => {
    expect((await s.ok('swarm', 'ca')).trim()).toBe(s.cp.caPem!.trim());
    const info = JSON.parse(await s.ok('info', '--format', '{{json .Swarm.Cluster.TLSInfo}}'));
    const ca = new X509Certificate(s.cp.caPem!);
    const spki = ca.publicKey.export({ type: 'spki', format: 'der' });
    expect(Buffer.from(info.CertIssuerPublicKey, 'base64').equals(spki)).toBe(true);
    expect(Buffer.from(info.CertIssuerSubject, 'base64').toString('latin1')).toContain('swarmlet cluster CA');
    const rotate = await s.cli('swarm', 'ca', '--rotate');
    expect(rotate.code).not.toBe(0);
    expect(rotate.stderr).toContain('rotating the cluster CA is not supported');
  });

  it('join tokens pin the CA the server presents', async () => {
    const token = (await s.ok('swarm', 'join-token', '-q', 'worker')).trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims.ca).toBe(pemDigest(s.cp.caPem!));
  });

  it('refuses a control plane whose certificate another CA signed (x509)', async () => {
    const other = await startControlPlane();
    try {
      const misdirected = await docker(['service', 'ls'], { ...s.cp.dockerEnv, DOCKER_HOST: other.dockerEnv.DOCKER_HOST });
      expect(misdirected.code).not.toBe(0);
      expect(misdirected.stderr).toMatch(/x509|certificate signed by unknown authority/);
      // And plain HTTP gets nothing from a TLS port but dockerd's own words for it.
      const plain = await docker(['service', 'ls'], { DOCKER_CONFIG: s.cp.dockerEnv.DOCKER_CONFIG, DOCKER_HOST: s.cp.dockerEnv.DOCKER_HOST });
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toContain('Client sent an HTTP request to an HTTPS server.');
    } finally {
      await other.stop();
    }
  });

  it('keeps the CA key 0600 beside the database and never in it', () => {
    const keyFile = join(s.cp.dataDir, 'tls', 'ca-key.pem');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const keyBody = readFileSync(keyFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    const keyDer = Buffer.from(keyBody, 'base64');
    for (const file of readdirSync(s.cp.dataDir).filter((f) => f.startsWith('control-plane.db'))) {
      const bytes = readFileSync(join(s.cp.dataDir, file));
      expect(bytes.includes(keyDer), file).toBe(false);
      expect(bytes.includes(Buffer.from(keyBody.slice(0, 40))), file).toBe(false);
    }
  });

  it('measures the handshake: a fresh TLS connection to the control plane', async () => {
    const [host, port] = s.cp.dockerEnv.DOCKER_HOST.replace('tcp://', '').split(':');
    const n = 40;
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host, port: Number(port), ca: s.cp.caPem }, () => {
          socket.end();
          resolve();
        });
        socket.once('error', reject);
      });
    }
    const perHandshakeMs = (performance.now() - started) / n;
    console.log(`TLS handshake (P-256 ECDSA, TLS 1.3, verified against the cluster CA): ${perHandshakeMs.toFixed(2)} ms each over ${n}`);
    expect(perHandshakeMs).toBeLessThan(100);
  });
});

describe('the server certificate follows `docker swarm init --advertise-addr`', () => {
  it('names an advertised address that no interface has, from the init on and after a restart', async () => {
    const session = await startCliSession();
    const sans = async (cp = session.cp) => {
      const [host, port] = cp.dockerEnv.DOCKER_HOST.replace('tcp://', '').split(':');
      return new Promise<string>((resolve, reject) => {
        const socket = connect({ host, port: Number(port), ca: cp.caPem }, () => {
          resolve(socket.getPeerCertificate().subjectaltname ?? '');
          socket.end();
        });
        socket.once('error', reject);
      });
    };
    try {
      expect(await sans()).not.toContain('203.0.113.7');
      await session.ok('swarm', 'init', '--advertise-addr', '203.0.113.7');
      expect(await sans()).toContain('IP Address:203.0.113.7');
      const token = (await session.ok('swarm', 'join-token', '-q', 'worker')).trim();
      expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).url).toMatch(/^https:\/\/203\.0\.113\.7:/);
      await session.cp.stop();
      const again = await startControlPlane({ dataDir: session.cp.dataDir });
      try {
        expect(again.caPem).toBe(session.cp.caPem);
        expect(await sans(again)).toContain('IP Address:203.0.113.7');
      } finally {
        await again.stop();
      }
    } finally {
      await session.cp.stop();
    }
  });
});


describe('TLS=off, said explicitly', () => {
  it('serves plain HTTP, prints only the two plain exports and warns that traffic is in the clear', async () => {
    const plain = await startCliSession({ env: { TLS: 'off' } });
    try {
      expect(plain.cp.url).toMatch(/^http:/);
      expect(Object.keys(plain.cp.dockerEnv).sort()).toEqual(['DOCKER_CONFIG', 'DOCKER_HOST']);
      expect(plain.cp.output()).toContain('serving plain HTTP (TLS=off)');
      await plain.ok('swarm', 'init');
      const token = (await plain.ok('swarm', 'join-token', '-q', 'worker')).trim();
      const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
      expect(claims.url).toMatch(/^http:/);
      expect(claims.ca).toBeUndefined();
      expect((await plain.cli('swarm', 'ca')).stdout).not.toContain('BEGIN CERTIFICATE');
    } finally {
      await plain.cp.stop();
    }
  });
});
