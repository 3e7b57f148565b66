import { it, vi } from 'vitest';
import { rig, screenText } from './harness.js';

it('dump', async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(Date.parse('2026-11-24T11:00:00.000Z'));
  const r = await rig();
  r.src.emit({ kind: 'connected', port: '/dev/fake' });
  r.src.reading('temp', 21.5, 'C');
  r.src.reading('hum', 40.25, '%');
  r.src.reading('temp', 31.2, 'C');
  await r.log.flushed();
  await vi.advanceTimersByTimeAsync(300);
  console.log(screenText(r.ui).join('\n'));
  await r.close();
  vi.useRealTimers();
});
