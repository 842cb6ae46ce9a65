import { z } from 'zod';
import * as A from '../answers.ts';
import { SendMessageBody } from '../events.ts';
import * as I from '../inputs.ts';
import { IdParam, type Route } from './route.ts';

const UserAnswer = z.object({ user: A.User });
const RoomViewAnswer = z.object({ room: A.RoomView });

/** Users and their plans (provisioning), rooms, their messages, tickets and recordings. */
export const roomRoutes: readonly Route[] = [
  {
    method: 'put',
    path: '/v1/users/{id}',
    summary: 'Create or replace a user (201 when created)',
    auth: ['admin'],
    params: IdParam,
    body: I.PutUserBody,
    answers: { 200: UserAnswer, 201: UserAnswer },
  },
  {
    method: 'put',
    path: '/v1/users/{id}/plan',
    summary: 'Set a client’s plan',
    auth: ['admin'],
    params: IdParam,
    body: I.PutPlanBody,
    answers: { 200: z.object({ plan: A.Plan }) },
  },
  {
    method: 'post',
    path: '/v1/rooms',
    summary: 'Create a therapy or support room (200 with the existing one)',
    auth: ['admin'],
    body: I.CreateRoomBody,
    answers: { 200: z.object({ room: A.Room }), 201: z.object({ room: A.Room }) },
  },
  {
    method: 'get',
    path: '/v1/rooms',
    summary: 'The rooms the user sees, a page at a time',
    auth: 'token',
    query: I.RoomsQuery,
    answers: { 200: A.RoomsPage },
  },
  {
    method: 'get',
    path: '/v1/rooms/{id}',
    summary: 'One room',
    auth: 'token',
    params: IdParam,
    answers: { 200: RoomViewAnswer },
  },
  {
    method: 'get',
    path: '/v1/rooms/{id}/messages',
    summary: 'A page of a room’s messages, newest last',
    auth: 'token',
    params: IdParam,
    query: I.HistoryQuery.omit({ roomId: true }),
    answers: { 200: A.HistoryAnswer },
  },
  {
    method: 'post',
    path: '/v1/rooms/{id}/messages',
    summary: 'Post a message (same body and rules as message:send)',
    auth: 'token',
    params: IdParam,
    body: SendMessageBody,
    answers: { 201: A.MessageAnswer },
  },
  {
    method: 'post',
    path: '/v1/rooms/{id}/escalations',
    summary: 'Escalate a support room',
    auth: 'token',
    params: IdParam,
    body: I.EscalationBody,
    answers: { 201: RoomViewAnswer },
  },
  {
    method: 'put',
    path: '/v1/rooms/{id}/ticket',
    summary: 'Set a support ticket’s status or assignee (support team)',
    auth: ['support'],
    params: IdParam,
    body: I.TicketBody,
    answers: { 200: RoomViewAnswer },
  },
  {
    method: 'post',
    path: '/v1/rooms/{id}/attachments',
    summary: 'Upload a voice or video recording (the raw file as the body)',
    auth: 'token',
    params: IdParam,
    rawBody: 'audio/*, video/* (ATTACHMENT_TYPES)',
    answers: {
      201: z.object({ attachmentId: z.string(), mimeType: z.string(), sizeBytes: z.number().int() }),
    },
  },
  {
    method: 'get',
    path: '/v1/rooms/{id}/attachments/{attachmentId}',
    summary: 'Download a recording (Range requests answered 206)',
    auth: 'token',
    params: z.strictObject({ id: I.Id, attachmentId: I.Id }),
    answers: {
      200: { type: 'application/octet-stream', description: 'the recording, with its own Content-Type' },
      206: { type: 'application/octet-stream', description: 'a range of the recording' },
    },
  },
];
