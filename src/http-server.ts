// Listening on a port for the hub's API and the device's metrics: one way to bind (an error
// such as EADDRINUSE rejects, for the caller to name) and to close (open keep-alive
// connections too, so a stop never waits on an idle client).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface Listening {
  port: number;
  server: Server;
  close(): Promise<void>;
}

export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  port: number,
  host: string,
): Promise<Listening> {
  const server = createServer(handler);
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
