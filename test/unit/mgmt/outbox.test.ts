import { describe, expect, it } from 'vitest';
import { Outbox, type OutMessage } from '../../../src/mgmt/outbox.js';

const msg = (topic: string, payload = 'x', patch: Partial<OutMessage> = {}): OutMessage => ({
  topic,
  payload,
  qos: 1,
  retain: false,
  ...patch,
});

describe('outbox', () => {
  it('keeps only the latest message per retained/telemetry topic', () => {
    const o = new Outbox({ maxMessages: 10, maxBytes: 10_000 }, () => 0);
    for (let i = 0; i < 1000; i++) o.putLatest(msg('d/state', `s${i}`, { retain: true }));
    for (let i = 0; i < 1000; i++) o.putLatest(msg('d/tele/dhcp', `t${i}`, { qos: 0 }));
    expect(o.stats().depth).toBe(2);
    expect(o.take()!.payload).toBe('s999');
    expect(o.take()!.payload).toBe('t999');
    expect(o.take()).toBeUndefined();
  });

  it('bounds events by count and bytes, dropping the oldest and counting it', () => {
    const o = new Outbox({ maxMessages: 10, maxBytes: 100_000 }, () => 0);
    for (let i = 0; i < 25; i++) o.enqueue(msg('d/evt/x', `e${i}`));
    expect(o.stats()).toMatchObject({ depth: 10, dropped: 15 });
    expect(o.take()!.payload).toBe('e15');

    const b = new Outbox({ maxMessages: 1000, maxBytes: 1000 }, () => 0);
    for (let i = 0; i < 100; i++) b.enqueue(msg('d/evt/x', 'y'.repeat(90)));
    expect(b.stats().bytes).toBeLessThanOrEqual(1000);
    expect(b.stats().dropped).toBeGreaterThan(90);
    b.enqueue(msg('d/evt/huge', 'z'.repeat(5000)));
    expect(b.stats().dropped).toBeGreaterThan(91);
  });

  it('drops audit events last', () => {
    const o = new Outbox({ maxMessages: 3, maxBytes: 100_000 }, () => 0);
    o.enqueue(msg('d/evt/cmd-audit', 'a1', { audit: true }));
    o.enqueue(msg('d/evt/cmd-audit', 'a2', { audit: true }));
    for (let i = 0; i < 5; i++) o.enqueue(msg('d/evt/x', `e${i}`));
    const left = [o.take(), o.take(), o.take()].map((m) => m!.payload);
    expect(left).toEqual(['a1', 'a2', 'e4']);
    expect(o.stats()).toMatchObject({ dropped: 4, droppedAudit: 0 });
  });

  it('sends retained state before telemetry and events, and events oldest first', () => {
    const o = new Outbox({ maxMessages: 10, maxBytes: 100_000 }, () => 0);
    o.putLatest(msg('d/tele/dhcp', 't', { qos: 0 }));
    o.putLatest(msg('d/state', 's', { retain: true }));
    o.enqueue(msg('d/evt/a', '1'));
    o.enqueue(msg('d/evt/b', '2'));
    expect([o.take(), o.take(), o.take(), o.take()].map((m) => m!.topic)).toEqual(['d/state', 'd/tele/dhcp', 'd/evt/a', 'd/evt/b']);
  });

  it('keeps an undelivered message, unless a newer one for its topic arrived meanwhile', () => {
    const o = new Outbox({ maxMessages: 10, maxBytes: 100_000 }, () => 0);
    o.putLatest(msg('d/state', 'old', { retain: true }));
    const first = o.take()!;
    o.settle(first, false);
    expect(o.take()!.payload).toBe('old');
    o.putLatest(msg('d/state', 'new', { retain: true }));
    o.requeueInFlight();
    expect(o.take()!.payload).toBe('new');
    expect(o.take()).toBeUndefined();

    o.enqueue(msg('d/evt/a', 'e'));
    const e = o.take()!;
    expect(o.take()).toBeUndefined(); // in flight, not offered twice
    o.settle(e, false);
    const again = o.take()!;
    o.settle(again, true);
    expect(o.stats().depth).toBe(1); // the state still in flight from above was requeued and taken, never settled
  });

  it('reports the age of the oldest waiting message', () => {
    let now = 0;
    const o = new Outbox({ maxMessages: 10, maxBytes: 100_000 }, () => now);
    o.enqueue(msg('d/evt/a'));
    now = 42_000;
    expect(o.stats().oldestAgeSec).toBe(42);
  });
});
