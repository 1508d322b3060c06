/**
 * The "Explore in a notebook" toolbar button of the HS3 viewer: it writes a notebook next to
 * the workspace file with `Explorer("<file>")` ready to run, and opens it.
 */

import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { ToolbarButton } from "@jupyterlab/apputils";
import { PathExt } from "@jupyterlab/coreutils";
import type { DocumentRegistry, IDocumentWidget } from "@jupyterlab/docregistry";
import type { Contents } from "@jupyterlab/services";
import { DisposableDelegate, type IDisposable } from "@lumino/disposable";
import { notebookContent, notebookName } from "./notebook";

/** must equal FACTORY_NAME of the mime extension (mime.ts) */
const FACTORY_NAME = "HS3 Workspace";

export const COMMAND_ID = "pyhs3_lab:explore-in-notebook";

async function exists(contents: Contents.IManager, path: string): Promise<boolean> {
  try {
    await contents.get(path, { content: false });
    return true;
  } catch {
    return false;
  }
}

/** Create the notebook next to `path` (a new name if one exists) and return its path. */
export async function createExploreNotebook(app: JupyterFrontEnd, path: string): Promise<string> {
  const contents = app.serviceManager.contents;
  const dir = PathExt.dirname(path);
  let target = "";
  for (let n = 0; n < 1000; n++) {
    target = PathExt.join(dir, notebookName(path, n));
    if (!(await exists(contents, target))) {
      break;
    }
  }
  const specs = app.serviceManager.kernelspecs.specs;
  const name = specs?.default ?? "";
  const spec = specs?.kernelspecs[name];
  const kernel = spec ? { name: spec.name, display_name: spec.display_name } : null;
  await contents.save(target, {
    type: "notebook",
    format: "json",
    content: notebookContent(PathExt.basename(path), kernel)
  });
  await app.commands.execute("docmanager:open", { path: target });
  return target;
}

class ExploreButton implements DocumentRegistry.IWidgetExtension<IDocumentWidget, DocumentRegistry.IModel> {
  constructor(private readonly app: JupyterFrontEnd) {}

  createNew(panel: IDocumentWidget, context: DocumentRegistry.IContext<DocumentRegistry.IModel>): IDisposable {
    const button = new ToolbarButton({
      className: "jp-HS3-explore",
      label: "Explore in a notebook",
      tooltip: "Create a notebook next to this file with the pyhs3_lab Explorer",
      onClick: () => {
        void this.app.commands.execute(COMMAND_ID, { path: context.path });
      }
    });
    panel.toolbar.insertItem(10, "pyhs3-explore", button);
    return new DisposableDelegate(() => button.dispose());
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: "pyhs3_lab:explore-button",
  description: "A toolbar button of the HS3 viewer that opens the workspace in a notebook with the Explorer.",
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    app.commands.addCommand(COMMAND_ID, {
      label: "Explore in a notebook",
      caption: "Create a notebook next to an HS3 file with the pyhs3_lab Explorer",
      execute: async args => {
        const path = typeof args.path === "string" ? args.path : "";
        if (path === "") {
          throw new Error("Explore in a notebook: no file path given");
        }
        return createExploreNotebook(app, path);
      }
    });
    app.docRegistry.addWidgetExtension(FACTORY_NAME, new ExploreButton(app));
  }
};

export default plugin;
