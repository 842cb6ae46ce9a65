import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePortBase } from '../media/helpers.ts';

/**
 * A real coturn (Debian's `turnserver`, installed by scripts/setup.sh) on
 * loopback for one test file: REST API credentials (`use-auth-secret`) with a
 * secret of its own, everything it writes (pid, log, user database) in a temp
 * dir, and `allow-loopback-peers`, without which it refuses to relay to the
 * SFU on 127.0.0.1 (403 Forbidden IP).
 */
export interface Coturn {
  port: number;
  secret: string;
  realm: string;
  /** What coturn logged so far; quoted when a test fails. */
  log(): string;
  close(): Promise<void>;
}

export const TURNSERVER = process.env.TURNSERVER_PATH ?? '/usr/bin/turnserver';

export async function startCoturn(): Promise<Coturn> {
  const dir = mkdtempSync(join(tmpdir(), 'talkroom-coturn-'));
  const port = await freePortBase(1);
  const secret = randomBytes(24).toString('base64url');
  const realm = 'talkroom.test';
  const logFile = join(dir, 'turn.log');
  const child: ChildProcess = spawn(
    TURNSERVER,
    [
      '-n', // no config file: everything is on this line
      `--listening-ip=127.0.0.1`,
      `--relay-ip=127.0.0.1`,
      `--listening-port=${port}`,
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      `--realm=${realm}`,
      '--allow-loopback-peers',
      '--no-cli',
      '--no-tls',
      '--no-dtls',
      '--no-multicast-peers',
      '--no-rfc5780',
      `--pidfile=${join(dir, 'turnserver.pid')}`,
      `--log-file=${logFile}`,
      '--simple-log',
      `--userdb=${join(dir, 'turndb')}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c) => {
    stderr += c;
  });
  const exited = once(child, 'exit');
  const log = () => {
    let text = '';
    try {
      text = readFileSync(logFile, 'utf8');
    } catch {}
    return `${text}${stderr}`;
  };
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready once it relays: it accepts on its port before its relay and auth threads
  // are up, so readiness is an Allocate with a credential of its own that succeeds.
  const until = Date.now() + 20_000;
  const probe = async () => {
    const username = `${Math.floor(Date.now() / 1000) + 600}:readiness-probe`;
    const credential = createHmac('sha1', secret).update(username).digest('base64');
    return (await turnAllocate(port, { username, credential })).type === 0x0103;
  };
  for (;;) {
    if (child.exitCode !== null) {
      const text = log();
      await close();
      throw new Error(`turnserver exited with ${child.exitCode}:\n${text}`);
    }
    if ((await accepts(port)) && (await probe().catch(() => false))) break;
    if (Date.now() > until) {
      const text = log();
      await close();
      throw new Error(`turnserver did not listen on ${port}:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { port, secret, realm, log, close };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// ------------------------------------------------------------ a raw TURN Allocate (RFC 5766), over UDP

const MAGIC = 0x2112a442;
const ALLOCATE = 0x0003;
const ATTR = {
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  REALM: 0x0014,
  NONCE: 0x0015,
  REQUESTED_TRANSPORT: 0x0019,
} as const;

function attr(type: number, value: Buffer): Buffer {
  const pad = (4 - (value.length % 4)) % 4;
  const b = Buffer.alloc(4 + value.length + pad);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

function message(type: number, attrs: Buffer[], integrityKey?: Buffer): Buffer {
  const tid = randomBytes(12);
  const body = Buffer.concat(attrs);
  const header = (len: number) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(type, 0);
    h.writeUInt16BE(len, 2);
    h.writeUInt32BE(MAGIC, 4);
    tid.copy(h, 8);
    return h;
  };
  if (!integrityKey) return Buffer.concat([header(body.length), body]);
  // MESSAGE-INTEGRITY covers the header with the length counting itself (24 bytes).
  const signed = Buffer.concat([header(body.length + 24), body]);
  const mac = createHmac('sha1', integrityKey).update(signed).digest();
  return Buffer.concat([signed, attr(ATTR.MESSAGE_INTEGRITY, mac)]);
}

interface StunAnswer {
  /** e.g. 0x0103 (Allocate success) or 0x0113 (Allocate error). */
  type: number;
  errorCode: number | null;
  realm: string | null;
  nonce: string | null;
}

function parse(b: Buffer): StunAnswer {
  const out: StunAnswer = { type: b.readUInt16BE(0), errorCode: null, realm: null, nonce: null };
  let at = 20;
  const end = 20 + b.readUInt16BE(2);
  while (at + 4 <= end) {
    const type = b.readUInt16BE(at);
    const len = b.readUInt16BE(at + 2);
    const value = b.subarray(at + 4, at + 4 + len);
    if (type === ATTR.ERROR_CODE) out.errorCode = value[2]! * 100 + value[3]!;
    if (type === ATTR.REALM) out.realm = value.toString();
    if (type === ATTR.NONCE) out.nonce = value.toString();
    at += 4 + len + ((4 - (len % 4)) % 4);
  }
  return out;
}

/** One UDP client: coturn binds a nonce to the client's address, so the challenge and the answer share it. */
async function udpClient(port: number) {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    async ask(req: Buffer): Promise<StunAnswer> {
      // UDP may drop a datagram: ask again until answered (coturn answers each in microseconds).
      const answer = once(socket, 'message');
      const resend = setInterval(() => socket.send(req, port, '127.0.0.1'), 200);
      socket.send(req, port, '127.0.0.1');
      try {
        const [msg] = (await answer) as [Buffer];
        return parse(msg);
      } finally {
        clearInterval(resend);
      }
    },
    close: () => socket.close(),
  };
}

/**
 * A TURN Allocate as a browser sends it, with the long-term credential
 * mechanism: first without credentials (401 with the realm and a nonce), then
 * signed with MD5(username:realm:password). Answers the second reply: success
 * (`type` 0x0103) or the error code, e.g. 401 for a wrong or expired credential.
 */
export async function turnAllocate(
  port: number,
  credentials: { username: string; credential: string },
): Promise<StunAnswer> {
  const transport = attr(ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])); // UDP
  const client = await udpClient(port);
  try {
    const challenge = await client.ask(message(ALLOCATE, [transport]));
    if (challenge.errorCode !== 401 || !challenge.realm || !challenge.nonce) {
      throw new Error(`expected a 401 challenge, got ${JSON.stringify(challenge)}`);
    }
    const key = createHash('md5')
      .update(`${credentials.username}:${challenge.realm}:${credentials.credential}`)
      .digest();
    return await client.ask(
      message(
        ALLOCATE,
        [
          transport,
          attr(ATTR.USERNAME, Buffer.from(credentials.username)),
          attr(ATTR.REALM, Buffer.from(challenge.realm)),
          attr(ATTR.NONCE, Buffer.from(challenge.nonce)),
        ],
        key,
      ),
    );
  } finally {
    client.close();
  }
}
