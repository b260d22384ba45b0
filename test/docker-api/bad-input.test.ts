import { describe, expect, it } from 'vitest';
import { serviceSpec } from '../harness/app.ts';
import { enc, expectRefusedWithoutChange, json, refusalFixture, withTemplate } from './helpers.ts';

/**
 * Every refused request answers a 4xx in Docker's error shape and leaves the database exactly as
 * it was: a service and its tasks exist beforehand, so a partial write would show.
 */
const fixture = refusalFixture();

const create = (body: unknown, headers?: Record<string, string>) => () => fixture.t.request('POST', '/v1.41/services/create', body, headers);
const update = (body: unknown) => () => fixture.t.request('POST', `/v1.41/services/web/update?version=${fixture.webVersion}`, body);

describe('malformed bodies', () => {
  const cases: [string, string, RegExp][] = [
    ['truncated JSON', '{"Name": "api", "TaskTemplate": {', /^invalid JSON body: /],
    ['an unquoted key', '{Name: "api"}', /^invalid JSON body: /],
    ['an empty body', '', /^request body is empty; expected JSON$/],
    ['a JSON array', '[]', /^request body must be a JSON object$/],
    ['a JSON string', '"web"', /^request body must be a JSON object$/],
    ['JSON null', 'null', /^request body must be a JSON object$/],
  ];
  for (const [what, body, message] of cases) {
    it(`create: ${what} → 400`, () => expectRefusedWithoutChange(fixture.t, create(body), 400, message));
    it(`update: ${what} → 400`, () => expectRefusedWithoutChange(fixture.t, update(body), 400, message));
  }
});

