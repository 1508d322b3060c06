// The ES-module builds of BokehJS ship without type declarations; js/widget/bokeh.ts gives the
// subset the Explorer uses a typed face.
declare module "@bokeh/bokehjs/build/js/bokeh.esm.min.js" {
  const main: unknown;
  export default main;
}
declare module "@bokeh/bokehjs/build/js/bokeh-api.esm.min.js" {
  const plugin: unknown;
  export default plugin;
}
