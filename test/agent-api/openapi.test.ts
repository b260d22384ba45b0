import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../protocol/errors.ts';
import { createTestApp, type TestApp } from '../harness/app.ts';

const doc = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../protocol/openapi.json'), 'utf8'));

describe('agent API OpenAPI document', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  it('is OpenAPI 3.1 with every operation answered by a real route', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => ({ path: `${doc.servers[0].url}${path.replace(/\{[^}]+\}/g, 'x')}`, method: method.toUpperCase() })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(4);
    for (const op of operations) {
      // Unauthenticated calls reach the route and are refused by it (400/401), never "page not found".
      const res = await t.app.request(`http://cp.test${op.path}`, { method: op.method, body: op.method === 'GET' ? undefined : '{}' });
      expect([400, 401], `${op.method} ${op.path}`).toContain(res.status);
    }
  });

  it('leaves undocumented agent paths unanswered', async () => {
    const res = await t.app.request('http://cp.test/agent/v1/no-such-endpoint', { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
  });

  it('lists exactly the error codes the protocol module defines', () => {
    expect(doc.components.schemas.Error.properties.code.enum).toEqual([...ERROR_CODES]);
  });

  it('documents every schema it references', () => {
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const ref of new Set(refs)) expect(doc.components.schemas).toHaveProperty(ref.split('/').pop()!);
  });
});
