// Two endpoints wired back to back: the effects of one become the triggers of
// the other. STATE goes across as a partner-state trigger; an UPDREQ or
// UPDREQALL is answered at once with UPDDONE (the binding stream itself is
// not the state machine's business). Virtual time; no I/O.

import { step, startup, type StepContext, type Trigger } from '../../../src/failover/state-machine.js';
import type { Effect, StateMessage } from '../../../src/failover/effects.js';
import type { EndpointStateName } from '../../../src/failover/states.js';
import {
  decodePartnerFrame,
  encodePartnerFrame,
  FoMsgType,
  serverStateFromRfcName,
  serverStateRfcName,
} from '../../../src/wire/failover/index.js';
import type { EndpointRecord, StoredEndpoint } from '../../../src/failover/state-record.js';
import type { Role } from '../../../src/failover/states.js';
import { MCLT } from './fixtures.js';

export type Side = 'primary' | 'secondary';
const other = (s: Side): Side => (s === 'primary' ? 'secondary' : 'primary');

/** Bound on messages one drain() may deliver: a livelock fails the test instead of hanging it. */
const DELIVERIES_MAX = 100;

export class Pair {
  readonly records: Record<Side, EndpointRecord>;
  readonly log: { side: Side; effect: Effect }[] = [];
  private readonly queue: { to: Side; trigger: Trigger }[] = [];
  linkUp = false;
  /** STATE crosses as bytes (encodePartnerFrame → decodePartnerFrame), as on the real link. */
  wire = false;

  constructor(
    public nowSec: number,
    records: Record<Side, EndpointRecord>,
    readonly extra: Partial<StepContext> = {},
  ) {
    this.records = { ...records };
  }

  static booted(nowSec: number, stored: Record<Side, StoredEndpoint | undefined>, extra: Partial<StepContext> = {}): Pair {
    const boot = (role: Role) => startup(stored[role], { role, nowSec, mcltSec: MCLT, ...extra }).record;
    return new Pair(nowSec, { primary: boot('primary'), secondary: boot('secondary') }, extra);
  }

  ctx(side: Side): StepContext {
    return { role: side, nowSec: this.nowSec, mcltSec: MCLT, ...this.extra };
  }

  fire(side: Side, trigger: Trigger): ReturnType<typeof step> {
    const out = step(this.records[side], trigger, this.ctx(side));
    this.records[side] = out.record;
    for (const effect of out.effects) {
      this.log.push({ side, effect });
      this.carryOut(side, effect);
    }
    return out;
  }

  /** CONNECT/CONNECTREPLY done on both sides (§6.1), then deliver everything. */
  connect(): void {
    this.linkUp = true;
    this.fire('primary', { kind: 'connected' });
    this.fire('secondary', { kind: 'connected' });
    this.drain();
  }

  cut(): void {
    this.linkUp = false;
    this.queue.length = 0;
    this.fire('primary', { kind: 'comms-lost', cause: 'test' });
    this.fire('secondary', { kind: 'comms-lost', cause: 'test' });
  }

  drain(): void {
    for (let n = 0; this.queue.length > 0; n++) {
      if (n >= DELIVERIES_MAX) throw new Error('pair did not settle');
      const { to, trigger } = this.queue.shift()!;
      this.fire(to, trigger);
    }
  }

  states(): [string, string] {
    return [this.records.primary.state, this.records.secondary.state];
  }

  effectsOf(side: Side): string[] {
    return this.log.filter((l) => l.side === side).map((l) => l.effect.kind);
  }

  private carryOut(side: Side, e: Effect): void {
    if (!this.linkUp) return;
    switch (e.kind) {
      case 'send-state': {
        const m = this.wire ? throughWire(e.message, this.nowSec) : e.message;
        this.queue.push({
          to: other(side),
          trigger: {
            kind: 'partner-state',
            state: m.state,
            flags: m.flags,
            startTimeSec: m.startTimeOfStateSec,
            ...(m.partnerDownTimeSec !== undefined ? { partnerDownTimeSec: m.partnerDownTimeSec } : {}),
          },
        });
        break;
      }
      case 'send-updreq':
      case 'send-updreqall':
        this.queue.push({ to: side, trigger: { kind: 'upddone', seq: e.seq } });
        break;
      default:
        break;
    }
  }
}

/** The STATE as the partner reads it off the wire; throws where the codec refuses it. */
function throughWire(m: StateMessage, nowSec: number): StateMessage {
  const content = {
    serverState: serverStateFromRfcName(m.state)!,
    serverFlags: m.flags,
    startTimeOfStateSec: m.startTimeOfStateSec,
    ...(m.partnerDownTimeSec === undefined ? {} : { partnerDownTimeSec: m.partnerDownTimeSec }),
  };
  const r = decodePartnerFrame(
    encodePartnerFrame({ type: FoMsgType.STATE, transactionId: 1, sentTimeSec: nowSec, content }).subarray(2),
    nowSec,
  );
  if (!r.ok || r.pdu.type !== FoMsgType.STATE) throw new Error(`STATE refused by the receiver: ${JSON.stringify(r)}`);
  const c = r.pdu.content;
  return {
    state: serverStateRfcName(c.serverState) as EndpointStateName,
    flags: c.serverFlags,
    startTimeOfStateSec: c.startTimeOfStateSec,
    ...(c.partnerDownTimeSec === undefined ? {} : { partnerDownTimeSec: c.partnerDownTimeSec }),
  };
}
