import type { Refusal } from './refusal.js';

export type Status = 0 | 1;

export interface Tenant {
  id: number;
  name: string;
  description: string | null;
  parentTenant: number | null;
  status: Status;
}

export interface NewTenant {
  name: string;
  parentTenant: number;
  description: string | null;
  status: Status;
  /** system-tenant roles to copy into the new tenant */
  importedRoles: number[];
  /** users given administrative access on the new tenant (the creator among them) */
  admins: number[];
}

export interface TenantUpdate {
  name: string;
  description: string | null;
  status: Status;
}

export interface Tenants {
  list(): Promise<Tenant[]>;
  get(id: number): Promise<Tenant | undefined>;
  byName(name: string): Promise<Tenant | undefined>;
  /** The tenant and the ids of the roles copied into it. */
  create(input: NewTenant): Promise<{ tenant: Tenant; roles: number[] } | Refusal>;
  update(id: number, input: TenantUpdate): Promise<Tenant | Refusal>;
  delete(id: number): Promise<void | Refusal>;
  /** The users with administrative access on the tenant, in id order. */
  admins(id: number): Promise<number[]>;
  setAdmins(id: number, userIds: number[]): Promise<void | Refusal>;
}
