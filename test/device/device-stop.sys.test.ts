// `fieldlog device` replicating to a broker, as a real process: what it says when it stops.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type EmbeddedBroker, startBroker } from '../../src/hub/broker.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-device-stop-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const running: Proc[] = [];
const brokers: EmbeddedBroker[] = [];
afterEach(async () => {
  await killAll(running);
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

const start = startInto(running);

/** A line node on a pty and a device replicating it to a fresh in-process broker. */
async function replicatingDevice(name: string): Promise<{ device: Proc; broker: EmbeddedBroker }> {
  const broker = await startBroker({ port: 0 });
  brokers.push(broker);
  const sim = start(['sim', 'line', '--pty', '--rate', '20']);
  const port = await sim.waitFor(/^\//);
  const device = start([
    'device',
    '--id',
    name,
    '--data',
    join(root, name),
    '--driver',
    'line',
    '--port',
    port,
    '--mqtt',
    broker.url,
    '--no-ui',
  ]);
  await device.waitFor(/replicating to mqtt:/);
  return { device, broker };
}

describe('fieldlog device: the broker connection at a stop', () => {
  it('says nothing of a lost connection when it stops cleanly', async () => {
    const { device } = await replicatingDevice('pi-clean');
    await expect(device.stop('SIGTERM')).resolves.toBe(0);
    expect(device.lines.join('\n')).not.toMatch(/connection lost/);
    expect(device.stderr).toBe('');
  });

  it('says the connection is lost when the broker goes away', async () => {
    const { device, broker } = await replicatingDevice('pi-lost');
    await broker.close();
    await device.waitFor(/broker connection lost; the log keeps everything/);
    await expect(device.stop('SIGTERM')).resolves.toBe(0);
  });
});
