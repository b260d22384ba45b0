import { describe, expect, it } from 'vitest';
import { createTestApp, serviceSpec } from '../harness/app.ts';
import { createService, expectAgentError, expectRefusedWithoutChange, json, refusalFixture, withTemplate } from './helpers.ts';

/**
 * Issue 11, finding 5: a spec stored with one field of the wrong type (Placement.Preferences `[1]`,
 * a mount's Source `5`) made `docker service ls` fail for the whole cluster, since the CLI decodes
 * every service of the list into Go types. Each field the CLI decodes is refused at the edge, with
 * the field named, and nothing is written.
 */
const fixture = refusalFixture();

const create = (body: unknown) => () => fixture.t.request('POST', '/v1.41/services/create', body);
const update = (body: unknown) => () => fixture.t.request('POST', `/v1.41/services/web/update?version=${fixture.webVersion}`, body);
const mount = (m: Record<string, unknown>) => withTemplate({}, { Mounts: [{ Type: 'volume', Target: '/data', ...m }] });

const cases: [string, unknown, RegExp][] = [
  // The two of the finding.
  ['Preferences [1]', withTemplate({ Placement: { Preferences: [1] } }), /^TaskTemplate\.Placement\.Preferences\[0\] must be an object$/],
  ['a mount Source 5', mount({ Source: 5 }), /^ContainerSpec\.Mounts\[0\]\.Source must be a string$/],
  // Placement
  ['Preferences as an object', withTemplate({ Placement: { Preferences: { Spread: {} } } }), /^TaskTemplate\.Placement\.Preferences must be an array$/],
  ['a Spread that is a string', withTemplate({ Placement: { Preferences: [{ Spread: 'node.labels.az' }] } }), /^TaskTemplate\.Placement\.Preferences\[0\]\.Spread must be an object$/],
  ['a SpreadDescriptor that is a number', withTemplate({ Placement: { Preferences: [{ Spread: { SpreadDescriptor: 1 } }] } }), /^TaskTemplate\.Placement\.Preferences\[0\]\.Spread\.SpreadDescriptor must be a string$/],
  ['Platforms with a number OS', withTemplate({ Placement: { Platforms: [{ OS: 1 }] } }), /^TaskTemplate\.Placement\.Platforms\[0\]\.OS must be a string$/],
  ['MaxReplicas negative', withTemplate({ Placement: { MaxReplicas: -1 } }), /^TaskTemplate\.Placement\.MaxReplicas must be an integer of 0 or more, got -1$/],
  // Mounts
  ['a mount that is a string', withTemplate({}, { Mounts: ['/data:/data'] }), /^ContainerSpec\.Mounts\[0\] must be an object$/],
  ['an unknown mount Type', mount({ Type: 'nfs' }), /^ContainerSpec\.Mounts\[0\]\.Type must be one of bind, volume, tmpfs, npipe, cluster, got "nfs"$/],
  ['a mount without a Type', mount({ Type: undefined }), /^ContainerSpec\.Mounts\[0\]\.Type is required: one of bind, volume/],
  ['a mount without a Target', mount({ Target: '' }), /^invalid mount config for type "volume": field Target must not be empty/],
  ['a bind mount without a Source', mount({ Type: 'bind' }), /^invalid mount config for type "bind": field Source must not be empty/],
  ['a tmpfs mount with a Source', mount({ Type: 'tmpfs', Source: 'x' }), /^invalid mount config for type "tmpfs": field Source must not be specified/],
  ['ReadOnly as a string', mount({ ReadOnly: 'true' }), /^ContainerSpec\.Mounts\[0\]\.ReadOnly must be a boolean$/],
  ['an unknown bind Propagation', mount({ Type: 'bind', Source: '/srv', BindOptions: { Propagation: 'sideways' } }), /BindOptions\.Propagation must be one of private, rprivate/],
  ['volume Labels with a number', mount({ VolumeOptions: { Labels: { a: 1 } } }), /^ContainerSpec\.Mounts\[0\]\.VolumeOptions\.Labels must map strings to strings$/],
  ['volume driver Options as an array', mount({ VolumeOptions: { DriverConfig: { Options: ['a=b'] } } }), /VolumeOptions\.DriverConfig\.Options must be an object$/],
  ['tmpfs SizeBytes as a string', mount({ Type: 'tmpfs', TmpfsOptions: { SizeBytes: '64m' } }), /TmpfsOptions\.SizeBytes must be an integer, got "64m"$/],
  ['tmpfs Mode above uint32', mount({ Type: 'tmpfs', TmpfsOptions: { Mode: 2 ** 33 } }), /TmpfsOptions\.Mode must be an integer from 0 to 4294967295/],
  // The container
  ['Command as a string', withTemplate({}, { Command: 'sh -c true' }), /^ContainerSpec\.Command must be an array of strings$/],
  ['Groups with a number', withTemplate({}, { Groups: [0] }), /^ContainerSpec\.Groups must be an array of strings$/],
  ['container Labels with a bool', withTemplate({}, { Labels: { a: true } }), /^ContainerSpec\.Labels must map strings to strings$/],
  ['Hosts as a string', withTemplate({}, { Hosts: '10.0.0.1 db' }), /^ContainerSpec\.Hosts must be an array of strings$/],
  ['DNSConfig Nameservers as a string', withTemplate({}, { DNSConfig: { Nameservers: '1.1.1.1' } }), /^ContainerSpec\.DNSConfig\.Nameservers must be an array of strings$/],
  ['a Healthcheck Interval as a string', withTemplate({}, { Healthcheck: { Interval: '5s' } }), /^ContainerSpec\.Healthcheck\.Interval must be an integer of 0 or more, got "5s"$/],
  ['a Healthcheck Test as a string', withTemplate({}, { Healthcheck: { Test: 'CMD true' } }), /^ContainerSpec\.Healthcheck\.Test must be an array of strings$/],
  ['StopGracePeriod as a fraction', withTemplate({}, { StopGracePeriod: 1.5 }), /^ContainerSpec\.StopGracePeriod must be an integer/],
  ['Privileges.NoNewPrivileges as a string', withTemplate({}, { Privileges: { NoNewPrivileges: 'yes' } }), /^ContainerSpec\.Privileges\.NoNewPrivileges must be a boolean$/],
  ['an unknown Seccomp mode', withTemplate({}, { Privileges: { Seccomp: { Mode: 'strict' } } }), /^ContainerSpec\.Privileges\.Seccomp\.Mode must be one of default, unconfined, custom/],
  ['Ulimits Soft as a string', withTemplate({}, { Ulimits: [{ Name: 'nofile', Soft: '1024', Hard: 2048 }] }), /^ContainerSpec\.Ulimits\[0\]\.Soft must be an integer, got "1024"$/],
  ['a secret reference with a number UID', withTemplate({}, { Secrets: [{ SecretName: 's', File: { Name: 's', UID: 0 } }] }), /^ContainerSpec\.Secrets\[0\]\.File\.UID must be a string$/],
  ['a config reference that is a string', withTemplate({}, { Configs: ['cfg'] }), /^ContainerSpec\.Configs\[0\] must be an object$/],
  ['OomScoreAdj as a string', withTemplate({}, { OomScoreAdj: '-500' }), /^ContainerSpec\.OomScoreAdj must be an integer/],
  ['an unknown Isolation', withTemplate({}, { Isolation: 'vm' }), /^ContainerSpec\.Isolation must be one of default, process, hyperv, got "vm"$/],
  ['CapabilityAdd as a string', withTemplate({}, { CapabilityAdd: 'CAP_NET_ADMIN' }), /^ContainerSpec\.CapabilityAdd must be an array of strings$/],
  // The rest of the template
  ['Resources.Limits.Pids as a string', withTemplate({ Resources: { Limits: { Pids: '100' } } }), /^TaskTemplate\.Resources\.Limits\.Pids must be an integer/],
  ['GenericResources as an object', withTemplate({ Resources: { Reservations: { GenericResources: { GPU: 1 } } } }), /^TaskTemplate\.Resources\.Reservations\.GenericResources must be an array$/],
  ['a restart Delay as a string', withTemplate({ RestartPolicy: { Delay: '5s' } }), /^TaskTemplate\.RestartPolicy\.Delay must be an integer/],
  ['LogDriver Options with a number', withTemplate({ LogDriver: { Name: 'json-file', Options: { 'max-size': 10 } } }), /^TaskTemplate\.LogDriver\.Options must map strings to strings$/],
  ['LogDriver Name as a number', withTemplate({ LogDriver: { Name: 1 } }), /^TaskTemplate\.LogDriver\.Name must be a string$/],
  ['a network that is a string', withTemplate({ Networks: ['backend'] }), /^TaskTemplate\.Networks\[0\] must be an object$/],
  ['network Aliases as a string', withTemplate({ Networks: [{ Target: 'backend', Aliases: 'db' }] }), /^TaskTemplate\.Networks\[0\]\.Aliases must be an array of strings$/],
  ['Runtime as a number', withTemplate({ Runtime: 1 }), /^TaskTemplate\.Runtime must be a string$/],
  // The service
  ['service-level Networks with a number Target', { ...serviceSpec('api'), Networks: [{ Target: 5 }] }, /^Networks\[0\]\.Target must be a string$/],
  // Lower-case keys are Docker's too (Go matches them case-insensitively), and are checked as such.
  ['a lower-case mount source', withTemplate({}, { mounts: [{ type: 'volume', target: '/d', source: 5 }] }), /^ContainerSpec\.Mounts\[0\]\.Source must be a string$/],
];

