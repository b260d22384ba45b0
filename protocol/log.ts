/** The structured logger of swarm-agent and the control plane: readable lines for people by default, one JSON object per line for machines. Runtime-neutral (console), so the Worker uses it too. */
export type LogFields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
}

export type LogFormat = 'text' | 'json';
type Level = 'debug' | 'info' | 'warn' | 'error';

function fieldText(value: unknown): string {
  if (value instanceof Error) value = value.message;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[^\s"=]*$/.test(text ?? '') && text !== '' ? String(text) : JSON.stringify(text);
}

export function createLogger(opts: { format?: LogFormat; debug?: boolean; write?: (line: string) => void } = {}): Logger {
  const write = opts.write ?? ((line: string) => console.error(line));
  const emit = (level: Level, msg: string, fields: LogFields = {}) => {
    if (level === 'debug' && !opts.debug) return;
    const time = new Date().toISOString();
    if (opts.format === 'json') {
      const clean = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? v.message : v]));
      write(JSON.stringify({ time, level, msg, ...clean }));
      return;
    }
    const tail = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}=${fieldText(v)}`)
      .join('');
    write(`${time} ${level.toUpperCase()} ${msg}${tail}`);
  };
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    debug: (msg, fields) => emit('debug', msg, fields),
  };
}