describe('fields of the wrong type', () => {
  const cases: [string, unknown, RegExp][] = [
    ['Labels as a string', { ...serviceSpec('api'), Labels: 'a=b' }, /^Labels must be an object$/],
    ['Labels with a number value', { ...serviceSpec('api'), Labels: { a: 1 } }, /^Labels must map strings to strings$/],
    ['Env not an array', withTemplate({}, { Env: 'A=1' }), /^ContainerSpec\.Env must be an array of strings$/],
    ['Env with a number', withTemplate({}, { Env: ['A=1', 2] }), /^ContainerSpec\.Env must be an array of strings$/],
    ['Args as a string', withTemplate({}, { Args: 'httpd -f' }), /^ContainerSpec\.Args must be an array of strings$/],
    ['Replicas as a string', serviceSpec('api', '3' as unknown as number), /^Mode\.Replicated\.Replicas must be an integer between 0 and 100000, got "3"$/],
    ['Replicas as a fraction', serviceSpec('api', 1.5), /^Mode\.Replicated\.Replicas must be an integer/],
    ['TaskTemplate as an array', { ...serviceSpec('api'), TaskTemplate: [] }, /^TaskTemplate must be an object$/],
    ['no TaskTemplate', { Name: 'api', Mode: { Replicated: { Replicas: 1 } } }, /^TaskTemplate is required$/],
    ['Mode with two kinds', { ...serviceSpec('api'), Mode: { Replicated: { Replicas: 1 }, Global: {} } }, /^Mode must have exactly one of Replicated or Global$/],
    ['a job with an UpdateConfig', { ...serviceSpec('api'), Mode: { ReplicatedJob: {} }, UpdateConfig: { Parallelism: 1 } }, /^UpdateConfig is not supported for jobs: /],
    ['a negative MaxConcurrent', { ...serviceSpec('api'), Mode: { ReplicatedJob: { MaxConcurrent: -1 } } }, /^Mode\.ReplicatedJob\.MaxConcurrent must be an integer between 0 and/],
    ['Mode.GlobalJob as a string', { ...serviceSpec('api'), Mode: { GlobalJob: 'yes' } }, /^Mode\.GlobalJob must be an object$/],
    ['an unknown mode', { ...serviceSpec('api'), Mode: { Cron: {} } }, /^Mode must have exactly one of Replicated, Global, ReplicatedJob or GlobalJob$/],
    ['Ports not an array', { ...serviceSpec('api'), EndpointSpec: { Ports: { TargetPort: 80 } } }, /^EndpointSpec\.Ports must be an array$/],
    ['a port out of range', { ...serviceSpec('api'), EndpointSpec: { Ports: [{ TargetPort: 70000 }] } }, /TargetPort must be an integer between 0 and 65535/],
    ['a port without a target', { ...serviceSpec('api'), EndpointSpec: { Ports: [{ PublishedPort: 8081 }] } }, /TargetPort is required/],
    ['an unknown protocol', { ...serviceSpec('api'), EndpointSpec: { Ports: [{ TargetPort: 80, Protocol: 'icmp' }] } }, /Protocol must be one of tcp, udp, sctp/],
    ['a port published twice', { ...serviceSpec('api'), EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8081 }, { TargetPort: 81, PublishedPort: 8081 }] } }, /published port tcp\/8081 is given twice/],
    ['Memory as a string', withTemplate({ Resources: { Reservations: { MemoryBytes: '1g' } } }), /Resources\.Reservations\.MemoryBytes must be an integer/],
    ['a constraint without an operator', withTemplate({ Placement: { Constraints: ['node.role'] } }), /^invalid constraint 'node\.role': expected <key>==<value> or <key>!=<value>$/],
    ['a constraint on an unknown key', withTemplate({ Placement: { Constraints: ['node.colour==red'] } }), /unknown key 'node\.colour'/],
    ['a bad restart condition', withTemplate({ RestartPolicy: { Condition: 'always' } }), /RestartPolicy\.Condition must be one of none, on-failure, any/],
    // Stored as posted, but a wrong type here would make the CLI fail to decode every service list.
    ['Mode.Global as a number', { ...serviceSpec('api'), Mode: { Global: 5 } }, /^Mode\.Global must be an object$/],
    ['TTY as a string', withTemplate({}, { TTY: 'no' }), /^ContainerSpec\.TTY must be a boolean$/],
    ['Init as a string', withTemplate({}, { Init: 'yes' }), /^ContainerSpec\.Init must be a boolean$/],
    ['Hostname as a number', withTemplate({}, { Hostname: 5 }), /^ContainerSpec\.Hostname must be a string$/],
    ['Mounts as a string', withTemplate({}, { Mounts: '/data:/data' }), /^ContainerSpec\.Mounts must be an array$/],
    ['Sysctls with a number', withTemplate({}, { Sysctls: { 'net.core.somaxconn': 1024 } }), /^ContainerSpec\.Sysctls must map strings to strings$/],
    ['Networks as a string', withTemplate({ Networks: 'overlay' }), /^TaskTemplate\.Networks must be an array$/],
    ['ForceUpdate negative', withTemplate({ ForceUpdate: -1 }), /^TaskTemplate\.ForceUpdate must be an integer/],
    ['UpdateConfig.Delay as a string', { ...serviceSpec('api'), UpdateConfig: { Delay: '10s' } }, /^UpdateConfig\.Delay must be an integer/],
    ['RollbackConfig.MaxFailureRatio above 1', { ...serviceSpec('api'), RollbackConfig: { MaxFailureRatio: 2 } }, /^RollbackConfig\.MaxFailureRatio must be a number between 0 and 1$/],
    ['a bad update order', { ...serviceSpec('api'), UpdateConfig: { Order: 'random' } }, /UpdateConfig\.Order must be one of stop-first, start-first/],
  ];
  for (const [what, body, message] of cases) {
    it(`create: ${what} → 400`, () => expectRefusedWithoutChange(fixture.t, create(body), 400, message));
  }
  it('update: Replicas as a string → 400, and the service keeps its spec', () =>
    expectRefusedWithoutChange(fixture.t, update(serviceSpec('web', '5' as unknown as number)), 400, /Replicas must be an integer/));
  it('update: Env not an array → 400', () => expectRefusedWithoutChange(fixture.t, update({ ...withTemplate({}, { Env: 'A=1' }), Name: 'web' }), 400, /Env must be an array/));
});

