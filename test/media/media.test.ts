import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type MediaConfig, MediaError, MediaPool, type MediaSession } from '../../media/index.ts';
import {
  freePortBase,
  ip,
  nextEvent,
  opusParameters,
  plainAudioCall,
  rejectsWith,
  silentLog,
} from './helpers.ts';

const config = async (workers: number, extra: Partial<MediaConfig> = {}): Promise<MediaConfig> => {
  const base = await freePortBase(workers);
  return { workers, listenIp: ip, rtcMinPort: base, rtcMaxPort: base + 40, ...extra };
};

const throwsWith = (fn: () => unknown, code: MediaError['code']) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MediaError);
    expect(e).toMatchObject({ code });
    return;
  }
  throw new Error('expected a MediaError');
};

describe('media pool with one worker', () => {
  let pool: MediaPool;
  let base: number;
  const newSession = () => pool.session(randomUUID());

  beforeAll(async () => {
    const c = await config(1);
    base = c.rtcMinPort;
    pool = await MediaPool.create(c, silentLog);
  });
  afterAll(() => pool.close());

  it('creates one session per id and reuses it', async () => {
    const id = randomUUID();
    const [a, b] = await Promise.all([pool.session(id), pool.session(id)]);
    expect(a).toBe(b);
    expect(await pool.session(id)).toBe(a);
    expect(await pool.get(id)).toBe(a);
    expect(a.id).toBe(id);
    expect(await newSession()).not.toBe(a);
    expect(await pool.get('never-created')).toBeUndefined();
    expect(a.rtpCapabilities.codecs?.map((c) => c.mimeType)).toEqual(
      expect.arrayContaining(['audio/opus', 'video/VP8', 'video/H264']),
    );
    expect(pool.ready).toBe(true);
  });

  it("a WebRTC transport exposes ICE and DTLS parameters on the worker's WebRtcServer port", async () => {
    const session = await newSession();
    const t = await session.createTransport('alice', 'send');
    expect(t.id).toEqual(expect.any(String));
    expect(t.iceParameters).toMatchObject({
      usernameFragment: expect.any(String),
      password: expect.any(String),
    });
    expect(t.iceCandidates.map((c) => `${c.protocol} ${c.address}:${c.port}`).sort()).toEqual([
      `tcp ${ip}:${base}`,
      `udp ${ip}:${base}`,
    ]);
    expect(t.dtlsParameters.fingerprints.some((f) => f.algorithm === 'sha-256')).toBe(true);

    await session.connectTransport('alice', t.id, {
      role: 'client',
      fingerprints: [{ algorithm: 'sha-256', value: t.dtlsParameters.fingerprints[0]!.value }],
    });
    const restarted = await session.restartIce('alice', t.id);
    expect(restarted.usernameFragment).not.toBe(t.iceParameters.usernameFragment);
  });

  it("audio from one peer's producer reaches another peer's consumer", async () => {
    const session = await newSession();
    const call = await plainAudioCall(session, 'alice', 'bob');
    try {
      expect(call.consumer).toMatchObject({
        producerId: call.producerId,
        kind: 'audio',
        producerPaused: false,
      });
      expect(await session.producers()).toEqual([
        { producerId: call.producerId, peerId: 'alice', kind: 'audio' },
      ]);
      await call.flows();
      expect(pool.stats()[0]).toMatchObject({
        transports: expect.any(Number),
        producers: expect.any(Number),
      });
    } finally {
      call.close();
    }
  });

  it('an unknown session entity is not_found, and the message names it', async () => {
    const session = await newSession();
    const send = await session.createTransport('alice', 'send');
    await rejectsWith(
      session.connectTransport('alice', 'no-such-transport', {}),
      'not_found',
      /no-such-transport/,
    );
    await rejectsWith(session.restartIce('alice', 'no-such-transport'), 'not_found', /transport "no-such/);
    await rejectsWith(
      session.produce('alice', 'no-such-transport', 'audio', opusParameters(1)),
      'not_found',
      /no-such-transport/,
    );
    const recv = await session.createTransport('alice', 'recv');
    await rejectsWith(
      session.consume('alice', recv.id, 'no-such-producer', session.rtpCapabilities),
      'not_found',
      /producer "no-such-producer" not found/,
    );
    await rejectsWith(
      session.resume('alice', 'no-such-consumer'),
      'not_found',
      /consumer "no-such-consumer"/,
    );
    await rejectsWith(session.pauseProducer('alice', 'no-such-producer'), 'not_found', /no-such-producer/);
    await rejectsWith(session.connectTransport('alice', 42 as any, {}), 'not_found', /"42"/);
    expect(send.id).not.toBe(recv.id);
  });

  it("another peer's transport, producer or consumer is forbidden", async () => {
    const session = await newSession();
    const call = await plainAudioCall(session, 'alice', 'bob');
    try {
      const aliceWebRtc = await session.createTransport('alice', 'send');
      await rejectsWith(session.connectTransport('mallory', aliceWebRtc.id, {}), 'forbidden', /another peer/);
      await rejectsWith(session.restartIce('mallory', aliceWebRtc.id), 'forbidden');
      await rejectsWith(session.produce('mallory', call.send.id, 'audio', opusParameters(7)), 'forbidden');
      await rejectsWith(
        session.consume('mallory', call.recv.id, call.producerId, session.rtpCapabilities),
        'forbidden',
      );
      await rejectsWith(session.resume('alice', call.consumer.consumerId), 'forbidden');
      await rejectsWith(session.pauseProducer('bob', call.producerId), 'forbidden');
      await rejectsWith(session.resumeProducer('bob', call.producerId), 'forbidden');
      throwsWith(() => session.closeProducer('bob', call.producerId), 'forbidden');
      await rejectsWith(session.connectPlainTransport('alice', call.recv.id, { ip, port: 9 }), 'forbidden');
      // Nothing was touched: the call still carries audio.
      await call.flows();
    } finally {
      call.close();
    }
  });

  it('malformed parameters are invalid_input, naming the field, and the session still works afterwards', async () => {
    const session = await newSession();
    const webRtc = await session.createTransport('alice', 'send');
    for (const dtls of [
      null,
      'x',
      {},
      { fingerprints: 'sha-256' },
      { fingerprints: [{ algorithm: 'md5', value: 'x' }] },
    ]) {
      await rejectsWith(
        session.connectTransport('alice', webRtc.id, dtls),
        'invalid_input',
        /^dtlsParameters: /,
      );
    }
    const send = await session.createPlainTransport('alice', 'send');
    const malformed = [
      null,
      {},
      { codecs: [] },
      { codecs: 'opus' },
      {
        codecs: [{ mimeType: 'audio/opus', payloadType: 101, clockRate: 48000, channels: 2 }],
        encodings: [{ ssrc: 'x' }],
      },
      { codecs: [{ mimeType: 'audio/nope', payloadType: 101, clockRate: 48000 }], encodings: [{ ssrc: 5 }] },
    ];
    for (const rtpParameters of malformed) {
      await rejectsWith(
        session.produce('alice', send.id, 'audio', rtpParameters),
        'invalid_input',
        /^rtpParameters: /,
      );
    }
    await rejectsWith(
      session.produce('alice', send.id, 'video', opusParameters(5)),
      'invalid_input',
      /^rtpParameters: codec "audio\/opus" does not match kind video/,
    );
    await rejectsWith(
      session.produce('alice', send.id, 'screen' as any, opusParameters(5)),
      'invalid_input',
      /^kind: /,
    );
    await rejectsWith(
      session.produce('alice', send.id, 'audio', opusParameters(5), 'x' as any),
      'invalid_input',
      /^appData: /,
    );
    await rejectsWith(session.createTransport('alice', 'both' as any), 'invalid_input', /^direction: /);
    await rejectsWith(session.createTransport('', 'send'), 'invalid_input', /^peerId: /);

    // The same transports and session work once given valid input.
    const call = await plainAudioCall(session, 'alice', 'bob');
    try {
      const recv = await session.createPlainTransport('carol', 'recv');
      await rejectsWith(
        session.consume('carol', recv.id, call.producerId, null),
        'invalid_input',
        /^rtpCapabilities: /,
      );
      await rejectsWith(
        session.consume('carol', recv.id, call.producerId, {
          codecs: session.rtpCapabilities.codecs?.filter((c) => c.kind === 'video'),
          headerExtensions: [],
        }),
        'invalid_input',
        /^rtpCapabilities: cannot consume/,
      );
      await rejectsWith(
        session.produce('carol', recv.id, 'audio', opusParameters(9)),
        'invalid_input',
        /for receiving/,
      );
      await rejectsWith(
        session.consume('alice', send.id, call.producerId, session.rtpCapabilities),
        'invalid_input',
        /for sending/,
      );
      await rejectsWith(
        session.connectPlainTransport('carol', recv.id, { ip, port: 70_000 }),
        'invalid_input',
        /^remote: /,
      );
      await rejectsWith(session.connectTransport('carol', recv.id, {}), 'invalid_input', /not WebRTC/);
      await session.produce('alice', send.id, 'audio', opusParameters(12_345));
      await call.flows();
    } finally {
      call.close();
    }
  });

  it('a peer cannot consume its own producer', async () => {
    const session = await newSession();
    const send = await session.createPlainTransport('alice', 'send');
    const { producerId } = await session.produce('alice', send.id, 'audio', opusParameters(4242));
    const recv = await session.createTransport('alice', 'recv');
    await rejectsWith(
      session.consume('alice', recv.id, producerId, session.rtpCapabilities),
      'invalid_input',
      /^producerId: .*own/,
    );
    expect(session.counts().consumers).toBe(0);
  });

  it('a peer mutes and unmutes its own producer and its consumers follow', async () => {
    const session = await newSession();
    const call = await plainAudioCall(session, 'alice', 'bob');
    try {
      await session.pauseProducer('alice', call.producerId);
      const late = await session.createPlainTransport('carol', 'recv');
      const joined = await session.consume('carol', late.id, call.producerId, session.rtpCapabilities);
      expect(joined.producerPaused).toBe(true);
      await session.resumeProducer('alice', call.producerId);
      await call.flows();
    } finally {
      call.close();
    }
  });

  it("closePeer closes that peer's transports, producers and consumers and fires onProducerClosed", async () => {
    const session = await newSession();
    const call = await plainAudioCall(session, 'alice', 'bob');
    call.close();
    const video = await session.createTransport('alice', 'send');
    const closed = vi.fn();
    session.onProducerClosed(closed);
    session.onProducerClosed(() => {
      throw new Error('a failing listener does not stop the others');
    });
    const first = nextEvent<{ producerId: string; peerId: string }>((l) => session.onProducerClosed(l));

    await session.closePeer('alice');
    await session.closePeer('alice');
    await session.closePeer('nobody');

    expect(await first).toEqual({ producerId: call.producerId, peerId: 'alice' });
    expect(closed).toHaveBeenCalledExactlyOnceWith({ producerId: call.producerId, peerId: 'alice' });
    expect(await session.producers()).toEqual([]);
    await rejectsWith(session.restartIce('alice', video.id), 'not_found');
    // bob's consumer of alice's producer goes when the worker reports the producer gone.
    await vi.waitFor(() => expect(session.counts()).toEqual({ transports: 1, producers: 0, consumers: 0 }), {
      timeout: 5_000,
      interval: 10,
    });
    await rejectsWith(session.resume('bob', call.consumer.consumerId), 'not_found');
    // alice may come back.
    await session.createTransport('alice', 'send');
  });

  it('closeProducer stops one track and tells the others', async () => {
    const session = await newSession();
    const send = await session.createPlainTransport('alice', 'send');
    const { producerId } = await session.produce('alice', send.id, 'audio', opusParameters(777));
    const closed = nextEvent<{ producerId: string; peerId: string }>((l) => session.onProducerClosed(l));
    session.closeProducer('alice', producerId);
    expect(await closed).toEqual({ producerId, peerId: 'alice' });
    await rejectsWith(session.pauseProducer('alice', producerId), 'not_found');
    // The transport stays.
    await session.produce('alice', send.id, 'audio', opusParameters(778));
  });

  it('session.close() twice is safe, frees the router and a new session may take the id', async () => {
    const id = randomUUID();
    const session = await pool.session(id);
    const call = await plainAudioCall(session, 'alice', 'bob');
    call.close();
    const closed = vi.fn();
    session.onProducerClosed(closed);
    const before = pool.stats()[0]!.sessions;

    await session.close();
    await session.close();

    expect(session.closed).toBe(true);
    expect(closed).not.toHaveBeenCalled();
    expect(session.counts()).toEqual({ transports: 0, producers: 0, consumers: 0 });
    expect(await session.producers()).toEqual([]);
    expect(await pool.get(id)).toBeUndefined();
    expect(pool.stats()[0]!.sessions).toBe(before - 1);
    await rejectsWith(session.createTransport('alice', 'send'), 'not_found', /session .* is closed/);
    await session.closePeer('alice');

    const again = await pool.session(id);
    expect(again).not.toBe(session);
    await again.createTransport('alice', 'send');
  });

  it('a peer has a ceiling on transports', async () => {
    const session = await newSession();
    const created = [];
    for (let i = 0; i < 8; i += 1) created.push(await session.createTransport('alice', 'recv'));
    await rejectsWith(session.createTransport('alice', 'recv'), 'forbidden', /^limit: /);
    await session.closePeer('alice');
    await session.createTransport('alice', 'recv');
    expect(created).toHaveLength(8);
  });
});

describe('media pool with several workers', () => {
  it('spreads sessions over workers and announces the public address', async () => {
    const pool = await MediaPool.create(await config(2, { announcedIp: '203.0.113.7' }), silentLog);
    try {
      const sessions = await Promise.all([
        pool.session('a'),
        pool.session('b'),
        pool.session('c'),
        pool.session('d'),
      ]);
      const stats = pool.stats();
      expect(stats).toHaveLength(2);
      expect(new Set(stats.map((w) => w.pid)).size).toBe(2);
      expect(stats.map((w) => w.sessions)).toEqual([2, 2]);
      const t = await sessions[0]!.createTransport('alice', 'recv');
      expect(new Set(t.iceCandidates.map((c) => c.address))).toEqual(new Set(['203.0.113.7']));
      const plain = await sessions[0]!.createPlainTransport('tool', 'send');
      expect(plain.ip).toBe('203.0.113.7');
    } finally {
      await pool.close();
    }
  });

  it('a killed worker loses only its sessions, is replaced, and the sessions can be created again', async () => {
    const c = await config(2);
    const pool = await MediaPool.create(c, silentLog);
    try {
      const lost: string[] = [];
      let readyWhenLost: boolean | undefined;
      pool.onSessionLost((id) => {
        lost.push(id);
        readyWhenLost = pool.ready;
      });
      const firstLoss = nextEvent<string>((l) => pool.onSessionLost(l));

      const doomed = await pool.session('doomed');
      const victim = pool.stats().find((w) => w.sessions === 1)!.pid;
      const survivor = await pool.session('survivor');
      expect(pool.stats().map((w) => w.sessions)).toEqual([1, 1]);
      const call = await plainAudioCall(doomed, 'alice', 'bob');
      call.close();
      const producerClosed = vi.fn();
      doomed.onProducerClosed(producerClosed);
      const survivorTransport = await survivor.createTransport('carol', 'send');

      process.kill(victim, 'SIGKILL');

      expect(await firstLoss).toBe('doomed');
      expect(lost).toEqual(['doomed']);
      expect(readyWhenLost).toBe(false);
      expect(doomed.closed).toBe(true);
      expect(producerClosed).not.toHaveBeenCalled();
      expect(await pool.get('doomed')).toBeUndefined();
      await rejectsWith(doomed.createTransport('alice', 'send'), 'not_found');

      // The other worker's session is untouched.
      expect(await pool.get('survivor')).toBe(survivor);
      await survivor.restartIce('carol', survivorTransport.id);

      await vi.waitFor(() => expect(pool.ready).toBe(true), { timeout: 10_000, interval: 20 });
      const pids = pool.stats().map((w) => w.pid);
      expect(pids).toHaveLength(2);
      expect(pids).not.toContain(victim);

      // Rejoining lands on the fresh, empty worker, on the dead one's port.
      const back = await pool.session('doomed');
      expect(back).not.toBe(doomed);
      const t = await back.createTransport('alice', 'send');
      const ports = [c.rtcMinPort, c.rtcMinPort + 1];
      expect(ports).toContain(t.iceCandidates[0]!.port);
      expect(t.iceCandidates[0]!.port).not.toBe(survivorTransport.iceCandidates[0]!.port);
      const again = await plainAudioCall(back, 'alice', 'bob');
      try {
        await again.flows();
      } finally {
        again.close();
      }
    } finally {
      await pool.close();
    }
  });

  it('with a single worker, a session asked for right after the crash waits for the replacement', async () => {
    const pool = await MediaPool.create(await config(1), silentLog);
    try {
      await pool.session('before');
      const victim = pool.stats()[0]!.pid;
      const rejoined = nextEvent<Promise<MediaSession>>((l) =>
        pool.onSessionLost((id) => l(pool.session(id))),
      );
      process.kill(victim, 'SIGKILL');
      const session = await await rejoined;
      expect(session.closed).toBe(false);
      expect(pool.ready).toBe(true);
      expect(pool.stats()[0]!.pid).not.toBe(victim);
      await session.createTransport('alice', 'send');
    } finally {
      await pool.close();
    }
  });

  it('pool.close() twice is safe, closes every session and ends the worker processes', async () => {
    const pool = await MediaPool.create(await config(2), silentLog);
    const sessions = await Promise.all([pool.session('x'), pool.session('y')]);
    await sessions[0]!.createTransport('alice', 'send');
    const pids = pool.stats().map((w) => w.pid);
    const lost = vi.fn();
    pool.onSessionLost(lost);

    await Promise.all([pool.close(), pool.close()]);
    await pool.close();

    expect(sessions.every((s) => s.closed)).toBe(true);
    expect(lost).not.toHaveBeenCalled();
    expect(pool.ready).toBe(false);
    expect(pool.stats()).toEqual([]);
    expect(await pool.get('x')).toBeUndefined();
    await rejectsWith(pool.session('z'), 'media_unavailable');
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });

  it('refuses a port range smaller than the worker count, and reports a taken port', async () => {
    await rejectsWith(
      MediaPool.create({ workers: 3, listenIp: ip, rtcMinPort: 40_000, rtcMaxPort: 40_001 }, silentLog),
      'invalid_input',
      /media config: .*3 workers/,
    );
    const c = await config(1);
    const squatter = net.createServer().listen(c.rtcMinPort, ip);
    await new Promise((resolve) => squatter.once('listening', resolve));
    try {
      await rejectsWith(
        MediaPool.create(c, silentLog),
        'media_unavailable',
        new RegExp(`port ${c.rtcMinPort}`),
      );
    } finally {
      squatter.close();
    }
  });
});
