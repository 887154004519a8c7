import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

/**
 * Serves one PGlite instance over the Postgres wire protocol to many connections.
 *
 * PGlite is a single session, so connections take turns. The unit of a turn is a whole request: a
 * simple Query, or an extended-protocol pipeline up to its Sync (Parse/Bind/Describe/Execute/Sync),
 * so one connection's unnamed statement is never replaced by another's halfway. While a connection
 * holds a transaction open, only it gets turns; its transaction is rolled back if it disconnects.
 * Terminate closes the socket, as a real server does (clients wait for that in `end()`).
 */
export class PgliteWireServer {
  readonly #db: PGlite;
  readonly #server: Server;
  readonly #queue: Turn[] = [];
  readonly #connections = new Set<Connection>();
  #owner: Connection | undefined;
  #running = false;

  constructor(db: PGlite) {
    this.#db = db;
    this.#server = createServer((socket) => this.#connections.add(new Connection(socket, this)));
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const connection of this.#connections) connection.socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Queues a request of `connection`; its reply is written back when its turn has run. */
  submit(connection: Connection, request: Uint8Array): void {
    this.#queue.push({ connection, request });
    void this.#drain();
  }

  /** Forgets a closed connection: its queued requests go, its open transaction is rolled back. */
  async disconnect(connection: Connection): Promise<void> {
    this.#connections.delete(connection);
    for (let i = this.#queue.length - 1; i >= 0; i--) if (this.#queue[i]?.connection === connection) this.#queue.splice(i, 1);
    if (this.#owner === connection) {
      this.#owner = undefined;
      await this.#db.exec('rollback').catch(() => {});
    }
    void this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        const index = this.#owner ? this.#queue.findIndex((t) => t.connection === this.#owner) : 0;
        const turn = index >= 0 ? this.#queue.splice(index, 1)[0] : undefined;
        if (!turn) return;
        const reply = await this.#db.execProtocolRaw(turn.request, { syncToFs: false }).catch((err: unknown) => {
          console.error('pglite: request failed', err);
          return undefined;
        });
        if (!reply) {
          turn.connection.socket.destroy();
          continue;
        }
        this.#owner = this.#db.isInTransaction() ? turn.connection : undefined;
        if (!turn.connection.socket.destroyed) turn.connection.socket.write(reply);
      }
    } finally {
      this.#running = false;
    }
  }
}

interface Turn {
  connection: Connection;
  request: Uint8Array;
}

const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;

/** Splits one socket's bytes into whole requests. */
class Connection {
  readonly socket: Socket;
  readonly #server: PgliteWireServer;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: Buffer[] = [];
  #started = false;

  constructor(socket: Socket, server: PgliteWireServer) {
    this.socket = socket;
    this.#server = server;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.#receive(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => void server.disconnect(this));
  }

  #receive(chunk: Buffer): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    for (;;) {
      if (!this.#started) {
        // Startup-phase messages have no type byte: length, then a code.
        if (this.#buffer.length < 8) return;
        const length = this.#buffer.readInt32BE(0);
        if (this.#buffer.length < length) return;
        const code = this.#buffer.readInt32BE(4);
        const message = this.#take(length);
        if (code === SSL_REQUEST) this.socket.write('N');
        else if (code === CANCEL_REQUEST) this.socket.end();
        else {
          this.#started = true;
          this.#server.submit(this, message);
        }
        continue;
      }
      if (this.#buffer.length < 5) return;
      const type = String.fromCharCode(this.#buffer[0] as number);
      const length = 1 + this.#buffer.readInt32BE(1);
      if (this.#buffer.length < length) return;
      const message = this.#take(length);
      if (type === 'X') {
        this.socket.end();
        return;
      }
      this.#pending.push(message);
      // A request ends with Query, Sync or Flush; password messages during auth stand alone.
      if (type === 'Q' || type === 'S' || type === 'H' || type === 'p') {
        this.#server.submit(this, Buffer.concat(this.#pending));
        this.#pending = [];
      }
    }
  }

  #take(length: number): Buffer {
    const message = this.#buffer.subarray(0, length);
    this.#buffer = this.#buffer.subarray(length);
    return Buffer.from(message);
  }
}
