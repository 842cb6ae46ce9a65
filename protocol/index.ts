/**
 * talkroom's public contract as code: the schemas of every input, answer and
 * broadcast, the error codes, and the Socket.IO event maps derived from them.
 * Imported by the server (src/, signaling/), the SDK (client/) and the web
 * client; it imports nothing from any of them.
 */
export * from './answers.ts';
export * from './errors.ts';
export * from './events.ts';
export * from './inputs.ts';
export * from './vocabulary.ts';
