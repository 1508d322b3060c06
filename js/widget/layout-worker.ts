/**
 * The graph layout Web Worker of the widget: its bundle (js/graph/layout-worker.ts, built by
 * `npm run build:worker`) is inlined as text and started from a Blob URL, because an anywidget
 * module is itself loaded from a Blob and has no URL to load a worker file from.
 */
import source from "../../build/graph/layout-worker.txt";
import { type LayoutRunner, type WorkerLike, workerLayout } from "../graph/layout";

let url: string | null = null;

export function makeLayoutWorker(): WorkerLike {
  url ??= URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  return new Worker(url) as unknown as WorkerLike;
}

/** A layout runner backed by the worker, or undefined where Workers do not exist. */
export function layoutRunner(): (LayoutRunner & { terminate(): void }) | undefined {
  return typeof Worker === "undefined" ? undefined : workerLayout(makeLayoutWorker);
}
