/// <reference lib="dom" />
/**
 * The browser side of tests/_jupyterlab.ts, bundled offline with esbuild: a notebook opened and
 * run by JupyterLab 4's own components, wired as JupyterLab's plugins wire them.
 *
 * - `@jupyterlab/services` `ServiceManager` talks to the Jupyter server (REST and kernel
 *   websocket); `@jupyterlab/docregistry` `Context` loads and saves the `.ipynb` through the
 *   contents API, so trust is what the server marks on load (`metadata.trusted` per cell, from
 *   its notebook signature) and signs on save, as in JupyterLab.
 * - `@jupyterlab/notebook` `NotebookPanel` + `Notebook` (default config: windowing mode
 *   `contentVisibility`), CodeMirror editors, `NotebookActions.run/runAll` (each run cell becomes
 *   trusted, as in JupyterLab).
 * - `@jupyterlab/rendermime` `standardRendererFactories` (HTML, Markdown with JupyterLab's marked
 *   parser, images, SVG, LaTeX, JSON, JavaScript, text), the default `Sanitizer` from
 *   `@jupyterlab/apputils`, and the Vega renderer of `@jupyterlab/vega5-extension` at its rank.
 * - `@jupyter-widgets/jupyterlab-manager`: its own plugins' `activate` functions (manager, base
 *   widgets, output widget) on a notebook tracker holding this panel; the controls are
 *   registered as its controls plugin does, with esbuild's dynamic import for webpack's
 *   `require.ensure`.
 *
 * The page exposes `window.labPage` for the test. Nothing here knows about fused outputs.
 *
 * @module
 */
import "@jupyterlab/theme-light-extension/style/variables.css";
import "@jupyterlab/notebook/style/index.js";
import "@jupyter-widgets/controls/css/widgets-base.css";
import { ServiceManager } from "@jupyterlab/services";
import { pageServerSettings } from "./_page_settings.ts";
import { Context } from "@jupyterlab/docregistry";
import {
  type INotebookModel,
  Notebook,
  NotebookActions,
  NotebookModelFactory,
  NotebookPanel,
  NotebookTracker,
} from "@jupyterlab/notebook";
import { RenderMimeRegistry, standardRendererFactories } from "@jupyterlab/rendermime";
import { SessionContextDialogs } from "@jupyterlab/apputils";
import {
  CodeMirrorEditorFactory,
  CodeMirrorMimeTypeService,
  EditorExtensionRegistry,
  EditorLanguageRegistry,
  ybinding,
} from "@jupyterlab/codemirror";
import { createMarkdownParser } from "@jupyterlab/markedparser-extension";
import vegaExtension from "@jupyterlab/vega5-extension";
import {
  baseWidgetsPlugin,
  managerPlugin,
  outputWidgetPlugin,
} from "@jupyter-widgets/jupyterlab-manager/lib/plugin";
import { JUPYTER_CONTROLS_VERSION } from "@jupyter-widgets/controls/lib/version";
import { Widget } from "@lumino/widgets";

/** One cell as the test reads it. */
interface CellInfo {
  type: string;
  source: string;
  trusted: boolean;
  outputs: Record<string, unknown>[];
}

const errors: string[] = [];

/** The editor services JupyterLab's codemirror plugins provide (languages, the yjs binding). */
function editorServices() {
  const languages = new EditorLanguageRegistry();
  for (const lang of EditorLanguageRegistry.getDefaultLanguages()) languages.addLanguage(lang);
  const extensions = new EditorExtensionRegistry();
  for (const ext of EditorExtensionRegistry.getDefaultExtensions()) extensions.addExtension(ext);
  extensions.addExtension({
    name: "binding",
    factory: ({ model }) =>
      EditorExtensionRegistry.createImmutableExtension(
        // deno-lint-ignore no-explicit-any
        ybinding({ ytext: (model.sharedModel as any).ysource }),
      ),
  });
  const factory = new CodeMirrorEditorFactory({ languages, extensions });
  return {
    languages,
    editorFactory: factory.newInlineEditor.bind(factory),
    mimeTypeService: new CodeMirrorMimeTypeService(languages),
  };
}

