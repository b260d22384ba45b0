import type { Client, InArgs, InStatement, ResultSet, Transaction, TransactionMode } from '@libsql/client';
import { isSqliteFault } from './faults.ts';

interface Generation {
  client: Client;
  openTransactions: number;
  retired: boolean;
}

/**
 * A file client that replaces its connections after SQLite fails on one of them, so a fault
 * (a lock wait that timed out, say) costs one operation and never poisons the next. The retired
 * client closes once the calls and transactions already running on it have finished.
 */
export class RenewingClient implements Client {
  private current: Generation;
  /** How many times the connections were replaced (what the fault tests watch). */
  renewals = 0;

  constructor(private readonly open: () => Client) {
    this.current = { client: open(), openTransactions: 0, retired: false };
  }

  get closed(): boolean {
    return this.current.client.closed;
  }
  get protocol(): string {
    return this.current.client.protocol;
  }

  /** Drops the current connections: the next call opens fresh ones. */
  renew(): void {
    const old = this.current;
    if (old.retired) return;
    old.retired = true;
    this.current = { client: this.open(), openTransactions: 0, retired: false };
    this.renewals++;
    closeWhenIdle(old);
  }

  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  execute(stmtOrSql: InStatement | string, args?: InArgs): Promise<ResultSet> {
    return this.call((client) => (typeof stmtOrSql === 'string' ? client.execute(stmtOrSql, args) : client.execute(stmtOrSql)));
  }
  batch(stmts: Array<InStatement | [string, InArgs?]>, mode?: TransactionMode): Promise<ResultSet[]> {
    return this.call((client) => client.batch(stmts, mode));
  }
  migrate(stmts: InStatement[]): Promise<ResultSet[]> {
    return this.call((client) => client.migrate(stmts));
  }
  executeMultiple(sql: string): Promise<void> {
    return this.call((client) => client.executeMultiple(sql));
  }
  sync(): ReturnType<Client['sync']> {
    return this.call((client) => client.sync());
  }

  async transaction(mode?: TransactionMode): Promise<Transaction> {
    const generation = this.current;
    generation.openTransactions++;
    try {
      const tx = await generation.client.transaction(mode);
      return new RenewingTransaction(tx, generation, () => this.faulted(generation));
    } catch (err) {
      transactionSettled(generation);
      if (isSqliteFault(err)) this.faulted(generation);
      throw err;
    }
  }

  close(): void {
    this.current.retired = true;
    this.current.client.close();
  }
  reconnect(): void {
    this.current = { client: this.open(), openTransactions: 0, retired: false };
  }

  private async call<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    const generation = this.current;
    try {
      return await fn(generation.client);
    } catch (err) {
      if (isSqliteFault(err)) this.faulted(generation);
      throw err;
    }
  }

  private faulted(generation: Generation): void {
    if (generation === this.current) this.renew();
  }

}

function transactionSettled(generation: Generation): void {
  generation.openTransactions--;
  if (generation.retired) closeWhenIdle(generation);
}

/**
 * Calls borrow a connection across one microtask before their synchronous SQLite work, so the
 * close waits for the next macrotask; an open transaction keeps its client until it settles.
 */
function closeWhenIdle(generation: Generation): void {
  if (generation.openTransactions > 0) return;
  setImmediate(() => {
    if (generation.openTransactions === 0 && !generation.client.closed) generation.client.close();
  });
}

class RenewingTransaction implements Transaction {
  private done = false;

  constructor(
    private readonly tx: Transaction,
    private readonly generation: Generation,
    private readonly onFault: () => void,
  ) {}

  get closed(): boolean {
    return this.tx.closed;
  }

  execute(stmt: InStatement): Promise<ResultSet> {
    return this.watch(() => this.tx.execute(stmt));
  }
  batch(stmts: InStatement[]): Promise<ResultSet[]> {
    return this.watch(() => this.tx.batch(stmts));
  }
  executeMultiple(sql: string): Promise<void> {
    return this.watch(() => this.tx.executeMultiple(sql));
  }
  commit(): Promise<void> {
    return this.settle(() => this.tx.commit());
  }
  rollback(): Promise<void> {
    return this.settle(() => this.tx.rollback());
  }
  close(): void {
    try {
      this.tx.close();
    } finally {
      this.finish();
    }
  }

  private async watch<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isSqliteFault(err)) this.onFault();
      throw err;
    }
  }

  private async settle(fn: () => Promise<void>): Promise<void> {
    try {
      await this.watch(fn);
    } finally {
      this.finish();
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    transactionSettled(this.generation);
  }
}