describe('fields the CLI decodes, of the wrong type or shape', () => {
  for (const [what, body, message] of cases) {
    it(`create: ${what} → 400`, () => expectRefusedWithoutChange(fixture.t, create(body), 400, message));
  }
  it('update: Preferences [1] → 400, and the service keeps its spec', () =>
    expectRefusedWithoutChange(fixture.t, update({ ...withTemplate({ Placement: { Preferences: [1] } }), Name: 'web' }), 400, /Preferences\[0\] must be an object/));
  it('update: a mount Source 5 → 400', () => expectRefusedWithoutChange(fixture.t, update({ ...mount({ Source: 5 }), Name: 'web' }), 400, /Mounts\[0\]\.Source must be a string/));
});

/** Well-formed, but asking for what this control plane cannot do: refused with why, not stored and ignored. */
const unsupported: [string, unknown, RegExp][] = [
  ['a generic resource', withTemplate({ Resources: { Reservations: { GenericResources: [{ DiscreteResourceSpec: { Kind: 'gpu', Value: 1 } }] } } }), /^TaskTemplate\.Resources\.Reservations\.GenericResources: generic resources/],
  ['a credential spec', withTemplate({}, { Privileges: { CredentialSpec: { File: 'spec.json' } } }), /^ContainerSpec\.Privileges\.CredentialSpec: credential specs .* Windows/],
  ['hyperv isolation', withTemplate({}, { Isolation: 'hyperv' }), /^ContainerSpec\.Isolation: isolation other than default/],
  ['a cluster volume mount', mount({ Type: 'cluster', Source: 'csi' }), /^ContainerSpec\.Mounts: mounts of type npipe \(Windows\) and cluster \(CSI volumes\) are not supported/],
];