async function start(): Promise<void> {
  const params = new URLSearchParams(location.hash.slice(1));
  const path = params.get("path");
  if (!path) throw new Error("the page needs #path=NOTEBOOK.ipynb");
  const serverSettings = pageServerSettings(params);
  const manager = new ServiceManager({ serverSettings });
  await manager.ready;
  const { languages, editorFactory, mimeTypeService } = editorServices();
  const rendermime = new RenderMimeRegistry({
    initialFactories: standardRendererFactories,
    markdownParser: createMarkdownParser(languages),
  });
  const vega = vegaExtension as unknown as {
    rendererFactory: Parameters<RenderMimeRegistry["addFactory"]>[0];
    rank: number;
  };
  rendermime.addFactory(vega.rendererFactory, vega.rank);

  const sessionDialogs = new SessionContextDialogs();
  const context = new Context<INotebookModel>({
    manager,
    factory: new NotebookModelFactory({}),
    path,
    sessionDialogs,
    kernelPreference: {
      name: params.get("kernel") ?? "fused",
      shouldStart: true,
      canStart: true,
      autoStartDefault: false,
    },
  });
  const content = new Notebook({
    rendermime,
    contentFactory: new NotebookPanel.ContentFactory({ editorFactory }),
    mimeTypeService,
  });
  const panel = new NotebookPanel({ context, content });
  panel.node.style.height = "100%";
  Widget.attach(panel, document.getElementById("lab")!);
  globalThis.addEventListener("resize", () => panel.update());

  // The widget manager, as @jupyter-widgets/jupyterlab-manager's plugins set it up.
  const tracker = new NotebookTracker({ namespace: "notebook" });
  // The application shell the plugins look into: this page shows one notebook and nothing else.
  const app = { commands: null, shell: { widgets: () => [][Symbol.iterator]() } };
  // deno-lint-ignore no-explicit-any
  const activate = managerPlugin.activate as any;
  const registry = activate(app, rendermime, tracker, null, null, null, null, null);
  // deno-lint-ignore no-explicit-any
  (baseWidgetsPlugin.activate as any)(app, registry);
  // deno-lint-ignore no-explicit-any
  (outputWidgetPlugin.activate as any)(app, registry);
  registry.registerWidget({
    name: "@jupyter-widgets/controls",
    version: JUPYTER_CONTROLS_VERSION,
    exports: () => import("@jupyter-widgets/controls"),
  });

  await context.initialize(false);
  await context.sessionContext.initialize();
  await tracker.add(panel);
  await context.sessionContext.ready;
  const kernel = context.sessionContext.session?.kernel;
  if (!kernel) throw new Error("no kernel started");
  await kernel.info;

  const runs: Record<string, { done: boolean; ok?: boolean; ms?: number; error?: string }> = {};
  let runCounter = 0;
  function track(label: string, run: () => Promise<boolean>): string {
    const id = `${label}-${++runCounter}`;
    const t0 = performance.now();
    const record: (typeof runs)[string] = (runs[id] = { done: false });
    run().then(
      (ok) => Object.assign(record, { done: true, ok, ms: performance.now() - t0 }),
      (e) => Object.assign(record, { done: true, ok: false, error: String(e?.stack ?? e) }),
    );
    return id;
  }

  const cells = () => content.model!.cells;
  const labPage = {
    ready: true,
    errors,
    runs,
    /** Every cell with its source, trust and outputs as the model holds them. */
    cells(): CellInfo[] {
      return Array.from(cells(), (c) => ({
        type: c.type,
        source: c.sharedModel.getSource(),
        trusted: c.trusted,
        // deno-lint-ignore no-explicit-any
        outputs: c.type === "code" ? (c.toJSON() as any).outputs : [],
      }));
    },
    /** Run All (Run → Run All Cells); returns a run id for `runs`. */
    runAll(): string {
      return track("all", () => NotebookActions.runAll(content, context.sessionContext));
    },
    /** Runs cells `indices` as selecting them and pressing Shift-Enter would. */
    runCells(indices: number[]): string {
      return track("cells", () => {
        content.deselectAll();
        content.activeCellIndex = indices[0];
        for (const i of indices) content.select(content.widgets[i]);
        return NotebookActions.run(content, context.sessionContext);
      });
    },
    /** Adds a code cell with `source` at the end and runs it (a cell nobody prepared). */
    appendAndRun(source: string): string {
      content.activeCellIndex = content.widgets.length - 1;
      content.deselectAll();
      NotebookActions.insertBelow(content);
      NotebookActions.changeCellType(content, "code");
      content.activeCell!.model.sharedModel.setSource(source);
      return track("append", () => NotebookActions.run(content, context.sessionContext));
    },
    /** Clears the outputs of cell `index`. */
    clearOutputs(index: number): void {
      content.deselectAll();
      content.activeCellIndex = index;
      NotebookActions.clearOutputs(content);
    },
    /** Moves cell `from` to the top. */
    moveToTop(from: number): void {
      content.model!.sharedModel.moveCell(from, 0);
    },
    /** File → Save. */
    async save(): Promise<void> {
      await context.save();
    },
    /** Whether every code cell is trusted (JupyterLab's notebook trust indicator). */
    trusted(): boolean {
      return Array.from(cells()).every((c) => c.type !== "code" || c.trusted);
    },
    /** Scrolls cell `index` into view (the notebook is windowed). */
    async scrollTo(index: number): Promise<void> {
      await content.scrollToItem(index, "start");
    },
    /** The DOM node of cell `index`. */
    cellNode(index: number): HTMLElement {
      return content.widgets[index].node;
    },
    /** Marks the page clean so reloading does not ask whether to leave. */
    markClean(): void {
      content.model!.dirty = false;
    },
  };
  Object.assign(globalThis, { labPage });
}

start().catch((e) => {
  errors.push(`start: ${e?.stack ?? e}`);
  Object.assign(globalThis, { labPage: { ready: false, errors } });
});
