// Listening on a port for the hub's API and the device's metrics: one way to bind (an error
// such as EADDRINUSE rejects, for the caller to name) and to close (open keep-alive
// connections too, so a stop never waits on an idle client). With a certificate and its key
// the server speaks HTTPS instead.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

export interface Listening {
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** A PEM certificate (chain) and its private key. */
export interface TlsFiles {
  cert: string | Buffer;
  key: string | Buffer;
}

export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  port: number,
  host: string,
  tls?: TlsFiles,
): Promise<Listening> {
  const server: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler)
    : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
