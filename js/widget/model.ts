/**
 * The synced-trait contract of the Explorer: mirrors `SYNCED_TRAITS` in
 * pyhs3_lab/widget/_explorer.py (a Python test pins that list). Arrays arrive as
 * `WireArray` (binary buffers), decoded by arrays.ts.
 */
import type { GraphData } from "../graph";

export interface WireArray {
  dtype: string;
  shape: number[];
  data: DataView | ArrayBuffer | Uint8Array;
}

export type ParamRole = "poi" | "nuisance" | "constant" | "global_observable";

export interface Param {
  name: string;
  value: number | null;
  /** null = unbounded */
  min: number | null;
  max: number | null;
  fixed: boolean;
  const: boolean;
  role: ParamRole;
  poi: boolean;
}

export interface Channel {
  name: string;
  data: string | null;
  observable: string | null;
  binned: boolean;
}

export interface CurveComponent {
  name: string;
  y: WireArray;
}

export interface CurveData {
  name: string;
  x: WireArray;
  y: WireArray;
  err_lo: WireArray;
  err_hi: WireArray;
  edges?: WireArray;
}

export interface Curves {
  target: string;
  channel: string | null;
  kind: "density" | "binned";
  observable: string;
  x: WireArray;
  total: WireArray;
  components: CurveComponent[];
  stacked: boolean;
  data: CurveData | null;
  ylabel: string;
  notes: string[];
  nll: number | null;
}

export interface FitStatus {
  state?: "idle" | "running" | "done" | "failed" | "cancelled";
  task?: string;
  valid?: boolean;
  fval?: number | null;
  edm?: number | null;
  nfcn?: number;
  message?: string;
}

export interface FitRow {
  name: string;
  value: number | null;
  error: number | null;
  minos: [number | null, number | null] | null;
  poi: boolean;
}

export interface Pull {
  name: string;
  pull: number | null;
  error: number | null;
  constraint: string;
}

export interface FitResult {
  parameters?: string[];
  rows?: FitRow[];
  correlation?: WireArray;
  pulls?: Pull[];
  fval?: number | null;
  valid?: boolean;
  message?: string;
}

export interface Profile {
  poi?: string;
  x?: WireArray;
  two_delta_nll?: WireArray;
  valid?: WireArray;
  best?: number | null;
  interval?: [number | null, number | null];
}

export interface Progress {
  task?: string;
  nfcn?: number;
  message?: string;
}

export interface Inspected {
  name?: string;
  value?: number | null;
  text?: string;
  /** the object's JSON (long lists shortened) */
  json?: unknown;
}

export type ExplorerGraph = GraphData;

export interface ExplorerModel {
  graph: ExplorerGraph;
  params: Param[];
  revision: number;
  ack: number;
  selected: string;
  inspected: Inspected;
  channels: Channel[];
  curves: Partial<Curves>;
  fit_status: FitStatus;
  fit_result: FitResult;
  profile: Profile;
  error: string;
  busy: boolean;
  progress: Progress;
}

export type Action =
  | { kind: "fit" }
  | { kind: "minos"; names?: string[] }
  | { kind: "profile"; poi?: string; points?: number }
  | { kind: "cancel" }
  | { kind: "reset" }
  | { kind: "select"; name: string }
  | { kind: "inspect"; name: string }
  | { kind: "clear-error" };

/** The part of anywidget's model the view uses (also what the tests fake). */
export interface WidgetModel {
  get<K extends keyof ExplorerModel>(key: K): ExplorerModel[K];
  set<K extends keyof ExplorerModel>(key: K, value: ExplorerModel[K]): void;
  save_changes(): void;
  on(event: string, cb: (...args: unknown[]) => void): void;
  off(event?: string | null, cb?: ((...args: unknown[]) => void) | null): void;
  send(content: Action, callbacks?: unknown, buffers?: ArrayBuffer[]): void;
}
