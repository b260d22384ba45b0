/**
 * The DNS wire format (RFC 1035) as far as the agent's server needs it: read a query's header and
 * question, and write an answer of A records, an empty answer, or an error code. Anything else
 * the server does not answer itself is forwarded as the bytes it came in.
 */

export const TYPE_A = 1;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;

export const RCODE = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

/** The largest DNS message over UDP without EDNS; longer answers are truncated (TC) and the client asks over TCP. */
export const UDP_MAX = 512;

export interface Question {
  /** As asked, without the trailing dot (`Tasks.API`); compare with lowerCase. */
  name: string;
  type: number;
  class: number;
}

export interface Query {
  id: number;
  opcode: number;
  recursionDesired: boolean;
  question: Question;
  /** The question section's bytes, copied into the answer as they were. */
  questionBytes: Buffer;
}

export class MalformedQuery extends Error {
  override name = 'MalformedQuery';
  constructor(
    message: string,
    /** The query's ID when the header could be read: enough to answer FORMERR. */
    readonly id?: number,
  ) {
    super(message);
  }
}

/** Reads a (possibly compressed) name at `offset`: its text and where the name's bytes end. */
function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  for (let jumps = 0; ; ) {
    if (pos >= msg.length) throw new MalformedQuery('name runs past the end of the message');
    const len = msg[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length || ++jumps > 16) throw new MalformedQuery('bad name compression pointer');
      if (end < 0) end = pos + 2;
      pos = ((len & 0x3f) << 8) | msg[pos + 1]!;
      continue;
    }
    if (len > 63 || pos + 1 + len > msg.length) throw new MalformedQuery('bad label length');
    labels.push(msg.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  const name = labels.join('.');
  if (name.length > 253) throw new MalformedQuery('name longer than 253 characters');
  return { name, end };
}

/** Parses a query; throws MalformedQuery (with the ID when it has one) for what cannot be answered. */
export function parseQuery(msg: Buffer): Query {
  if (msg.length < 12) throw new MalformedQuery('shorter than a DNS header');
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) throw new MalformedQuery('a response, not a query', id);
  if (msg.readUInt16BE(4) !== 1) throw new MalformedQuery('not exactly one question', id);
  let question: { name: string; end: number };
  try {
    question = readName(msg, 12);
  } catch (err) {
    throw new MalformedQuery((err as Error).message, id);
  }
  if (question.end + 4 > msg.length) throw new MalformedQuery('question runs past the end of the message', id);
  return {
    id,
    opcode: (flags >> 11) & 0xf,
    recursionDesired: (flags & 0x0100) !== 0,
    question: { name: question.name, type: msg.readUInt16BE(question.end), class: msg.readUInt16BE(question.end + 2) },
    questionBytes: Buffer.from(msg.subarray(12, question.end + 4)),
  };
}

function header(id: number, opts: { opcode?: number; rd?: boolean; aa?: boolean; tc?: boolean; rcode: Rcode; qd: number; an: number }): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  const flags =
    0x8000 | ((opts.opcode ?? 0) << 11) | (opts.aa ? 0x0400 : 0) | (opts.tc ? 0x0200 : 0) | (opts.rd ? 0x0100 : 0) | 0x0080 /* RA */ | opts.rcode;
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(opts.qd, 4);
  h.writeUInt16BE(opts.an, 6);
  return h;
}

/** An A record for the question's name (a pointer to it at offset 12). */
function aRecord(address: string, ttl: number): Buffer {
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(TYPE_A, 2);
  rr.writeUInt16BE(CLASS_IN, 4);
  rr.writeUInt32BE(ttl, 6);
  rr.writeUInt16BE(4, 10);
  address.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
  return rr;
}

/**
 * The answer to a query the server knows: the addresses as A records (none for another type of a
 * known name: "no data"), or an error code. Over UDP an answer longer than `maxBytes` keeps the
 * records that fit and sets TC, as Docker's resolver does, and the client asks again over TCP.
 */
export function buildAnswer(query: Query, result: { rcode: Rcode; addresses?: string[]; ttl?: number }, maxBytes = 65_535): Buffer {
  const records = (result.addresses ?? []).map((a) => aRecord(a, result.ttl ?? 0));
  const room = Math.max(0, Math.floor((maxBytes - 12 - query.questionBytes.length) / 16));
  const kept = records.slice(0, room);
  const head = header(query.id, {
    opcode: query.opcode,
    rd: query.recursionDesired,
    aa: result.rcode === RCODE.noError || result.rcode === RCODE.nxDomain,
    tc: kept.length < records.length,
    rcode: result.rcode,
    qd: 1,
    an: kept.length,
  });
  return Buffer.concat([head, query.questionBytes, ...kept]);
}

/** An error answer to a message whose question could not be read: the header alone. */
export function errorAnswer(id: number, rcode: Rcode): Buffer {
  return header(id, { rcode, qd: 0, an: 0 });
}

/** A query for `name` (for tests and probes): one question, recursion desired. */
export function encodeQuery(id: number, name: string, type = TYPE_A): Buffer {
  const labels = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(CLASS_IN, 3);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2);
  head.writeUInt16BE(1, 4);
  return Buffer.concat([head, ...labels, tail]);
}

export interface DecodedAnswer {
  id: number;
  rcode: number;
  truncated: boolean;
  authoritative: boolean;
  addresses: string[];
}

/** Reads an answer's code and its A records (for tests and probes). */
export function decodeAnswer(msg: Buffer): DecodedAnswer {
  const flags = msg.readUInt16BE(2);
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let pos = 12;
  for (let i = 0; i < qd; i++) pos = readName(msg, pos).end + 4;
  const addresses: string[] = [];
  for (let i = 0; i < an; i++) {
    pos = readName(msg, pos).end;
    const type = msg.readUInt16BE(pos);
    const len = msg.readUInt16BE(pos + 8);
    if (type === TYPE_A && len === 4) addresses.push([...msg.subarray(pos + 10, pos + 14)].join('.'));
    pos += 10 + len;
  }
  return { id: msg.readUInt16BE(0), rcode: flags & 0xf, truncated: (flags & 0x0200) !== 0, authoritative: (flags & 0x0400) !== 0, addresses };
}
