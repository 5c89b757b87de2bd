/**
 * A notebook as one HTML page that stands alone, for sharing: `jupyter nbconvert --to html` with
 * our template (display/nbconvert/fused), which drops what Debian's template loads from the
 * machine that made the page (require.js and MathJax from file:///usr/share/javascript) and the
 * widget renderer it fetches from a CDN. Images are embedded; maps and charts carry their own
 * scripts, and a widget shows the HTML it was saved with. LaTeX in Markdown cells is shown as
 * its source (MathJax is not embedded).
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The folder that holds our nbconvert templates (passed as an extra template base folder). */
export const NBCONVERT_TEMPLATES: string = fileURLToPath(new URL("./nbconvert", import.meta.url));

/**
 * The arguments of `jupyter nbconvert` (after the word `nbconvert`) that write `notebook` as
 * `outDir/output.html`.
 */
export function notebookHtmlArgs(
  notebook: string,
  options: { outDir: string; output: string },
): string[] {
  return [
    "--to",
    "html",
    "--template",
    "fused",
    `--TemplateExporter.extra_template_basedirs=${NBCONVERT_TEMPLATES}`,
    "--embed-images",
    "--output-dir",
    options.outDir,
    "--output",
    options.output,
    notebook,
  ];
}
