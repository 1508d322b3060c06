// Files bundled as text by esbuild (the layout worker's own bundle, see npm run build:worker).
declare module "*.txt" {
  const text: string;
  export default text;
}
