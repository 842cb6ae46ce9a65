/// <reference lib="dom" />
import { TalkroomError } from '@talkroom/client';
import type { z } from 'zod';
import type * as A from '../../protocol/answers.ts';
import { ERROR_CODES, type ErrorCode } from '../../protocol/errors.ts';
import type { Modality } from '../../protocol/vocabulary.ts';

/** The contract's answer types (protocol/answers.ts): nothing the server sends is declared twice. */
export type Room = z.infer<typeof A.RoomView>;
export type Message = z.infer<typeof A.Message>;
export type Booking = z.infer<typeof A.Booking>;
export type Slot = z.infer<typeof A.TimeRange>;
export type Credits = z.infer<typeof A.Credits>;
export type PlanView = z.infer<typeof A.PlanView>;
export type Charge = z.infer<typeof A.Charge>;
export type TicketStatus = z.infer<typeof A.Ticket>['status'];

/**
 * talkroom's REST API for the app: every call carries the platform JWT as a
 * bearer token, and a refusal becomes a TalkroomError with the server's code,
 * as the SDK's socket requests do.
 */
export class Api {
  readonly base: string;
  readonly #token: () => string;

  constructor(base: string, token: () => string) {
    this.base = base;
    this.#token = token;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: {
          authorization: `Bearer ${this.#token()}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new TalkroomError('unavailable', 'The service cannot be reached. Check your connection.');
    }
    const text = await res.text();
    const json = text ? safeJson(text) : {};
    if (!res.ok) throw errorOf(json, res.status);
    return json as T;
  }

  rooms = async (): Promise<Room[]> =>
    (await this.call<{ rooms: Room[] }>('GET', '/v1/rooms?limit=500')).rooms;
  room = async (id: string): Promise<Room> =>
    (await this.call<{ room: Room }>('GET', `/v1/rooms/${id}`)).room;

  bookings = async (q: { roomId?: string; status?: Booking['status'] } = {}): Promise<Booking[]> => {
    const qs = new URLSearchParams({ limit: '500', ...q }).toString();
    return (await this.call<{ bookings: Booking[] }>('GET', `/v1/bookings?${qs}`)).bookings;
  };

  slots = async (providerId: string, from: Date, to: Date, durationMin = 50): Promise<Slot[]> => {
    const qs = new URLSearchParams({
      from: from.toISOString(),
      to: to.toISOString(),
      durationMin: String(durationMin),
    });
    return (await this.call<{ slots: Slot[] }>('GET', `/v1/providers/${providerId}/slots?${qs}`)).slots;
  };

  book = async (b: { roomId: string; modality: Modality; startsAt: string; purchase?: boolean }) =>
    (await this.call<{ booking: Booking }>('POST', '/v1/bookings', b)).booking;

  act = async (id: string, action: 'confirm' | 'decline' | 'cancel' | 'waive', body: object = {}) =>
    (await this.call<{ booking: Booking }>('POST', `/v1/bookings/${id}/${action}`, body)).booking;

  reschedule = async (id: string, startsAt: string, purchase?: boolean) =>
    (
      await this.call<{ booking: Booking }>('POST', `/v1/bookings/${id}/reschedule`, {
        startsAt,
        ...(purchase ? { purchase } : {}),
      })
    ).booking;

  plan = () => this.call<PlanView>('GET', '/v1/plan');
  credits = () => this.call<Credits>('GET', '/v1/credits?limit=1');

  /** `PUT /v1/rooms/:id/ticket`: status, assignee (`null` unassigns) or both. */
  ticket = async (roomId: string, change: { status?: TicketStatus; assigneeId?: string | null }) =>
    (await this.call<{ room: Room }>('PUT', `/v1/rooms/${roomId}/ticket`, change)).room;

  escalate = async (roomId: string, to: 'supervisor' | 'clinical') =>
    (await this.call<{ room: Room }>('POST', `/v1/rooms/${roomId}/escalations`, { to })).room;

  /** A recording as a blob: downloads need the bearer token, which a media element cannot send. */
  async attachment(url: string): Promise<Blob> {
    const res = await fetch(new URL(url, this.base), {
      headers: { authorization: `Bearer ${this.#token()}` },
    });
    if (!res.ok) throw errorOf(safeJson(await res.text()), res.status);
    return res.blob();
  }

  /** Uploads a recording; XMLHttpRequest because fetch reports no upload progress. */
  upload(roomId: string, blob: Blob, onProgress: (fraction: number) => void): Promise<string> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', `${this.base}/v1/rooms/${roomId}/attachments`);
      xhr.setRequestHeader('authorization', `Bearer ${this.#token()}`);
      // The container without its codec parameters: the server checks the type against its list.
      xhr.setRequestHeader('content-type', blob.type.split(';')[0]!);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onload = () => {
        const json = safeJson(xhr.responseText);
        if (xhr.status === 201) resolve((json as { attachmentId: string }).attachmentId);
        else reject(errorOf(json, xhr.status));
      };
      xhr.onerror = () => reject(new TalkroomError('unavailable', 'The upload did not go through.'));
      xhr.send(blob);
    });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function errorOf(json: unknown, status: number): TalkroomError {
  const e = (json as { error?: { code?: string; message?: string } })?.error;
  const code = e?.code && Object.hasOwn(ERROR_CODES, e.code) ? (e.code as ErrorCode) : 'internal';
  return new TalkroomError(code, e?.message ?? `the server answered ${status}`);
}
