// Shapes of what the LXD API returns, as the client reads them (response side; request bodies come from
// src/api). Fields the daemon may omit are optional.
export type StringMap = Record<string, string>;
export type Devices = Record<string, StringMap>;

export interface Envelope {
  type: "sync" | "async" | "error";
  status?: string;
  status_code?: number;
  operation?: string;
  error?: string;
  error_code?: number;
  metadata: unknown;
}

export interface Server {
  api_extensions: string[];
  api_status: string;
  api_version: string;
  auth: string;
  config: StringMap;
  environment: Record<string, unknown> & { server_version?: string; server_name?: string };
}

export interface Address { family: string; address: string; netmask: string; scope: string }
export interface NetworkState {
  addresses: Address[] | null;
  counters: Record<string, number>;
  hwaddr: string;
  host_name: string;
  mtu: number;
  state: string;
  type: string;
}

export interface InstanceState {
  status: string;
  status_code: number;
  pid: number;
  processes: number;
  cpu: { usage: number };
  memory: { usage: number; usage_peak: number; swap_usage?: number; swap_usage_peak?: number };
  disk: Record<string, { usage: number; total?: number }> | null;
  network: Record<string, NetworkState> | null;
}

export interface Instance {
  name: string;
  architecture: string;
  config: StringMap;
  devices: Devices;
  ephemeral: boolean;
  stateful: boolean;
  profiles: string[];
  description: string;
  created_at: string;
  last_used_at: string;
  expanded_config?: StringMap;
  expanded_devices?: Devices;
  status: string;
  status_code: number;
  type: string;
  location?: string;
  project?: string;
}

export interface InstanceFull extends Instance {
  state: InstanceState | null;
  snapshots: unknown[] | null;
  backups: unknown[] | null;
}

export interface ImageAlias { name: string; description: string }
export interface Image {
  fingerprint: string;
  filename: string;
  size: number;
  architecture: string;
  type: string;
  public: boolean;
  auto_update: boolean;
  cached: boolean;
  aliases: ImageAlias[] | null;
  properties: StringMap;
  profiles: string[];
  created_at: string;
  uploaded_at: string;
  last_used_at: string;
  expires_at: string;
}

export interface ImageAliasEntry { name: string; target: string; description: string; type: string }

export interface Profile { name: string; description: string; config: StringMap; devices: Devices; used_by: string[] | null }

export interface StoragePool {
  name: string;
  driver: string;
  description: string;
  config: StringMap;
  status: string;
  used_by: string[] | null;
  locations?: string[];
}

export interface Operation {
  id: string;
  class: "task" | "websocket" | "token";
  description: string;
  created_at: string;
  updated_at: string;
  status: string;
  status_code: number;
  resources: Record<string, string[]> | null;
  metadata: Record<string, unknown> | null;
  may_cancel: boolean;
  err: string;
  location?: string;
}

export interface LxdEvent {
  type: string;
  timestamp: string;
  metadata: Record<string, unknown>;
  location?: string;
  project?: string;
}
