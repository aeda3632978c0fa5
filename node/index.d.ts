// Types of brig's Node SDK (index.js).

/** Error codes carried by every error's `code`. */
export type ErrorCode =
  | 'ERR_INVALID_ARG' | 'ERR_CONSUMED' | 'ERR_POISONED' | 'ERR_CANCELLED'
  | 'ERR_STACK_OVERFLOW' | 'ERR_GUEST_ABORT' | 'ERR_INTERNAL' | 'ERR_LIMIT'
  | 'ERR_NOT_FOUND' | 'ERR_UNAVAILABLE' | 'ERR_UNSUPPORTED' | 'ERR_DENIED' | 'ERR_IO'
  | 'ERR_PROTOCOL' | 'ERR_NOMEM';

export interface BrigError extends Error { code: ErrorCode; }

/** The largest timeout callHandler accepts, in ms (one hour). */
export const MAX_TIMEOUT_MS: number;
export const version: string;

export type MountMode = 'ro' | 'rw' | 'rwc';

export interface Mount { hostPath: string; guestPath: string; mode?: MountMode; }

export interface Limits {
  wallTimeoutMs?: number;
  cpuTimeoutMs?: number;
  memoryBytes?: number;
  maxPids?: number;
  maxOutputBytes?: number;
  maxFrameBytes?: number;
  tmpBytes?: number;
  stackBytes?: number;
}

export class SandboxBuilder {
  constructor();
  setHeapSize(bytes: number): this;
  setStackSize(bytes: number): this;
  setScratchSize(bytes: number): this;
  setInputBufferSize(bytes: number): this;
  setOutputBufferSize(bytes: number): this;
  allowHost(hostPort: string): this;
  mount(hostPath: string, guestPath: string, mode?: MountMode): this;
  setKv(file: string): this;
  setLimits(limits: Limits): this;
  build(): Promise<ProtoJSSandbox>;
}

export type HostCallback = (...args: any[]) => any;

export class HostModule {
  readonly name: string;
  register(fnName: string, callback: HostCallback): this;
}

export class ProtoJSSandbox {
  hostModule(name: string): HostModule;
  register(module: string, fnName: string, callback: HostCallback): this;
  loadRuntime(options?: { lang?: 'js' | 'python' }): Promise<JSSandbox>;
}

export class JSSandbox {
  addHandler(name: string, code: string): void;
  removeHandler(name: string): void;
  clearHandlers(): void;
  getLoadedSandbox(): Promise<LoadedJSSandbox>;
  close(): Promise<void>;
}

export interface CallHandlerOptions {
  wallClockTimeoutMs?: number;
  cpuTimeoutMs?: number;
  gc?: boolean;
}

export class InterruptHandle { kill(): void; }

export class Snapshot { private constructor(); }

export class LoadedJSSandbox {
  callHandler(handlerName: string, eventData: any, options?: CallHandlerOptions): Promise<any>;
  unload(): Promise<JSSandbox>;
  snapshot(): Promise<Snapshot>;
  restore(snapshot: Snapshot): Promise<void>;
  readonly poisoned: boolean;
  readonly interruptHandle: InterruptHandle;
  close(): Promise<void>;
}

export interface RunOptions {
  lang?: 'python' | 'js' | 'sh';
  timeoutMs?: number;
  cpuTimeoutMs?: number;
  memory?: number;
  maxPids?: number;
  maxOutputBytes?: number;
  allowHosts?: string[];
  mounts?: Mount[];
  kv?: string;
  functions?: Record<string, (args: Record<string, any>) => any>;
  stdin?: string;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
}

/** The C API's result (brig_result_to_json). */
export interface RunResult {
  ok: boolean;
  error: ErrorCode | null;
  error_code: number;
  message: string;
  exit_code: number;
  signal: number;
  limit: 'none' | 'wall' | 'cpu' | 'memory' | 'pids' | 'output' | 'disk';
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  wall_ms: number;
  cpu_ms: number;
  warm: boolean;
}

export function run(code: string, options?: RunOptions): Promise<RunResult>;
