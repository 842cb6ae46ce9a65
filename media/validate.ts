/**
 * Shape checks for what clients send through signaling, before it reaches
 * mediasoup. mediasoup validates values itself (and is the authority on them);
 * these checks turn the shapes it would trip over (null, strings iterated as
 * arrays, a video producer carrying an audio codec) into messages that name
 * the field.
 */
import { MediaError } from './errors.ts';

export type MediaKind = 'audio' | 'video';
export type Direction = 'send' | 'recv';

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** An id as it may appear in an error message: client ids can be anything. */
export function label(id: unknown): string {
  const text = typeof id === 'string' ? id : String(id);
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

export function invalid(field: string, message: string): MediaError {
  return new MediaError('invalid_input', `${field}: ${message}`);
}

export function checkId(field: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'must be a non-empty string');
}

export function checkKind(value: unknown): asserts value is MediaKind {
  if (value !== 'audio' && value !== 'video') throw invalid('kind', "must be 'audio' or 'video'");
}

export function checkDirection(value: unknown): asserts value is Direction {
  if (value !== 'send' && value !== 'recv') throw invalid('direction', "must be 'send' or 'recv'");
}

export function checkDtlsParameters(value: unknown): void {
  if (!isPlainObject(value)) throw invalid('dtlsParameters', 'must be an object');
  const { fingerprints, role } = value;
  if (!Array.isArray(fingerprints) || fingerprints.length === 0 || fingerprints.length > 8) {
    throw invalid('dtlsParameters', 'fingerprints must be an array of 1 to 8 entries');
  }
  for (const f of fingerprints) {
    if (!isPlainObject(f) || typeof f.algorithm !== 'string' || typeof f.value !== 'string') {
      throw invalid('dtlsParameters', 'each fingerprint needs a string algorithm and value');
    }
  }
  if (role !== undefined && typeof role !== 'string')
    throw invalid('dtlsParameters', 'role must be a string');
}

export function checkRtpParameters(value: unknown, kind: MediaKind): void {
  if (!isPlainObject(value)) throw invalid('rtpParameters', 'must be an object');
  const { codecs, encodings } = value;
  if (!Array.isArray(codecs) || codecs.length === 0)
    throw invalid('rtpParameters', 'codecs must be a non-empty array');
  for (const codec of codecs) {
    if (!isPlainObject(codec) || typeof codec.mimeType !== 'string') {
      throw invalid('rtpParameters', 'each codec needs a mimeType');
    }
    // mediasoup accepts a producer whose kind and codecs disagree; its
    // consumers would then receive audio on a video track.
    // (RTX, RED and FEC carry the kind too: video/rtx, audio/red.)
    if (codec.mimeType.toLowerCase().split('/')[0] !== kind) {
      throw invalid('rtpParameters', `codec ${label(codec.mimeType)} does not match kind ${kind}`);
    }
  }
  if (encodings !== undefined && !Array.isArray(encodings))
    throw invalid('rtpParameters', 'encodings must be an array');
}

export function checkRtpCapabilities(value: unknown): void {
  if (!isPlainObject(value)) throw invalid('rtpCapabilities', 'must be an object');
  if (value.codecs !== undefined && !Array.isArray(value.codecs)) {
    throw invalid('rtpCapabilities', 'codecs must be an array');
  }
}

export function checkAppData(value: unknown): asserts value is Record<string, unknown> | undefined {
  if (value !== undefined && !isPlainObject(value)) throw invalid('appData', 'must be an object');
}

export function checkRemote(value: unknown): asserts value is { ip: string; port: number } {
  if (!isPlainObject(value)) throw invalid('remote', 'must be an object');
  if (typeof value.ip !== 'string' || value.ip === '') throw invalid('remote', 'ip must be a string');
  const port = value.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalid('remote', 'port must be a port number');
  }
}
