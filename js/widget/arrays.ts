/** Decoding of the binary arrays Python sends ({dtype, shape, data}); see pyhs3_lab/widget/_serialize.py. */
import type { WireArray } from "./model";

const EMPTY = new Float64Array(0);

/** A Float64Array view on the buffer (a copy if the buffer is not 8-byte aligned). */
export function toFloat64(arr: WireArray | null | undefined): Float64Array {
  if (arr === null || arr === undefined || arr.data === undefined || arr.data === null) return EMPTY;
  if (arr.dtype !== "float64") throw new Error(`expected a float64 array, got ${arr.dtype}`);
  const d = arr.data;
  let buffer: ArrayBufferLike;
  let offset: number;
  let length: number;
  if (d instanceof ArrayBuffer) {
    buffer = d;
    offset = 0;
    length = d.byteLength;
  } else {
    buffer = d.buffer;
    offset = d.byteOffset;
    length = d.byteLength;
  }
  const n = Math.floor(length / 8);
  if (offset % 8 === 0) return new Float64Array(buffer, offset, n);
  const copy = new Uint8Array(n * 8);
  copy.set(new Uint8Array(buffer, offset, n * 8));
  return new Float64Array(copy.buffer);
}

/** Rows of a 2-D array (shape [n, m]). */
export function rows2d(arr: WireArray | null | undefined): Float64Array[] {
  if (arr === null || arr === undefined) return [];
  const flat = toFloat64(arr);
  const [n = 0, m = 0] = arr.shape;
  const out: Float64Array[] = [];
  for (let i = 0; i < n; i++) out.push(flat.subarray(i * m, (i + 1) * m));
  return out;
}

/** A number as the user typed it: full precision, never rounded ("limits never rounded"). */
export function exact(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "";
  return String(v);
}

/** A number for reading: 6 significant digits. */
export function fmt(v: number | null | undefined, digits = 6): string {
  if (v === null || v === undefined) return "–";
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-4)) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
}
