// The embedded MQTT broker (aedes, MQTT 3.1.1) the hub runs when no external broker is
// given: one process is then the whole hub, as in the demo.
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { fail } from '../errors.js';

export interface EmbeddedBroker {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Listen on `port` (0: any free port) on `host` (default loopback). */
export async function startBroker(opts: { port?: number; host?: string } = {}): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  const host = opts.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((r) => broker.close(() => r()));
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(
      'USAGE',
      `the broker cannot listen on ${host}:${opts.port ?? 0} (${code ?? (err as Error).message})`,
      err,
    );
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `mqtt://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    close() {
      closing ??= (async () => {
        await new Promise<void>((r) => broker.close(() => r()));
        await new Promise<void>((r) => server.close(() => r()));
      })();
      return closing;
    },
  };
}
