/** Stylesheets imported by the bundles come in as text (build.mjs, the css-as-text plugin). */
declare module "*.css" {
  const text: string;
  export default text;
}
