// Operator actions: the dialog flows behind a key or a button, ending in one call of the
// recorder's command API with the operator's name. A refusal (COMMAND_REJECTED) is shown
// in the status line and never thrown: the console must outlive any command.
import type { Recorder } from '../device/recorder.js';
import { isFieldlogError } from '../errors.js';
import type { SensorPrecision } from '../log/precision.js';
import { type LimitsDraft, type Modal, Picker, TextEntry, ThresholdEditor } from './dialogs.js';
import type { Screen } from './panels.js';

export const NOTE_PRESETS = [
  'Checked on site',
  'Sensor cleaned',
  'Battery replaced',
  'Maintenance started',
  'Maintenance finished',
] as const;

export type ConsoleRecorder = Pick<
  Recorder,
  'liveState' | 'on' | 'off' | 'acknowledgeAlarm' | 'addNote' | 'changeThreshold' | 'limits'
> &
  Partial<Pick<Recorder, 'unrecorded'>>;

export type Tone = 'ok' | 'error' | 'info';

/** What the flows need of the console. */
export interface ActionHost {
  readonly screen: Screen;
  readonly recorder: ConsoleRecorder;
  operator: string;
  /** Names offered when changing operator. */
  readonly operators: readonly string[];
  /** How each sensor's values are shown. */
  readonly precision?: SensorPrecision;
  say(text: string, tone: Tone): void;
  /** A dialog opens (null: the open one closed). */
  setModal(modal: Modal | null): void;
}

/** Run a command; true when accepted, else the refusal is said and returned. */
export async function runCommand(
  host: ActionHost,
  op: () => Promise<unknown>,
  done: string,
): Promise<{ ok: true } | { ok: false; message: string }> {
  try {
    await op();
    host.say(done, 'ok');
    return { ok: true };
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    const message = isFieldlogError(err, 'COMMAND_REJECTED') ? `refused: ${text}` : `failed: ${text}`;
    host.say(message, 'error');
    return { ok: false, message };
  }
}

export function acknowledge(host: ActionHost, alarm: string | null): void {
  if (alarm === null) {
    host.say('no active alarm to acknowledge', 'info');
    return;
  }
  const who = host.operator;
  void runCommand(
    host,
    () => host.recorder.acknowledgeAlarm(alarm, who),
    `alarm ${alarm} acknowledged by ${who}`,
  );
}

export function openNotes(host: ActionHost): void {
  host.setModal(
    new Picker(host.screen, 'Add a note', NOTE_PRESETS, (i) => {
      host.setModal(null);
      const text = i === null ? undefined : NOTE_PRESETS[i];
      const who = host.operator;
      if (text) void runCommand(host, () => host.recorder.addNote(text, who), `note added: ${text}`);
    }),
  );
}

const limitText = (v: number | null | undefined) => (v === null || v === undefined ? 'none' : String(v));

/** Pick a sensor, then edit its limits; the editor stays open on a refusal and says why. */
export function openLimits(host: ActionHost): void {
  const live = host.recorder.liveState;
  const sensors = [...new Set([...Object.keys(live.sensors), ...Object.keys(live.thresholds)])].sort();
  if (sensors.length === 0) {
    host.say('no sensors yet', 'info');
    return;
  }
  const labels = sensors.map((s) => {
    const l = host.recorder.limits(s);
    return `${s.padEnd(12)} above ${limitText(l?.above)}, below ${limitText(l?.below)}`;
  });
  host.setModal(
    new Picker(host.screen, 'Change limits of', labels, (i) => {
      host.setModal(null);
      const sensor = i === null ? undefined : sensors[i];
      if (sensor === undefined) return;
      const l = host.recorder.limits(sensor);
      const draft: LimitsDraft = { above: l?.above ?? null, below: l?.below ?? null };
      const editor: ThresholdEditor = new ThresholdEditor(
        host.screen,
        sensor,
        draft,
        live.sensors[sensor]?.value,
        async (d) => {
          const who = host.operator;
          const r = await runCommand(
            host,
            () => host.recorder.changeThreshold(sensor, d, who),
            `limits of ${sensor}: above ${limitText(d.above)}, below ${limitText(d.below)}`,
          );
          if (r.ok) host.setModal(null);
          else editor.refuse(r.message);
          return r.ok;
        },
        () => host.setModal(null),
        (v) => host.precision?.format(sensor, v) ?? String(v),
      );
      host.setModal(editor);
    }),
  );
}

/** Pick a known name (a touchscreen has no keyboard), or type one. */
export function openOperator(host: ActionHost): void {
  const names = [...new Set([host.operator, ...host.operators])];
  const set = (name: string) => {
    host.operator = name;
    host.say(`operator is now ${name}`, 'ok');
  };
  host.setModal(
    new Picker(host.screen, `Operator (now ${host.operator})`, [...names, 'Type a name…'], (i) => {
      host.setModal(null);
      if (i === null) return;
      const name = names[i];
      if (name !== undefined) {
        set(name);
        return;
      }
      host.setModal(
        new TextEntry(host.screen, 'Operator name', '', (text) => {
          host.setModal(null);
          if (text) set(text);
        }),
      );
    }),
  );
}
