import { randomUUID } from 'node:crypto';
import type { CreateRoomInput, PutPlanInput, PutUserInput } from '../../protocol/inputs.ts';
import type { Actor, Plan, Room, User } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import { isUniqueViolation } from '../store/db.ts';
import { RoomsRepo } from '../store/rooms.ts';
import { UsersRepo } from '../store/users.ts';
import { audit } from './audit.ts';
import type { CreditService } from './credits.ts';
import type { ServiceDeps } from './deps.ts';

/** What the platform's backend (role admin) sets up: users, plans, rooms. */
export class ProvisioningService {
  private readonly d: ServiceDeps;
  private readonly credits: CreditService;
  constructor(d: ServiceDeps, credits: CreditService) {
    this.d = d;
    this.credits = credits;
  }

  async putUser(actor: Actor, id: string, input: PutUserInput): Promise<{ user: User; created: boolean }> {
    if (input.specialty && input.role !== 'provider') {
      throw new AppError('invalid_input', 'specialty: only providers have a specialty');
    }
    if (input.supervisor && input.role !== 'support') {
      throw new AppError('invalid_input', 'supervisor: only support users are supervisors');
    }
    const now = this.d.clock.now();
    return this.d.store.db.tx(async (q) => {
      const out = await new UsersRepo(q).put(id, input, now);
      await audit(q, actor, 'user.put', now, { subjectId: id });
      return out;
    });
  }

  async putPlan(actor: Actor, userId: string, input: PutPlanInput): Promise<Plan> {
    const user = await this.d.store.users.get(userId);
    if (!user) throw new AppError('not_found', `user ${userId} not found`);
    if (user.role !== 'client')
      throw new AppError('invalid_input', `user ${userId} is a ${user.role}; plans are for clients`);
    const now = this.d.clock.now();
    const plan = await this.d.store.db.tx(async (q) => {
      const out = await new UsersRepo(q).putPlan(userId, input, now);
      await audit(q, actor, 'plan.put', now, { subjectId: userId });
      return out;
    });
    // The period's allowance and its rollover follow the plan at once.
    await this.credits.planChanged(userId);
    return plan;
  }

  /** Creates a room. A therapy pair has one room per service; asking again returns it (created: false). */
  async createRoom(actor: Actor, input: CreateRoomInput): Promise<{ room: Room; created: boolean }> {
    const { store } = this.d;
    const now = this.d.clock.now();
    let room: Room;
    if (input.kind === 'therapy') {
      const users = await store.users.getMany([input.clientId, input.providerId]);
      const client = users.get(input.clientId);
      const provider = users.get(input.providerId);
      if (client?.role !== 'client')
        throw new AppError('invalid_input', `clientId: ${input.clientId} is not a provisioned client`);
      if (provider?.role !== 'provider') {
        throw new AppError('invalid_input', `providerId: ${input.providerId} is not a provisioned provider`);
      }
      if (input.service === 'psychiatry' && provider.specialty === 'therapy') {
        throw new AppError(
          'invalid_input',
          `providerId: ${input.providerId} is a therapist, not a psychiatrist`,
        );
      }
      const existing = await store.rooms.findTherapyRoom(input.clientId, input.providerId, input.service);
      if (existing) return { room: existing, created: false };
      room = {
        id: randomUUID(),
        kind: 'therapy',
        service: input.service,
        clientId: input.clientId,
        providerId: input.providerId,
        requesterId: null,
        escalations: [],
        lastSeq: 0,
        awaitingReplySince: null,
        createdAt: now,
      };
    } else {
      const requester = await store.users.get(input.requesterId);
      if (requester?.role !== 'client' && requester?.role !== 'provider') {
        throw new AppError(
          'invalid_input',
          `requesterId: ${input.requesterId} is not a provisioned client or provider`,
        );
      }
      room = {
        id: randomUUID(),
        kind: 'support',
        service: null,
        clientId: null,
        providerId: null,
        requesterId: input.requesterId,
        escalations: [],
        lastSeq: 0,
        awaitingReplySince: null,
        createdAt: now,
      };
    }
    try {
      await store.db.tx(async (q) => {
        await new RoomsRepo(q).insert(room);
        await audit(q, actor, 'room.create', now, {
          roomId: room.id,
          subjectId: room.clientId ?? room.requesterId!,
        });
      });
    } catch (e) {
      // Two admins creating the same therapy room at once: the second gets the first's.
      if (isUniqueViolation(e) && input.kind === 'therapy') {
        const winner = await store.rooms.findTherapyRoom(input.clientId, input.providerId, input.service);
        if (winner) return { room: winner, created: false };
      }
      throw e;
    }
    if (room.kind === 'therapy') {
      this.d.events.roomOpened(room.id, { userIds: [room.clientId!, room.providerId!] });
    } else {
      this.d.events.roomOpened(room.id, { userIds: [room.requesterId!], roles: ['support'] });
    }
    this.d.log.info({ roomId: room.id, kind: room.kind }, 'room created');
    return { room, created: true };
  }
}
