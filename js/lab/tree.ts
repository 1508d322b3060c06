/**
 * A collapsible tree of a JSON document that builds its DOM lazily: the children of a
 * node exist only once it is opened, and long lists are shown a page at a time, so a
 * workspace with 10^5 data entries opens as fast as a small one.
 */

import { isObject, type Json } from "./validate";

/** children rendered per click on a long list or object */
export const PAGE = 200;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = cls;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** `a.b[2].c` -> ["a", "b", 2, "c"] */
export function splitPath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path)) !== null) {
    if (m[1] !== undefined) {
      out.push(m[1]);
    } else if (m[2] !== undefined) {
      out.push(Number(m[2]));
    }
  }
  return out;
}

function childPath(parent: string, key: string | number): string {
  if (typeof key === "number") {
    return `${parent}[${key}]`;
  }
  return parent === "" ? key : `${parent}.${key}`;
}

function preview(value: Json): string {
  if (Array.isArray(value)) {
    // short lists of numbers/strings (a data entry, bin contents) are shown inline
    if (value.length <= 8 && value.every(v => v === null || typeof v !== "object")) {
      const text = JSON.stringify(value);
      if (text.length <= 80) {
        return text;
      }
    }
    return `[${value.length} item${value.length === 1 ? "" : "s"}]`;
  }
  if (isObject(value)) {
    const name = typeof value.name === "string" ? value.name : null;
    const type = typeof value.type === "string" ? value.type : null;
    if (name !== null) {
      return type !== null ? `${name} (${type})` : name;
    }
    const n = Object.keys(value).length;
    return `{${n} key${n === 1 ? "" : "s"}}`;
  }
  return JSON.stringify(value);
}

function leafClass(value: Json): string {
  if (value === null) {
    return "jp-HS3Tree-null";
  }
  return `jp-HS3Tree-${typeof value}`;
}

/** One node of the tree; its children are created on first expansion. */
class TreeNode {
  readonly row: HTMLDivElement;
  readonly node: HTMLDivElement;
  private children: HTMLDivElement | null = null;
  private shown = 0;
  private readonly entries: [string | number, Json][];
  private readonly byKey = new Map<string | number, TreeNode>();

  constructor(
    readonly key: string | number | null,
    readonly value: Json,
    readonly path: string
  ) {
    this.node = el("div", "jp-HS3Tree-node");
    this.row = el("div", "jp-HS3Tree-row");
    this.row.dataset.path = path;
    this.row.title = path === "" ? "(document)" : path;
    this.node.appendChild(this.row);
    const container = Array.isArray(value) || isObject(value);
    this.entries = Array.isArray(value)
      ? value.map((v, i): [number, Json] => [i, v])
      : isObject(value)
        ? Object.entries(value)
        : [];
    const toggle = el("span", "jp-HS3Tree-toggle", container && this.entries.length > 0 ? "▸" : " ");
    this.row.appendChild(toggle);
    if (key !== null) {
      this.row.appendChild(el("span", "jp-HS3Tree-key", typeof key === "number" ? `[${key}]` : key));
      this.row.appendChild(el("span", "jp-HS3Tree-colon", ": "));
    }
    if (container) {
      this.row.appendChild(el("span", "jp-HS3Tree-preview", preview(value)));
      this.row.classList.add("jp-HS3Tree-branch");
      this.row.addEventListener("click", () => this.toggle());
    } else {
      this.row.appendChild(el("span", leafClass(value), JSON.stringify(value)));
    }
  }

  get expanded(): boolean {
    return this.children !== null && !this.children.hidden;
  }

  toggle(): void {
    if (this.expanded) {
      this.collapse();
    } else {
      this.expand();
    }
  }

  expand(): void {
    if (this.entries.length === 0) {
      return;
    }
    if (this.children === null) {
      this.children = el("div", "jp-HS3Tree-children");
      this.node.appendChild(this.children);
      this.showMore();
    }
    this.children.hidden = false;
    this.row.classList.add("jp-mod-expanded");
    const toggle = this.row.firstChild;
    if (toggle !== null) {
      toggle.textContent = "▾";
    }
  }

  collapse(): void {
    if (this.children !== null) {
      this.children.hidden = true;
    }
    this.row.classList.remove("jp-mod-expanded");
    const toggle = this.row.firstChild;
    if (toggle !== null) {
      toggle.textContent = "▸";
    }
  }

  /** render the next page of children (up to `upTo`, at least one page) */
  showMore(upTo = 0): void {
    const box = this.children;
    if (box === null) {
      return;
    }
    box.querySelector(":scope > .jp-HS3Tree-more")?.remove();
    const end = Math.min(this.entries.length, Math.max(this.shown + PAGE, upTo + 1));
    const frag = document.createDocumentFragment();
    for (let i = this.shown; i < end; i++) {
      const entry = this.entries[i];
      if (entry === undefined) {
        continue;
      }
      const [k, v] = entry;
      const child = new TreeNode(k, v, childPath(this.path, k));
      this.byKey.set(k, child);
      frag.appendChild(child.node);
    }
    this.shown = end;
    box.appendChild(frag);
    const left = this.entries.length - this.shown;
    if (left > 0) {
      const more = el("button", "jp-HS3Tree-more jp-mod-styled", `show ${Math.min(left, PAGE)} more of ${left}`);
      more.addEventListener("click", ev => {
        ev.stopPropagation();
        this.showMore();
      });
      box.appendChild(more);
    }
  }

  /** the child at `key`, rendering pages as needed */
  child(key: string | number): TreeNode | undefined {
    this.expand();
    if (!this.byKey.has(key)) {
      const index = this.entries.findIndex(([k]) => k === key);
      if (index < 0) {
        return undefined;
      }
      this.showMore(index);
    }
    return this.byKey.get(key);
  }
}

/** The tree of a whole document. */
export class JsonTree {
  readonly node: HTMLDivElement;
  private readonly root: TreeNode;

  constructor(doc: Json) {
    this.node = el("div", "jp-HS3Tree");
    this.root = new TreeNode(null, doc, "");
    this.node.appendChild(this.root.node);
    this.root.expand();
  }

  /**
   * Open the tree down to `path` (as far as it exists) and mark that row.
   * Returns the row, or null when not even the first step exists.
   */
  reveal(path: string): HTMLElement | null {
    let cur: TreeNode | undefined = this.root;
    let last: TreeNode | null = null;
    for (const key of splitPath(path)) {
      const next: TreeNode | undefined = cur?.child(key);
      if (next === undefined) {
        break;
      }
      last = next;
      cur = next;
    }
    if (last === null) {
      return null;
    }
    last.expand();
    this.node.querySelectorAll(".jp-mod-highlight").forEach(n => n.classList.remove("jp-mod-highlight"));
    last.row.classList.add("jp-mod-highlight");
    last.row.scrollIntoView?.({ block: "center" });
    return last.row;
  }
}
