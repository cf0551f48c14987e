import type { Refusal } from './refusal.js';

export interface Role {
  id: number;
  name: string;
  tenantId: number;
  description: string | null;
  permissions: number[];
  users: number[];
}

export interface NewRole {
  name: string;
  tenantId: number;
  description: string | null;
  permissions: number[];
  users: number[];
}

export interface Roles {
  list(tenantId?: number): Promise<Role[]>;
  get(id: number): Promise<Role | undefined>;
  create(input: NewRole): Promise<Role | Refusal>;
  update(id: number, input: NewRole): Promise<Role | Refusal>;
  delete(id: number): Promise<void | Refusal>;
}