describe('fields this control plane cannot honour', () => {
  for (const [what, body, message] of unsupported) {
    it(`create: ${what} → 400`, () => expectRefusedWithoutChange(fixture.t, create(body), 400, message));
  }
  it('update: a spread over no node attribute → 400, and the service keeps its spec', () =>
    expectRefusedWithoutChange(
      fixture.t,
      update({ ...withTemplate({ Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'rack' } }] } }), Name: 'web' }),
      400,
      /^TaskTemplate\.Placement\.Preferences\[0\]: a spread preference needs a SpreadDescriptor such as node\.labels\.<label> or engine\.labels\.<label>, got "rack"$/,
    ));
});

describe('well-formed specs that use those fields', () => {
  it('are accepted and read back as posted', async () => {
    // A secret reference names a secret that exists (swarmkit's checkSecretExistence).
    const secret = await json(await fixture.t.request('POST', '/v1.41/secrets/create', { Name: 's', Data: btoa('v') }), 201);
    const spec = withTemplate(
      {
        Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.az' } }], Platforms: [{ OS: 'linux', Architecture: 'amd64' }] },
        LogDriver: { Name: 'json-file', Options: { 'max-size': '10m' } },
        Resources: { Limits: { Pids: 100 } },
      },
      {
        Mounts: [
          { Type: 'volume', Source: 'data', Target: '/data', VolumeOptions: { Labels: { a: 'b' } } },
          { Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o1777 } },
          { Type: 'bind', Source: '/srv', Target: '/srv', ReadOnly: true, BindOptions: { Propagation: 'rprivate' } },
        ],
        Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9, Retries: 3 },
        Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
        Secrets: [{ SecretID: secret.Id, SecretName: 's', File: { Name: 's', UID: '0', GID: '0', Mode: 0o444 } }],
        Isolation: 'default',
        Privileges: { CredentialSpec: null, SELinuxContext: null, NoNewPrivileges: true },
        OomScoreAdj: 100,
        DNSConfig: { Nameservers: ['1.1.1.1'] },
      },
    );
    const spec2 = { ...spec, Name: 'fine' };
    await createService(fixture.t, spec2);
    const got = await json(await fixture.t.request('GET', '/v1.41/services/fine'));
    expect(got.Spec.TaskTemplate).toEqual(spec2.TaskTemplate);
    expect((await fixture.t.request('DELETE', '/v1.41/services/fine')).status).toBe(200);
  });
});

