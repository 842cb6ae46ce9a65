import type { PutPlanInput, PutUserInput } from '../../protocol/inputs.ts';
import type { Plan, Role, User, WorkingHours } from '../domain/types.ts';
import type { Queryable } from './db.ts';

interface UserRow {
  id: string;
  role: Role;
  display_name: string;
  timezone: string;
  specialty: 'therapy' | 'psychiatry' | null;
  working_hours: WorkingHours | null;
  supervisor: boolean;
}

interface PlanRow {
  kind: Plan['kind'];
  includes_messaging: boolean;
  live_sessions_per_period: number;
  messaging_sessions_per_period: number;
  period_start: string | Date;
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  role: r.role,
  displayName: r.display_name,
  timezone: r.timezone,
  specialty: r.specialty,
  workingHours: r.working_hours,
  supervisor: r.supervisor,
});

export const toPlan = (r: PlanRow): Plan => ({
  kind: r.kind,
  includesMessaging: r.includes_messaging,
  liveSessionsPerPeriod: r.live_sessions_per_period,
  messagingSessionsPerPeriod: r.messaging_sessions_per_period,
  periodStart:
    typeof r.period_start === 'string' ? r.period_start : r.period_start.toISOString().slice(0, 10),
});

export class UsersRepo {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }

  async get(id: string): Promise<User | null> {
    const [row] = await this.q.query<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
    return row ? toUser(row) : null;
  }

  async getMany(ids: readonly string[]): Promise<Map<string, User>> {
    if (ids.length === 0) return new Map();
    const rows = await this.q.query<UserRow>('SELECT * FROM users WHERE id = ANY($1::text[])', [ids]);
    return new Map(rows.map((r) => [r.id, toUser(r)]));
  }

  /** Creates or replaces a user; returns it and whether it was new. */
  async put(id: string, u: PutUserInput, now: Date): Promise<{ user: User; created: boolean }> {
    const [row] = await this.q.query<UserRow & { created: boolean }>(
      `INSERT INTO users (id, role, display_name, timezone, specialty, working_hours, supervisor, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $8)
       ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, display_name = EXCLUDED.display_name,
         timezone = EXCLUDED.timezone, specialty = EXCLUDED.specialty, working_hours = EXCLUDED.working_hours,
         supervisor = EXCLUDED.supervisor, updated_at = EXCLUDED.updated_at
       RETURNING *, (xmax = 0) AS created`,
      [
        id,
        u.role,
        u.displayName,
        u.timezone,
        u.specialty ?? null,
        u.workingHours ? JSON.stringify(u.workingHours) : null,
        u.supervisor ?? false,
        now,
      ],
    );
    return { user: toUser(row!), created: row!.created };
  }

  async getPlan(userId: string): Promise<Plan | null> {
    const [row] = await this.q.query<PlanRow>('SELECT * FROM plans WHERE user_id = $1', [userId]);
    return row ? toPlan(row) : null;
  }

  async putPlan(userId: string, p: PutPlanInput, now: Date): Promise<Plan> {
    const [row] = await this.q.query<PlanRow>(
      `INSERT INTO plans (user_id, kind, includes_messaging, live_sessions_per_period, messaging_sessions_per_period, period_start, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (user_id) DO UPDATE SET kind = EXCLUDED.kind, includes_messaging = EXCLUDED.includes_messaging,
         live_sessions_per_period = EXCLUDED.live_sessions_per_period,
         messaging_sessions_per_period = EXCLUDED.messaging_sessions_per_period,
         period_start = EXCLUDED.period_start, updated_at = EXCLUDED.updated_at
       RETURNING kind, includes_messaging, live_sessions_per_period, messaging_sessions_per_period, period_start::text`,
      [
        userId,
        p.kind,
        p.includesMessaging,
        p.liveSessionsPerPeriod,
        p.messagingSessionsPerPeriod ?? 0,
        p.periodStart,
        now,
      ],
    );
    return toPlan(row!);
  }
}
