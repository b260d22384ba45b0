import { describe, expect, it } from 'vitest';
import { buildAnswer, decodeAnswer, encodeQuery, errorAnswer, MalformedQuery, parseQuery, RCODE, TYPE_A, UDP_MAX } from '../../agent/dns/wire.ts';
import { parseUpstream, resolvConfUpstreams } from '../../agent/dns/upstream.ts';

/** The bytes busybox nslookup sent for `other.example` (AAAA), as captured from a container. */
const CAPTURED_AAAA = Buffer.from('851001000001000000000000056f74686572076578616d706c6500001c0001', 'hex');

describe('the DNS wire format', () => {
  it('reads a real query: ID, recursion wanted, name, type and class', () => {
    const q = parseQuery(CAPTURED_AAAA);
    expect(q).toMatchObject({ id: 0x8510, opcode: 0, recursionDesired: true, question: { name: 'other.example', type: 28, class: 1 } });
    expect(q.questionBytes.toString('hex')).toBe(CAPTURED_AAAA.subarray(12).toString('hex'));
  });

  it('answers A records for the question, authoritative, with the query ID and its question', () => {
    const q = parseQuery(encodeQuery(7, 'Tasks.API'));
    const answer = decodeAnswer(buildAnswer(q, { rcode: RCODE.noError, addresses: ['10.0.1.5', '10.0.1.17'], ttl: 0 }));
    expect(answer).toEqual({ id: 7, rcode: 0, truncated: false, authoritative: true, addresses: ['10.0.1.5', '10.0.1.17'] });
    expect(parseQuery(encodeQuery(7, 'Tasks.API')).question.name).toBe('Tasks.API');
  });

  it('answers NXDOMAIN and "no data" (NOERROR, no records)', () => {
    const q = parseQuery(encodeQuery(9, 'nothing.here'));
    expect(decodeAnswer(buildAnswer(q, { rcode: RCODE.nxDomain }))).toMatchObject({ id: 9, rcode: 3, addresses: [] });
    expect(decodeAnswer(buildAnswer(q, { rcode: RCODE.noError, addresses: [] }))).toMatchObject({ rcode: 0, addresses: [] });
  });

  it('truncates an answer over 512 bytes for UDP and says so (TC), so the client asks over TCP', () => {
    const q = parseQuery(encodeQuery(1, 'tasks.big'));
    const many = Array.from({ length: 60 }, (_, i) => `10.0.2.${i + 1}`);
    const udp = buildAnswer(q, { rcode: RCODE.noError, addresses: many }, UDP_MAX);
    expect(udp.length).toBeLessThanOrEqual(UDP_MAX);
    const decoded = decodeAnswer(udp);
    expect(decoded.truncated).toBe(true);
    expect(decoded.addresses.length).toBeGreaterThan(20);
    expect(decodeAnswer(buildAnswer(q, { rcode: RCODE.noError, addresses: many }))).toMatchObject({ truncated: false, addresses: many });
  });

  it('follows a compression pointer in the question and refuses a pointer loop', () => {
    // Header, then a question whose name is a pointer to itself.
    const loop = Buffer.concat([encodeQuery(3, 'x').subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    expect(() => parseQuery(loop)).toThrow(MalformedQuery);
    try {
      parseQuery(loop);
    } catch (err) {
      expect((err as MalformedQuery).id).toBe(3);
    }
  });

  it('refuses what is not one well-formed question: too short, a response, two questions, a name past the end', () => {
    expect(() => parseQuery(Buffer.alloc(5))).toThrow(/shorter than a DNS header/);
    const response = encodeQuery(1, 'a');
    response.writeUInt16BE(0x8100, 2);
    expect(() => parseQuery(response)).toThrow(/a response/);
    const two = encodeQuery(1, 'a');
    two.writeUInt16BE(2, 4);
    expect(() => parseQuery(two)).toThrow(/one question/);
    expect(() => parseQuery(encodeQuery(1, 'abc').subarray(0, 15))).toThrow(MalformedQuery);
    expect(decodeAnswer(errorAnswer(0x1234, RCODE.formErr))).toMatchObject({ id: 0x1234, rcode: 1 });
  });

  it('encodes a query the way resolvers do', () => {
    expect(encodeQuery(0x8510, 'other.example', 28).toString('hex')).toBe(CAPTURED_AAAA.toString('hex'));
    expect(parseQuery(encodeQuery(1, 'a.b.')).question).toEqual({ name: 'a.b', type: TYPE_A, class: 1 });
  });
});

describe('upstream resolvers', () => {
  it('reads addresses with or without a port, IPv4 and IPv6', () => {
    expect(parseUpstream('10.0.0.2')).toEqual({ host: '10.0.0.2', port: 53 });
    expect(parseUpstream('198.18.3.1:5353')).toEqual({ host: '198.18.3.1', port: 5353 });
    expect(parseUpstream('fd00::1')).toEqual({ host: 'fd00::1', port: 53 });
    expect(parseUpstream('[fd00::1]:54')).toEqual({ host: 'fd00::1', port: 54 });
    for (const bad of ['dns.example', '10.0.0.2:x', '10.0.0.2:70000', '']) expect(parseUpstream(bad), bad).toBeUndefined();
  });

  it('takes the nameserver lines of resolv.conf, and the host\'s own when it has none', () => {
    const conf = '# generated\nsearch example.internal\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\noptions edns0\n';
    expect(resolvConfUpstreams(conf)).toEqual([{ host: '127.0.0.53', port: 53 }, { host: 'fe80::1', port: 53 }]);
    expect(resolvConfUpstreams('search x\n')).toEqual([{ host: '127.0.0.1', port: 53 }]);
  });
});