/** A service spec whose unknown top-level field XDeep holds `levels` nested arrays: the body nests 1 + levels deep. */
const deepSpec = (name: string, levels: number) =>
  JSON.stringify({ ...serviceSpec(name), XDeep: '__deep__' }).replace('"__deep__"', '['.repeat(levels) + ']'.repeat(levels));
const TOO_DEEP = /^request body is nested too deeply: the limit is 64 levels of arrays and objects$/;

describe('nesting and size limits, wherever a body is read', () => {
  it('a spec nested 5,000 levels deep → 400, not a stack overflow', () => expectRefusedWithoutChange(fixture.t, create(deepSpec('deep', 5000)), 400, TOO_DEEP));
  it('and 100,000 levels → 400', () => expectRefusedWithoutChange(fixture.t, create(deepSpec('deep', 100_000)), 400, TOO_DEEP));
  it('65 levels → 400; 64 are accepted', async () => {
    await expectRefusedWithoutChange(fixture.t, create(deepSpec('deep', 64)), 400, TOO_DEEP);
    await createService(fixture.t, JSON.parse(deepSpec('deep', 63)));
    expect((await fixture.t.request('DELETE', '/v1.41/services/deep')).status).toBe(200);
  });
  it('brackets inside strings do not count', async () => {
    await createService(fixture.t, { ...serviceSpec('brackets'), Labels: { a: '[{'.repeat(1000), 'b"[': '\\"[[[' } });
    expect((await fixture.t.request('DELETE', '/v1.41/services/brackets')).status).toBe(200);
  });
  it('an update nested too deeply → 400', () => expectRefusedWithoutChange(fixture.t, update(deepSpec('web', 5000)), 400, TOO_DEEP));
  it('a network create nested too deeply → 400', () =>
    expectRefusedWithoutChange(fixture.t, () => fixture.t.request('POST', '/v1.41/networks/create', `{"Name":"n","Labels":${'['.repeat(100)}${']'.repeat(100)}}`), 400, TOO_DEEP));
  it('an agent join nested too deeply → 400 in the agent error shape', () =>
    expectRefusedWithoutChange(
      fixture.t,
      async () => fixture.t.app.request('http://cp.test/agent/v1/join', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: `{"token":${'['.repeat(5000)}${']'.repeat(5000)}}` }),
      400,
      /nested too deeply/,
      expectAgentError,
    ));
  it('the limits are the config\'s: JSON_MAX_DEPTH and BODY_LIMIT_BYTES', async () => {
    const strict = await createTestApp({ env: { JSON_MAX_DEPTH: '3', BODY_LIMIT_BYTES: '2000' } });
    try {
      await expectRefusedWithoutChange(strict, () => strict.request('POST', '/v1.41/services/create', serviceSpec('api')), 400, /the limit is 3 levels/);
      const big = { Name: 'api', Labels: { blob: 'x'.repeat(2000) } };
      await expectRefusedWithoutChange(strict, () => strict.request('POST', '/v1.41/services/create', big), 413, /^request body too large: the limit is 2000 bytes$/);
    } finally {
      await strict.close();
    }
  });
});

it('GET /services still lists the cluster after every refusal', async () => {
  const services = await json<any[]>(await fixture.t.request('GET', '/v1.41/services?status=true'));
  expect(services.map((s) => s.Spec.Name)).toEqual(['web']);
  expect(services[0].Version.Index).toBe(fixture.webVersion);
});
