/**
 * The mime-renderer extension: `.hs3.json` files (and `application/vnd.hs3+json` outputs a
 * kernel displays) are shown by HS3View without a kernel. "Open With → HS3 Workspace" is
 * offered for every `.json` file.
 */

import type { IRenderMime } from "@jupyterlab/rendermime-interfaces";
import { Widget } from "@lumino/widgets";
import { HS3View } from "./view";

export const MIME_TYPE = "application/vnd.hs3+json";
export const FACTORY_NAME = "HS3 Workspace";
export const FILE_TYPE = "hs3";

/** A Lumino widget around HS3View. */
export class HS3Renderer extends Widget implements IRenderMime.IRenderer {
  private readonly view = new HS3View();

  constructor(private readonly mimeType: string) {
    super();
    this.addClass("jp-HS3Renderer");
    this.node.appendChild(this.view.node);
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.view.render(model.data[this.mimeType]);
    return Promise.resolve();
  }

  protected override onAfterShow(): void {
    this.view.show(this.view.currentTab);
  }

  override dispose(): void {
    if (!this.isDisposed) {
      this.view.dispose();
    }
    super.dispose();
  }
}

export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [MIME_TYPE],
  createRenderer: options => new HS3Renderer(options.mimeType)
};

const extension: IRenderMime.IExtension = {
  id: "pyhs3_lab:hs3-viewer",
  rendererFactory,
  rank: 0,
  dataType: "string",
  fileTypes: [
    {
      name: FILE_TYPE,
      displayName: "HS3 workspace",
      mimeTypes: [MIME_TYPE],
      extensions: [".hs3.json"],
      fileFormat: "text",
      iconClass: "jp-MaterialIcon jp-JSONIcon"
    }
  ],
  documentWidgetFactoryOptions: {
    name: FACTORY_NAME,
    primaryFileType: FILE_TYPE,
    fileTypes: [FILE_TYPE, "json"],
    defaultFor: [FILE_TYPE]
  }
};

export default extension;