describe('values Docker refuses', () => {
  it('negative replicas → 400', () => expectRefusedWithoutChange(fixture.t, create(serviceSpec('api', -1)), 400, /^Mode\.Replicated\.Replicas must be an integer between 0 and 100000, got -1$/));
  it('an empty image → 400 "image reference must be provided"', () =>
    expectRefusedWithoutChange(fixture.t, create(withTemplate({}, { Image: '' })), 400, /^ContainerSpec: image reference must be provided$/));
  it('a missing image → 400', () => expectRefusedWithoutChange(fixture.t, create(withTemplate({}, { Image: undefined })), 400, /image reference must be provided/));
  for (const name of ['-web', '_web', 'web-', 'web_', 'web.1', 'web service', 'wéb']) {
    it(`an invalid name ${JSON.stringify(name)} → 400`, () =>
      expectRefusedWithoutChange(fixture.t, create(serviceSpec(name)), 400, /^invalid service name .*: name must be valid as a DNS name component/));
  }
  it('a name longer than 63 characters → 400', () =>
    expectRefusedWithoutChange(fixture.t, create(serviceSpec('a'.repeat(64))), 400, /^invalid service name .*: name must be 63 characters or fewer$/));
  it('a name that is not a string → 400', () => expectRefusedWithoutChange(fixture.t, create({ ...serviceSpec('x'), Name: 42 }), 400, /invalid service name 42/));
  it('a duplicate name → 409 "already exists"', () => expectRefusedWithoutChange(fixture.t, create(serviceSpec('web', 1)), 409, /^service web already exists$/));
});

describe('queries', () => {
  for (const path of ['/v1.41/services', '/v1.41/tasks', '/v1.41/nodes']) {
    it(`unknown filter on ${path} → 400 "Invalid filter"`, () =>
      expectRefusedWithoutChange(fixture.t, () => fixture.t.request('GET', `${path}?filters=${enc({ bogus: ['1'] })}`), 400, /^Invalid filter 'bogus'$/));
  }
  it('filters that are not JSON → 400', () => expectRefusedWithoutChange(fixture.t, () => fixture.t.request('GET', '/v1.41/tasks?filters={bad'), 400, /^invalid filters: /));
});

describe('size and authentication', () => {
  it('a 10 MB body → 413', async () => {
    const huge = JSON.stringify({ ...serviceSpec('big'), Labels: { blob: 'x'.repeat(10 * 1024 * 1024) } });
    await expectRefusedWithoutChange(fixture.t, create(huge), 413, /^request body too large: the limit is \d+ bytes$/);
  });

  it('a 10 MB body announced by Content-Length → 413 before it is read', async () => {
    const huge = 'x'.repeat(10 * 1024 * 1024);
    await expectRefusedWithoutChange(fixture.t, create(huge, { 'Content-Length': String(huge.length) }), 413, /request body too large/);
  });

  it('no API key → 401 that says how to send one', async () => {
    await expectRefusedWithoutChange(fixture.t, create(serviceSpec('api'), { Authorization: '' }), 401, /^missing API key: send "Authorization: Bearer <key>"/);
    await expectRefusedWithoutChange(fixture.t, () => fixture.t.request('GET', '/v1.41/services', undefined, { Authorization: '' }), 401, /missing API key/);
  });

  it('no key on a newer API version\'s path → 401, not "too new" (where the CLI lands when /_ping is refused)', async () => {
    await expectRefusedWithoutChange(fixture.t, () => fixture.t.request('GET', '/v1.50/services', undefined, { Authorization: '' }), 401, /missing API key/);
    await expectRefusedWithoutChange(fixture.t, () => fixture.t.request('GET', '/_ping', undefined, { Authorization: '' }), 401, /missing API key/);
  });

  it('a wrong API key → 401', async () => {
    await expectRefusedWithoutChange(fixture.t, create(serviceSpec('api'), { Authorization: 'Bearer swl_wrong' }), 401, /^invalid API key/);
    await expectRefusedWithoutChange(fixture.t, () => fixture.t.request('DELETE', '/v1.41/services/web', undefined, { Authorization: 'Bearer swl_wrong' }), 401, /invalid API key/);
    await expectRefusedWithoutChange(fixture.t, () => fixture.t.request('GET', '/v1.41/info', undefined, { Authorization: `Basic ${btoa('u:p')}` }), 401, /missing API key/);
  });

  it('the key of another scheme or with junk around it → 401', async () => {
    await expectRefusedWithoutChange(fixture.t, create(serviceSpec('api'), { Authorization: `Token ${fixture.t.apiKey}` }), 401, /missing API key/);
    await expectRefusedWithoutChange(fixture.t, create(serviceSpec('api'), { Authorization: `Bearer ${fixture.t.apiKey}x` }), 401, /invalid API key/);
  });
});

it('the fixtures are still what the refused requests must not have changed', async () => {
  const services = await json<any[]>(await fixture.t.request('GET', '/v1.41/services'));
  expect(services.map((s) => s.Spec.Name)).toEqual(['web']);
  expect(services[0].Version.Index).toBe(fixture.webVersion);
});
