/**
 * BokehJS (bundled from the npm package, pinned to the Python bokeh version), with typed
 * access to the small part of its Plotting API the Explorer uses. Importing the API plugin
 * registers `Plotting` on the main object.
 */
import BokehMain from "@bokeh/bokehjs/build/js/bokeh.esm.min.js";
import "@bokeh/bokehjs/build/js/bokeh-api.esm.min.js";

export type Column = Float64Array | number[] | string[];

export interface DataSource {
  data: Record<string, Column>;
}

export interface GlyphRenderer {
  visible: boolean;
}

export interface Axis {
  axis_label: string | null;
}

export interface Figure {
  line(attrs: Record<string, unknown>): GlyphRenderer;
  scatter(attrs: Record<string, unknown>): GlyphRenderer;
  quad(attrs: Record<string, unknown>): GlyphRenderer;
  segment(attrs: Record<string, unknown>): GlyphRenderer;
  rect(attrs: Record<string, unknown>): GlyphRenderer;
  add_layout(obj: unknown, place?: string): void;
  output_backend: "canvas" | "svg" | "webgl";
  legend: { location: string; click_policy: string; label_text_font_size: string; background_fill_alpha: number };
}

export interface CanvasLayer {
  to_blob(): Promise<Blob>;
}

export interface PlotView {
  export(type?: "auto" | "png" | "svg", hidpi?: boolean): CanvasLayer;
  remove(): void;
}

export interface BokehAPI {
  version: string;
  Plotting: {
    figure(attrs: Record<string, unknown>): Figure;
    show(obj: Figure, target: HTMLElement): Promise<PlotView>;
  };
  ColumnDataSource: new (attrs: { data: Record<string, Column> }) => DataSource;
  Span: new (attrs: Record<string, unknown>) => unknown;
}

export const Bokeh = BokehMain as BokehAPI;
