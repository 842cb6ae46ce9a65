export type { RtpCapabilities } from 'mediasoup/types';
export type { MediaConfig } from './config.ts';
export { isMediaError, MEDIA_ERROR_CODES, MediaError, type MediaErrorCode } from './errors.ts';
export { MediaPool, type WorkerStats } from './pool.ts';
export { MediaSession, type ProducerInfo, type PushedConsumer } from './session.ts';
export type { Direction, MediaKind } from './validate.ts';
